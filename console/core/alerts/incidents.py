"""Incidents, in the console's own terms and free of storage: which alerts open one, the counters an
acknowledgement records (and what is new since), the shifts a supervisor signs, and a shift's figures.

An incident is one node (or several, opened by hand) and one cause, from open through acknowledged to
resolved. The alert rules decide what is wrong; the policy here decides what is worth an incident: by
default every critical alert at once and every warning that lasted ten minutes (``[incidents]`` in the
alert-rules file). A cause that comes back within ``reopen_window_s`` of its incident's resolution
re-opens it: a flapping GPU is one incident with a history, not fifty.
"""

from __future__ import annotations

import datetime as dt
import enum
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from console.core.alerts.config import Severity
from console.core.alerts.rules import Alert


class IncidentState(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


def cause_of(alert: Alert) -> str:
    """One incident per node and cause: the rule's name (``temperature``, ``xid_79``, ``unreachable``)."""
    return alert.rule


# --- shifts --------------------------------------------------------------------------------------------------


class ShiftName(enum.StrEnum):
    DAY = "day"
    NIGHT = "night"


@dataclass(frozen=True, slots=True)
class ShiftClock:
    """Shift boundaries in local time (default 07:00 and 19:00). A night shift carries the date it starts on."""

    day_start: dt.time = dt.time(7, 0)
    night_start: dt.time = dt.time(19, 0)
    tz: dt.tzinfo | None = None  # None: the machine's local time zone

    def bounds(self, date: dt.date, shift: ShiftName) -> tuple[float, float]:
        """Start and end (epoch seconds) of one shift."""
        if shift == ShiftName.DAY:
            start = self._at(date, self.day_start)
            end = self._at(date, self.night_start)
        else:
            start = self._at(date, self.night_start)
            end = self._at(date + dt.timedelta(days=1), self.day_start)
        return start, end

    def shift_at(self, when: float) -> tuple[dt.date, ShiftName]:
        local = dt.datetime.fromtimestamp(when, self.tz) if self.tz else dt.datetime.fromtimestamp(when).astimezone()
        clock = local.time()
        if self.day_start <= clock < self.night_start:
            return local.date(), ShiftName.DAY
        if clock >= self.night_start:
            return local.date(), ShiftName.NIGHT
        return local.date() - dt.timedelta(days=1), ShiftName.NIGHT

    def _at(self, date: dt.date, clock: dt.time) -> float:
        if self.tz is not None:
            return dt.datetime.combine(date, clock, self.tz).timestamp()
        return dt.datetime.combine(date, clock).astimezone().timestamp()


# --- figures ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IncidentSpan:
    """What the figures need of an incident."""

    id: int
    nodes: tuple[str, ...]
    accelerators: int  # how many accelerators it took out of service (0: the node's whole count is used)
    node_accelerators: int  # the accelerators of its nodes
    opened: float
    acknowledged: float | None
    resolved: float | None
    severity: str


@dataclass(frozen=True, slots=True)
class ShiftFigures:
    opened: int
    resolved: int
    still_open: int
    ack_median_s: float | None
    ack_worst_s: float | None
    resolve_median_s: float | None
    resolve_worst_s: float | None
    accelerator_hours_out: float
    repeat_offenders: tuple[tuple[str, int], ...]
    # How many nodes are repeat offenders in all (``repeat_offenders`` holds the worst few).
    offender_count: int = 0
    # The incidents behind each figure (its key in ``FIGURE_WORDS`` → incident ids), so a figure leads to them.
    behind: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "opened": self.opened,
            "resolved": self.resolved,
            "still_open": self.still_open,
            "time_to_acknowledge_median_s": self.ack_median_s,
            "time_to_acknowledge_worst_s": self.ack_worst_s,
            "time_to_resolve_median_s": self.resolve_median_s,
            "time_to_resolve_worst_s": self.resolve_worst_s,
            "accelerator_hours_out_of_service": round(self.accelerator_hours_out, 2),
            "repeat_offenders": [{"node": n, "incidents": c} for n, c in self.repeat_offenders],
        }


def shift_figures(
    spans: Sequence[IncidentSpan],
    start: float,
    end: float,
    recent: Mapping[str, int],
    offenders: int = 10,
    now: float | None = None,
) -> ShiftFigures:
    """Figures for [start, end): ``spans`` are the incidents that overlap it; ``recent`` the incident count per
    node over the last 30 days. Accelerator-hours out of service count only critical incidents (what took
    the accelerators away), clipped to the shift and, for a shift not over yet, to ``now``."""
    horizon = end if now is None else min(end, now)
    opened = [s for s in spans if start <= s.opened < end]
    resolved = [s for s in spans if s.resolved is not None and start <= s.resolved < end]
    still_open = [s for s in spans if s.opened < end and (s.resolved is None or s.resolved >= end)]
    acks = [s.acknowledged - s.opened for s in opened if s.acknowledged is not None]
    fixes = [s.resolved - s.opened for s in resolved if s.resolved is not None]
    hours = 0.0
    out_of_service = []
    for span in spans:
        if span.severity != Severity.CRITICAL.word:
            continue
        begin = max(span.opened, start)
        finish = min(span.resolved if span.resolved is not None else horizon, horizon)
        if finish > begin:
            count = span.accelerators or span.node_accelerators
            hours += (finish - begin) / 3600.0 * count
            out_of_service.append(span)
    ranked = sorted(((n, c) for n, c in recent.items() if c > 1), key=lambda item: (-item[1], item[0]))
    offending = {n for n, _ in ranked}
    behind = {
        "opened": tuple(s.id for s in opened),
        "resolved": tuple(s.id for s in resolved),
        "still_open": tuple(s.id for s in still_open),
        "acknowledge": tuple(s.id for s in opened if s.acknowledged is not None),
        "resolve": tuple(s.id for s in resolved),
        "out_of_service": tuple(s.id for s in out_of_service),
        "repeat_offenders": tuple(s.id for s in spans if offending & set(s.nodes)),
    }
    return ShiftFigures(
        opened=len(opened),
        resolved=len(resolved),
        still_open=len(still_open),
        ack_median_s=statistics.median(acks) if acks else None,
        ack_worst_s=max(acks) if acks else None,
        resolve_median_s=statistics.median(fixes) if fixes else None,
        resolve_worst_s=max(fixes) if fixes else None,
        accelerator_hours_out=hours,
        repeat_offenders=tuple(ranked[:offenders]),
        offender_count=len(ranked),
        behind=behind,
    )


def duration_words(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
