"""The incident service: opens incidents from the alerts the fleet model holds (by the policy in the
alert-rules file), and carries out what people do to incidents, checked against their role. One service,
one store, for the window and for streaming ``poll`` alike.

It runs on its own thread every few seconds: alert evaluation stays on the telemetry worker, and the
store's writes (a few per incident) and Slurm's job list (asked once per new incident, with a deadline)
never hold up the nodes' readings.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from console.core.actions.action_types import SchedulerPort
from console.core.actions.roles import Permission, Role, allowed, require
from console.core.alerts.config import IncidentRules
from console.core.alerts.incidents import cause_of
from console.core.alerts.rules import Alert
from console.core.inventory import Inventory
from console.core.records.incident_log import IncidentLog
from console.core.records.incident_types import AcceleratorRef, Incident, IncidentQuery
from console.core.records.store import Store
from console.core.records.store_error import StoreError
from console.core.telemetry.counters import AcceleratorCounters, counters_of, new_since_acknowledged
from console.core.telemetry.fleet import FleetModel, NodeView

INCIDENT_TICK_S: Final = 2.0
REFRESH_S: Final = 30.0
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OpenedIncident:
    id: int
    what: str  # opened, repeat, reopened
    node: str
    cause: str


class IncidentService:
    def __init__(
        self,
        store: Store,
        inventory: Inventory,
        rules: IncidentRules,
        *,
        operator: str,
        role: Role,
        fleet: FleetModel | None = None,
        scheduler: Callable[[], SchedulerPort | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.log = IncidentLog(store, clock)
        self.inventory = inventory
        self.rules = rules
        self.operator = operator
        self.role = role
        self.fleet = fleet
        self.scheduler = scheduler
        self.clock = clock
        self.problem: str | None = None  # why incidents cannot be written now, in words
        self.listeners: list[Callable[[], None]] = []  # called (from the service's thread) after changes
        self._open: dict[tuple[str, str], int] = {}
        self._noted: dict[int, object] = {}
        self._settled: dict[tuple[str, str], float] = {}
        self._acknowledged: dict[int, float] = {}
        self._repeated: dict[int, float] = {}
        self._baselines_as_of: tuple[float | None, int] | None = None
        self._refreshed = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="incidents", daemon=True)

    # --- the automatic side ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Opens incidents from alerts while the fleet streams, except in a read-only (liaison) console."""
        if self.fleet is None or self._thread.is_alive() or not allowed(self.role, Permission.INCIDENTS):
            return
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(INCIDENT_TICK_S):
            try:
                self.tick()
            except Exception:
                log.exception("the incident service failed a round")

    def tick(self) -> list[OpenedIncident]:
        """One round: reload what other consoles changed (every REFRESH_S), open incidents for alerts that
        are due. Returns what it opened or re-opened."""
        assert self.fleet is not None
        now = self.clock()
        try:
            if now - self._refreshed >= REFRESH_S or not self._refreshed:
                self._refresh()
                self._refreshed = now
            out: list[OpenedIncident] = []
            for status in self.fleet.statuses(alerting_only=True):
                for alert in status.alerts:
                    if not self.rules.due(alert, now):
                        continue
                    key = (status.node, cause_of(alert))
                    if key in self._open:
                        self._alerted_again(self._open[key], alert)
                        continue
                    if self._settled.get(key) == alert.first_seen:
                        continue  # resolved by a person while this same occurrence still showed
                    opened = self._open_for_alert(alert)
                    if opened.what == "still resolved":
                        self._open.pop(key, None)
                        self._settled[key] = alert.first_seen
                        continue
                    out.append(opened)
            self.problem = None
        except StoreError as exc:
            self.problem = f"incidents are not being recorded: {exc}"
            return []
        if out:
            self._changed()
        return out

    def _alerted_again(self, incident_id: int, alert: Alert) -> None:
        """An alert raised anew after its incident was acknowledged (a sticky counter grew, a new XID) is
        written on the incident once, so the incident says what is new since."""
        acknowledged = self._acknowledged.get(incident_id)
        if (
            acknowledged is None
            or alert.first_seen <= acknowledged
            or self._repeated.get(incident_id) == alert.first_seen
        ):
            return
        self._repeated[incident_id] = alert.first_seen
        self.log.add_event(
            incident_id, f"rule:{alert.rule}", "alerted again", f"after the acknowledgement: {alert.message}"
        )
        self._changed()

    def _refresh(self) -> None:
        assert self.fleet is not None
        self._open = self.log.open_keys()
        self._acknowledged = self.log.acknowledged_open()
        # Every acknowledgement ever recorded is read again only when a new one was made (by any console).
        latest = self.log.latest_acknowledgement()
        if latest != self._baselines_as_of:
            self._baselines_as_of = latest
            for node, baselines in self.log.baselines().items():
                if node in self.fleet.names:
                    self.fleet.set_acknowledged(node, baselines)
        # What the command line's acknowledgement records: the counters this console last saw.
        for incident in self.log.incidents(IncidentQuery(open_only=True, limit=500)):
            counters = self._counters(incident.nodes, incident.accelerators)
            # Written when they changed (the time they were taken aside), not every round.
            key = [(c.node, c.index, sorted(c.counters.items()), sorted(c.flags.items()), c.xids) for c in counters]
            if counters and self._noted.get(incident.id) != key:
                self.log.note_counters(incident.id, counters)
                self._noted[incident.id] = key

    def _open_for_alert(self, alert: Alert) -> OpenedIncident:
        assert self.fleet is not None
        view = self.fleet.view(alert.node)
        accelerators = []
        if alert.accelerator is not None:
            accelerators.append(AcceleratorRef(alert.node, alert.accelerator, _uuid(view, alert.accelerator)))
        incident_id, what = self.log.open(
            nodes=[alert.node],
            cause=cause_of(alert),
            severity=alert.severity.word,
            opened_by=f"rule:{alert.rule}",
            message=alert.message,
            accelerators=accelerators,
            tenants=[view.spec.tenant] if view.spec.tenant else [],
            jobs=self._jobs([alert.node]),
            evidence={**alert.evidence, "first_seen": alert.first_seen},
            reopen_window_s=self.rules.reopen_window_s,
            first_seen=alert.first_seen,
        )
        self._open[(alert.node, cause_of(alert))] = incident_id
        return OpenedIncident(incident_id, what, alert.node, cause_of(alert))

    def _jobs(self, nodes: Sequence[str]) -> list[dict[str, Any]]:
        """The Slurm jobs on the nodes now (empty without a scheduler or when Slurm does not answer)."""
        scheduler = self.scheduler() if self.scheduler else None
        if scheduler is None:
            return []
        names = [self.inventory.node(n).scheduler_name for n in nodes if n in self.inventory.names]
        try:
            jobs = scheduler.jobs(names)
        except Exception as exc:  # noqa: BLE001 - the incident opens regardless; it says why jobs are missing
            return [{"error": f"Slurm's jobs could not be read: {str(exc)[:200]}"}]
        return [
            {"job_id": j.job_id, "user": j.user, "account": j.account, "state": j.state, "partition": j.partition}
            for j in jobs[:50]
        ]

    def _counters(self, nodes: Sequence[str], refs: Sequence[AcceleratorRef]) -> list[AcceleratorCounters]:
        """The sticky counters of the incident's accelerators (every accelerator of its nodes when it names
        none) as the live fleet last saw them."""
        if self.fleet is None:
            return []
        out = []
        for node in nodes:
            if node not in self.fleet.names:
                continue
            view = self.fleet.view(node)
            wanted = {r.index for r in refs if r.node == node} or set(view.gpu_details)
            for index in sorted(wanted):
                detail = view.gpu_details.get(index)
                if detail is not None:
                    xids = [r.event.code for r in view.xids if r.accelerator == index]
                    out.append(counters_of(detail, xids, self.clock(), node))
        return out

    def _changed(self) -> None:
        for listener in list(self.listeners):
            with contextlib.suppress(Exception):
                listener()

    # --- what people do (checked against the role; each writes the store: call from a worker) -----------------

    def open_by_hand(
        self, nodes: Sequence[str], cause: str, severity: str, note: str | None = None, ticket: str | None = None
    ) -> int:
        require(self.role, Permission.INCIDENTS)
        unknown = [n for n in nodes if n not in self.inventory.names]
        if unknown:
            raise ValueError(f"not in the inventory: {', '.join(unknown)}")
        if severity not in ("info", "warning", "critical"):
            raise ValueError(f"severity must be info, warning or critical, not {severity!r}")
        tenants = sorted({t for n in nodes if (t := self.inventory.node(n).tenant)})
        incident_id, _ = self.log.open(
            nodes=nodes,
            cause=cause,
            severity=severity,
            opened_by=self.operator,
            message=note,
            tenants=tenants,
            jobs=self._jobs(nodes),
            ticket=ticket,
            note=note,
        )
        self._open.update({(n, cause): incident_id for n in nodes})
        self._changed()
        return incident_id

    def acknowledge(self, incident_id: int, note: str | None = None) -> list[AcceleratorCounters]:
        """Acknowledge, recording the sticky counters of the incident's accelerators now (live), or as the
        live console last saw them (command line). Returns the counters recorded."""
        require(self.role, Permission.INCIDENTS)
        incident = self.log.incident(incident_id)
        counters = self._counters(incident.nodes, incident.accelerators) or self.log.seen_counters(incident_id)
        self.log.acknowledge(incident_id, self.operator, note, counters)
        self._acknowledged[incident_id] = self.clock()
        if self.fleet is not None:
            for node in incident.nodes:
                mine = {c.index: c for c in counters if c.node in (node, None) and node in self.fleet.names}
                if mine:
                    self.fleet.set_acknowledged(node, mine)
        self._changed()
        return counters

    def add_note(self, incident_id: int, text: str) -> None:
        require(self.role, Permission.INCIDENTS)
        self.log.add_note(incident_id, self.operator, text)
        self._changed()

    def resolve(self, incident_id: int, note: str | None = None) -> None:
        require(self.role, Permission.INCIDENTS)
        incident = self.log.incident(incident_id)
        self.log.resolve(incident_id, self.operator, note)
        for node in incident.nodes:
            self._open.pop((node, incident.cause), None)
        self._changed()

    def set_ticket(self, incident_id: int, ticket: str) -> None:
        require(self.role, Permission.INCIDENTS)
        self.log.set_ticket(incident_id, self.operator, ticket)
        self._changed()

    def sign_off(self, **kwargs: Any) -> int:
        require(self.role, Permission.SIGN_OFF)
        signoff = self.log.sign_off(by=self.operator, role=self.role.value, **kwargs)
        self._changed()
        return signoff

    def amend(self, signoff_id: int, text: str) -> None:
        require(self.role, Permission.AMEND)
        self.log.amend(signoff_id, self.operator, text)
        self._changed()

    # --- readers ---------------------------------------------------------------------------------------------

    def incidents(self, query: IncidentQuery | None = None) -> list[Incident]:
        return self.log.incidents(query)

    def new_since_acknowledged(self, incident: Incident) -> dict[tuple[str, int], list[str]]:
        """Per (node, accelerator): what grew since the incident's acknowledgement, in words (live only)."""
        if self.fleet is None or not incident.counters or incident.acknowledged is None:
            return {}
        out = {}
        for node in incident.nodes:
            if node not in self.fleet.names:
                continue
            view = self.fleet.view(node)
            for baseline in incident.counters:
                if baseline.node not in (node, None):
                    continue
                words = new_since_acknowledged(
                    baseline,
                    view.gpu_details.get(baseline.index),
                    [
                        r.event.code
                        for r in view.xids
                        if r.accelerator == baseline.index and r.seen_at > baseline.taken_at
                    ],
                )
                if words:
                    out[(node, baseline.index)] = words
        return out


def _uuid(view: NodeView, index: int) -> str | None:
    for accelerator in view.accelerators:
        if accelerator.sample.index == index and isinstance(accelerator.sample.uuid, str):
            return accelerator.sample.uuid
    detail = view.gpu_details.get(index)
    return detail.uuid if detail is not None and isinstance(detail.uuid, str) else None
