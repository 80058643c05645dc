"""Times typed by a person (``--since``): an age (``90s``, ``30m``, ``12h``, ``7d``) or an ISO 8601 date or
date-time. A date-time without a zone is local time (what the window shows); ``Z`` or ``+hh:mm`` says
otherwise. Anything else is refused with the forms accepted, never guessed."""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

AGE: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)\s*$", re.IGNORECASE)
UNITS: Final = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
ACCEPTED: Final = (
    "an age such as 90s, 30m, 12h or 7d, or an ISO date or date-time such as 2026-11-29, 2026-11-29T07:00 "
    "(local time) or 2026-11-29T07:00Z (UTC)"
)


class WhenError(ValueError):
    pass


def parse_when(text: str, now: float) -> float:
    """Epoch seconds for ``text``; WhenError naming the accepted forms."""
    match = AGE.match(text)
    if match:
        return now - float(match.group(1)) * UNITS[match.group(2).lower()]
    cleaned = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?", cleaned):
        try:
            stamp = dt.datetime.fromisoformat(cleaned.replace("Z", "+00:00"))
        except ValueError as exc:
            raise WhenError(f"{text!r}: {exc}") from None
        if stamp.tzinfo is None:
            stamp = stamp.astimezone()  # local time
        return stamp.timestamp()
    raise WhenError(f"{text!r} is not a time: give {ACCEPTED}")


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise WhenError(f"{text!r} is not a date: give YYYY-MM-DD") from None
