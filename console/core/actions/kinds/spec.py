"""What every action kind declares, in one place: the window's menus and shortcuts, the command line's
options and the planning of its steps are built from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from console.core.actions.action_types import ActionKind, ActionPlan, Engine, EnginesPort, SchedulerPort
from console.core.actions.kinds.tracking import TrackOutcome
from console.core.alerts.rules import Alert
from console.core.inventory import NodeSpec
from console.core.records.incident_types import Incident
from console.core.records.store import AuditRow


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
class KindOption:
    """One thing a kind asks beyond the reason and the ticket: the request field it fills, how the action
    dialog shows it and how the command line spells it (``--`` and the field, dashed). Both are built from
    this; neither knows the kinds."""

    field: str  # the ActionRequest field
    label: str  # the dialog's form label
    help: str  # the command line's help for its flag
    choices: tuple[str, ...] = ()  # fixed choices: a combo box, the flag's choices
    strict: bool = True  # False: the command line takes other words too (the BMC's allowed values decide)
    preset: str | None = None  # the dialog's first choice (the command line presets nothing: it must be said)
    # The choices are the scheduler's partitions, asked when the dialog opens: "join" those the nodes are not
    # in, "leave" those they are in (or none).
    partitions: str | None = None
    check_words: str | None = None  # a yes/no option: the check box's words (a flag without a value)
    tooltip: str | None = None
    in_dialog: bool = True  # False: the command line only (reboot --via)
    to_request: Callable[[str], object] | None = None  # the flag's text as the request holds it

    @property
    def flag(self) -> str:
        return "--" + self.field.replace("_", "-")


# Where the console stops watching an action, what stands (None: the runner's general words).
UnwatchedWords = Callable[[frozenset[Engine], str, str], str | None]


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
    choices: tuple[KindOption, ...] = ()  # what it asks beyond the reason and the ticket
    needs_scheduler: bool = False  # goes through Slurm only
    needs_bmc: bool = False  # goes through the node's BMC only
    record_check: RecordCheck | None = None
    # The runner's knowledge of the kind:
    supersedes: ActionKind | None = None  # stops watching the node's running action of this kind first
    shared_queue: str | None = None  # queued with every action of the kind instead of per node
    one_audit_row: bool = False  # one audit row naming all its nodes (one change covers them all)
    exit_may_be_lost: frozenset[Engine] = frozenset()  # engines whose connection the action itself drops
    unwatched: UnwatchedWords | None = None
