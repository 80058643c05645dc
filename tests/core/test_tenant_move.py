"""Planning a move of nodes between tenants (pure): which Slurm lists change and how, both tenants' counts
before and after, the jobs that must end first, and the refusals; and the check after the move."""

from __future__ import annotations

import time
from pathlib import Path

from console.core.inventory import Inventory, NodeSpec
from console.core.parsers.slurm import Partition
from console.core.telemetry.fleet import FleetModel
from console.core.telemetry.samples import AcceleratorSample, NodeState, ParsedLine, Vendor
from console.core.tenants.allocation import JobAllocation, Reservation, SchedulerAllocations
from console.core.tenants.moves import MoveRequest, SlurmChange, plan_move, target_holding, verify_move


def _partition(name: str, nodes: list[str], accounts: str | None = None) -> Partition:
    fields = {"PartitionName": name, "AllowAccounts": accounts or "ALL"}
    return Partition(name, ",".join(nodes), tuple(nodes), "UP", False, fields)


def _world(scheduler: bool = True) -> tuple[Inventory, list, SchedulerAllocations]:  # type: ignore[type-arg]
    specs = tuple(NodeSpec(name=f"n{i}", host="10.0.0.1", tenant="acme" if i < 3 else "globex") for i in range(1, 6))
    inventory = Inventory(
        Path("fleet.toml"), specs, scheduler=NodeSpec(name="scheduler", host="ctl") if scheduler else None
    )
    fleet = FleetModel(inventory)
    for spec in specs:
        fleet.set_state(spec.name, NodeState.UP)
        lines = [ParsedLine(sample=AcceleratorSample(index=g, vendor=Vendor.NVIDIA)) for g in range(8)]
        fleet.ingest(spec.name, lines, time.time())
    slurm = SchedulerAllocations(
        partitions={
            "batch": _partition("batch", ["n1", "n2", "n3", "n4", "n5"]),
            "acme": _partition("acme", ["n1", "n2"], "acme"),
            "globex": _partition("globex", ["n3", "n4", "n5"], "globex"),
        },
        jobs=(JobAllocation("77", "ann", "acme", "RUNNING", "acme", ("n2",)),),
    )
    return inventory, fleet.views(), slurm


def _request(*nodes: str, target: str = "globex", reason: str = "acme shrinks (contract 12)") -> MoveRequest:
    return MoveRequest(nodes=nodes, target=target, operator="tina", reason=reason, ticket="OPS-9")


def test_a_move_adds_the_node_to_the_targets_partition_first_then_takes_it_out_of_the_sources() -> None:
    inventory, views, slurm = _world()
    plan = plan_move(_request("n2"), inventory, views, slurm, max_nodes=8)
    assert plan.allowed, plan.refusals
    assert plan.changes == [
        SlurmChange("partition", "globex", ("n3", "n4", "n5"), ("n3", "n4", "n5", "n2")),
        SlurmChange("partition", "acme", ("n1", "n2"), ("n1",)),
    ]
    assert plan.commands() == [
        "scontrol update NodeName=n2 State=DRAIN 'Reason=tina: move to globex: acme shrinks (contract 12) [OPS-9]'",
        "scontrol update PartitionName=globex 'Nodes=n[2-5]'",
        "scontrol update PartitionName=acme Nodes=n1",
        "scontrol update NodeName=n2 State=RESUME",
    ]
    # Both tenants' counts before and after (nodes, accelerators); the job that must end first.
    assert plan.before == {"acme": (2, 16), "globex": (3, 24)}
    assert plan.after == {"acme": (1, 8), "globex": (4, 32)}
    assert [j.job_id for j in plan.jobs] == ["77"]
    text = plan.describe()
    assert "acme: 2 / 16 → 1 / 8" in text and "job 77 user ann account acme" in text
    assert any("batch admit every account" in n for n in plan.notes)


def test_a_move_that_would_empty_the_source_partition_is_refused() -> None:
    inventory, views, slurm = _world()
    plan = plan_move(_request("n1", "n2"), inventory, views, slurm, max_nodes=8)
    assert not plan.allowed
    assert any("leave partition acme with no node" in r for r in plan.refusals)


