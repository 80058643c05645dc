"""What a supervisor reads: the incidents and actions of a shift or any range, filtered; a node's timeline
(archived utilisation and temperature, alerts, incident events and notes, actions and their outcomes,
node and Slurm state changes, kernel-log XIDs, the BMC's event log); the shift's figures; and the handover
report, built live or, once signed, as it was signed.

Every method reads disk (and the BMC, for its event log): the window calls them through its worker.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from console.core.actions.roles import Role
from console.core.alerts.config import IncidentRules
from console.core.alerts.incidents import IncidentSpan, ShiftClock, ShiftName, shift_figures
from console.core.inventory import Inventory
from console.core.records.archive import ARCHIVE_FILE, TelemetryArchive
from console.core.records.handover import NodeAtEnd, build_report, render_csv, render_html
from console.core.records.incident_log import IncidentLog
from console.core.records.incident_types import Incident, IncidentQuery, SignOff
from console.core.records.log_types import LogFilter, LogPage, NodeTimeline, TimelineEvent
from console.core.records.store import STORE_FILE, Store
from console.core.records.store_error import StoreError
from console.core.telemetry.fleet import FleetModel
from console.core.when import iso_utc, local_stamp
from console.services.incidents import IncidentService

REPEAT_WINDOW_S: Final = 30 * 86400


# The Log view lists every repeat offender on "show all" (the handover report keeps its ten worst).
LOG_OFFENDERS: Final = 1000


class BmcUnknown(LookupError):
    """The node has no BMC the console knows (not in the inventory, or no ``[node.bmc]``): said as it is,
    not as a failed read."""


class ShiftLog:
    def __init__(
        self,
        store: Store,
        inventory: Inventory,
        archive: TelemetryArchive | None = None,
        *,
        fleet: FleetModel | None = None,
        clock: ShiftClock | None = None,
        bmc_events: Callable[[str], list[tuple[float, str, str]]] | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.incident_log = IncidentLog(store)
        self.inventory = inventory
        self.archive = archive
        self.fleet = fleet
        self.shifts = clock or ShiftClock()
        self.bmc_events = bmc_events
        self.now = now
        self._accelerators: dict[str, int] = {}

    # --- the Log view ------------------------------------------------------------------------------------------

    def nodes_for(self, flt: LogFilter) -> frozenset[str]:
        chosen = [
            spec.name
            for spec in self.inventory.nodes
            if (flt.rack is None or spec.rack == flt.rack) and (flt.tenant is None or spec.tenant == flt.tenant)
        ]
        if flt.node:
            chosen = [n for n in chosen if n == flt.node]
        return frozenset(chosen)

    def page(self, flt: LogFilter, limit: int = 5000) -> LogPage:
        started = time.perf_counter()
        narrowed = flt.node is not None or flt.rack is not None or flt.tenant is not None
        nodes = self.nodes_for(flt) if narrowed else frozenset()
        if narrowed and not nodes:
            return LogPage((), (), (time.perf_counter() - started) * 1000)
        incidents = self.incident_log.incidents(
            IncidentQuery(
                since=flt.since,
                until=flt.until,
                states=flt.states,
                severities=flt.severities,
                nodes=nodes,
                cause=flt.cause or None,
                text=flt.text or None,
                limit=limit,
            )
        )
        rows = self.store.rows(since=iso_utc(flt.since), until=iso_utc(flt.until), limit=limit)
        if narrowed:
            rows = [r for r in rows if set(r.node.split(",")) & nodes]
        if flt.text:
            needle = flt.text.lower()
            rows = [
                r
                for r in rows
                if any(needle in (v or "").lower() for v in (r.node, r.kind, r.operator, r.reason, r.ticket, r.message))
            ]
        if flt.states or flt.severities or flt.cause:
            linked = {a for i in incidents for a in i.actions}
            rows = [r for r in rows if r.id in linked]
        figures = shift_figures(
            [self._span(i) for i in incidents],
            flt.since,
            flt.until,
            self.incident_log.counts_since(min(flt.until, self.now()) - REPEAT_WINDOW_S, flt.until),
            offenders=LOG_OFFENDERS,
            now=self.now(),
        )
        return LogPage(tuple(incidents), tuple(rows), (time.perf_counter() - started) * 1000, figures)

    def _span(self, incident: Incident) -> IncidentSpan:
        return IncidentSpan(
            id=incident.id,
            nodes=incident.nodes,
            accelerators=len(incident.accelerators),
            node_accelerators=sum(self.accelerator_count(n) for n in incident.nodes),
            opened=incident.opened,
            acknowledged=incident.acknowledged,
            resolved=incident.resolved,
            severity=incident.severity,
        )

    # --- a node's timeline -------------------------------------------------------------------------------------

    def timeline(self, node: str, since: float, until: float, with_bmc: bool = True) -> NodeTimeline:
        started = time.perf_counter()
        notes: list[str] = []
        events: list[TimelineEvent] = []
        series = None
        if self.archive is not None:
            series = self.archive.timeline(node, since, until)
            for at, kind, value in series.events:
                severity = None
                if kind == "alert":
                    severity = value.split(":", 1)[0]
                events.append(TimelineEvent(at, kind, value, severity))
        else:
            notes.append("no telemetry archive: utilisation, temperature and state changes are not shown")
        for incident_id, event in self.incident_log.events_for_node(node, since, until):
            kind = "note" if event.kind == "note" else "incident"
            events.append(
                TimelineEvent(
                    event.at,
                    kind,
                    f"#{incident_id} {event.kind} by {event.author}" + (f": {event.text}" if event.text else ""),
                )
            )
        for row in self.store.rows(since=iso_utc(since), until=iso_utc(until), node=node):
            at = _epoch(row.created_at)
            events.append(
                TimelineEvent(
                    at,
                    "action",
                    f"#{row.id} {row.kind} by {row.operator}: {row.state}"
                    + (f" ({row.message})" if row.message else ""),
                )
            )
        if with_bmc and self.bmc_events is not None:
            try:
                for at, severity, text in self.bmc_events(node):
                    if since <= at < until:
                        events.append(TimelineEvent(at, "bmc", text, severity))
            except BmcUnknown as exc:
                notes.append(str(exc)[:300])
            except Exception as exc:  # noqa: BLE001 - the timeline shows what it has and says what is missing
                notes.append(f"the BMC's event log could not be read: {str(exc)[:300]}")
        events.sort(key=lambda e: e.at)
        return NodeTimeline(
            node, since, until, series, tuple(events), tuple(notes), (time.perf_counter() - started) * 1000
        )

    # --- shifts -------------------------------------------------------------------------------------------------

    def shift_bounds(self, date: dt.date, shift: ShiftName) -> tuple[float, float]:
        return self.shifts.bounds(date, shift)

    def current_shift(self) -> tuple[dt.date, ShiftName]:
        return self.shifts.shift_at(self.now())

    def signoff(self, date: dt.date, shift: ShiftName) -> SignOff | None:
        return self.incident_log.signoff(date.isoformat(), shift.value)

    def report(self, date: dt.date, shift: ShiftName, generated_by: str) -> tuple[dict[str, Any], SignOff | None]:
        """The shift's report as data, and its sign-off: a signed shift's report is the frozen one."""
        signed = self.signoff(date, shift)
        if signed is not None and signed.report:
            return signed.report, signed
        return self.build(date, shift, generated_by), signed

    def build(self, date: dt.date, shift: ShiftName, generated_by: str) -> dict[str, Any]:
        start, end = self.shifts.bounds(date, shift)
        incidents = self.incident_log.incidents(IncidentQuery(since=start, until=end))
        actions = self.store.rows(since=iso_utc(start), until=iso_utc(end))
        recent = self.incident_log.counts_since(end - REPEAT_WINDOW_S, end)
        figures = shift_figures([self._span(i) for i in incidents], start, end, recent, now=self.now())
        notes = []
        at_end = self.nodes_at(min(end, self.now()))
        if self.archive is None:
            notes.append("no telemetry archive: the nodes' states at the end of the shift are not known")
        if end > self.now():
            notes.append("the shift is not over: figures and node states are as of " + local_stamp(self.now()))
        if self.archive is not None:
            notes += [gap.words() for gap in self.archive.gaps(start, end)]
        return build_report(
            shift_date=date.isoformat(),
            shift=shift.value,
            start=start,
            end=end,
            incidents=incidents,
            actions=actions,
            nodes_at_end=at_end,
            figures=figures,
            generated_by=generated_by,
            generated_at=self.now(),
            notes=notes,
        )

    def render(self, date: dt.date, shift: ShiftName, fmt: str, generated_by: str) -> str:
        report, signed = self.report(date, shift, generated_by)
        if fmt == "csv":
            return render_csv(report, signed)
        return render_html(report, signed)

    def nodes_at(self, when: float) -> list[NodeAtEnd]:
        """Each node's state and Slurm state at ``when``, from the archive (the live model for now)."""
        if self.fleet is not None and abs(when - self.now()) < 120:
            return [NodeAtEnd(s.node, s.state.value, s.scheduler_state) for s in self.fleet.statuses()]
        if self.archive is None:
            return []
        last = self.archive.states_at(when)
        return [NodeAtEnd(n, state, slurm) for n, (state, slurm) in sorted(last.items())]

    def accelerator_count(self, node: str) -> int:
        """How many accelerators the node has (live, else archived, else 1), remembered once known."""
        known = self._accelerators.get(node)
        if known is not None:
            return known
        count = self._accelerator_count(node)
        if count > 1 or self.archive is None:
            self._accelerators[node] = count
        return count

    def _accelerator_count(self, node: str) -> int:
        if self.fleet is not None and node in self.fleet.names:
            count = self.fleet.view(node).accelerator_count
            if count:
                return count
        if self.archive is not None:
            count = self.archive.accelerator_count(node)
            if count:
                return count
        return 1

    def sign_off_data(self, date: dt.date, shift: ShiftName, generated_by: str) -> dict[str, Any]:
        """What a sign-off freezes: the report as built now, with its bounds."""
        start, end = self.shifts.bounds(date, shift)
        return {
            "shift_date": date.isoformat(),
            "shift": shift.value,
            "start": start,
            "end": end,
            "report": self.build(date, shift, generated_by),
        }


