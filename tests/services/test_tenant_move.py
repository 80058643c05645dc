"""A move of nodes between tenants, carried out step by step against the simulator's Slurm (the same
scontrol words as a real one, reached through the console's own Slurm engine), the real audit store and a
real inventory file: every step audited; a stop or jobs that outlast the wait leave the nodes in a stated,
safe state; the inventory is rewritten only after Slurm took the change."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from console.core.inventory import Inventory, load_inventory
from console.core.tenants.allocation import JobAllocation
from console.core.tenants.moves import JobsDecision, MoveRequest, MoveStep
from console.services.tenant_move import TenantMove, TenantMoves
from tests.helpers.moves import World, busy_node, idle_node, other_tenant


def test_an_idle_node_moves_in_slurm_and_the_inventory_and_every_step_is_audited(world: World) -> None:
    node = idle_node(world)
    target = other_tenant(world, node.tenant)
    plan = world.plan(node.name, target)
    assert plan.allowed, plan.refusals
    applied: list[Inventory] = []
    move = TenantMove(plan, world.service, apply_inventory=applied.append, poll_s=0.02)
    outcome = move.run()
    assert outcome.outcome == "done", outcome.message
    assert node.name in world.sim.partitions[target] and node.name not in world.sim.partitions[node.tenant or ""]
    assert "DRAIN" not in world.sim.nodes[node.name].flags
    assert load_inventory(world.inventory_path).node(node.name).tenant == target
    assert "# the hall B fleet" in world.inventory_path.read_text()
    assert applied and applied[0].node(node.name).tenant == target
    assert world.service.inventory.node(node.name).tenant == target
    kinds = [(r.kind, r.state) for r in world.rows()]
    assert kinds == [
        ("move-tenant", "done"),
        ("drain", "done"),
        ("move-tenant:wait-jobs", "done"),
        ("move-tenant:slurm", "done"),
        ("move-tenant:slurm", "done"),
        ("move-tenant:inventory", "done"),
        ("resume", "done"),
        ("move-tenant:verify", "done"),
    ]
    steps = [p.step for p in move.progress if p.state == "done" and not p.finished]
    assert steps == [
        MoveStep.DRAIN,
        MoveStep.WAIT_JOBS,
        MoveStep.SLURM,
        MoveStep.INVENTORY,
        MoveStep.RESUME,
        MoveStep.VERIFY,
    ]


def test_jobs_that_outlast_the_wait_ask_and_a_stop_leaves_the_node_drained_with_its_tenant(world: World) -> None:
    busy = busy_node(world)
    target = other_tenant(world, busy.tenant)
    plan = world.plan(busy.name, target, wait_s=0.1)
    asked: list[list[JobAllocation]] = []

    def decide(jobs: list[JobAllocation]) -> JobsDecision:
        asked.append(jobs)
        return JobsDecision.STOP

    before = world.inventory_path.read_text()
    outcome = TenantMove(plan, world.service, decide=decide, poll_s=0.02).run()
    assert outcome.outcome == "stopped"
    assert asked and asked[0][0].account == busy.tenant
    assert "DRAIN" in world.sim.nodes[busy.name].flags  # safe: nothing new starts there
    assert busy.name in world.sim.partitions[busy.tenant or ""] and busy.name not in world.sim.partitions[target]
    assert world.inventory_path.read_text() == before
    assert f"{busy.name} are drained and still belong to {busy.tenant}" in outcome.message
    assert "resume them to give them back" in outcome.message
    states = {r.kind: r.state for r in world.rows()}
    assert states["move-tenant"] == "cancelled" and states["move-tenant:wait-jobs"] == "cancelled"


def test_choosing_resume_when_the_jobs_outlast_the_wait_gives_the_node_back(world: World) -> None:
    busy = busy_node(world)
    plan = world.plan(busy.name, other_tenant(world, busy.tenant), wait_s=0.05)
    outcome = TenantMove(plan, world.service, decide=lambda _jobs: JobsDecision.RESUME, poll_s=0.02).run()
    assert outcome.outcome == "stopped" and "the nodes were resumed" in outcome.message
    assert "DRAIN" not in world.sim.nodes[busy.name].flags
    assert [r.kind for r in world.rows()].count("resume") == 1


def test_a_stop_before_the_first_step_touches_nothing(world: World) -> None:
    node = idle_node(world)
    move = TenantMove(world.plan(node.name, other_tenant(world, node.tenant)), world.service, poll_s=0.02)
    move.stop()
    outcome = move.run()
    assert outcome.outcome == "stopped" and "were not touched" in outcome.message
    assert "DRAIN" not in world.sim.nodes[node.name].flags


def test_a_slurm_change_that_fails_stops_the_move_before_the_inventory_and_says_where_the_node_is(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = idle_node(world)
    target = other_tenant(world, node.tenant)
    plan = world.plan(node.name, target)
    monkeypatch.setattr(
        world.sim, "_update_partition", lambda _fields: ("", "slurm_update error: Access/permission denied\n", 1)
    )
    before = world.inventory_path.read_text()
    outcome = TenantMove(plan, world.service, poll_s=0.02).run()
    assert outcome.outcome == "failed"
    assert "Access/permission denied" in outcome.message
    assert world.inventory_path.read_text() == before
    assert "DRAIN" in world.sim.nodes[node.name].flags
    assert "the inventory still says" in outcome.message


def test_a_move_on_its_own_thread_reports_progress_to_listeners(world: World) -> None:
    node = idle_node(world)
    move = TenantMove(world.plan(node.name, other_tenant(world, node.tenant)), world.service, poll_s=0.02)
    seen: list[str] = []
    move.add_listener(lambda p: seen.append(p.state))
    move.start()
    assert move.join(timeout=30)
    assert seen[-1] == "done" and "running" in seen


def test_without_a_decide_callback_the_move_asks_its_listeners_and_waits_for_the_answer(world: World) -> None:
    busy = busy_node(world)
    move = TenantMove(world.plan(busy.name, other_tenant(world, busy.tenant), wait_s=0.05), world.service, poll_s=0.02)
    asks: list[str] = []
    asked = threading.Event()

    def listen(progress: object) -> None:
        if getattr(progress, "state", "") == "ask":
            asks.append(getattr(progress, "message", ""))
            if len(asks) == 1:
                move.answer(JobsDecision.WAIT)  # wait as long again: asked a second time
            else:
                asked.set()

    move.add_listener(listen)
    move.start()
    assert asked.wait(timeout=30)
    move.answer(JobsDecision.STOP)
    assert move.join(timeout=30)
    assert move.outcome is not None and move.outcome.outcome == "stopped"
    assert len(asks) == 2 and "wait longer, stop, or resume" in asks[0]
    assert "DRAIN" in world.sim.nodes[busy.name].flags


def test_every_step_of_a_move_is_linked_to_the_nodes_open_incident(world: World) -> None:
    from console.core.records.incident_log import IncidentLog

    node = idle_node(world)
    incident, _ = IncidentLog(world.service.store).open(
        nodes=[node.name], cause="fan noise", severity="warning", opened_by="tina"
    )
    outcome = TenantMove(world.plan(node.name, other_tenant(world, node.tenant)), world.service, poll_s=0.02).run()
    assert outcome.outcome == "done"
    rows = world.rows()
    assert len(rows) == 8 and all(r.incident_id == incident for r in rows)


def test_a_liaisons_console_plans_a_move_only_to_refuse_it(world: World) -> None:
    from console.core.tenants.moves import MoveRequest
    from console.services.tenant_move import TenantMoves

    node = idle_node(world)
    world.service.runner.refusal = "the liaison role may not act on nodes"
    moves = TenantMoves(world.service, world.fleet())
    plan = moves.plan_move(MoveRequest((node.name,), other_tenant(world, node.tenant), "lia", "grow"))
    assert "the liaison role may not act on nodes" in plan.refusals
    assert plan.changes  # the preview is still shown in full


def test_an_inventory_edited_between_the_preview_and_the_start_stops_the_move_before_the_drain(world: World) -> None:
    node = idle_node(world)
    plan = world.plan(node.name, other_tenant(world, node.tenant))
    assert plan.allowed, plan.refusals
    digest = world.service.inventory.digest
    assert digest is not None
    with world.inventory_path.open("a") as handle:
        handle.write("\n# a teammate's edit after the preview\n")
    outcome = TenantMove(plan, world.service, inventory_digest=digest, poll_s=0.02).run()
    assert outcome.outcome == "failed"
    assert "not started, nothing was changed" in outcome.message and "changed on disk" in outcome.message
    assert "DRAIN" not in world.sim.nodes[node.name].flags
    assert [(r.kind, r.state) for r in world.rows()] == [("move-tenant", "failed")]
    assert world.inventory_path.read_text().endswith("# a teammate's edit after the preview\n")


def test_the_preview_says_which_file_is_rewritten_and_where_its_link_leads(world: World, tmp_path: Path) -> None:
    real = tmp_path / "etc-fleet" / "dc1.toml"
    real.parent.mkdir()
    world.inventory_path.rename(real)
    world.inventory_path.symlink_to(real)
    moves = TenantMoves(world.service, world.fleet())
    node = idle_node(world)
    plan = moves.plan_move(
        MoveRequest((node.name,), other_tenant(world, node.tenant), "tina", "acme shrinks (contract 12)")
    )
    assert plan.allowed, plan.refusals
    text = plan.describe()
    link = f"{world.inventory_path} (a link: its target {real} is rewritten, the link stays)"
    assert f"Inventory: {link} will be rewritten" in text
