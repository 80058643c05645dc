"""A node moves from one tenant to another against a real Slurm with accounting (slurmdbd on MariaDB),
whose tenants' partitions admit only their own account (AllowAccounts=, enforced), with a job running on
the node when the move starts; the console reaches Slurm over a real sshd as in production. And Slurm's own
GPU-hours per account (sacct) read back for the comparison beside the console's figures."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.core.actions.runs import RunnerSettings
from console.core.inventory import load_inventory
from console.core.inventory_edit import read_digest
from console.core.parsers.slurm import parse_show_partitions
from console.core.telemetry.fleet import FleetModel
from console.core.telemetry.samples import AcceleratorSample, NodeState, ParsedLine, Vendor
from console.core.tenants.moves import MoveRequest, plan_move
from console.services.actions import ActionService
from console.services.tenant_move import TenantMove
from tests.conftest import require, require_netns
from tests.helpers.live import NO_USER_CONFIG, wait_for
from tests.helpers.world import NODES, SCHEDULER

SETTINGS = RunnerSettings(step_timeout_s=30, verify_timeout_s=20, poll_s=0.3)
ACCOUNTS = ("tenant-1", "tenant-2")


@pytest.fixture(scope="module")
def accounting_slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require_netns("slurmctld, slurmd, slurmdbd and mariadbd listen on the namespace's loopback")
    for tool in ("slurmctld", "slurmd", "slurmdbd", "mariadbd", "mariadb-install-db", "sacctmgr", "sacct"):
        require(tool, "the move test runs a real Slurm with accounting (slurmdbd on MariaDB)")
    from tests.helpers.slurm import SlurmCluster

    cluster = SlurmCluster(
        tmp_path_factory.mktemp("slurm-acct"),
        nodes=["node1", "node2", "node3"],
        partitions={"tenant-1": ["node1", "node2"], "tenant-2": ["node3"]},
        ctld_port=17017,
        first_node_port=17201,
        gpus_per_node=8,
        accounts=ACCOUNTS,
        allow_accounts={"tenant-1": "tenant-1", "tenant-2": "tenant-2"},
        db_port=13307,
        dbd_port=16819,
    )
    try:
        cluster.start(timeout=60)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def sshd(accounting_slurm: Any, tmp_path: Path) -> Iterator[Any]:
    from tests.conftest import DEFAULT_RECORDING
    from tests.helpers.sshd import Sshd

    server = Sshd(tmp_path / "sshd", [SCHEDULER, *NODES.values()], extra_env={"SLURM_CONF": str(accounting_slurm.conf)})
    for address in [SCHEDULER, *NODES.values()]:
        server.replay(address, DEFAULT_RECORDING)
    server.write_known_hosts(server.workdir / "known_hosts")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _inventory(path: Path, sshd: Any) -> Path:
    text = (
        f'# the test hall\n[defaults]\nuser = "{sshd.user}"\nidentity_file = "{sshd.client_key}"\n'
        f'known_hosts = "{sshd.workdir / "known_hosts"}"\n[policy]\nmax_fraction_per_action = 0.5\n'
        f'[scheduler]\nhost = "{SCHEDULER}"\nport = {sshd.port}\n'
    )
    for name, tenant in (("node1", "tenant-1"), ("node2", "tenant-1"), ("node3", "tenant-2")):
        text += (
            f'\n[[node]]\nname = "{name}"  # rack R1\nhost = "{NODES[name]}"\nport = {sshd.port}\ntenant = "{tenant}"\n'
        )
    path.write_text(text)
    return path


def _views(inventory: Any) -> list[Any]:
    fleet = FleetModel(inventory)
    for spec in inventory.nodes:
        fleet.set_state(spec.name, NodeState.UP)
        samples = [ParsedLine(sample=AcceleratorSample(index=g, vendor=Vendor.NVIDIA)) for g in range(8)]
        fleet.ingest(spec.name, samples, time.time())
    return fleet.views()


def _partitions(slurm: Any) -> dict[str, tuple[str, ...]]:
    return {
        p.name: p.nodes for p in parse_show_partitions(slurm.run("scontrol", "show", "partition", "-o").stdout).values()
    }


def test_a_node_with_a_running_job_moves_to_another_tenant_end_to_end(
    accounting_slurm: Any, sshd: Any, tmp_path: Path
) -> None:
    slurm = accounting_slurm
    # The partitions enforce their accounts: tenant-2's account may not run in tenant-1's partition.
    refused = slurm.run("sbatch", "-p", "tenant-1", "-A", "tenant-2", "--mem=50", "--wrap", "true", check=False)
    assert refused.returncode != 0 or "not permitted" in slurm.run("squeue", "-h", "-o", "%r").stdout
    slurm.run("scancel", "-u", "root", check=False)
    job = slurm.run(
        "sbatch",
        "--parsable",
        "-p",
        "tenant-1",
        "-A",
        "tenant-1",
        "-w",
        "node2",
        "--mem=50",
        "--gres=gpu:2",
        "--wrap",
        "sleep 6",
    ).stdout.strip()
    wait_for("the job running", lambda: "RUNNING" in slurm.run("squeue", "-h", "-j", job, "-o", "%T").stdout)

    path = _inventory(tmp_path / "fleet.toml", sshd)
    inventory = load_inventory(path)
    service = ActionService(inventory, tmp_path / "data", NO_USER_CONFIG, settings=SETTINGS, operator="tina")
    try:
        scheduler = service.engines.scheduler()
        assert scheduler is not None
        request = MoveRequest(("node2",), "tenant-2", "tina", "tenant-2 grows (order 31)", "OPS-77", job_wait_s=60)
        plan = plan_move(request, inventory, _views(inventory), scheduler.allocations(), max_nodes=2)
        assert plan.allowed, plan.refusals
        assert [j.job_id for j in plan.jobs] == [job]  # the job that must end first, in the preview
        assert plan.before == {"tenant-1": (2, 16), "tenant-2": (1, 8)}
        assert plan.after == {"tenant-1": (1, 8), "tenant-2": (2, 16)}
        assert [(c.name, c.after) for c in plan.changes] == [
            ("tenant-2", ("node3", "node2")),
            ("tenant-1", ("node1",)),
        ]

        move = TenantMove(plan, service, inventory_digest=read_digest(path), poll_s=0.5)
        outcome = move.run()
        assert outcome.outcome == "done", outcome.message
        waited = next(
            p for p in move.progress if p.state == "done" and p.step is not None and p.step.value == "wait for jobs"
        )
        assert "waited" in waited.message

        # Slurm: the job ended on its own (it was never killed), the node is in tenant-2's partition only,
        # in service, and tenant-2's account runs there while tenant-1's no longer can.
        state = slurm.run("sacct", "-X", "-n", "-P", "-j", job, "-o", "State").stdout.strip()
        assert state == "COMPLETED"
        assert _partitions(slurm) == {"tenant-1": ("node1",), "tenant-2": ("node3", "node2")} or _partitions(slurm) == {
            "tenant-1": ("node1",),
            "tenant-2": ("node2", "node3"),
        }
        assert "IDLE" in accounting_slurm.node_state("node2") and "DRAIN" not in accounting_slurm.node_state("node2")
        after = slurm.run(
            "sbatch", "--parsable", "-p", "tenant-2", "-A", "tenant-2", "-w", "node2", "--mem=50", "--wrap", "sleep 1"
        ).stdout.strip()
        wait_for(
            "tenant-2's job ran on node2",
            lambda: slurm.run("sacct", "-X", "-n", "-P", "-j", after, "-o", "State").stdout.strip() == "COMPLETED",
        )
        wrong = slurm.run("sbatch", "-p", "tenant-1", "-A", "tenant-1", "-w", "node2", "--wrap", "true", check=False)
        assert wrong.returncode != 0 and "node" in wrong.stderr.lower()

        # The inventory: tenant-2 for node2, the comments kept, the original kept beside it.
        assert load_inventory(path).node("node2").tenant == "tenant-2"
        assert "# rack R1" in path.read_text() and list(tmp_path.glob("fleet.toml.*.bak"))
        # Every step in the audit log, linked to the move's own row.
        rows = service.store.rows()
        assert {r.kind for r in rows} >= {
            "move-tenant",
            "drain",
            "move-tenant:slurm",
            "move-tenant:inventory",
            "resume",
        }
        assert all(r.state == "done" for r in rows)
        move_id = next(r.id for r in rows if r.kind == "move-tenant")
        assert all(r.params.get("move") == move_id for r in rows if r.kind.startswith("move-tenant:"))

        # Slurm's own record of the job's GPU-hours, read over SSH as the report reads it.
        now = time.time()
        hours = scheduler.gpu_hours(now - 3600, now + 60, now)
        elapsed = int(slurm.run("sacct", "-X", "-n", "-P", "-j", job, "-o", "ElapsedRaw").stdout.strip())
        assert abs(hours.hours("tenant-1") - 2 * elapsed / 3600) < 1e-6
        assert hours.accounts["tenant-1"].jobs == 1
    finally:
        service.close()
