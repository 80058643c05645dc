"""What the window needs of the services, as Protocols: app wires the real ones in, the GUI never imports
them (the layers contract in pyproject.toml keeps it so)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from console.core.actions.planning import ActionPlan, ActionRequest, NodeDetails
from console.core.actions.roles import Role
from console.core.actions.runs import ActionStatus
from console.core.alerts.config import AlertRules
from console.core.alerts.incidents import ShiftName
from console.core.inventory import Inventory
from console.core.parsers.slurm import Partition
from console.core.records.incident_types import Incident, SignOff
from console.core.records.log_types import LogFilter, LogPage, NodeTimeline
from console.core.telemetry.counters import AcceleratorCounters
from console.core.tenants.accounting import AccountingComparison
from console.core.tenants.allocation import SchedulerAllocations
from console.core.tenants.moves import JobsDecision, MovePlan, MoveProgress, MoveRequest


class RunnerPort(Protocol):
    def submit(self, plan: ActionPlan, typed: Sequence[str] = ()) -> list[ActionStatus]: ...

    def record_refused(self, plan: ActionPlan, why: str | None = None) -> list[int]: ...

    def cancel(self, action_id: int) -> bool: ...

    def statuses(self) -> list[ActionStatus]: ...

    def add_listener(self, listener: Callable[[ActionStatus], None]) -> None: ...


class ActionsPort(Protocol):
    """What the window needs to act (console.services.actions.ActionService): every method may block on the
    network, so the window calls them through the Worker."""

    operator: str
    inventory: Inventory

    @property
    def runner(self) -> RunnerPort: ...

    def plan(self, request: ActionRequest) -> ActionPlan: ...

    def node_details(self, node: str) -> NodeDetails: ...

    def partitions(self) -> dict[str, Partition]: ...

    def earlier_unfinished(self, hours: float = 24.0) -> list[ActionStatus]: ...

    def lit_leds(self) -> dict[str, str]: ...


class IncidentsPort(Protocol):
    """What the window does to incidents (console.services.incidents.IncidentService): each call writes or
    reads the store, so the window makes it through the Worker. Role checks happen there too."""

    operator: str
    role: Role
    listeners: list[Callable[[], None]]

    def open_by_hand(
        self, nodes: Sequence[str], cause: str, severity: str, note: str | None = None, ticket: str | None = None
    ) -> int: ...

    def acknowledge(self, incident_id: int, note: str | None = None) -> list[AcceleratorCounters]: ...

    def add_note(self, incident_id: int, text: str) -> None: ...

    def resolve(self, incident_id: int, note: str | None = None) -> None: ...

    def sign_off(self, **kwargs: Any) -> int: ...

    def amend(self, signoff_id: int, text: str) -> None: ...

    def new_since_acknowledged(self, incident: Incident) -> dict[tuple[str, int], list[str]]: ...


class ShiftLogPort(Protocol):
    """What the Log view reads (console.services.shift_log.ShiftLog): disk and BMC reads, through the Worker."""

    inventory: Inventory

    def page(self, flt: LogFilter, limit: int = 5000) -> LogPage: ...

    def timeline(self, node: str, since: float, until: float, with_bmc: bool = True) -> NodeTimeline: ...

    def shift_bounds(self, date: dt.date, shift: ShiftName) -> tuple[float, float]: ...

    def current_shift(self) -> tuple[dt.date, ShiftName]: ...

    def report(self, date: dt.date, shift: ShiftName, generated_by: str) -> tuple[dict[str, Any], SignOff | None]: ...

    def signoff(self, date: dt.date, shift: ShiftName) -> SignOff | None: ...

    def sign_off_data(self, date: dt.date, shift: ShiftName, generated_by: str) -> dict[str, Any]: ...


class RecordsPort(Protocol):
    """The shift's record (console.app.ShiftServices): incidents, the shift log, and why either is off."""

    @property
    def incidents(self) -> IncidentsPort: ...

    @property
    def log(self) -> ShiftLogPort: ...

    @property
    def problems(self) -> list[str]: ...


class MoveHandle(Protocol):
    """One move between tenants as it runs (console.services.tenant_move.TenantMove): its listeners are
    called on the move's own thread, so the window relays them through a queued signal."""

    def add_listener(self, listener: Callable[[MoveProgress], None]) -> None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def answer(self, decision: JobsDecision) -> None: ...

    def safe_state(self) -> str: ...


class MovesPort(Protocol):
    """Moving nodes between tenants (console.services.tenant_move.TenantMoves): ``plan_move`` reads Slurm,
    so the window calls it through the Worker."""

    @property
    def operator(self) -> str: ...

    def plan_move(self, request: MoveRequest) -> MovePlan: ...

    def record_refused(self, plan: MovePlan) -> int | None: ...

    def start_move(self, plan: MovePlan) -> MoveHandle: ...


@dataclass(frozen=True, slots=True)
class WindowParts:
    """What the window shows beside the live fleet, each wired by the composition root where it runs:
    actions, the shift's record, Slurm's tenancy and the archive's idle times and history, the moves."""

    actions: ActionsPort | None = None
    records: RecordsPort | None = None
    allocations: Callable[[], SchedulerAllocations | None] | None = None
    idle_since: Callable[[], Mapping[tuple[str, int], float]] | None = None
    idle_watching: Callable[[], float | None] | None = None
    history: Callable[[str, str, str], list[tuple[str, float, float, float, float]]] | None = None
    moves: MovesPort | None = None
    accounting: Callable[[str, str, str], AccountingComparison] | None = None
    rules: AlertRules | None = None
