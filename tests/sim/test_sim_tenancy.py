"""The demo's tenancy against the simulator's own ground truth: its simulated Slurm's job and reservation
listings parse, and the Tenants figures the console makes of them (busy, idle-allocated, a reserved node
another tenant holds in the inventory) are what the simulated fleet is doing."""

from __future__ import annotations

import time
from pathlib import Path

from console.core.inventory import Inventory, NodeSpec
from console.core.parsers.slurm import parse_show_partitions
from console.core.telemetry.fleet import FleetModel
from console.core.telemetry.samples import AcceleratorSample, NodeState, ParsedLine, Vendor
from console.core.tenants.allocation import (
    SchedulerAllocations,
    parse_show_jobs,
    parse_show_reservations,
    tenant_figures,
)
from console.sim.model import Role, build_fleet
from console.sim.slurm import SimSlurm


def test_the_demo_fleet_tenancy_matches_the_simulators_ground_truth() -> None:
    nodes = build_fleet(32)
    slurm = SimSlurm(nodes, set_offline=lambda _name, _until: None)
    now = time.time()
    jobs = parse_show_jobs(slurm.run(["scontrol", "show", "job", "-d", "-o"])[0])
    reservations = parse_show_reservations(slurm.run(["scontrol", "show", "reservation", "-o"])[0])
    partitions = parse_show_partitions(slurm.run(["scontrol", "show", "partition", "-o"])[0])
    assert len(jobs) == len(slurm.jobs) and len(reservations) == 1
    reserved = reservations[0]
    assert {j.job_id: j.gpus[j.nodes[0]] for j in jobs} == {str(j.job_id): tuple(range(j.gpus)) for j in slurm.jobs}

    inventory = Inventory(
        Path("demo.toml"), tuple(NodeSpec(name=n.name, host="127.0.0.1", tenant=n.tenant) for n in nodes)
    )
    fleet = FleetModel(inventory)
    for node in nodes:
        fleet.set_state(node.name, NodeState.UP)
        fleet.ingest(
            node.name,
            [
                ParsedLine(
                    sample=AcceleratorSample(
                        index=g, vendor=Vendor.NVIDIA, utilization_pct=node.gpu(g, now).utilization_pct
                    )
                )
                for g in range(8)
            ],
            now,
        )
    rows = {
        r.tenant: r
        for r in tenant_figures(fleet.views(), SchedulerAllocations(partitions, tuple(reservations), tuple(jobs)))
    }

    # Ground truth, straight from the simulator: who holds each node (the reservation wins), which GPUs a job
    # holds, and which are busy.
    truth: dict[str, dict[str, int]] = {}
    held = {j.node: j.gpus for j in slurm.jobs}
    for node in nodes:
        tenant = reserved.accounts[0] if node.name in reserved.nodes else (node.tenant or "(no tenant)")
        figures = truth.setdefault(tenant, {"accelerators": 0, "allocated": 0, "busy": 0, "idle_allocated": 0})
        for gpu in range(8):
            allocated = gpu < held.get(node.name, 0)
            busy = node.gpu(gpu, now).utilization_pct > 10.0
            figures["accelerators"] += 1
            figures["allocated"] += allocated
            figures["busy"] += busy
            figures["idle_allocated"] += allocated and not busy
    assert {t: {k: getattr(r, k) for k in truth[t]} for t, r in rows.items()} == truth
    disagreeing = [d for r in rows.values() for d in r.disagreements]
    assert disagreeing == [
        {
            "node": reserved.nodes[0],
            "inventory": next(n.tenant for n in nodes if n.name == reserved.nodes[0]),
            "slurm": reserved.accounts[0],
            "slurm_why": f"reservation {reserved.name}",
        }
    ]
    inference = [n for n in nodes if n.role == Role.INFERENCE and n.tenant]
    assert inference and all(held[n.name] == 4 for n in inference)
