"""The demo's month of history (console.sim.history): written once through the console's own record, from
the simulator's nodes and faults, each incident's words fitting its evidence, acknowledged before anyone
acts, a few repeat offenders, a few open in the shift under way; and the previous shift signed off."""

from __future__ import annotations

import time
from pathlib import Path

from console.core.archive import ARCHIVE_FILE, TelemetryArchive
from console.core.incident_log import IncidentLog, IncidentQuery
from console.core.store import STORE_FILE, Store
from console.sim.history import seed_history
from console.sim.model import build_fleet

NOW = 1_800_000_000.0


def _seeded(tmp_path: Path) -> tuple[int, IncidentLog, Store]:
    written = seed_history(tmp_path, build_fleet(32), NOW)
    store = Store(tmp_path / STORE_FILE)
    return written, IncidentLog(store), store


def test_a_month_of_incidents_fits_its_evidence_and_is_worked_in_order(tmp_path: Path) -> None:
    written, log, store = _seeded(tmp_path)
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


def test_the_archive_holds_the_last_hours_and_history_is_never_written_twice(tmp_path: Path) -> None:
    written, _log, store = _seeded(tmp_path)
    store.close()
    archive = TelemetryArchive(tmp_path / ARCHIVE_FILE, readonly=True)
    timeline = archive.timeline("gpu-001", NOW - 8 * 3600, NOW)
    archive.close()
    assert timeline.resolution_s == 60 and len(timeline.times) >= 7 * 60 and timeline.util.shape[1] == 8
    assert seed_history(tmp_path, build_fleet(32), NOW + 60) == 0  # a record with incidents is left alone
    again = Store(tmp_path / STORE_FILE)
    assert len(IncidentLog(again).incidents(IncidentQuery(since=0))) == written
    again.close()


def test_the_demos_previous_shift_is_signed_off_once_by_its_supervisor(tmp_path: Path) -> None:
    from console.app import LiveFleet, WindowServices
    from console.cli import _sign_demo_shift
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
