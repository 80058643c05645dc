"""Actions end to end against real engines: Slurm (slurmctld + slurmd from Debian, reached over a real sshd
as the scheduler host), a Redfish BMC emulator (sushy-emulator), and plain SSH with a stand-in systemctl.
Nodes stream telemetry through the replaying nvidia-smi stand-in (no GPU).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from console.app import LiveFleet
from console.core.actions.planning import ActionKind, ActionRefused, ActionRequest
from console.core.actions.runs import ActionState, RunnerSettings
from console.core.inventory import Inventory, load_inventory
from console.core.records.store import Store
from console.services.actions import ActionService
from tests.helpers.live import FAST, NO_USER_CONFIG, wait_for
from tests.helpers.world import PASSWORD_ENV, SCHEDULER, world_sshd, write_inventory

pytestmark = pytest.mark.sshd

SETTINGS = RunnerSettings(step_timeout_s=30, verify_timeout_s=20, reboot_timeout_s=90, power_timeout_s=40, poll_s=0.3)


@dataclass
class World:
    slurm: Any
    bmc: Any
    sshd: Any
    inventory: Inventory
    live: LiveFleet
    service: ActionService
    data_dir: Path

    def act(self, timeout: float = 120, typed: tuple[str, ...] = (), **fields: Any) -> Any:
        plan = self.service.plan(ActionRequest(operator="alice", **fields))
        statuses = self.service.runner.submit(plan, typed)
        assert self.service.runner.wait([s.id for s in statuses], timeout=timeout)
        return [self.service.runner.status(s.id) for s in statuses]


@pytest.fixture(scope="module")
def world(slurm: Any, bmc: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_sshd(slurm, bmc, tmp_path_factory.mktemp("sshd")) as sshd:
        data_dir = tmp_path_factory.mktemp("data")
        inventory = load_inventory(write_inventory(data_dir / "fleet.toml", sshd, bmc))
        live = LiveFleet(inventory, NO_USER_CONFIG, FAST)
        live.start()
        service = ActionService(inventory, data_dir, NO_USER_CONFIG, live=live, settings=SETTINGS)
        try:
            wait_for("all nodes streaming", lambda: all(v.lines_parsed > 0 for v in live.fleet.views()))
            yield World(slurm, bmc, sshd, inventory, live, service, data_dir)
        finally:
            service.close()
            live.stop()


def test_drain_with_hostile_reason_lands_verbatim_in_slurm_and_executes_nothing(world: World) -> None:
    marker = Path(tempfile.mkdtemp(prefix="fc")) / "p"
    reason = f'it\'s "hot"; $(touch {marker}) `touch {marker}` | touch {marker} & echo \\ %s {{}} x=y'
    (status,) = world.act(kind=ActionKind.DRAIN, nodes=("node1",), reason=reason, ticket="INC-42")
    assert status.state == ActionState.DONE, status.message
    assert world.slurm.node_field("node1", "Reason").startswith(f"alice: {reason} [INC-42] [")
    assert "DRAIN" in world.slurm.node_state("node1")
    assert not marker.exists()
    row = world.service.store.row(status.id)
    assert (row.state, row.operator, row.kind, row.node, row.reason, row.ticket) == (
        "done",
        "alice",
        "drain",
        "node1",
        reason,
        "INC-42",
    )
    assert row.command == [["scontrol", "update", "NodeName=node1", "State=DRAIN", f"Reason=alice: {reason} [INC-42]"]]
    assert row.exit_status == 0 and row.duration_s is not None and row.finished_at is not None
    assert row.host == f"{world.sshd.user}@{SCHEDULER}:{world.sshd.port}"

    (resumed,) = world.act(kind=ActionKind.RESUME, nodes=("node1",))
    assert resumed.state == ActionState.DONE, resumed.message
    assert "DRAIN" not in world.slurm.node_state("node1") and "IDLE" in world.slurm.node_state("node1")


def test_a_reason_with_a_line_break_is_refused_before_anything_is_sent(world: World) -> None:
    before = len(world.service.store.rows())
    plan = world.service.plan(
        ActionRequest(kind=ActionKind.DRAIN, nodes=("node2",), operator="alice", reason="first line\nsecond line")
    )
    assert not plan.allowed
    assert any("line break" in r for r in plan.refusals)
    with pytest.raises(ActionRefused):
        world.service.runner.submit(plan)
    rows = world.service.store.rows()
    assert len(rows) == before + 1  # the attempt is on record, as refused, and nothing was sent
    refused = max(rows, key=lambda r: r.id)
    assert refused.state == "refused" and "line break" in (refused.message or "")
    assert "DRAIN" not in world.slurm.node_state("node2")


def test_drain_and_reboot_need_a_reason(world: World) -> None:
    for kind in (ActionKind.DRAIN, ActionKind.REBOOT):
        plan = world.service.plan(ActionRequest(kind=kind, nodes=("node2",), operator="alice", reason="  "))
        assert any("needs a reason" in r for r in plan.refusals)


def test_resume_of_a_node_in_service_is_done_not_an_error(world: World) -> None:
    (status,) = world.act(kind=ActionKind.RESUME, nodes=("node2",))
    assert status.state == ActionState.DONE, status.message
    assert world.service.store.row(status.id).stderr is not None  # Slurm's words are kept in the audit row


def test_reboot_asap_is_recorded_by_the_reboot_program_and_tracked_until_back(world: World) -> None:
    (status,) = world.act(kind=ActionKind.REBOOT, nodes=("node2",), reason="XID 79, GPU fell off the bus")
    assert status.state == ActionState.DONE, status.message
    assert "rebooted" in status.message and "telemetry flowing" in status.message
    assert any(line.split()[1] == "node2" for line in world.slurm.reboots_log.read_text().splitlines())
    assert world.slurm.node_state("node2") & {"DRAIN", "DOWN", "REBOOT_ISSUED", "REBOOT_REQUESTED"} == set()


def test_running_job_shows_in_the_preview_then_cancel_reboot_clears_the_pending_reboot(world: World) -> None:
    job = world.slurm.run("sbatch", "-w", "node3", "-J", "llm-pretrain", "--wrap", "sleep 600").stdout.split()[-1]
    try:
        wait_for("job running", lambda: "RUNNING" in world.slurm.run("squeue", "-h", "-j", job, "-o", "%T").stdout)
        plan = world.service.plan(
            ActionRequest(kind=ActionKind.REBOOT, nodes=("node3",), operator="alice", reason="firmware update")
        )
        jobs = plan.previews["node3"].jobs
        assert [(j.job_id, j.name, j.state) for j in jobs] == [(job, "llm-pretrain", "RUNNING")]
        assert jobs[0].user == world.sshd.user
        assert any("running job" in w for w in plan.warnings)
        assert "llm-pretrain" in plan.describe() and "tenant-3" in plan.describe()

        (reboot,) = world.service.runner.submit(plan)
        wait_for("reboot pending", lambda: "REBOOT_REQUESTED" in world.slurm.node_state("node3"))
        wait_for("tracked", lambda: "waiting for its jobs" in world.service.runner.status(reboot.id).message)
        # Cancelling the reboot stops watching it (one action at a time per node), then cancels it in Slurm.
        (cancelled,) = world.act(kind=ActionKind.CANCEL_REBOOT, nodes=("node3",))
        assert cancelled.state == ActionState.DONE, cancelled.message
        watched = world.service.runner.status(reboot.id)
        assert watched.state == ActionState.UNWATCHED
        assert "a cancel-reboot of the node took over" in watched.message
        assert not {"REBOOT_REQUESTED", "REBOOT_ISSUED"} & world.slurm.node_state("node3")
        assert "llm-pretrain" in world.slurm.run("squeue", "-h", "-w", "node3", "-o", "%j").stdout
    finally:
        world.slurm.run("scancel", job, check=False)
    world.act(kind=ActionKind.RESUME, nodes=("node3",))


def test_reassign_moves_the_node_between_partitions_and_says_it_is_not_persistent(world: World) -> None:
    plan = world.service.plan(
        ActionRequest(
            kind=ActionKind.REASSIGN, nodes=("node4",), operator="alice", partition="debug", from_partition="gpu"
        )
    )
    assert plan.allowed, plan.refusals
    assert any("slurm.conf" in n and "PartitionName=debug Nodes=node[4-6]" in n for n in plan.notes)
    (status,) = world.service.runner.submit(plan)
    assert world.service.runner.wait([status.id], timeout=60)
    assert world.service.runner.status(status.id).state == ActionState.DONE
    partitions = world.slurm.run("scontrol", "show", "partition", "-o").stdout
    assert "PartitionName=debug" in partitions and "Nodes=node[4-6]" in partitions
    assert "Nodes=node[1-3]" in partitions


def test_blast_radius_cap_refuses_too_many_nodes_per_confirmation(world: World, tmp_path: Path) -> None:
    from console.core.actions.planning import plan_action

    path = write_inventory(tmp_path / "strict.toml", world.sshd, world.bmc)
    path.write_text(path.read_text().replace("max_fraction_per_action = 0.5", "max_fraction_per_action = 0.1"))
    strict = load_inventory(path)
    plan = plan_action(
        ActionRequest(kind=ActionKind.DRAIN, nodes=("node5", "node6"), operator="alice", reason="rack work"),
        strict,
        world.service.engines,
    )
    assert any("2 nodes in one action; the limit per confirmation is 1" in r for r in plan.refusals)
    with pytest.raises(ActionRefused):
        world.service.runner.submit(plan)
    assert "DRAIN" not in world.slurm.node_state("node5")


def test_power_off_and_on_through_the_bmc_is_observed_on_the_emulator(world: World) -> None:
    (off,) = world.act(kind=ActionKind.POWER, nodes=("node4",), reason="PSU swap", reset_type="ForceOff")
    assert off.state == ActionState.DONE, off.message
    assert world.bmc.system("node4")["PowerState"] == "Off"
    (on,) = world.act(kind=ActionKind.POWER, nodes=("node4",), reason="PSU swapped", reset_type="On")
    assert on.state == ActionState.DONE, on.message
    assert world.bmc.system("node4")["PowerState"] == "On"
    row = world.service.store.row(on.id)
    assert row.engine == "redfish" and row.command is not None and row.command[0][0] == "POST"


def test_locate_led_blinks_and_goes_off_on_the_emulator(world: World) -> None:
    (blink,) = world.act(kind=ActionKind.LOCATE, nodes=("node1",), led="blink")
    assert blink.state == ActionState.DONE, blink.message
    assert world.bmc.system("node1")["IndicatorLED"] == "Blinking"
    (off,) = world.act(kind=ActionKind.LOCATE, nodes=("node1",), led="off")
    assert off.state == ActionState.DONE
    assert world.bmc.system("node1")["IndicatorLED"] == "Off"


def test_a_reset_type_the_bmc_does_not_allow_is_refused_before_sending(world: World) -> None:
    before = world.bmc.system("node2")["PowerState"]
    plan = world.service.plan(
        ActionRequest(kind=ActionKind.POWER, nodes=("node2",), operator="alice", reason="hang", reset_type="PowerCycle")
    )
    assert any("does not allow PowerCycle" in r and "ForceRestart" in r for r in plan.refusals)
    assert plan.steps == []
    assert world.bmc.system("node2")["PowerState"] == before


def test_power_off_of_a_node_with_running_jobs_asks_for_its_name(world: World) -> None:
    job = world.slurm.run("sbatch", "-w", "node1", "-J", "eval", "--wrap", "sleep 600").stdout.split()[-1]
    try:
        wait_for("job running", lambda: "RUNNING" in world.slurm.run("squeue", "-h", "-j", job, "-o", "%T").stdout)
        plan = world.service.plan(
            ActionRequest(
                kind=ActionKind.POWER, nodes=("node1",), operator="alice", reason="smoke", reset_type="ForceOff"
            )
        )
        assert plan.type_to_confirm == ["node1"]
        with pytest.raises(ActionRefused, match="type the node name"):
            world.service.runner.submit(plan, typed=["node2"])
        assert world.bmc.system("node1")["PowerState"] == "On"
    finally:
        world.slurm.run("scancel", job, check=False)


def test_wrong_bmc_password_and_unreachable_bmc_are_clear_messages(world: World, tmp_path: Path) -> None:
    os.environ["FLEET_TEST_WRONG_PASSWORD"] = "not it"
    extra = textwrap.dedent(f"""\
        [[node]]
        name = "wrong-pw"
        host = "127.0.0.11"
        port = {world.sshd.port}
        bmc = {{ url = "{world.bmc.url}", user = "admin", password_env = "FLEET_TEST_WRONG_PASSWORD", \
ca_file = "{world.bmc.ca}", system = "node1" }}
        [[node]]
        name = "dead-bmc"
        host = "127.0.0.12"
        port = {world.sshd.port}
        bmc = {{ url = "https://127.0.0.1:9", user = "admin", password_env = "{PASSWORD_ENV}" }}
        [[node]]
        name = "untrusted"
        host = "127.0.0.13"
        port = {world.sshd.port}
        bmc = {{ url = "{world.bmc.url}", user = "admin", password_env = "{PASSWORD_ENV}", system = "node1" }}
        """)
    inventory = load_inventory(write_inventory(tmp_path / "f.toml", world.sshd, world.bmc, extra=extra))
    from console.core.actions.planning import plan_action

    def refusal(node: str) -> str:
        plan = plan_action(
            ActionRequest(kind=ActionKind.LOCATE, nodes=(node,), operator="alice", led="on"),
            inventory,
            world.service.engines.__class__(inventory, NO_USER_CONFIG),
        )
        assert not plan.allowed
        return " ".join(plan.refusals)

    assert "refused the login for user 'admin' (401)" in refusal("wrong-pw")
    assert "unreachable: connection refused" in refusal("dead-bmc")
    assert "TLS certificate not trusted" in refusal("untrusted")


def test_scheduler_host_down_and_failing_scontrol_are_clear_messages(
    world: World, tmp_path: Path, sshd_factory: Any
) -> None:
    from console.core.actions.planning import plan_action
    from console.engines.registry import Engines

    down = load_inventory(write_inventory(tmp_path / "down.toml", world.sshd, None, scheduler="127.0.0.99"))
    plan = plan_action(
        ActionRequest(kind=ActionKind.DRAIN, nodes=("node5",), operator="alice", reason="x"),
        down,
        Engines(down, NO_USER_CONFIG),
    )
    assert any("scheduler host" in w and "127.0.0.99" in w and "connection refused" in w for w in plan.warnings)
    assert any("node5" in r for r in plan.refusals)

    bad_conf = tmp_path / "slurm.conf"
    bad_conf.write_text("ClusterName=x\nSlurmctldHost=\nBogusKey=1\n")  # an admin's half-finished edit
    broken = sshd_factory(["127.0.0.20"], extra_env={"SLURM_CONF": str(bad_conf)})
    text = (
        (tmp_path / "down.toml")
        .read_text()
        .replace(f'host = "127.0.0.99"\nport = {world.sshd.port}', f'host = "127.0.0.20"\nport = {broken.port}')
    )
    text = text.replace(f'known_hosts = "{world.sshd.workdir / "known_hosts"}"', f'known_hosts = "{tmp_path / "kh"}"')
    (tmp_path / "kh").write_text(
        (world.sshd.workdir / "known_hosts").read_text() + broken.known_hosts_line("127.0.0.20") + "\n"
    )
    text = text.replace(f'identity_file = "{world.sshd.client_key}"', f'identity_file = "{broken.client_key}"')
    (tmp_path / "broken.toml").write_text(text)
    broken_inventory = load_inventory(tmp_path / "broken.toml")
    plan = plan_action(
        ActionRequest(kind=ActionKind.DRAIN, nodes=("node5",), operator="alice", reason="x"),
        broken_inventory,
        Engines(broken_inventory, NO_USER_CONFIG),
    )
    assert any(
        "scontrol show node on" in w and "127.0.0.20" in w and "Unable to process configuration file" in w
        for w in plan.warnings
    ), plan.warnings


def test_plain_ssh_reboot_runs_sudo_systemctl_and_is_tracked_until_the_node_is_back(
    sshd_factory: Any, tmp_path: Path
) -> None:
    sshd = sshd_factory(["127.0.0.30"])
    text = (
        f'[defaults]\nuser = "{sshd.user}"\nidentity_file = "{sshd.client_key}"\n'
        f'known_hosts = "{sshd.write_known_hosts(tmp_path / "kh")}"\n'
        f"[policy]\nmax_fraction_per_action = 1.0\n"
        f'[[node]]\nname = "lonely"\nhost = "127.0.0.30"\nport = {sshd.port}\n'
    )
    (tmp_path / "f.toml").write_text(text)
    inventory = load_inventory(tmp_path / "f.toml")
    live = LiveFleet(inventory, NO_USER_CONFIG, FAST)
    live.start()
    service = ActionService(inventory, tmp_path / "data", NO_USER_CONFIG, live=live, settings=SETTINGS)
    try:
        wait_for("streaming", lambda: live.fleet.view("lonely").lines_parsed > 0)
        plan = service.plan(
            ActionRequest(kind=ActionKind.REBOOT, nodes=("lonely",), operator="bob", reason="kernel update")
        )
        assert [s.display() for s in plan.steps] == ["sudo -n systemctl reboot"]
        assert any("no scheduler configured" in w for w in plan.warnings)
        (status,) = service.runner.submit(plan)
        wait_for("systemctl asked to reboot", lambda: sshd.systemctl_calls("127.0.0.30"))
        assert sshd.systemctl_calls("127.0.0.30") == [f"{sshd.user} reboot"]
        # The node "reboots": its sshd goes away and comes back.
        sshd.kill()
        wait_for("tracked down", lambda: "come back" in service.runner.status(status.id).message)
        sshd.start()
        assert service.runner.wait([status.id], timeout=60)
        final = service.runner.status(status.id)
        assert final.state == ActionState.DONE and "SSH up, telemetry flowing" in final.message
    finally:
        service.close()
        live.stop()


def test_stand_in_sudo_that_wants_a_password_gives_a_clear_failure(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.31"])
    sshd.sudo_requires_password()
    (tmp_path / "f.toml").write_text(
        f'[defaults]\nuser = "{sshd.user}"\nidentity_file = "{sshd.client_key}"\n'
        f'known_hosts = "{sshd.write_known_hosts(tmp_path / "kh")}"\n[policy]\nmax_fraction_per_action = 1.0\n'
        f'[[node]]\nname = "n"\nhost = "127.0.0.31"\nport = {sshd.port}\n'
    )
    inventory = load_inventory(tmp_path / "f.toml")
    live = LiveFleet(inventory, NO_USER_CONFIG, FAST)
    live.start()
    service = ActionService(inventory, tmp_path / "data", NO_USER_CONFIG, live=live, settings=SETTINGS)
    try:
        wait_for("streaming", lambda: live.fleet.view("n").lines_parsed > 0)
        plan = service.plan(ActionRequest(kind=ActionKind.REBOOT, nodes=("n",), operator="bob", reason="update"))
        (status,) = service.runner.submit(plan)
        assert service.runner.wait([status.id], timeout=30)
        final = service.runner.status(status.id)
        assert final.state == ActionState.FAILED
        assert "needs a password" in final.message and "NOPASSWD" in final.message
        assert sshd.systemctl_calls("127.0.0.31") == []
    finally:
        service.close()
        live.stop()


KILLED_CONSOLE = """
import sys, time
from pathlib import Path
from console.services.actions import ActionService
from console.core.actions.planning import ActionKind, ActionRequest
from console.core.inventory import load_inventory
from console.transport.ssh import SshSettings
inventory = load_inventory(sys.argv[1])
ssh = SshSettings(ssh_config=None, allow_agent=False, look_for_keys=False)
service = ActionService(inventory, Path(sys.argv[2]), ssh)
plan = service.plan(ActionRequest(kind=ActionKind.REBOOT, nodes=("node6",), operator="carol", reason="hung NCCL"))
(status,) = service.runner.submit(plan)
deadline = time.monotonic() + 30
while "waiting for its jobs" not in service.runner.status(status.id).message:
    if time.monotonic() > deadline:
        print("never tracked:", service.runner.status(status.id), flush=True)
        sys.exit(1)
    time.sleep(0.1)
