"""The slow path: every node's health details (NVIDIA's health fields, with the whole ``nvidia-smi -q -x``
once in ten minutes; node health; the kernel log where it is not followed) every 30 s (50 s at 1,000
nodes) on the node's existing connection, parsed off the reader and GUI threads (in the telemetry worker
process where the fleet streams through workers), into the fleet model."""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, runtime_checkable

from console.core.inventory import Inventory
from console.core.telemetry.details import DETAIL_INTERVAL_S, FullLooks, HealthReport, detail_argv, parse_detail_output
from console.core.telemetry.fleet import FleetModel
from console.core.telemetry.samples import NodeState, Vendor
from console.transport.ssh import ConnectError, ExecResult


def detail_interval_for(nodes: int) -> float:
    """30 s, stretched in big fleets so that at most 20 nodes are looked at per second (50 s at 1,000):
    each look is a channel, a fork on the node and ~100 KB of XML on a 2-core console."""
    return max(DETAIL_INTERVAL_S, nodes / 20.0)


class NodeShell(Protocol):
    """Runs a one-off command on a node's existing connection (the stream hub does)."""

    def exec(
        self, node: str, argv: Sequence[str], timeout_s: float, cancel: threading.Event | None = None
    ) -> ExecResult: ...


@runtime_checkable
class DetailLooker(Protocol):
    """Runs the slow path's command and parses its answer where the node's connection lives (a telemetry
    worker process): the console's process then receives the report, not 2-100 KB of text to parse while
    the window waits for the GIL."""

    def look(
        self, node: str, argv: Sequence[str], timeout_s: float, started: float, cancel: threading.Event | None = None
    ) -> HealthReport: ...


class SlowPathService:
    """The slow path for every streaming node: one command per node every ``interval_s`` on its existing
    connection (NVIDIA details, kernel log, node health), parsed off the reader and GUI threads.

    Each look has a deadline for the whole call (``timeout_s``). A node whose last look hit it is suspect: at
    most half the workers look at suspect nodes at a time, so nodes whose tools hang cannot hold every
    worker and leave healthy nodes unchecked."""

    def __init__(
        self,
        inventory: Inventory,
        fleet: FleetModel,
        shell: NodeShell,
        interval_s: float = DETAIL_INTERVAL_S,
        workers: int = 4,
        timeout_s: float = 30.0,
    ) -> None:
        self.fleet = fleet
        self.shell = shell
        self._looker = shell if isinstance(shell, DetailLooker) else None
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.workers = workers
        self._suspect: set[str] = set()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="details")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="detail-poller", daemon=True)
        rng = random.Random(0)
        now = time.time()
        # Each node looks at its own phase of the interval, so looks are spread evenly over it (a thousand
        # nodes never fork at once, and the console's load has no bursts); the first looks come sooner,
        # within 10 s of the start, in the same order.
        self._start = now
        self._phase = {spec.name: rng.random() * interval_s for spec in inventory.nodes}
        first = min(interval_s, 10.0) / interval_s
        self._due = {name: now + phase * first for name, phase in self._phase.items()}
        self._busy: set[str] = set()
        self._since: dict[str, float] = {}
        self._full_looks = FullLooks()
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()  # also cancels the looks under way (within a fifth of a second)
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            now = time.time()
            with self._lock:
                due = [n for n, t in self._due.items() if t <= now and n not in self._busy]
                suspect_slots = max(1, self.workers // 2) - len(self._busy & self._suspect)
            for name in due:
                view = self.fleet.view(name)
                if name in self._suspect:
                    if suspect_slots <= 0:
                        continue  # stays due: looked at when a suspect's look ends
                    suspect_slots -= 1
                with self._lock:
                    self._due[name] = self._next_slot(name, now)
                if view.state not in (NodeState.UP, NodeState.PARSE_ERROR, NodeState.STALE):
                    continue
                with self._lock:
                    self._busy.add(name)
                # Where the kernel log is followed live, the look leaves it out.
                followed = (view.kernel_follow or "").startswith("following")
                self._pool.submit(self._look, name, view.vendor, followed)

    def _next_slot(self, name: str, now: float) -> float:
        """The node's next time on its own phase, at least half an interval from now."""
        start = self._start + self._phase[name]
        slots = math.floor((now - start) / self.interval_s) + 1
        due = start + slots * self.interval_s
        return due if due - now >= self.interval_s / 2 else due + self.interval_s

    def _look(self, name: str, vendor: Vendor, followed: bool) -> None:
        try:
            started = time.time()
            since = self._since.get(name, started - 3600)
            try:
                full = self._full_looks.wants_full(name, started)
                argv = detail_argv(vendor, since, kernel_log=not followed, full=full)
                if self._looker is not None:
                    report = self._looker.look(name, argv, self.timeout_s, started, cancel=self._stop)
                else:
                    result = self.shell.exec(name, argv, self.timeout_s, cancel=self._stop)
                    report = parse_detail_output(result.stdout.decode("utf-8", "replace"), started)
            except ConnectError as exc:
                if exc.state == NodeState.COMMAND_FAILED:  # no whole answer within the deadline
                    with self._lock:
                        self._suspect.add(name)
                return  # the node's own state already says why
            with self._lock:
                self._suspect.discard(name)
            report = self._full_looks.record(name, report)
            self._since[name] = started - 5  # a little overlap; repeats are dropped by the model
            self.fleet.apply_report(name, report)
        finally:
            with self._lock:
                self._busy.discard(name)
