"""A move of nodes between tenants, carried out step by step against the simulator's Slurm (the same
scontrol words as a real one, reached through the console's own Slurm engine), the real audit store and a
real inventory file: every step audited; a stop or jobs that outlast the wait leave the nodes in a stated,
safe state; the inventory is rewritten only after Slurm took the change."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from console.core.action_runner import RunnerSettings
from console.core.fleet import FleetModel
from console.core.inventory import Inventory, load_inventory
from console.core.samples import AcceleratorSample, NodeState, ParsedLine, Vendor
from console.core.store import AuditRow
from console.core.tenant_move import MoveRequest, plan_move
from console.core.tenants import JobAllocation
from console.engines.slurm import SlurmEngine
from console.services.actions import ActionService
from console.services.tenant_move import JobsDecision, MoveStep, TenantMove
from console.sim.model import Role, SimNode, build_fleet
from console.sim.slurm import SimSlurm
from console.transport.ssh import ExecResult, SshSettings


@dataclass
class SimRemote:
    """The scheduler host, answered by the simulator's Slurm instead of over SSH."""

    sim: SimSlurm
    label: str = "ops@ctl"

    def run(self, argv: Sequence[str], timeout_s: float, cancel: threading.Event | None = None) -> ExecResult:
        out, err, status = self.sim.run(list(argv))
        return ExecResult(status, out.encode(), err.encode())

    def close(self) -> None:
        pass


@dataclass
class World:
    nodes: list[SimNode]
    sim: SimSlurm
    service: ActionService
    inventory_path: Path

    def views(self) -> list:  # type: ignore[type-arg]
        fleet = FleetModel(self.service.inventory)
        for node in self.nodes:
            fleet.set_state(node.name, NodeState.UP)
            samples = [ParsedLine(sample=AcceleratorSample(index=g, vendor=Vendor.NVIDIA)) for g in range(8)]
            fleet.ingest(node.name, samples, time.time())
        return fleet.views()

    def plan(self, node: str, target: str, wait_s: float = 60.0):  # type: ignore[no-untyped-def]
        request = MoveRequest((node,), target, "tina", "acme shrinks (contract 12)", "OPS-9", job_wait_s=wait_s)
        scheduler = self.service.engines.scheduler()
        assert scheduler is not None
        return plan_move(request, self.service.inventory, self.views(), scheduler.allocations(), max_nodes=8)

    def rows(self) -> list[AuditRow]:
        return self.service.store.rows()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    nodes = build_fleet(32)
    sim = SimSlurm(nodes, set_offline=lambda _n, _u: None)
    lines = ['# the hall B fleet\n[scheduler]\nhost = "ctl"\n']
    for node in nodes:
        tenant = f'tenant = "{node.tenant}"\n' if node.tenant else ""
        lines.append(f'\n[[node]]\nname = "{node.name}"  # {node.role.value}\nhost = "10.0.0.1"\n{tenant}')
    path = tmp_path / "fleet.toml"
    path.write_text("".join(lines))
    settings = RunnerSettings(poll_s=0.02, verify_timeout_s=5.0)
    service = ActionService(load_inventory(path), tmp_path / "data", SshSettings(ssh_config=None), settings=settings)
    service.engines._slurm = SlurmEngine(SimRemote(sim))  # type: ignore[arg-type]  # the simulator's Slurm
    try:
        yield World(nodes, sim, service, path)
    finally:
        service.close()


def _idle(world: World) -> SimNode:
    reserved = {n for r in world.sim.reservations for n in r.nodes}
    return next(n for n in world.nodes if n.role == Role.IDLE and n.tenant and n.name not in reserved)


def _other(world: World, tenant: str) -> str:
    return next(n.tenant for n in world.nodes if n.tenant and n.tenant != tenant)


def test_an_idle_node_moves_in_slurm_and_the_inventory_and_every_step_is_audited(world: World) -> None:
    node = _idle(world)
    target = _other(world, node.tenant or "")
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
    busy = next(n for n in world.nodes if n.role == Role.TRAINING and n.tenant)
    target = _other(world, busy.tenant or "")
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
    busy = next(n for n in world.nodes if n.role == Role.TRAINING and n.tenant)
    plan = world.plan(busy.name, _other(world, busy.tenant or ""), wait_s=0.05)
    outcome = TenantMove(plan, world.service, decide=lambda _jobs: JobsDecision.RESUME, poll_s=0.02).run()
    assert outcome.outcome == "stopped" and "the nodes were resumed" in outcome.message
    assert "DRAIN" not in world.sim.nodes[busy.name].flags
    assert [r.kind for r in world.rows()].count("resume") == 1


def test_a_stop_before_the_first_step_touches_nothing(world: World) -> None:
    node = _idle(world)
    move = TenantMove(world.plan(node.name, _other(world, node.tenant or "")), world.service, poll_s=0.02)
    move.stop()
    outcome = move.run()
    assert outcome.outcome == "stopped" and "were not touched" in outcome.message
    assert "DRAIN" not in world.sim.nodes[node.name].flags


def test_a_slurm_change_that_fails_stops_the_move_before_the_inventory_and_says_where_the_node_is(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = _idle(world)
    target = _other(world, node.tenant or "")
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
    node = _idle(world)
    move = TenantMove(world.plan(node.name, _other(world, node.tenant or "")), world.service, poll_s=0.02)
    seen: list[str] = []
    move.add_listener(lambda p: seen.append(p.state))
    move.start()
    assert move.join(timeout=30)
    assert seen[-1] == "done" and "running" in seen


def test_without_a_decide_callback_the_move_asks_its_listeners_and_waits_for_the_answer(world: World) -> None:
    busy = next(n for n in world.nodes if n.role == Role.TRAINING and n.tenant)
    move = TenantMove(world.plan(busy.name, _other(world, busy.tenant or ""), wait_s=0.05), world.service, poll_s=0.02)
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
