"""What every action kind declares, in one place: the window's menus and shortcuts, the command line's
options and the planning of its steps are built from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from console.core.action_types import ActionKind, ActionPlan, EnginesPort, SchedulerPort
from console.core.alerts import Alert
from console.core.incident_log import Incident
from console.core.inventory import NodeSpec
from console.core.kinds.tracking import TrackOutcome
from console.core.store import AuditRow


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """What the record and the live view say of a node at preview time, for a kind that must warn about it:
    its open incidents, its live critical alerts, and the last locate that went through."""

    node: str
    open_incidents: tuple[Incident, ...] = ()
    critical_alerts: tuple[Alert, ...] = ()
    last_locate: AuditRow | None = None


# Warnings a kind adds to the preview from a node's record (resume: an open incident, a critical alert).
RecordCheck = Callable[[NodeRecord], list[str]]


@dataclass(frozen=True, slots=True)
class PlanContext:
    """What a kind's planning may read: the scheduler (None without one) and every engine."""

    scheduler: SchedulerPort | None
    engines: EnginesPort


# Fills the plan's steps, warnings and refusals for the chosen nodes (their previews are already gathered).
PlanSteps = Callable[[ActionPlan, list[NodeSpec], PlanContext], None]


@dataclass(frozen=True, slots=True)
class KindSpec:
    kind: ActionKind
    label: str  # the window's toolbar and context menu
    summary: str  # one line for `fleet-console action --help`
    needs_reason: bool  # drain, reboot and power must say why (for the next shift and the tenant)
    plan: PlanSteps
    track: TrackOutcome  # how its outcome is watched once the steps were sent
    shortcut: str | None = None
    options: tuple[str, ...] = ()  # the request fields (and CLI options) this kind reads
    needs_scheduler: bool = False  # goes through Slurm only
    needs_bmc: bool = False  # goes through the node's BMC only
    record_check: RecordCheck | None = None
