"""The allocation model: the tenant of a node from the inventory and Slurm (reservation, running jobs,
partitions), disagreements listed under Slurm's tenant, allocation per GPU from GRES indices (all GPUs
where a job has none), healthy / unhealthy / unreachable, busy and idle."""

from __future__ import annotations

import time
from pathlib import Path

from console.core.alerts.config import Severity
from console.core.alerts.rules import Alert
from console.core.inventory import Inventory, NodeSpec
from console.core.parsers.slurm import Partition
from console.core.telemetry.fleet import FleetModel
from console.core.telemetry.samples import AcceleratorSample, NodeState, ParsedLine, Vendor
from console.core.tenants.allocation import (
    JobAllocation,
    Reservation,
    SchedulerAllocations,
    idle_capacity,
    known_accelerators,
    parse_show_jobs,
    parse_show_reservations,
    slurm_tenant,
    tenant_figures,
)


def _views(specs: list[NodeSpec], utilisation: dict[str, list[float]], down: tuple[str, ...] = ()) -> list:  # type: ignore[type-arg]
    fleet = FleetModel(Inventory(Path("x.toml"), tuple(specs)))
    for spec in specs:
        fleet.set_state(spec.name, NodeState.UP)
        samples = [
            ParsedLine(sample=AcceleratorSample(index=i, vendor=Vendor.NVIDIA, utilization_pct=u))
            for i, u in enumerate(utilisation[spec.name])
        ]
        fleet.ingest(spec.name, samples, time.time())
        if spec.name in down:
            fleet.set_state(spec.name, NodeState.UNREACHABLE, "no route to host")
    return fleet.views()


def _partition(name: str, nodes: tuple[str, ...], allow: str = "ALL") -> Partition:
    return Partition(name, ",".join(nodes), nodes, "UP", False, {"AllowAccounts": allow})


def test_slurm_names_the_tenant_by_reservation_then_jobs_then_partition() -> None:
    slurm = SchedulerAllocations(
        partitions={"acme": _partition("acme", ("n1", "n2", "n3"), "acme"), "all": _partition("all", ("n3",))},
        reservations=(
            Reservation("globex-res", ("n2",), ("globex",), (), "ACTIVE"),
            Reservation("later", ("n1",), ("initech",), (), "INACTIVE"),
        ),
        jobs=(JobAllocation("7", "bob", "umbrella", "RUNNING", "acme", ("n3",)),),
    )
    assert slurm_tenant("n1", slurm) == ("acme", "partition acme")
    assert slurm_tenant("n2", slurm) == ("globex", "reservation globex-res")
    assert slurm_tenant("n3", slurm) == ("umbrella", "running jobs")
    assert slurm_tenant("n9", slurm) == (None, "")
    two = SchedulerAllocations(partitions={"p": _partition("p", ("n1",), "acme,globex")})
    assert slurm_tenant("n1", two) == (None, "")  # two accounts: Slurm does not name one


def test_a_disagreement_counts_under_slurm_and_is_listed_with_both_words() -> None:
    specs = [NodeSpec(name="n1", host="h1", tenant="acme"), NodeSpec(name="n2", host="h2", tenant="acme")]
    views = _views(specs, {"n1": [50.0] * 4, "n2": [50.0] * 4})
    slurm = SchedulerAllocations(partitions={"g": _partition("g", ("n2",), "globex")})
    rows = {r.tenant: r for r in tenant_figures(views, slurm)}
    assert rows["acme"].nodes == 1 and rows["acme"].source == "inventory"
    assert rows["globex"].nodes == 1 and rows["globex"].source == "both"
    assert rows["globex"].disagreements == [
        {"node": "n2", "inventory": "acme", "slurm": "globex", "slurm_why": "partition g"}
    ]
    assert rows["globex"].as_json()["disagreements"][0]["inventory"] == "acme"
    (nobody,) = tenant_figures(_views([NodeSpec(name="n9", host="h9")], {"n9": [0.0]}), None)
    assert nobody.tenant == "(no tenant)" and nobody.as_json()["tenant"] is None and nobody.source == "none"