def test_a_target_without_a_partition_or_reservation_in_slurm_is_refused_with_the_command_to_make_one() -> None:
    inventory, views, slurm = _world()
    plan = plan_move(_request("n3", target="initech"), inventory, views, slurm, max_nodes=8)
    assert any("no partition or active reservation that admits account initech" in r for r in plan.refusals)
    assert any("scontrol create PartitionName=initech AllowAccounts=initech" in r for r in plan.refusals)


def test_a_targets_reservation_is_used_when_it_has_no_partition_of_its_own() -> None:
    _inventory, _views, slurm = _world()
    reserved = Reservation("initech-burst", ("n5",), ("initech",), (), "ACTIVE")
    with_reservation = SchedulerAllocations(partitions=slurm.partitions, reservations=(reserved,))
    assert target_holding("initech", with_reservation) == reserved
    inactive = Reservation("initech-later", ("n5",), ("initech",), (), "INACTIVE")
    assert (
        target_holding("initech", SchedulerAllocations(partitions=slurm.partitions, reservations=(inactive,))) is None
    )


def test_words_that_cannot_go_to_slurm_or_the_audit_log_are_refused() -> None:
    inventory, views, slurm = _world()
    for target, reason, expected in (
        ("glo bex", "r", "not a usable Slurm account name"),
        ("globex,acme", "r", "not a usable Slurm account name"),
        ("globex", "", "needs a reason"),
        ("globex", "two\nlines", "line break"),
        ("", "r", "name the tenant"),
    ):
        plan = plan_move(_request("n2", target=target, reason=reason), inventory, views, slurm, max_nodes=8)
        assert any(expected in r for r in plan.refusals), (target, reason, plan.refusals)


def test_more_nodes_than_the_blast_radius_and_unknown_nodes_are_refused() -> None:
    inventory, views, slurm = _world()
    assert any(
        "limit per confirmation is 1" in r for r in plan_move(_request("n3", "n4"), inventory, views, slurm, 1).refusals
    )
    assert any("not in the inventory: n9" in r for r in plan_move(_request("n9"), inventory, views, slurm, 8).refusals)


def test_nodes_that_already_belong_to_the_target_everywhere_are_refused() -> None:
    inventory, views, slurm = _world()
    plan = plan_move(_request("n4"), inventory, views, slurm, max_nodes=8)
    assert any("already belong to globex" in r for r in plan.refusals)


def test_without_a_scheduler_only_the_inventory_changes_and_nothing_is_drained() -> None:
    inventory, views, _slurm = _world(scheduler=False)
    plan = plan_move(_request("n2"), inventory, views, None, max_nodes=8)
    assert plan.allowed and plan.changes == [] and plan.commands() == []
    assert any("only the inventory's tenant changes" in n for n in plan.notes)


def test_an_unreadable_slurm_refuses_the_move_in_words() -> None:
    inventory, views, _slurm = _world()
    plan = plan_move(_request("n2"), inventory, views, SchedulerAllocations(problem="ctl: timed out"), 8)
    assert any("could not be read: ctl: timed out" in r for r in plan.refusals)


def test_the_check_after_a_move_names_what_still_disagrees() -> None:
    inventory, views, slurm = _world()
    plan = plan_move(_request("n2"), inventory, views, slurm, max_nodes=8)
    problems = verify_move(plan, slurm, inventory)
    assert "n2: the inventory says acme, not globex" in problems
    assert "n2 is not in partition globex" in problems and "n2 is still in partition acme" in problems
    moved_inventory = Inventory(
        inventory.path,
        tuple(
            NodeSpec(name=s.name, host=s.host, tenant="globex" if s.name == "n2" else s.tenant) for s in inventory.nodes
        ),
        scheduler=inventory.scheduler,
    )
    moved_slurm = SchedulerAllocations(
        partitions={
            "batch": slurm.partitions["batch"],
            "acme": _partition("acme", ["n1"], "acme"),
            "globex": _partition("globex", ["n2", "n3", "n4", "n5"], "globex"),
        }
    )
    assert verify_move(plan, moved_slurm, moved_inventory) == []
