"""Incidents against the real engines: the Slurm job on a node recorded when its incident opens (squeue on
the scheduler host over a real sshd), a drain through real Slurm linked to the open incident, and the node's
timeline with the action, Slurm's state change from the archive, and the real Redfish emulator's answer
about its event log."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.app import LiveFleet, WindowServices
from console.core.actions.planning import ActionKind, ActionRequest
from console.core.actions.runs import ActionState, RunnerSettings
from console.core.inventory import load_inventory
from console.services.actions import ActionService
from tests.helpers.live import FAST, NO_USER_CONFIG, wait_for
from tests.helpers.world import world_sshd, write_inventory

pytestmark = pytest.mark.sshd


@pytest.fixture(scope="module")
def services(slurm: Any, bmc: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WindowServices, Any]]:
    with world_sshd(slurm, bmc, tmp_path_factory.mktemp("sshd")) as sshd:
        data_dir = tmp_path_factory.mktemp("data")
        inventory = load_inventory(write_inventory(data_dir / "fleet.toml", sshd, bmc))
        live = LiveFleet(inventory, NO_USER_CONFIG, FAST)
        actions = ActionService(
            inventory,
            data_dir,
            NO_USER_CONFIG,
            live=live,
            operator="alice",
            settings=RunnerSettings(step_timeout_s=30, verify_timeout_s=20, poll_s=0.3),
        )
        window = WindowServices(live, actions)
        live.start()
        window.start()
        try:
            wait_for("all nodes streaming", lambda: all(v.lines_parsed > 0 for v in live.fleet.views()))
            yield window, slurm
        finally:
            window.close()
            live.stop()


def test_an_incident_records_the_running_job_and_the_drain_is_linked_to_it(
    services: tuple[WindowServices, Any],
) -> None:
    window, slurm = services
    job = slurm.run("sbatch", "--parsable", "-w", "node2", "-J", "train-llm", "--wrap", "sleep 300").stdout.strip()
    try:
        wait_for("the job running", lambda: "RUNNING" in slurm.run("squeue", "-h", "-j", job, "-o", "%T").stdout)
        incident_id = window.shift.incidents.open_by_hand(["node2"], "gpu fell off the bus", "critical", note="XID 79")
        incident = window.shift.incidents.log.incident(incident_id)
        assert [j["job_id"] for j in incident.jobs] == [job] and incident.tenants == ("tenant-2",)
        assert incident.jobs[0]["state"] == "RUNNING"

        plan = window.actions.plan(
            ActionRequest(operator="alice", kind=ActionKind.DRAIN, nodes=("node2",), reason="XID 79", ticket="RMA-1")
        )
        (status,) = window.actions.runner.submit(plan)
        assert window.actions.runner.wait([status.id], timeout=120)
        assert window.actions.runner.status(status.id).state == ActionState.DONE
        assert "DRAIN" in slurm.node_field("node2", "State")
        assert window.actions.store.row(status.id).incident_id == incident_id
        assert window.shift.incidents.log.incident(incident_id).actions == (status.id,)

        def drained_in_archive() -> bool:
            timeline = window.shift.log.timeline("node2", time.time() - 600, time.time() + 60, with_bmc=False)
            return any(e.kind == "slurm" and "DRAIN" in e.text for e in timeline.events)

        wait_for("Slurm's DRAIN in the archive", drained_in_archive, timeout=60)
        timeline = window.shift.log.timeline("node2", time.time() - 600, time.time() + 60)
        kinds = {e.kind for e in timeline.events}
        assert {"incident", "action", "slurm", "state"} <= kinds
        assert any("has no event log (its system lists no LogServices)" in n for n in timeline.notes)
        node6 = window.shift.log.timeline("node6", time.time() - 600, time.time() + 60)
        assert any("node6 has no BMC in the inventory" in n for n in node6.notes)
    finally:
        slurm.run("scancel", job, check=False)
        slurm.run("scontrol", "update", "NodeName=node2", "State=RESUME", check=False)


def test_the_shift_report_lists_the_drain_under_its_incident(
    services: tuple[WindowServices, Any], tmp_path: Path
) -> None:
    window, _ = services
    date, shift = window.shift.log.current_shift()
    report, signoff = window.shift.log.report(date, shift, "alice")
    assert signoff is None
    drains = [a for a in report["actions"] if a["kind"] == "drain"]
    assert drains and all(a["incident"] for a in drains)
    assert any(i["cause"] == "gpu fell off the bus" for i in report["open_incidents"])
