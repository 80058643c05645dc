"""The demo's month of history (console.sim.history): written once through the console's own record, from
the simulator's nodes and faults, each incident's words fitting its evidence, acknowledged before anyone
acts, a few repeat offenders, a few open in the shift under way; and the previous shift signed off."""

from __future__ import annotations

import calendar
import time
from pathlib import Path

import numpy as np
import pytest

from console.core.records.archive import ARCHIVE_FILE, TelemetryArchive
from console.core.records.incident_log import IncidentLog
from console.core.records.incident_types import IncidentQuery
from console.core.records.store import STORE_FILE, Store
from console.sim.history import HistoryWritten, TelemetryScale, seed_history
from console.sim.model import XID_NODE, Role, build_fleet

NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC
FLEET = build_fleet(32)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, HistoryWritten]:
    directory = tmp_path_factory.mktemp("demo-history")
    return directory, seed_history(directory, FLEET, NOW)


def _seeded(seeded: tuple[Path, HistoryWritten]) -> tuple[int, IncidentLog, Store]:
    directory, written = seeded
    store = Store(directory / STORE_FILE)
    return written.incidents, IncidentLog(store), store


def test_a_month_of_incidents_fits_its_evidence_and_is_worked_in_order(seeded: tuple[Path, HistoryWritten]) -> None:
    written, log, store = _seeded(seeded)
    incidents = log.incidents(IncidentQuery(since=NOW - 31 * 86400))
    assert written == len(incidents) >= 40
    assert min(i.opened for i in incidents) >= NOW - 30 * 86400
    for incident in incidents:
        if incident.cause == "unreachable":  # a node that does not answer has no GPU to name
            assert not incident.accelerators and "GPU" not in (incident.message or "")
        else:
            index = incident.accelerators[0].index
            assert any(f"{word} {index}" in (incident.message or "") for word in ("GPU", "NPU")), incident.message
    rows = {r.id: r for r in store.rows()}
    for incident in incidents:
        acted = sorted(rows[a].created_at for a in incident.actions)
        if acted:  # nobody acts on an incident nobody has acknowledged
            assert incident.acknowledged is not None
            assert acted[0] > time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(incident.acknowledged))
        kinds = [rows[a].kind for a in sorted(incident.actions)]
        if "resume" in kinds:  # resumed after it was resolved, and drained before
            assert incident.resolved is not None and kinds.index("drain") < kinds.index("resume")
    tickets = {i.ticket for i in incidents if i.ticket}
    notes = {n.text for i in incidents for n in i.notes}
    assert len(tickets) >= 5 and len(notes) >= 8  # they vary
    per_node: dict[str, int] = {}
    for incident in incidents:
        per_node[incident.nodes[0]] = per_node.get(incident.nodes[0], 0) + 1
    assert sum(1 for count in per_node.values() if count > 1) >= 3  # repeat offenders
    still_open = [i for i in incidents if i.resolved is None]
    assert still_open and all(i.opened > NOW - 7 * 3600 for i in still_open)  # the shift under way's
    store.close()


def test_the_archive_holds_the_last_hours_per_minute_and_history_is_never_written_twice(
    seeded: tuple[Path, HistoryWritten],
) -> None:
    directory, written = seeded
    archive = TelemetryArchive(directory / ARCHIVE_FILE, readonly=True)
    timeline = archive.timeline("gpu-001", NOW - 8 * 3600, NOW)
    before = archive.usage("2026-12-01", "2027-02-01")
    archive.close()
    assert timeline.resolution_s == 60 and len(timeline.times) >= 7 * 60 and timeline.util.shape[1] == 8
    assert written == HistoryWritten(written.incidents, 30, 30)
    # A record with incidents, an archive with telemetry: both left alone.
    assert seed_history(directory, FLEET, NOW + 60) == HistoryWritten(0, 30, 0)
    again = Store(directory / STORE_FILE)
    assert len(IncidentLog(again).incidents(IncidentQuery(since=0))) == written.incidents
    again.close()
    archive = TelemetryArchive(directory / ARCHIVE_FILE, readonly=True)
    assert archive.usage("2026-12-01", "2027-02-01") == before
    archive.close()