def _epoch(iso: str) -> float:
    try:
        return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


@dataclass
class Records:
    """The store's incident side for the command line (no live fleet): the incident service to change
    incidents (role-checked) and the shift log to read them. ``notes`` say what the reader should know
    (the store read-only, the archive missing)."""

    store: Store
    incidents: IncidentService
    log: ShiftLog
    archive: TelemetryArchive | None
    notes: list[str]

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()
        self.store.close()


def open_records(
    data_dir: Path,
    inventory: Inventory,
    rules: IncidentRules,
    *,
    operator: str,
    role: Role,
    write: bool,
    clock: ShiftClock | None = None,
) -> Records:
    """Open the store (read-only where it cannot be written and only reading is asked) and the archive
    (read-only, when there is one). Raises StoreError in words."""
    notes: list[str] = []
    path = data_dir / STORE_FILE
    try:
        store = Store(path)
    except StoreError as exc:
        if write:
            raise
        store = Store(path, readonly=True)
        notes.append(f"reading the incident log read-only: {store.read_note or exc}")
    archive = None
    archive_path = data_dir / ARCHIVE_FILE
    if archive_path.exists():
        try:
            archive = TelemetryArchive(archive_path, readonly=True)
        except StoreError as exc:
            notes.append(str(exc))
    else:
        notes.append(f"no telemetry archive in {data_dir}: node states at the end of a shift are not known")
    service = IncidentService(store, inventory, rules, operator=operator, role=role)
    return Records(store, service, ShiftLog(store, inventory, archive, clock=clock), archive, notes)
