"""Fakes shared by the fast tests: a clock the test moves, nvidia-smi stream lines built field by field (in
the console's own field order, ``noheader,nounits`` as it asks for them), and Slurm behind its port."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from console.core.inventory import NodeSpec
from console.core.parsers.nvidia_csv import STREAM_FIELDS
from console.core.parsers.slurm import Job, Partition, SlurmNode
from console.core.telemetry.samples import NodeState
from console.core.tenants.accounting import SlurmGpuHours, accounting_problem, parse_sacct
from console.core.tenants.allocation import JobAllocation, SchedulerAllocations
from console.transport.hub import StreamHub
from console.transport.hub_links import HubSettings

NVIDIA_LINE_DEFAULTS = {
    "timestamp": "2024/11/14 07:00:14.123",
    "count": "8",
    "index": "3",
    "uuid": "GPU-1b2c",
    "name": "NVIDIA H100 80GB HBM3",
    "pci.bus_id": "00000000:5D:00.0",
    "utilization.gpu": "87",
    "memory.used": "1234",
    "memory.total": "81559",
    "temperature.gpu": "61",
    "power.draw": "312.50",
    "power.limit": "700.00",
    "clocks.sm": "1980",
    "fan.speed": "[N/A]",
    "pstate": "P0",
}


def nvidia_line(**fields: str) -> str:
    """One stream line; keyword names are the fields, with dots as underscores (``temperature_gpu="97"``) or
    as they are (``**{"temperature.gpu": "97"}``)."""
    values = dict(NVIDIA_LINE_DEFAULTS)
    names = {field.replace(".", "_"): field for field in values} | {field: field for field in values}
    for key, value in fields.items():
        if key not in names:
            raise KeyError(f"{key}: not a stream field ({', '.join(names)})")
        values[names[key]] = value
    return ", ".join(values[f] for f in STREAM_FIELDS)


class FakeClock:
    """Time that moves only when the test says (thread-safe: the code under test may read it anywhere)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def slurm_node(name: str, state: str = "IDLE", partitions: tuple[str, ...] = ("batch",)) -> SlurmNode:
    """A node as ``scontrol show node`` would describe it, from its state word (``IDLE+DRAIN``)."""
    base, *flags = state.split("+")
    return SlurmNode(name, base, frozenset(flags), None, None, None, partitions, None, state)


class FakeSlurm:
    """Slurm's side of the SchedulerPort: node states by name (others answer IDLE), jobs, partitions; set
    ``failing`` to make every node read fail with those words. Counts its node reads."""

    def __init__(
        self,
        states: dict[str, str] | None = None,
        jobs: list[Job] | None = None,
        partitions: dict[str, Partition] | None = None,
    ) -> None:
        self.states = states or {}
        self.job_list = jobs or []
        self.partition_map = partitions or {}
        self.failing: str | None = None
        self.reads = 0
        # sacct's lines (JobID|Account|AllocTRES|Start|End|State); None: Slurm keeps no accounting.
        self.sacct: str | None = None

    @property
    def host(self) -> str:
        return "ops@10.0.0.100"

    def nodes(self, names: Sequence[str]) -> dict[str, SlurmNode]:
        self.reads += 1
        if self.failing:
            raise RuntimeError(self.failing)
        return {n: slurm_node(n, self.states.get(n, "IDLE")) for n in names}

    def jobs(self, names: Sequence[str]) -> list[Job]:
        return [j for j in self.job_list if set(j.nodes) & set(names)]

    def partitions(self) -> dict[str, Partition]:
        return self.partition_map

    def allocations(self) -> SchedulerAllocations:
        """Slurm's tenancy as the fake knows it: its partitions and its jobs (no GRES indices)."""
        jobs = tuple(JobAllocation(j.job_id, j.user, j.account, j.state, j.partition, j.nodes) for j in self.job_list)
        return SchedulerAllocations(partitions=self.partition_map, jobs=jobs)

    def gpu_hours(self, since: float, until: float, now: float) -> SlurmGpuHours:
        if self.sacct is None:
            raise RuntimeError(f"sacct on {self.host}: {accounting_problem('Slurm accounting storage is disabled')}")
        return parse_sacct(self.sacct, since, until, now)


class RecordingHubListener:
    """A stream hub's listener that keeps every node state (with its words) and counts the lines."""

    def __init__(self) -> None:
        self.states: list[tuple[NodeState, str | None]] = []
        self.lines = 0

    def on_state(self, node: str, state: NodeState, error: str | None, fingerprint: str | None) -> None:
        self.states.append((state, error))

    def on_lines(self, node: str, lines: Sequence[str], received_at: float) -> None:
        self.lines += len(lines)

    def on_kernel_lines(self, node: str, lines: Sequence[str], received_at: float) -> None:
        pass

    def on_kernel_state(self, node: str, state: str) -> None:
        pass


class FakeChannel:
    """What the hub's bookkeeping needs of a channel it never reads (the test hands it the bytes)."""

    def close(self) -> None:
        pass


def one_node_hub(clock: FakeClock, listener: RecordingHubListener, settings: HubSettings | None = None) -> StreamHub:
    """A hub of one node, n1, not started: the test feeds its link's buffer and calls the hub's own steps."""
    return StreamHub(
        [NodeSpec(name="n1", host="10.0.0.1")], lambda _s: ["nvidia-smi"], listener, settings=settings, clock=clock
    )