def test_every_tenant_has_a_month_of_days_and_an_inference_service_is_busier_by_day(
    seeded: tuple[Path, HistoryWritten],
) -> None:
    directory, _ = seeded
    archive = TelemetryArchive(directory / ARCHIVE_FILE, readonly=True)
    try:
        for tenant in {n.tenant for n in FLEET if n.tenant}:
            days = archive.usage_by_day("2026-12-01", "2027-02-01", tenant)
            assert len(days) == 31, tenant  # 30 days back from 08:00: 31 calendar days, the first in part
            held = sorted(d[1] for d in days)
            assert held[1] > 0 and all(d[2] + d[3] + d[4] <= d[1] + 1e-6 for d in days)
        inference = next(n for n in FLEET if n.role == Role.INFERENCE and n.tenant)
        by_hour: dict[int, list[float]] = {}
        for row in archive.hours(NOW - 14 * 86400, NOW, [inference.name]):
            util = row.accelerators["util_mean"][:4] / 100  # the service's four GPUs
            by_hour.setdefault(row.t % 86400 // 3600, []).append(float(np.mean(util)))
        afternoon = np.mean(by_hour[15]) if 15 in by_hour else 0.0
        night = np.mean(by_hour[3])
        assert afternoon > night + 10, (afternoon, night)
    finally:
        archive.close()


def test_the_telemetry_shows_each_incidents_evidence(seeded: tuple[Path, HistoryWritten]) -> None:
    directory, _ = seeded
    _, log, store = _seeded(seeded)
    archive = TelemetryArchive(directory / ARCHIVE_FILE, readonly=True)
    try:
        flapping = next(n for n in FLEET if n.role == Role.FLAPPING)
        every = [i for i in log.incidents(IncidentQuery(since=0)) if i.cause == "unreachable"]
        outages = [i for i in every if i.resolved]
        assert outages and len(every) > len(outages)  # one under way
        rows = {row.t: row for row in archive.hours(NOW - 31 * 86400, NOW, [flapping.name])}
        for incident in outages:
            assert incident.resolved is not None
            inside = range(int(incident.opened) // 3600 * 3600 + 3600, int(incident.resolved) // 3600 * 3600, 3600)
            for hour in inside:  # hours wholly within the outage: the node did not answer
                assert rows[hour].live_minutes == 0 and rows[hour].seen_minutes == 60
        quiet = [r for t, r in rows.items() if not any(i.opened - 3600 < t < (i.resolved or NOW) for i in every)]
        assert quiet and all(r.live_minutes == 60 for r in quiet)
        # A drained node runs no job: the XID node's GPUs idle for the hours wholly between drain and resume.
        xid = FLEET[XID_NODE].name
        actions = sorted((_epoch(r.created_at), r.kind) for r in store.rows() if r.node == xid)
        hours = {row.t: row for row in archive.hours(NOW - 31 * 86400, NOW, [xid])}
        checked = 0
        for drained, kind in actions:
            resumed = next((t for t, later in actions if later == "resume" and t > drained), None)
            if kind != "drain" or resumed is None:
                continue
            for hour in range(int(drained) // 3600 * 3600 + 3600, int(resumed) // 3600 * 3600, 3600):
                assert int(hours[hour].accelerators["util_mean"].max()) == 0
                checked += 1
        assert checked
    finally:
        archive.close()
        store.close()


def _epoch(iso: str) -> float:
    return calendar.timegm(time.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S"))


def test_a_large_simulated_fleet_gets_less_telemetry_in_proportion_and_never_under_the_floors() -> None:
    assert TelemetryScale.of(32) == TelemetryScale.of(8) == TelemetryScale(30, 8, 16)
    assert TelemetryScale.of(100) == TelemetryScale(9, 2, 5)
    assert TelemetryScale.of(1000) == TelemetryScale(2, 1, 4)


def test_the_demos_previous_shift_is_signed_off_once_by_its_supervisor(tmp_path: Path) -> None:
    from console.app import LiveFleet, WindowServices
    from console.cli_window import _sign_demo_shift
    from console.core.inventory import parse_inventory
    from console.services.actions import ActionService
    from console.transport.ssh import SshSettings

    fleet = build_fleet(8)
    seed_history(tmp_path, fleet, time.time())
    text = "".join(f'[[node]]\nname = "{n.name}"\nhost = "10.0.0.{n.index + 1}"\n' for n in fleet)
    inventory = parse_inventory(text, tmp_path / "fleet.toml")
    ssh = SshSettings(ssh_config=None, allow_agent=False, look_for_keys=False)
    live = LiveFleet(inventory, ssh)
    actions = ActionService(inventory, tmp_path, ssh, live=live, operator="dana.k")
    services = WindowServices(live, actions)
    try:
        log = services.shift.log
        date, shift = log.current_shift()
        start, _ = log.shift_bounds(date, shift)
        before = log.shifts.shift_at(start - 1)
        _sign_demo_shift(services)
        _sign_demo_shift(services)  # once: the second call finds it signed
        signed = log.signoff(*before)
        assert signed is not None and signed.signed_by == "sam.r" and signed.role == "supervisor"
        assert log.signoff(date, shift) is None  # the shift under way is not
    finally:
        services.close()
        live.stop()