def test_gpus_are_allocated_by_gres_index_or_all_of_them_and_counted_busy_or_idle() -> None:
    specs = [
        NodeSpec(name="n1", host="h1", tenant="acme"),
        NodeSpec(name="n2", host="h2", tenant="acme"),
        NodeSpec(name="n3", host="h3", tenant="acme"),
    ]
    views = _views(
        specs,
        {"n1": [95.0, 5.0, 0.0, 80.0], "n2": [0.0, 0.0, 0.0, 0.0], "n3": [50.0, 50.0, 50.0, 50.0]},
        down=("n3",),
    )
    slurm = SchedulerAllocations(
        jobs=(
            JobAllocation("1", "bob", "acme", "RUNNING", "g", ("n1",), {"n1": (0, 1)}),
            JobAllocation("2", "eve", "acme", "RUNNING", "g", ("n2",), {"n2": None}),  # no indices: all
        )
    )
    (row,) = tenant_figures(views, slurm)
    assert (row.nodes, row.accelerators, row.allocated) == (3, 12, 6 + 0)
    assert (row.healthy, row.unhealthy, row.unreachable) == (8, 0, 4)
    assert (row.busy, row.idle_allocated, row.idle_unallocated) == (2, 5, 1)
    assert idle_capacity([row]) == (6, 12)


def test_warning_and_critical_alerts_make_accelerators_unhealthy_node_wide_ones_all_of_them() -> None:
    specs = [NodeSpec(name="n1", host="h1", tenant="acme"), NodeSpec(name="n2", host="h2", tenant="acme")]
    fleet = FleetModel(Inventory(Path("x.toml"), tuple(specs)))
    for spec in specs:
        fleet.set_state(spec.name, NodeState.UP)
        fleet.ingest(
            spec.name,
            [
                ParsedLine(sample=AcceleratorSample(index=i, vendor=Vendor.NVIDIA, utilization_pct=50.0))
                for i in range(4)
            ],
            0.0,
        )
    fleet._nodes["n1"].alerts = (
        Alert("n1", "temperature", 2, Severity.CRITICAL, "hot", {}, 0, 0),
        Alert("n1", "rebooted", None, Severity.INFO, "rebooted", {}, 0, 0),
    )
    fleet._nodes["n2"].alerts = (Alert("n2", "stale", None, Severity.WARNING, "stale", {}, 0, 0),)
    (row,) = tenant_figures(fleet.views(), None)
    assert (row.healthy, row.unhealthy) == (3, 5)


def test_hostile_or_odd_slurm_lines_do_not_break_the_parsers() -> None:
    text = (
        "JobId=5 JobName=x UserId=mallory(1002) Account=evil JobState=RUNNING Partition=g NodeList=n[1-2] "
        "NumNodes=2 JOB_GRES=gpu:2 Nodes=n1 CPU_IDs=0 Mem=0 GRES=gpu:1(IDX:N/A) Nodes=n2 CPU_IDs=0 Mem=0 "
        "GRES=gpu:1(IDX:7) MinCPUsNode=1\n"
        "JobId=6 JobName=y UserId=a(1) Account=b JobState=PENDING Partition=g NodeList=(null)\n"
        "garbage line\n"
    )
    (job,) = parse_show_jobs(text)
    assert job.nodes == ("n1", "n2") and job.gpus == {"n1": None, "n2": (7,)} and job.user == "mallory"
    assert parse_show_reservations("No reservations in the system\n") == []
    (reservation,) = parse_show_reservations(
        "ReservationName=r1 StartTime=now EndTime=later Nodes=n[1-3] Users=(null) Accounts=acme,globex State=ACTIVE\n"
    )
    assert reservation.nodes == ("n1", "n2", "n3") and reservation.accounts == ("acme", "globex")


