"""What the Log view asks for and gets back: a filter over a time range, a page of incidents and actions,
a node's timeline. Plain data shared by the shift log (services) and the window (gui)."""

from __future__ import annotations

from dataclasses import dataclass, field

from console.core.alerts.incidents import ShiftFigures
from console.core.records.archive_types import Timeline
from console.core.records.incident_types import Incident
from console.core.records.store import AuditRow

__all__ = ["AuditRow", "LogFilter", "LogPage", "NodeTimeline", "TimelineEvent"]


@dataclass(frozen=True, slots=True)
class LogFilter:
    """The Log view's filter: a time range and optional words (rack and tenant become node sets)."""

    since: float
    until: float
    states: frozenset[str] = frozenset()
    severities: frozenset[str] = frozenset()
    node: str | None = None
    rack: str | None = None
    tenant: str | None = None
    cause: str | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class LogPage:
    incidents: tuple[Incident, ...]
    actions: tuple[AuditRow, ...]
    took_ms: float
    figures: ShiftFigures | None = None


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    at: float
    kind: str  # state, slurm, alert, xid, incident, note, action, bmc
    text: str
    severity: str | None = None


@dataclass(frozen=True, slots=True)
class NodeTimeline:
    node: str
    since: float
    until: float
    series: Timeline | None
    events: tuple[TimelineEvent, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)  # what could not be read, in words
    took_ms: float = 0.0
