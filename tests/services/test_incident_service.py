"""The incident service over a fleet model (fake clock) and the real store: alerts that are due open
incidents with the node's tenant and Slurm's jobs, repeats do not, a liaison's console opens none,
acknowledging records the counters and quiets the sticky alert, and every change is checked against the
role."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.core.actions.roles import Role, RoleRefused
from console.core.alerts.config import IncidentRules, Severity, load_rules
from console.core.alerts.rules import AlertEngine
from console.core.inventory import Inventory, NodeSpec
from console.core.parsers.node_health import NodeHealth
from console.core.parsers.nvidia_csv import NvidiaCsvParser
from console.core.parsers.nvidia_xml import GpuDetail
from console.core.parsers.slurm import Job
from console.core.records.incident_types import IncidentError
from console.core.records.store import Store
from console.core.telemetry.counters import counters_of
from console.core.telemetry.details import HealthReport
from console.core.telemetry.fleet import FleetModel
from console.core.telemetry.samples import NodeState, Vendor
from console.services.incidents import IncidentService
from tests.helpers.fakes import FakeClock, FakeSlurm, nvidia_line

T0 = 1_790_000_000.0


def _world(tmp_path: Path, role: Role = Role.TECHNICIAN) -> tuple[IncidentService, FleetModel, AlertEngine, FakeClock]:
    clock = FakeClock(T0)
    inventory = Inventory(
        tmp_path / "fleet.toml",
        (
            NodeSpec(name="n1", host="10.0.0.1", vendor=Vendor.NVIDIA, tenant="acme"),
            NodeSpec(name="n2", host="10.0.0.2", vendor=Vendor.NVIDIA, tenant="globex"),
        ),
    )
    fleet = FleetModel(inventory, clock=clock)
    slurm = FakeSlurm(jobs=[Job("4242", "bob", "acme", "RUNNING", "1:00", "gpu", ("n1",), "train")])
    rules = load_rules()
    service = IncidentService(
        Store(tmp_path / "console.sqlite3"),
        inventory,
        rules.incidents,
        operator="alice",
        role=role,
        fleet=fleet,
        scheduler=lambda: slurm,
        clock=clock,
    )
    return service, fleet, AlertEngine(rules, clock=clock), clock


def _ecc_report(clock: FakeClock, uncorrected: float) -> HealthReport:
    """A slow-path look at n1 whose GPU 3 has ``uncorrected`` uncorrectable ECC errors."""
    detail = GpuDetail(index=3, uuid="GPU-1b2c", pci_bus_id="00000000:5D:00.0", ecc_uncorrected_volatile=uncorrected)
    return HealthReport(taken_at=clock(), gpus=(detail,), node=NodeHealth())


def _hot(fleet: FleetModel, node: str, temperature: str) -> None:
    parser = NvidiaCsvParser()
    fleet.set_state(node, NodeState.UP)
    fleet.ingest(node, [parser.parse_line(nvidia_line(index="3", temperature_gpu=temperature))], 0.0)


def test_a_critical_alert_opens_one_incident_with_its_tenant_jobs_and_evidence(tmp_path: Path) -> None:
    service, fleet, engine, clock = _world(tmp_path)
    _hot(fleet, "n1", "97")
    for _ in range(3):
        fleet.evaluate_alerts(engine)
        clock.advance(20)
    opened = service.tick()
    assert [(o.what, o.node, o.cause) for o in opened] == [("opened", "n1", "temperature")]
    clock.advance(5)
    assert service.tick() == []  # still the same alert: no second incident
    incident = service.incidents()[0]
    assert incident.severity == "critical" and incident.opened_by == "rule:temperature"
    assert incident.tenants == ("acme",) and incident.jobs[0]["job_id"] == "4242"
    assert incident.accelerators[0].index == 3 and incident.accelerators[0].uuid == "GPU-1b2c"
    assert incident.evidence["temperature_c"] == 97.0
    assert "97 °C" in (incident.message or "")


def test_a_warning_opens_an_incident_only_after_it_lasted_ten_minutes(tmp_path: Path) -> None:
    service, fleet, engine, clock = _world(tmp_path)
    _hot(fleet, "n2", "88")
    fleet.evaluate_alerts(engine)
    clock.advance(31)
    fleet.evaluate_alerts(engine)
    assert [a.severity for a in fleet.view("n2").alerts] == [Severity.WARNING]
    assert service.tick() == []
    clock.advance(600)
    assert [o.cause for o in service.tick()] == ["temperature"]


def test_a_liaison_console_opens_no_incident_and_changes_nothing(tmp_path: Path) -> None:
    service, _, _, _ = _world(tmp_path, Role.LIAISON)
    service.start()
    assert not service._thread.is_alive()
    for change in (
        lambda: service.open_by_hand(["n1"], "cooling", "warning"),
        lambda: service.acknowledge(1),
        lambda: service.add_note(1, "x"),
        lambda: service.resolve(1),
        lambda: service.sign_off(shift_date="d", shift="day", start=0, end=1, note="x", report={}),
        lambda: service.amend(1, "x"),
    ):
        with pytest.raises(RoleRefused, match="liaison role may not"):
            change()
    assert service.incidents() == []


def test_a_technician_may_not_sign_off_but_a_supervisor_may(tmp_path: Path) -> None:
    service, _, _, _ = _world(tmp_path)
    with pytest.raises(RoleRefused, match="may not sign off a shift"):
        service.sign_off(shift_date="2026-11-29", shift="day", start=0, end=1, note="x", report={})
    service.role = Role.SUPERVISOR
    assert service.sign_off(shift_date="2026-11-29", shift="day", start=0, end=1, note="x", report={}) == 1


def test_opening_by_hand_checks_nodes_and_severity(tmp_path: Path) -> None:
    service, _, _, _ = _world(tmp_path)
    incident_id = service.open_by_hand(["n1", "n2"], "cooling loop", "warning", note="fans loud", ticket="OPS-1")
    incident = service.incidents()[0]
    assert incident.id == incident_id and incident.nodes == ("n1", "n2") and incident.opened_by == "alice"
    assert incident.tenants == ("acme", "globex") and incident.ticket == "OPS-1"
    with pytest.raises(ValueError, match="not in the inventory: n9"):
        service.open_by_hand(["n9"], "x", "warning")
    with pytest.raises(ValueError, match="severity must be"):
        service.open_by_hand(["n1"], "x", "severe")


def test_acknowledging_records_the_counters_and_the_sticky_ecc_alert_stops_until_it_grows(tmp_path: Path) -> None:
    service, fleet, engine, clock = _world(tmp_path)
    _hot(fleet, "n1", "50")

    fleet.apply_report("n1", _ecc_report(clock, 2.0))
    fleet.evaluate_alerts(engine)
    assert [a.rule for a in fleet.view("n1").alerts] == ["ecc_uncorrected"]
    (opened,) = service.tick()
    counters = service.acknowledge(opened.id, "reseating")
    assert [c.counters.get("ecc_uncorrected_volatile") for c in counters] == [2.0]
    assert service.incidents()[0].counters[0].counters["ecc_uncorrected_volatile"] == 2.0
    clock.advance(1)
    fleet.evaluate_alerts(engine)
    assert fleet.view("n1").alerts == ()  # acknowledged and not grown: quiet
    assert service.new_since_acknowledged(service.incidents()[0]) == {}
    fleet.apply_report("n1", _ecc_report(clock, 3.0))
    clock.advance(1)
    fleet.evaluate_alerts(engine)
    assert [a.rule for a in fleet.view("n1").alerts] == ["ecc_uncorrected"]
    assert service.new_since_acknowledged(service.incidents()[0]) == {("n1", 3): ["ECC uncorrected (volatile) 2 → 3"]}
    with pytest.raises(IncidentError, match="already acknowledged"):
        service.acknowledge(opened.id)


def test_a_console_starting_later_loads_the_acknowledged_counters_into_the_fleet(tmp_path: Path) -> None:
    service, fleet, _, clock = _world(tmp_path)
    incident_id = service.open_by_hand(["n1"], "ecc", "critical")
    baseline = counters_of(GpuDetail(index=3, ecc_uncorrected_volatile=2.0), [], clock(), "n1")
    service.log.acknowledge(incident_id, "bob", counters=[baseline])
    service.tick()  # the first round reloads what other consoles recorded
    assert fleet.view("n1").acknowledged == {3: baseline}
    assert fleet.view("n2").acknowledged == {}


def test_slurm_failing_still_opens_the_incident_and_says_why_jobs_are_missing(tmp_path: Path) -> None:
    service, _, _, _ = _world(tmp_path)

    class Broken:
        def jobs(self, names: object) -> object:
            raise RuntimeError("slurmctld not responding")

    service.scheduler = Broken  # type: ignore[assignment]
    service.open_by_hand(["n1"], "x", "warning")
    assert service.incidents()[0].jobs == ({"error": "Slurm's jobs could not be read: slurmctld not responding"},)


def test_incident_rules_default_when_none_are_given() -> None:
    assert IncidentRules().open_after_s == {Severity.CRITICAL: 0.0, Severity.WARNING: 600.0}


def test_an_acknowledgement_from_the_command_line_records_what_the_live_console_last_saw(tmp_path: Path) -> None:
    service, fleet, engine, clock = _world(tmp_path)
    _hot(fleet, "n1", "50")
    fleet.apply_report("n1", _ecc_report(clock, 2.0))
    fleet.evaluate_alerts(engine)
    (opened,) = service.tick()
    clock.advance(31)
    service.tick()  # the live console notes the counters it sees on the open incident's accelerators
    headless = IncidentService(
        service.log.store, service.inventory, service.rules, operator="bob", role=Role.TECHNICIAN, clock=clock
    )
    counters = headless.acknowledge(opened.id, "from the terminal")
    assert [(c.node, c.index, c.counters.get("ecc_uncorrected_volatile")) for c in counters] == [("n1", 3, 2.0)]
    assert service.log.incident(opened.id).acknowledged_by == "bob"


def test_resolving_while_the_alert_still_shows_does_not_reopen_it_but_a_new_occurrence_does(tmp_path: Path) -> None:
    service, fleet, engine, clock = _world(tmp_path)
    _hot(fleet, "n1", "97")
    for _ in range(3):
        fleet.evaluate_alerts(engine)
        clock.advance(20)
    (opened,) = service.tick()
    service.resolve(opened.id, "fan replaced; cooling down")
    for _ in range(3):
        clock.advance(31)
        fleet.evaluate_alerts(engine)
        assert service.tick() == []  # the same occurrence, still hot: stays resolved
    assert service.log.incident(opened.id).state.value == "resolved"
    _hot(fleet, "n1", "40")
    for _ in range(3):
        clock.advance(31)
        fleet.evaluate_alerts(engine)
    assert fleet.view("n1").alerts == ()
    _hot(fleet, "n1", "97")
    for _ in range(3):
        fleet.evaluate_alerts(engine)
        clock.advance(20)
    assert [(o.id, o.what) for o in service.tick()] == [(opened.id, "reopened")]


def test_an_alert_back_after_the_acknowledgement_is_written_on_the_incident_once(tmp_path: Path) -> None:
    service, fleet, engine, clock = _world(tmp_path)
    _hot(fleet, "n1", "50")

    fleet.apply_report("n1", _ecc_report(clock, 2.0))
    fleet.evaluate_alerts(engine)
    (opened,) = service.tick()
    service.acknowledge(opened.id)
    clock.advance(5)
    fleet.evaluate_alerts(engine)
    service.tick()
    fleet.apply_report("n1", _ecc_report(clock, 3.0))
    clock.advance(5)
    fleet.evaluate_alerts(engine)
    for _ in range(3):
        service.tick()
        clock.advance(2)
    events = [e for e in service.log.incident(opened.id).events if e.kind == "alerted again"]
    assert len(events) == 1 and "3 uncorrectable ECC" in (events[0].text or "")