print(status.id, flush=True)
time.sleep(600)
"""


def test_audit_rows_survive_a_console_killed_mid_action(world: World, tmp_path: Path) -> None:
    job = world.slurm.run("sbatch", "-p", "debug", "-w", "node6", "--wrap", "sleep 600").stdout.split()[-1]
    wait_for("job running", lambda: "RUNNING" in world.slurm.run("squeue", "-h", "-j", job, "-o", "%T").stdout)
    data = tmp_path / "data"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_CONSOLE, str(world.inventory.path), str(data)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip().isdigit(), line
        action_id = int(line)
        store = Store(data / "console.sqlite3")
        assert store.row(action_id).state == "running"  # the intent was on disk before anything ran
        store.close()
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()
        world.slurm.run("scancel", job, check=False)
        world.slurm.run("scontrol", "cancel_reboot", "node6", check=False)
    reopened = ActionService(world.inventory, data, NO_USER_CONFIG)
    try:
        assert reopened.interrupted == 1
        row = reopened.store.row(action_id)
        assert row.state == "outcome unknown" and row.operator == "carol" and row.reason == "hung NCCL"
        assert "stopped before the outcome was known" in (row.message or "")
    finally:
        reopened.close()
    deadline = time.monotonic() + 20
    while "DRAIN" in world.slurm.node_state("node6") and time.monotonic() < deadline:
        world.slurm.run("scontrol", "update", "NodeName=node6", "State=RESUME", check=False)
        time.sleep(0.5)
