"""The scheduler watch is the one source of Slurm's node states: it puts them in the fleet model (where the
window and the rules read them), says when Slurm cannot be read, and reads again when asked (fake Slurm)."""

from __future__ import annotations

from pathlib import Path

from console.core.inventory import parse_inventory
from console.core.telemetry.fleet import FleetModel
from console.services.scheduler_watch import SchedulerWatch
from tests.helpers.fakes import FakeSlurm
from tests.helpers.live import wait_for

INVENTORY = (
    '[scheduler]\nkind = "slurm"\nhost = "10.0.0.100"\n'
    '[[node]]\nname = "gpu-001"\nhost = "10.0.0.1"\nslurm_name = "node1"\n'
    '[[node]]\nname = "gpu-002"\nhost = "10.0.0.2"\n'
)


class FakeEngines:
    def __init__(self, slurm: FakeSlurm) -> None:
        self.slurm = slurm

    def scheduler(self) -> FakeSlurm:
        return self.slurm


def _watch(interval_s: float = 3600.0) -> tuple[SchedulerWatch, FleetModel, FakeSlurm]:
    inventory = parse_inventory(INVENTORY, Path("fleet.toml"))
    fleet = FleetModel(inventory)
    slurm = FakeSlurm({"node1": "IDLE", "gpu-002": "ALLOCATED"})
    return SchedulerWatch(inventory, fleet, FakeEngines(slurm), interval_s=interval_s), fleet, slurm


def test_slurms_states_land_in_the_model_under_the_inventory_names() -> None:
    watch, fleet, _ = _watch()
    assert watch.read_once() == {"gpu-001": "IDLE", "gpu-002": "ALLOCATED"}
    assert fleet.view("gpu-001").scheduler_state == "IDLE"
    assert fleet.view("gpu-002").scheduler_state == "ALLOCATED"


def test_a_failing_slurm_is_said_in_the_snapshot_and_cleared_when_it_answers_again() -> None:
    watch, fleet, slurm = _watch()
    slurm.failing = "ops@10.0.0.100: connection refused"
    watch.start()
    try:
        wait_for("the problem in the snapshot", lambda: fleet.snapshot().scheduler_problem)
        assert "connection refused" in (fleet.snapshot().scheduler_problem or "")
        slurm.failing = None
        slurm.states["node1"] = "IDLE+DRAIN"
        watch.refresh_now()  # without it the next read would be an hour away
        wait_for("the drained state", lambda: fleet.view("gpu-001").scheduler_state == "IDLE+DRAIN")
        wait_for("the problem cleared", lambda: fleet.snapshot().scheduler_problem is None)
    finally:
        watch.stop()


def test_without_a_scheduler_nothing_is_read() -> None:
    inventory = parse_inventory('[[node]]\nname = "a"\nhost = "10.0.0.1"\n', Path("fleet.toml"))
    slurm = FakeSlurm()
    watch = SchedulerWatch(inventory, FleetModel(inventory), FakeEngines(slurm))
    watch.start()
    watch.stop()
    assert not watch.enabled and slurm.reads == 0
