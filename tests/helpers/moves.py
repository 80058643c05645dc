"""A move-tenant world for the fast tests: the simulator's Slurm reached through the console's own Slurm
engine (the same scontrol words as a real one), the real audit store and a real inventory file."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from console.core.actions.runs import RunnerSettings
from console.core.inventory import load_inventory
from console.core.records.store import AuditRow
from console.core.telemetry.fleet import FleetModel, NodeView
from console.core.telemetry.samples import AcceleratorSample, NodeState, ParsedLine, Vendor
from console.core.tenants.moves import MovePlan, MoveRequest, plan_move
from console.engines.slurm import SlurmEngine
from console.services.actions import ActionService
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

    def fleet(self) -> FleetModel:
        fleet = FleetModel(self.service.inventory)
        for node in self.nodes:
            fleet.set_state(node.name, NodeState.UP)
            samples = [ParsedLine(sample=AcceleratorSample(index=g, vendor=Vendor.NVIDIA)) for g in range(8)]
            fleet.ingest(node.name, samples, time.time())
        return fleet

    def views(self) -> list[NodeView]:
        return self.fleet().views()

    def plan(self, node: str, target: str, wait_s: float = 60.0) -> MovePlan:
        request = MoveRequest((node,), target, "tina", "acme shrinks (contract 12)", "OPS-9", job_wait_s=wait_s)
        scheduler = self.service.engines.scheduler()
        assert scheduler is not None
        return plan_move(request, self.service.inventory, self.views(), scheduler.allocations(), max_nodes=8)

    def rows(self) -> list[AuditRow]:
        return self.service.store.rows()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """32 simulated nodes, their Slurm, an inventory file and an action service that reaches that Slurm."""
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


def idle_node(world: World) -> SimNode:
    """An idle node a tenant holds and no reservation covers."""
    reserved = {n for r in world.sim.reservations for n in r.nodes}
    return next(n for n in world.nodes if n.role == Role.IDLE and n.tenant and n.name not in reserved)


def busy_node(world: World) -> SimNode:
    return next(n for n in world.nodes if n.role == Role.TRAINING and n.tenant)


def other_tenant(world: World, tenant: str | None) -> str:
    return next(n.tenant for n in world.nodes if n.tenant and n.tenant != tenant)
