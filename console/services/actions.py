"""The action service: the audit store, the engines (Slurm, the BMCs, plain SSH on the node's own
connection) and the runner that carries confirmed plans out one at a time per node."""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Final, Protocol

from console.core.actions.action_types import command_text
from console.core.actions.kinds.locate import led_left_on, lit_led_words
from console.core.actions.kinds.spec import NodeRecord
from console.core.actions.planning import (
    SPECS,
    ActionKind,
    ActionPlan,
    ActionRequest,
    NodeDetails,
    plan_action,
    read_node_details,
)
from console.core.actions.roles import DEFAULT_ROLE, Permission, Role, refusal
from console.core.actions.runs import ActionState, ActionStatus, RunnerSettings
from console.core.alerts.config import Severity
from console.core.alerts.rules import Alert
from console.core.inventory import Inventory
from console.core.parsers.slurm import Partition
from console.core.records.incident_log import IncidentLog, link_words
from console.core.records.incident_types import Incident
from console.core.records.sessions import SessionLock
from console.core.records.store import STORE_FILE, Store
from console.core.records.store_error import StoreError
from console.core.telemetry.fleet import FleetModel
from console.core.telemetry.samples import NodeState
from console.core.when import iso_utc, parse_iso
from console.engines.registry import EngineExecutor, Engines, NodeShell
from console.services.action_runner import ActionRunner
from console.transport.ssh import SshSettings


class LiveTelemetry(Protocol):
    """What actions need of the live telemetry: the model (to track a reboot) and the node's own
    connection (to run a plain-SSH step on)."""

    @property
    def fleet(self) -> FleetModel: ...

    @property
    def hub(self) -> NodeShell: ...


class FleetHealth:
    """The action runner's view of a node's connection and telemetry (NodeLiveness port)."""

    def __init__(self, fleet: FleetModel) -> None:
        self.fleet = fleet

    def health(self, node: str) -> tuple[NodeState, float | None]:
        view = self.fleet.view(node)
        return view.state, view.last_sample_at


