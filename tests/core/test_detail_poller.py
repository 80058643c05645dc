"""The slow path's scheduling: nodes whose tools hang cannot hold every worker (fake hub and fleet)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from console.core.inventory import parse_inventory
from console.core.telemetry.details import HealthReport
from console.core.telemetry.samples import NodeState, Vendor
from console.services.slow_path import SlowPathService
from console.transport.ssh import ConnectError, ExecResult
from tests.helpers.live import wait_for

HUNG = [f"hung-{i}" for i in range(4)]


@dataclass
class _View:
    state: NodeState = NodeState.UP
    vendor: Vendor = Vendor.NVIDIA
    kernel_follow: str | None = None


class HangingNodes:
    """The hub's exec: hung nodes block until released, then fail as a whole-call deadline does."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.running: set[str] = set()
        self.healthy_looks = 0
        self.healthy_beside_hung = 0  # healthy looks that ran while some hung look held a worker
        self.max_running = 0

    def exec(
        self, node: str, argv: Sequence[str], timeout_s: float, cancel: threading.Event | None = None
    ) -> ExecResult:
        if node == "healthy":
            with self.lock:
                self.healthy_looks += 1
                if self.running:
                    self.healthy_beside_hung += 1
            return ExecResult(0, b"", b"")
        with self.lock:
            self.running.add(node)
            self.max_running = max(self.max_running, len(self.running))
        try:
            self.release.wait(30)
            raise ConnectError(NodeState.COMMAND_FAILED, f"{argv[0]} gave no complete answer within {timeout_s:g} s")
        finally:
            with self.lock:
                self.running.discard(node)


class _Fleet:
    def view(self, name: str) -> _View:
        return _View()

    def apply_report(self, name: str, report: HealthReport) -> None:
        pass


def test_nodes_whose_looks_hang_leave_workers_for_healthy_nodes() -> None:
    text = "".join(f'[[node]]\nname = "{n}"\nhost = "10.0.0.{i + 1}"\n' for i, n in enumerate([*HUNG, "healthy"]))
    hub = HangingNodes()
    inventory = parse_inventory(text, Path("fleet.toml"))
    poller = SlowPathService(inventory, _Fleet(), hub, interval_s=0.2, workers=2, timeout_s=5.0)  # type: ignore[arg-type]
    poller.start()
    try:
        # First round: hung nodes may take both workers; once their looks fail they are suspect.
        wait_for("two hung looks to hold both workers", lambda: len(hub.running) == 2)
        hub.release.set()
        wait_for("every hung node to fail once", lambda: poller._suspect >= set(HUNG))
        hub.release.clear()
        # From now on at most one worker looks at suspect nodes: the healthy node is looked at meanwhile.
        wait_for("a suspect look to hang again", lambda: len(hub.running) >= 1)
        with hub.lock:
            hub.healthy_beside_hung = hub.max_running = 0
        wait_for("the healthy node to be looked at beside a hung look", lambda: hub.healthy_beside_hung >= 3)
        assert hub.max_running == 0  # no second hung look started meanwhile (the first one still holds)
        assert len(hub.running) == 1
    finally:
        hub.release.set()
        poller.stop()


def test_looks_are_spread_over_the_interval_not_bunched_at_the_start() -> None:
    names = [f"n{i}" for i in range(1000)]
    text = "".join(f'[[node]]\nname = "{n}"\nhost = "10.0.{i // 250}.{i % 250 + 1}"\n' for i, n in enumerate(names))
    poller = SlowPathService(parse_inventory(text, Path("fleet.toml")), _Fleet(), HangingNodes(), interval_s=50.0)  # type: ignore[arg-type]
    start = poller._start
    first = sorted(poller._due.values())
    assert first[-1] - start <= 10.0  # every node is looked at soon after the start
    # After each first look, the next ones keep the node's own phase: a tenth of the interval holds about a
    # tenth of the looks, not all of them (before: every look of the fleet fell in the same 10 s of 50).
    nexts = [poller._next_slot(name, due) for name, due in poller._due.items()]
    assert all(n - d >= 25.0 for n, d in zip(nexts, poller._due.values(), strict=True))
    buckets = [0] * 10
    for due in nexts:
        buckets[int(((due - start) % 50.0) // 5.0)] += 1
    assert max(buckets) < 150
    later = [poller._next_slot(name, due + 0.5) for name, due in zip(poller._due, nexts, strict=True)]
    assert all(abs((b - a) - 50.0) < 1e-6 for a, b in zip(nexts, later, strict=True))


class LookingWorkers:
    """A hub that parses where the node's connection lives (the telemetry workers do): ``look``, not ``exec``."""

    def __init__(self) -> None:
        self.looks: list[tuple[str, float]] = []
        self.execs = 0

    def exec(
        self, node: str, argv: Sequence[str], timeout_s: float, cancel: threading.Event | None = None
    ) -> ExecResult:
        self.execs += 1
        return ExecResult(0, b"", b"")

    def look(
        self, node: str, argv: Sequence[str], timeout_s: float, started: float, cancel: threading.Event | None = None
    ) -> HealthReport:
        self.looks.append((node, started))
        return HealthReport(taken_at=started)


class _RecordingFleet(_Fleet):
    def __init__(self) -> None:
        self.reports: list[tuple[str, HealthReport]] = []

    def apply_report(self, name: str, report: HealthReport) -> None:
        self.reports.append((name, report))


def test_where_the_hub_parses_the_answer_itself_the_slow_path_takes_its_report_and_parses_nothing() -> None:
    hub = LookingWorkers()
    fleet = _RecordingFleet()
    inventory = parse_inventory('[[node]]\nname = "n1"\nhost = "10.0.0.1"\n', Path("fleet.toml"))
    poller = SlowPathService(inventory, fleet, hub, interval_s=0.2, workers=1)  # type: ignore[arg-type]
    poller.start()
    try:
        wait_for("a look through the hub's look", lambda: bool(fleet.reports))
    finally:
        poller.stop()
    assert hub.execs == 0 and hub.looks[0][0] == "n1"
    assert fleet.reports[0] == ("n1", HealthReport(taken_at=hub.looks[0][1]))
