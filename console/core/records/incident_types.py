"""An incident as the record holds it: its accelerators, its events and notes, its shift's sign-off, the
query the Log view and the command line ask with, and the one error the incident log raises in words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from console.core.alerts.incidents import IncidentState
from console.core.telemetry.counters import AcceleratorCounters
from console.core.when import iso_utc


class IncidentError(ValueError):
    """A request the log refuses (no such incident, an empty note, a resolved incident acknowledged …)."""


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    at: float
    author: str
    kind: str  # opened, reopened, acknowledged, note, resolved, ticket, repeat
    text: str | None

    def as_json(self) -> dict[str, Any]:
        return {"time": iso_utc(self.at), "author": self.author, "kind": self.kind, "text": self.text}


@dataclass(frozen=True, slots=True)
class AcceleratorRef:
    node: str
    index: int
    uuid: str | None

    def as_json(self) -> dict[str, Any]:
        return {"node": self.node, "index": self.index, "uuid": self.uuid}


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    nodes: tuple[str, ...]
    accelerators: tuple[AcceleratorRef, ...]
    cause: str
    severity: str
    state: IncidentState
    message: str | None
    opened: float
    opened_by: str
    acknowledged: float | None
    acknowledged_by: str | None
    resolved: float | None
    resolved_by: str | None
    ticket: str | None
    tenants: tuple[str, ...]
    jobs: tuple[dict[str, Any], ...]
    evidence: dict[str, Any]
    counters: tuple[AcceleratorCounters, ...]
    events: tuple[IncidentEvent, ...]
    actions: tuple[int, ...]
    last_seen: float | None

    @property
    def notes(self) -> tuple[IncidentEvent, ...]:
        return tuple(e for e in self.events if e.kind == "note")

    def as_json(self) -> dict[str, Any]:
        """The ``incidents --json`` object (fields are only ever added)."""
        return {
            "id": self.id,
            "nodes": list(self.nodes),
            "accelerators": [a.as_json() for a in self.accelerators],
            "cause": self.cause,
            "severity": self.severity,
            "state": self.state.value,
            "message": self.message,
            "opened": iso_utc(self.opened),
            "opened_by": self.opened_by,
            "acknowledged": iso_utc(self.acknowledged) if self.acknowledged is not None else None,
            "acknowledged_by": self.acknowledged_by,
            "resolved": iso_utc(self.resolved) if self.resolved is not None else None,
            "resolved_by": self.resolved_by,
            "ticket": self.ticket,
            "tenants": list(self.tenants),
            "jobs": list(self.jobs),
            "evidence": self.evidence,
            "acknowledged_counters": [c.as_json() for c in self.counters],
            "notes": [e.as_json() for e in self.notes],
            "events": [e.as_json() for e in self.events],
            "actions": list(self.actions),
        }


@dataclass(frozen=True, slots=True)
class SignOff:
    id: int
    shift_date: str
    shift: str
    start: float
    end: float
    signed_at: float
    signed_by: str
    role: str
    note: str | None
    report: dict[str, Any]
    amendments: tuple[IncidentEvent, ...]


@dataclass(frozen=True, slots=True)
class IncidentQuery:
    """What the Log view and ``incidents`` filter on (all optional; every value is a bound parameter)."""

    since: float | None = None
    until: float | None = None
    open_only: bool = False
    states: frozenset[str] = frozenset()
    severities: frozenset[str] = frozenset()
    nodes: frozenset[str] = frozenset()
    cause: str | None = None
    text: str | None = None
    limit: int | None = None
