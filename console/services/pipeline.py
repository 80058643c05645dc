"""The telemetry worker: lines from the transport's reader thread → parsed samples → the fleet model.

One thread, so parsing never runs on the reader thread (which must keep draining every channel) nor on the
GUI thread. It takes what arrived in batches, every BATCH_S: at 1,000 nodes a line batch arrives about
every millisecond, and waking the worker for each (a queue put, a thread switch and a GIL hand-over per
node per second) cost more than parsing them. A batch waits at most BATCH_S (the alert rules run every
``tick_s``, one or two seconds), and a node's batches are parsed in the order they came.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Final, Protocol

from console.core.alerts.rules import Alert, AlertEngine
from console.core.parsers.common import excerpt
from console.core.parsers.xid import KernelLogReader, XidEvent
from console.core.telemetry.samples import ParsedLine
from console.core.telemetry.sources import StreamParser

EXPIRE_EVERY_S: Final = 1.0
# From this many nodes the rules run every TICK_LARGE_S: over a thousand nodes they were a fifth of the
# console's GIL time (docs/bench.md). Kernel-log events do not wait for it: they bring the next batch's
# evaluation forward, so an XID is an alert as soon as before or sooner.
TICK_LARGE_FROM_NODES: Final = 500
TICK_LARGE_S: Final = 2.0


def tick_for(nodes: int) -> float:
    """Seconds between runs of the alert rules for a fleet of ``nodes``."""
    return TICK_LARGE_S if nodes >= TICK_LARGE_FROM_NODES else EXPIRE_EVERY_S


# How long arriving lines gather before the worker takes them.
BATCH_S: Final = 0.05
# Lines waiting to be parsed, all nodes together: past this the reader drops (and counts) instead of
# queueing, so a parser that falls behind cannot grow the console's memory without bound.
MAX_QUEUED_LINES: Final = 200_000
log = logging.getLogger(__name__)


class PipelineSink(Protocol):
    """Where parsed lines go: the fleet model, or (in a telemetry worker process) the batch sent to it."""

    def ingest(self, name: str, parsed: Sequence[ParsedLine], received_at: float) -> None: ...

    def add_kernel_events(self, name: str, events: Sequence[XidEvent], seen_at: float) -> None: ...

    def expire(self) -> None: ...

    def evaluate_alerts(self, engine: AlertEngine) -> list[Alert]: ...


class TelemetryPipeline:
    def __init__(
        self,
        fleet: PipelineSink,
        name: str = "telemetry-parser",
        alerts: AlertEngine | None = None,
        after_batch: Callable[[], None] | None = None,
        tick_s: float = EXPIRE_EVERY_S,
    ) -> None:
        self.fleet = fleet
        self.alerts = alerts
        self.tick_s = tick_s
        self._tick_soon = False  # kernel events arrived: evaluate after this batch, not at the next tick
        self.after_batch = after_batch  # called on the worker after each batch (a worker process sends it)
        self.raised: list[Callable[[list[Alert]], None]] = []
        self._parsers: dict[str, StreamParser] = {}
        self._kernel_readers: dict[str, KernelLogReader] = {}
        self._pending: list[tuple[str, Sequence[str], float, bool]] = []
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._stop = threading.Event()
        self._queued_lines = 0
        self._count_lock = threading.Lock()
        self.dropped_lines = 0

    def set_parser(self, node: str, parser: StreamParser) -> None:
        self._parsers[node] = parser

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Parses what already arrived, then ends the worker."""
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(timeout=5)

    def submit(self, node: str, lines: Sequence[str], received_at: float) -> None:
        """Telemetry lines. Called from the reader thread; never blocks (drops past MAX_QUEUED_LINES)."""
        self._put(node, lines, received_at, kernel=False)

    def submit_kernel(self, node: str, lines: Sequence[str], received_at: float) -> None:
        """Lines of the node's followed kernel log (same bound, same thread as telemetry)."""
        self._put(node, lines, received_at, kernel=True)

    def _put(self, node: str, lines: Sequence[str], received_at: float, kernel: bool) -> None:
        with self._count_lock:
            if self._queued_lines + len(lines) > MAX_QUEUED_LINES:
                self.dropped_lines += len(lines)
                return
            self._queued_lines += len(lines)
            self._pending.append((node, lines, received_at, kernel))

    def tick_soon(self) -> None:
        """Run the rules after the batch under way (kernel events reached the model another way)."""
        self._tick_soon = True

    def _run(self) -> None:
        next_tick = time.monotonic() + self.tick_s
        while True:
            stopping = self._stop.wait(BATCH_S)
            with self._count_lock:
                batch, self._pending = self._pending, []
                self._queued_lines = 0
            for node, lines, received_at, kernel in batch:
                if kernel:
                    self._apply_kernel(node, lines, received_at)
                else:
                    self._apply(node, lines, received_at)
            if self.after_batch is not None:
                self.after_batch()
            if stopping:
                return
            if self._tick_soon or time.monotonic() >= next_tick:
                self._tick_soon = False
                next_tick = time.monotonic() + self.tick_s
                self._tick()

    def _tick(self) -> None:
        self.fleet.expire()
        if self.alerts is None:
            return
        try:
            raised = self.fleet.evaluate_alerts(self.alerts)
        except Exception:
            log.exception("alert evaluation failed")
            return
        if raised:
            for listener in list(self.raised):
                listener(raised)

    def _apply_kernel(self, node: str, lines: Sequence[str], received_at: float) -> None:
        reader = self._kernel_readers.setdefault(node, KernelLogReader())
        try:
            events = reader.feed(lines)
        except Exception:  # a parser bug must not stop the fleet's telemetry
            log.exception("reading %s's kernel log failed", node)
            return
        if events:
            self.fleet.add_kernel_events(node, events, received_at)
            self._tick_soon = True  # their alerts now, not at the next tick

    def _apply(self, node: str, lines: Sequence[str], received_at: float) -> None:
        parser = self._parsers.get(node)
        if parser is None:
            return
        try:
            parsed = parser.parse_lines(lines)
        except Exception as exc:  # noqa: BLE001 - a parser bug must not stop the fleet's telemetry
            first = lines[0] if lines else ""
            parsed = [ParsedLine(error=f"parser failed ({type(exc).__name__}) near {excerpt(first)!r}")]
        self.fleet.ingest(node, parsed, received_at)
