"""Slurm's view of tenancy read from a real Slurm with GPUs as GRES (character devices stand for them, as
TESTING.md's recipe says): the GRES indices of each running job per node, reservations, and the tenant
and allocation the model makes of them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.core.inventory import Inventory, NodeSpec
from console.core.parsers.slurm import parse_show_partitions
from console.core.telemetry.samples import AcceleratorSample, NodeState, Vendor
from console.core.tenants.allocation import (
    SchedulerAllocations,
    parse_show_jobs,
    parse_show_reservations,
    tenant_figures,
)
from tests.conftest import require, require_netns
from tests.helpers.live import wait_for


@pytest.fixture(scope="module")
def gres_slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require_netns("slurmctld and slurmd listen on all interfaces")
    for tool in ("slurmctld", "slurmd", "munged", "sbatch"):
        require(tool, "the tenancy tests run a real Slurm with GRES")
    from tests.helpers.slurm import SlurmCluster

    cluster = SlurmCluster(
        tmp_path_factory.mktemp("slurm-gres"),
        nodes=["node1", "node2"],
        partitions={"gpu": ["node1", "node2"]},
        ctld_port=16917,
        first_node_port=17101,
        gpus_per_node=8,
    )
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def _views(fleet_nodes: dict[str, str | None]) -> list[Any]:
    from console.core.telemetry.fleet import FleetModel
    from console.core.telemetry.samples import ParsedLine

    inventory = Inventory(
        Path("x.toml"), tuple(NodeSpec(name=n, host="10.0.0.1", tenant=t) for n, t in fleet_nodes.items())
    )
    fleet = FleetModel(inventory)
    for name in fleet_nodes:
        fleet.set_state(name, NodeState.UP)
        fleet.ingest(
            name,
            [
                ParsedLine(sample=AcceleratorSample(index=i, vendor=Vendor.NVIDIA, utilization_pct=0.0))
                for i in range(8)
            ],
            time.time(),
        )
    return fleet.views()


def test_gres_indices_of_running_jobs_are_read_per_node_and_make_the_allocation(gres_slurm: Any) -> None:
    first = gres_slurm.run(
        "sbatch", "--parsable", "-w", "node1", "--mem=100", "--gres=gpu:3", "-A", "acme", "--wrap", "sleep 300"
    ).stdout.strip()
    second = gres_slurm.run(
        "sbatch", "--parsable", "-w", "node1", "--mem=100", "--gres=gpu:2", "--wrap", "sleep 300"
    ).stdout.strip()
    try:
        wait_for(
            "both jobs running",
            lambda: gres_slurm.run("squeue", "-h", "-o", "%T").stdout.split().count("RUNNING") == 2,
            timeout=30,
        )
        jobs = {j.job_id: j for j in parse_show_jobs(gres_slurm.run("scontrol", "show", "job", "-d", "-o").stdout)}
        assert set(jobs) == {first, second}
        assert jobs[first].gpus == {"node1": (0, 1, 2)} and jobs[second].gpus == {"node1": (3, 4)}
        assert jobs[first].user == "root" and jobs[first].nodes == ("node1",)
        partitions = parse_show_partitions(gres_slurm.run("scontrol", "show", "partition", "-o").stdout)
        slurm = SchedulerAllocations(partitions=partitions, jobs=tuple(jobs.values()))
        rows = {r.tenant: r for r in tenant_figures(_views({"node1": "acme", "node2": None}), slurm)}
        # The second job has no account (no accounting here): the running jobs name one account, acme,
        # and the inventory agrees; five of node1's eight GPUs are held, all idle (utilisation 0 %).
        assert rows["acme"].allocated == 5 and rows["acme"].idle_allocated == 5 and rows["acme"].idle_unallocated == 3
        assert rows["acme"].source == "both" and rows["acme"].disagreements == []
        assert rows["(no tenant)"].allocated == 0 and rows["(no tenant)"].nodes == 1
    finally:
        gres_slurm.run("scancel", first, second, check=False)


def test_reservations_are_read_and_none_is_no_reservation(gres_slurm: Any) -> None:
    assert parse_show_reservations(gres_slurm.run("scontrol", "show", "reservation", "-o").stdout) == []
    made = gres_slurm.run(
        "scontrol",
        "create",
        "reservation",
        "ReservationName=maint",
        "StartTime=now",
        "Duration=60",
        "Nodes=node2",
        "Users=root",
        "Flags=IGNORE_JOBS",
        check=False,
    )
    assert made.returncode == 0, made.stderr
    try:
        (reservation,) = parse_show_reservations(gres_slurm.run("scontrol", "show", "reservation", "-o").stdout)
        assert (reservation.name, reservation.nodes, reservation.users, reservation.state) == (
            "maint",
            ("node2",),
            ("root",),
            "ACTIVE",
        )
    finally:
        gres_slurm.run("scontrol", "delete", "ReservationName=maint", check=False)


def test_tenants_command_reads_the_nodes_and_real_slurm_and_lists_a_disagreement(
    slurm: Any, bmc: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import json
    import subprocess
    import sys

    from tests.helpers.world import world_sshd, write_inventory

    with world_sshd(slurm, bmc, tmp_path_factory.mktemp("sshd")) as sshd:
        inventory = write_inventory(tmp_path_factory.mktemp("inv") / "fleet.toml", sshd, bmc)
        job = slurm.run("sbatch", "--parsable", "-w", "node3", "--mem=100", "-A", "tenant-9", "--wrap", "sleep 300")
        job_id = job.stdout.strip()
        try:
            wait_for("the job running", lambda: "RUNNING" in slurm.run("squeue", "-h", "-j", job_id, "-o", "%T").stdout)
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "console",
                    "tenants",
                    "--json",
                    "--ssh-config",
                    "/dev/null",
                    "--inventory",
                    str(inventory),
                ],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        finally:
            slurm.run("scancel", job_id, check=False)
    assert done.returncode == 0, done.stderr
    rows = {r["tenant"]: r for r in map(json.loads, done.stdout.splitlines())}
    assert set(rows) == {"tenant-1", "tenant-2", "tenant-4", "tenant-5", "tenant-6", "tenant-9"}
    moved = rows["tenant-9"]
    assert moved["nodes"] == 1 and moved["source"] == "both"
    assert moved["disagreements"] == [
        {"node": "node3", "inventory": "tenant-3", "slurm": "tenant-9", "slurm_why": "running jobs"}
    ]
    assert moved["allocated"] == moved["accelerators"] > 0  # no GRES here: the job holds all of them
    assert rows["tenant-1"]["source"] == "inventory" and rows["tenant-1"]["allocated"] == 0
    assert all(r["healthy"] + r["unhealthy"] + r["unreachable"] == r["accelerators"] for r in rows.values())


def test_a_nodes_gpu_count_is_read_from_real_slurms_gres(gres_slurm: Any) -> None:
    from console.core.parsers.slurm import parse_show_node

    nodes = parse_show_node(gres_slurm.run("scontrol", "show", "node", "-o").stdout)
    assert {name: node.gpus for name, node in nodes.items()} == {"node1": 8, "node2": 8}
