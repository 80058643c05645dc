"""Times typed by a person (``--since``): an age (``90s``, ``60min``, ``1 hour``, ``7d``), ``today`` or
``yesterday``, a time of today (``11:00``), or an ISO 8601 date or date-time. A date-time without a zone is
local time (what the window shows); ``Z`` or ``+hh:mm`` says otherwise. Anything else is refused with the
forms accepted, never guessed. Times shown to people are local and carry their zone's name."""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

AGE: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*(?:ago)?\s*$", re.IGNORECASE)
UNITS: Final = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
    **dict.fromkeys(("w", "week", "weeks"), 7 * 86400),
}
CLOCK: Final = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$")
ISO: Final = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?")
ACCEPTED: Final = (
    "an age such as 90s, 30m, 60min, 1 hour, 12h, 7d or 2 weeks; today or yesterday (from local midnight); "
    "a local time of today such as 11:00; or an ISO date or date-time such as 2026-11-29, 2026-11-29T07:00 "
    "(local time) or 2026-11-29T07:00Z (UTC)"
)


class WhenError(ValueError):
    pass


def parse_when(text: str, now: float) -> float:
    """Epoch seconds for ``text``; WhenError naming the accepted forms (never a guess: a string compared as
    text answered "everything" or "nothing" without saying so)."""
    cleaned = text.strip()
    match = AGE.match(cleaned)
    if match:
        unit = UNITS.get(match.group(2).lower())
        if unit is None:
            raise WhenError(f"{text!r}: unknown unit {match.group(2)!r}; give {ACCEPTED}")
        return now - float(match.group(1)) * unit
    local_now = dt.datetime.fromtimestamp(now).astimezone()
    midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    if cleaned.lower() in ("today", "yesterday"):
        return (midnight - dt.timedelta(days=1 if cleaned.lower() == "yesterday" else 0)).timestamp()
    match = CLOCK.match(cleaned)
    if match:
        hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
        if hour > 23 or minute > 59 or second > 59:
            raise WhenError(f"{text!r} is not a time of day (HH:MM, 00:00 to 23:59)")
        at = midnight.replace(hour=hour, minute=minute, second=second)
        if at.timestamp() > now:
            raise WhenError(
                f"{text!r} today is still to come; for yesterday give the date: "
                f"{(at - dt.timedelta(days=1)).strftime('%Y-%m-%dT%H:%M')}"
            )
        return at.timestamp()
    if ISO.fullmatch(cleaned):
        try:
            stamp = dt.datetime.fromisoformat(cleaned.replace("Z", "+00:00"))
        except ValueError as exc:
            raise WhenError(f"{text!r}: {exc}") from None
        if stamp.tzinfo is None:
            stamp = stamp.astimezone()  # local time
        return stamp.timestamp()
    raise WhenError(f"{text!r} is not a time: give {ACCEPTED}")


def local_stamp(at: float) -> str:
    """A time as the window shows it, local, with its zone named (``2026-11-29 18:46:40 CET``): the one way
    the console labels times for people."""
    local = dt.datetime.fromtimestamp(at).astimezone()
    return f"{local.strftime('%Y-%m-%d %H:%M:%S')} {local.tzname() or local.strftime('%z')}"


def local_minute(at: float) -> str:
    """A time to the minute, local, without its zone (``2026-12-07 04:22``): for tables and reports that name
    the zone once (``zone_name``), so no cell holds a token long enough to break."""
    return dt.datetime.fromtimestamp(at).astimezone().strftime("%Y-%m-%d %H:%M")


def zone_name(at: float | None = None) -> str:
    """The local time zone's name (``CET``, ``UTC``), for headers of times shown in local time."""
    local = dt.datetime.fromtimestamp(at if at is not None else dt.datetime.now().timestamp()).astimezone()
    return local.tzname() or local.strftime("%z")


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise WhenError(f"{text!r} is not a date: give YYYY-MM-DD") from None


def iso_utc(when: float) -> str:
    """A time as the records keep it: ISO 8601, UTC, milliseconds (``2026-12-07T04:22:14.188Z``)."""
    stamp = dt.datetime.fromtimestamp(when, dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> float:
    """An audit stamp (``2026-11-29T17:46:40.123Z``) as epoch seconds."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