def test_idle_streaks_start_at_the_first_idle_minute_and_end_when_busy_or_down() -> None:
    from console.core.tenants.allocation import IdleTracker

    tracker = IdleTracker()
    assert tracker.watching_since is None
    tracker.minute("n1", 0.0, {0: 2.0, 1: 50.0, 2: float("nan")}, up=True)
    tracker.minute("n1", 60.0, {0: 0.0, 1: 5.0, 2: 0.0}, up=True)
    assert tracker.snapshot() == {("n1", 0): 0.0, ("n1", 1): 60.0, ("n1", 2): 60.0}
    tracker.minute("n1", 120.0, {0: 0.0, 1: 30.0, 2: 0.0}, up=True)
    assert tracker.snapshot() == {("n1", 0): 0.0, ("n1", 2): 60.0}
    tracker.minute("n1", 180.0, {}, up=False)  # down: not idle, unknown
    assert tracker.snapshot() == {}
    assert tracker.watching_since == 0.0  # the first minute seen: no streak can be older


def test_the_finder_ranks_idle_accelerators_held_by_a_tenant_and_those_a_job_holds() -> None:
    from console.core.tenants.allocation import idle_accelerators

    specs = [NodeSpec(name="n1", host="h1", tenant="acme"), NodeSpec(name="n2", host="h2")]
    views = _views(specs, {"n1": [0.0] * 4, "n2": [0.0] * 4})
    slurm = SchedulerAllocations(jobs=(JobAllocation("9", "bob", "acme", "RUNNING", "g", ("n1",), {"n1": (1,)}),))
    since = {("n1", 0): 0.0, ("n1", 1): 3600.0, ("n1", 2): 6000.0, ("n2", 0): 0.0}
    held = idle_accelerators(views, slurm, since, now=7200.0, longer_than_s=1800.0)
    assert [(a.node, a.index) for a in held] == [("n1", 0), ("n1", 1)]  # n1/2 too short; n2 has no tenant
    assert held[0].wasted_hours == 2.0 and held[0].job is None
    (allocated,) = idle_accelerators(views, slurm, since, now=7200.0, longer_than_s=1800.0, allocated_only=True)
    assert allocated.as_json() == {
        "node": "n1",
        "accelerator": 1,
        "tenant": "acme",
        "idle_minutes": 60,
        "wasted_accelerator_hours": 1.0,
        "job": "9",
        "user": "bob",
        "account": "acme",
    }


def test_a_node_never_heard_counts_what_the_archive_or_slurms_gres_last_knew_as_unreachable_and_held() -> None:
    specs = [NodeSpec(name=n, host=n, tenant="borealis-labs") for n in ("up", "gone", "gres", "unknown")]
    fleet = FleetModel(Inventory(Path("x.toml"), tuple(specs)))
    fleet.set_state("up", NodeState.UP)
    fleet.ingest("up", [ParsedLine(sample=AcceleratorSample(index=0, vendor=Vendor.NVIDIA))], time.time())
    for name in ("gone", "gres", "unknown"):
        fleet.set_state(name, NodeState.UNREACHABLE, "connection refused")
    known = known_accelerators(
        ["gone", "gres", "unknown"], {"gres": 4, "unknown": None}, {"gone": (1_800_000_000.0, (0, 2, 5))}
    )
    assert known["gone"].indices == (0, 2, 5) and "archive" in known["gone"].source
    assert known["gres"].indices == (0, 1, 2, 3) and known["gres"].source == "Slurm's GRES for the node"
    assert "unknown" not in known
    slurm = SchedulerAllocations(
        jobs=(JobAllocation("7", "bob", "borealis-labs", "RUNNING", "g", ("gres",), {"gres": (1, 2)}),)
    )
    (row,) = tenant_figures(fleet.views(), slurm, known=known)
    assert (row.nodes, row.accelerators, row.unreachable, row.healthy) == (4, 1 + 3 + 4, 7, 1)
    assert row.allocated == 2  # the job still holds its two GPUs on the node that does not answer