class ActionService:
    """Actions for one inventory: the audit store, the engines and the runner, wired to a live fleet."""

    def __init__(
        self,
        inventory: Inventory,
        data_dir: Path,
        ssh: SshSettings,
        live: LiveTelemetry | None = None,
        settings: RunnerSettings | None = None,
        operator: str | None = None,
        environ: Mapping[str, str] | None = None,
        role: Role = DEFAULT_ROLE,
    ) -> None:
        self.inventory = inventory
        self.operator = operator or default_operator()
        self.role = role
        self.data_dir = data_dir
        self.store = open_store(data_dir)
        session = uuid.uuid4().hex
        self.session_lock = SessionLock(data_dir / "sessions", session)
        self.interrupted = self.store.mark_interrupted(self.session_lock.alive)
        self.engines = Engines(inventory, ssh, shell=live.hub if live else None, environ=environ)
        self._fleet = live.fleet if live else None
        self.runner = ActionRunner(
            self.store,
            EngineExecutor(self.engines),
            self.engines,
            inventory,
            health=FleetHealth(live.fleet) if live else None,
            settings=settings,
            session=session,
        )
        self.runner.refusal = refusal(role, Permission.ACT)

    def use_inventory(self, inventory: Inventory) -> None:
        """The inventory file was rewritten by the console (a node's tenant after a move): same nodes, same
        hosts; every later plan, preview and audit row reads the new words."""
        if {s.name: s.host for s in inventory.nodes} != {s.name: s.host for s in self.inventory.nodes}:
            raise ValueError("use_inventory takes the same nodes and hosts; restart the console for others")
        self.inventory = inventory
        self.engines.inventory = inventory
        self.runner.use_inventory(inventory)

    def plan(self, request: ActionRequest) -> ActionPlan:
        """Reads the scheduler and BMCs for the preview, and the open incidents the action will be recorded
        against: call it from a worker, not a GUI thread."""
        plan = plan_action(request, self.inventory, self.engines)
        check = SPECS[request.kind].record_check
        try:
            incidents = IncidentLog(self.store)
            for node in request.nodes:
                open_incidents = tuple(incidents.open_for(node))
                plan.notes.extend(link_words(node, i, request.ticket) for i in open_incidents)
                if check is not None:
                    plan.warnings.extend(check(self._record_of(node, open_incidents)))
        except StoreError as exc:
            plan.warnings.append(f"the record of the node(s) could not be read: {exc}")
        return plan

    def _record_of(self, node: str, open_incidents: tuple[Incident, ...]) -> NodeRecord:
        """What the record and the live view say of ``node``, for a kind's record check."""
        critical: tuple[Alert, ...] = ()
        if self._fleet is not None:
            with contextlib.suppress(KeyError):  # a node the live fleet does not stream has no live alert
                critical = tuple(a for a in self._fleet.view(node).alerts if a.severity >= Severity.CRITICAL)
        return NodeRecord(node, open_incidents, critical, self.store.last_done(ActionKind.LOCATE.value, node))

    def earlier_unfinished(self, hours: float = 24.0) -> list[ActionStatus]:
        """What earlier (or other) consoles left unfinished in the last ``hours``, as the Actions panel shows
        it: still running in another console, interrupted, or no longer watched. Disk: call from a worker."""
        since = iso_utc(time.time() - hours * 3600)
        out = []
        for row in self.store.unfinished(since, self.runner.session):
            try:
                kind = ActionKind(row.kind)
            except ValueError:
                continue  # a move's own rows: their drain and resume are listed as actions
            state = EARLIER_STATES.get(row.state, ActionState.UNKNOWN)
            message = row.message or (
                "running in another console" if state == ActionState.RUNNING else "outcome unknown"
            )
            out.append(
                ActionStatus(
                    id=row.id,
                    node=row.node,
                    kind=kind,
                    state=state,
                    message=f"earlier console: {message}",
                    commands=tuple(command_text(step) for step in row.command or []),
                    created_at=parse_iso(row.created_at),
                    started_at=parse_iso(row.started_at) if row.started_at else None,
                    finished_at=parse_iso(row.finished_at) if row.finished_at else None,
                )
            )
        return out

    def partitions(self) -> dict[str, Partition]:
        """Slurm's partitions (network: call from a worker); empty without a scheduler."""
        scheduler = self.engines.scheduler()
        return scheduler.partitions() if scheduler is not None else {}

    def node_details(self, node: str) -> NodeDetails:
        """The scheduler's and the BMC's view of one node, and the locate LED the record says was left lit
        (network: call from a worker)."""
        details = read_node_details(self.inventory.node(node), self.engines)
        try:
            return dataclasses.replace(
                details, led_left_on=led_left_on(self.store.last_done(ActionKind.LOCATE.value, node))
            )
        except StoreError as exc:
            return dataclasses.replace(details, led_left_on=f"the locate LED's record could not be read: {exc}")

    def lit_leds(self) -> dict[str, str]:
        """Per node whose locate LED the record says was left lit, in words ("locate LED still on since …
        (locate #41 by dana)"); raises StoreError in words."""
        return lit_led_words(self.store.done_rows(ActionKind.LOCATE.value))

    def close(self) -> None:
        self.runner.shutdown()
        self.engines.close()
        self.session_lock.release()
        self.store.close()


EARLIER_STATES: Final = {
    "intent": ActionState.RUNNING,
    "running": ActionState.RUNNING,
    "stopped watching": ActionState.UNWATCHED,
    "outcome unknown": ActionState.UNKNOWN,
}


def open_store(data_dir: Path, readonly: bool = False) -> Store:
    """The console's store (audit log and incident log) in ``data_dir``; StoreError in words."""
    return Store(data_dir / STORE_FILE, readonly=readonly)


def shared_account(inventory: Inventory, chosen: str | None = None) -> str | None:
    """The OS account the operator's name would fall back to, when several people use it (``root``, or one
    the inventory's ``[policy] shared_accounts`` lists) and no name was given (``--operator``,
    ``$FLEET_CONSOLE_OPERATOR``, the preferences): then ask who is there. None: the name is known."""
    if chosen or os.environ.get("FLEET_CONSOLE_OPERATOR"):
        return None
    user = getpass.getuser()
    return user if user in inventory.policy.shared_accounts else None


def default_operator() -> str:
    """The name that goes into Slurm's Reason and the audit log: $FLEET_CONSOLE_OPERATOR, else the OS user."""
    return str(os.environ.get("FLEET_CONSOLE_OPERATOR") or getpass.getuser())
