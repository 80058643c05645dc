"""Telemetry in worker processes: the fleet's connections and parsing spread over child processes, each with
its own stream hub (selector, paramiko transports) and parser, sending compact batches of parsed samples to
the console's process.

Why: in one process every paramiko transport thread, the selector and the parser share one GIL with the
window. At 1,000 nodes the telemetry held it most of the time, and the GUI thread — which gives it up at
every call into Qt and waits for it back each time — applied snapshots in hundreds of milliseconds and
stalled the event loop for seconds (docs/bench.md). In workers, the console's own process keeps only the
fleet model, the alert rules, the slow path's scheduling and the window.

What crosses the pipe: down, ``exec`` (a one-off command on a node's existing connection: SSH actions),
``look`` (the slow path's command, whose answer the worker parses: the console's process receives the
health report, not up to 100 KB of XML to parse under the GUI's GIL), ``cancel``, ``reconnect`` and
``stop``; up, every ~50 ms one list of events — node states, parsed lines, kernel-log events, follow
states — and the answers to ``exec`` and ``look``. A worker that dies is
reported on each of its nodes in words, and started again after a backoff.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from typing import Any, Final, Protocol

from console.core.alerts.rules import Alert, AlertEngine
from console.core.backoff import Backoff
from console.core.inventory import NodeSpec
from console.core.parsers.xid import XidEvent
from console.core.telemetry.details import KERNEL_LOOKBACK_S, HealthReport, kernel_follow_argv, parse_detail_output
from console.core.telemetry.sample_codec import SampleDecoder, SampleEncoder
from console.core.telemetry.samples import NodeState, ParsedLine
from console.core.telemetry.sources import TelemetrySource
from console.core.vendors import sources_for
from console.services.pipeline import TelemetryPipeline
from console.transport.hub import StreamHub
from console.transport.hub_links import HubListener, HubSettings, raise_fd_limit
from console.transport.ssh import ConnectError, ExecResult, SshSettings

log = logging.getLogger(__name__)

# Measured on a 2-core machine at 1,000 × 8 (docs/bench.md):
# - headless (poll, the bench's core), two workers cost 0.83 of a core in all against 0.49 in one process
#   (three interpreters and the pipe): there, one process until a fleet one process cannot keep up with,
#   on a machine with cores to spare;
# - with the window, the GUI thread shares one process's GIL with every transport thread and the parser,
#   and waits for it at each call into Qt: two workers brought snapshot apply p95 from 157 to 34 ms and
#   event-loop lag p99 from 437 to 150 ms. There, workers from WINDOW_WORKERS_FROM_NODES.
WORKERS_FROM_NODES: Final = 2500
WORKERS_FROM_CPUS: Final = 4
NODES_PER_WORKER: Final = 1000
WINDOW_WORKERS_FROM_NODES: Final = 500
WINDOW_NODES_PER_WORKER: Final = 500
# Behind a window, the workers' niceness: measured at 1,000 nodes on 2 cores, the GUI thread waited, runnable,
# 0.13 s a second for a CPU (more than it ran: 0.10 s) while the workers and the rest took the cores; 0.08 s
# at nice 5. Nice 10 helped the window a little more, but at a tenth of a normal program's weight the
# workers could fall behind the fleet on a desk busy with other programs (docs/bench.md).
WINDOW_WORKER_NICE: Final = 5
# A worker that ran this long before it died is started again after the shortest backoff: the backoff
# grows for a worker that keeps dying, not for one that died once a day.
WORKER_STEADY_S: Final = 300.0
# How long exec waits past its own deadline for the worker's answer before giving up on it.
EXEC_GRACE_S: Final = 10.0


def telemetry_workers(nodes: int, cpus: int | None = None, window: bool = False) -> int:
    """Worker processes for a fleet of ``nodes`` (0: stream in the console's own process); ``window``:
    the window runs in the console's process."""
    cores = cpus or os.cpu_count() or 1
    if window:
        if nodes < WINDOW_WORKERS_FROM_NODES:
            return 0
        return max(1, min(cores, math.ceil(nodes / WINDOW_NODES_PER_WORKER)))
    if nodes < WORKERS_FROM_NODES or cores < WORKERS_FROM_CPUS:
        return 0
    return max(1, min(cores - 1, math.ceil(nodes / NODES_PER_WORKER)))


def follow_argv(source: TelemetrySource, since: float | None) -> list[str] | None:
    """The kernel log is followed where the vendor's module says so (NVIDIA, and nodes still auto-detecting:
    XIDs are NVIDIA's), from the last line seen or KERNEL_LOOKBACK_S back the first time."""
    if not source.follows_kernel_log:
        return None
    return kernel_follow_argv(since if since is not None else time.time() - KERNEL_LOOKBACK_S)


def stream_hub(
    specs: Sequence[NodeSpec],
    sources: dict[str, TelemetrySource],
    listener: HubListener,
    ssh: SshSettings | None,
    settings: HubSettings | None,
    follow_kernel: bool,
) -> StreamHub:
    """The stream hub over ``specs`` as the console's process and each worker build it: every node's
    command and name from its telemetry source, its kernel log followed where the source says."""
    return StreamHub(
        specs,
        argv_for=lambda spec: sources[spec.name].stream_argv,
        name_for=lambda spec: sources[spec.name].name,
        listener=listener,
        ssh=ssh,
        settings=settings,
        follow_argv_for=(lambda spec, since: follow_argv(sources[spec.name], since)) if follow_kernel else None,
    )


class WorkerListener(Protocol):
    """What the console's process hears from the workers (called on their reader threads)."""

    def on_state(self, node: str, state: NodeState, error: str | None, fingerprint: str | None) -> None: ...

    def on_parsed(self, node: str, parsed: Sequence[ParsedLine], received_at: float) -> None: ...

    def on_kernel_events(self, node: str, events: Sequence[XidEvent], seen_at: float) -> None: ...

    def on_kernel_state(self, node: str, state: str) -> None: ...


# --- the worker process -----------------------------------------------------------------------------------


class _Outbox:
    """Events for the console, sent as one list after each parsing batch (and at once for exec answers)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.items: list[tuple[Any, ...]] = []
        self.lock = threading.Lock()
        self.send_lock = threading.Lock()

    def put(self, item: tuple[Any, ...]) -> None:
        with self.lock:
            self.items.append(item)

    def flush(self) -> None:
        with self.lock:
            items, self.items = self.items, []
        if items:
            self.send(items)

    def send(self, items: list[tuple[Any, ...]]) -> None:
        # The console gone: the command loop sees it and ends the worker.
        with self.send_lock, contextlib.suppress(OSError, ValueError):
            self.conn.send(items)


class _WorkerSide:
    """The worker process's pipeline sink and hub listener: everything becomes an outbox event."""

    def __init__(self, outbox: _Outbox) -> None:
        self.outbox = outbox
        self.pipeline: TelemetryPipeline | None = None
        self.encoder = SampleEncoder()  # the pipeline's worker thread only

    # PipelineSink
    def ingest(self, name: str, parsed: Sequence[ParsedLine], received_at: float) -> None:
        self.outbox.put(("lines", name, self.encoder.encode(name, parsed), received_at))

    def add_kernel_events(self, name: str, events: Sequence[XidEvent], seen_at: float) -> None:
        self.outbox.put(("kernel", name, list(events), seen_at))

    def expire(self) -> None:
        pass  # parse errors are held and expired by the console's fleet model

    def evaluate_alerts(self, engine: AlertEngine) -> list[Alert]:
        return []  # the alert rules run in the console's process

    # HubListener
    def on_state(self, node: str, state: NodeState, error: str | None, fingerprint: str | None) -> None:
        self.outbox.put(("state", node, state, error, fingerprint))

    def on_lines(self, node: str, lines: Sequence[str], received_at: float) -> None:
        assert self.pipeline is not None
        self.pipeline.submit(node, lines, received_at)

    def on_kernel_lines(self, node: str, lines: Sequence[str], received_at: float) -> None:
        assert self.pipeline is not None
        self.pipeline.submit_kernel(node, lines, received_at)

    def on_kernel_state(self, node: str, state: str) -> None:
        self.outbox.put(("kernel_state", node, state))


def _looked(token: int, node: str, result: ExecResult, started: float) -> tuple[Any, ...]:
    """The answer to ``look``: the health report parsed here, or why it could not be."""
    try:
        return ("exec", token, True, parse_detail_output(result.stdout.decode("utf-8", "replace"), started))
    except Exception as exc:  # a parser bug: the node's look fails in words, the worker goes on
        log.exception("reading %s's health details failed", node)
        why = f"{node}: its health details could not be read: {type(exc).__name__}: {exc}"
        return ("exec", token, False, (NodeState.PARSE_ERROR, why, None))


def worker_main(
    conn: Connection, specs: list[NodeSpec], ssh: SshSettings, settings: HubSettings, follow_kernel: bool
) -> None:
    """A worker process: streams and parses its nodes until the console says stop or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the console's to handle; it stops us
    raise_fd_limit()  # five descriptors a node: its socket, and a pipe pair for each of its two channels
    outbox = _Outbox(conn)
    side = _WorkerSide(outbox)
    sources = sources_for(specs)
    pipeline = TelemetryPipeline(side, name="worker-parser", after_batch=outbox.flush)
    side.pipeline = pipeline
    for name, source in sources.items():
        pipeline.set_parser(name, source.make_parser())
    hub = stream_hub(specs, sources, side, ssh, settings, follow_kernel)
    cancels: dict[int, threading.Event] = {}
    pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="worker-exec")

    def run_exec(token: int, node: str, argv: list[str], timeout_s: float, look_started: float | None) -> None:
        try:
            result = hub.exec(node, argv, timeout_s, cancel=cancels[token])
            answer: tuple[Any, ...] = ("exec", token, True, result)
            if look_started is not None:
                answer = _looked(token, node, result, look_started)
        except ConnectError as exc:
            answer = ("exec", token, False, (exc.state, exc.message, exc.fingerprint))
        except Exception as exc:  # noqa: BLE001 - any failure is the command's answer, in words
            answer = ("exec", token, False, (NodeState.UNREACHABLE, f"{node}: {type(exc).__name__}: {exc}", None))
        cancels.pop(token, None)
        outbox.send([answer])

    pipeline.start()
    hub.start()
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break  # the console went away
            kind = message[0]
            if kind == "stop":
                break
            if kind in ("exec", "look"):
                _, token, node, argv, timeout_s, look_started = message
                cancels[token] = threading.Event()
                pool.submit(run_exec, token, node, argv, timeout_s, look_started if kind == "look" else None)
            elif kind == "cancel":
                event = cancels.get(message[1])
                if event is not None:
                    event.set()
            elif kind == "reconnect":
                hub.reconnect(message[1])
    finally:
        for event in list(cancels.values()):
            event.set()
        hub.stop()
        pipeline.stop()
        outbox.flush()
        pool.shutdown(wait=False, cancel_futures=True)
        conn.close()


# --- the console's side -------------------------------------------------------------------------------------


@dataclass
class _Worker:
    number: int
    specs: list[NodeSpec]
    process: subprocess.Popen[bytes] | None = None
    conn: Connection | None = None
    reader: threading.Thread | None = None
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    decoder: SampleDecoder = field(default_factory=SampleDecoder)  # its reader thread only
    started_at: float = 0.0  # time.monotonic() of its last start


class WorkerHub:
    """The stream hub's part for the console's process when the fleet streams through worker processes:
    ``start``, ``stop``, ``reconnect`` and ``exec`` as the hub's, and ``look`` for the slow path; the nodes
    split evenly over ``workers``."""

    def __init__(
        self,
        specs: Sequence[NodeSpec],
        listener: WorkerListener,
        workers: int,
        ssh: SshSettings | None = None,
        settings: HubSettings | None = None,
        follow_kernel: bool = True,
        nice: int = 0,
    ) -> None:
        """``nice``: how much lower than the console's the workers' CPU priority is (behind a window: where
        the console shares its cores with them, the window is served first)."""
        self.listener = listener
        self.nice = nice
        # The settings travel to each worker; paramiko's parsed ssh_config is read again there.
        self.ssh = replace(ssh or SshSettings(), _config=None)
        self.settings = settings or HubSettings()
        self.follow_kernel = follow_kernel
        count = max(1, min(workers, len(specs) or 1))
        self._workers = [_Worker(i + 1, list(specs[i::count])) for i in range(count)]
        self._worker_of = {spec.name: worker for worker in self._workers for spec in worker.specs}
        self._tokens = itertools.count(1)
        self._answers: dict[int, tuple[_Worker, Future[Any]]] = {}
        self._lock = threading.Lock()
        self._running = False
        self._restarts: dict[int, Backoff] = {w.number: Backoff(base_s=2.0, cap_s=60.0) for w in self._workers}

    @property
    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process is not None]

    def start(self) -> None:
        self._running = True
        for worker in self._workers:
            self._spawn(worker)

    def _spawn(self, worker: _Worker) -> None:
        """A fresh interpreter (not a fork: no Qt, no threads inherited) given its end of a socket pair as a
        descriptor; the first message says what it streams."""
        ours, theirs = socket.socketpair()
        with theirs:
            process = subprocess.Popen(
                [sys.executable, "-m", "console.services.telemetry_workers", str(theirs.fileno()), str(worker.number)],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        conn = Connection(ours.detach())
        # Its logging as the console's own (the command line's -v; paramiko quiet without it).
        levels = (logging.getLogger().getEffectiveLevel(), logging.getLogger("paramiko").getEffectiveLevel())
        conn.send((worker.specs, self.ssh, self.settings, self.follow_kernel, levels, self.nice))
        worker.process, worker.conn = process, conn
        worker.started_at = time.monotonic()
        worker.decoder.reset()  # a new worker sends every accelerator's fields first
        worker.reader = threading.Thread(
            target=self._read, args=(worker, conn), name=f"telemetry-worker-{worker.number}", daemon=True
        )
        worker.reader.start()

    def stop(self) -> None:
        """Asks every worker to stop, waits a few seconds, then ends those still there."""
        self._running = False
        for worker in self._workers:
            self._send(worker, ("stop",))
        deadline = time.monotonic() + 10
        for worker in self._workers:
            if worker.process is not None:
                try:
                    worker.process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    worker.process.kill()
                    worker.process.wait(timeout=5)
        for worker in self._workers:
            if worker.reader is not None:
                worker.reader.join(timeout=5)
            if worker.conn is not None:
                worker.conn.close()
        self._fail_answers(None, "the console is stopping")

    def reconnect(self, node: str) -> None:
        worker = self._worker_of.get(node)
        if worker is not None:
            self._send(worker, ("reconnect", node))

    def exec(
        self, node: str, argv: Sequence[str], timeout_s: float, cancel: threading.Event | None = None
    ) -> ExecResult:
        """A one-off command on the node's existing connection, run by the node's worker; ``timeout_s``
        bounds the whole call there, ``cancel`` ends it early."""
        result: ExecResult = self._ask("exec", node, argv, timeout_s, cancel, None)
        return result

    def look(
        self, node: str, argv: Sequence[str], timeout_s: float, started: float, cancel: threading.Event | None = None
    ) -> HealthReport:
        """The slow path's command, run as ``exec`` is, its answer parsed in the worker (as
        ``parse_detail_output(stdout, started)`` would here)."""
        report: HealthReport = self._ask("look", node, argv, timeout_s, cancel, started)
        return report

    def _ask(
        self,
        kind: str,
        node: str,
        argv: Sequence[str],
        timeout_s: float,
        cancel: threading.Event | None,
        started: float | None,
    ) -> Any:
        worker = self._worker_of.get(node)
        if worker is None:
            raise ConnectError(NodeState.UNREACHABLE, f"{node} is not streamed: no SSH connection to run {argv[0]} on")
        token = next(self._tokens)
        answer: Future[Any] = Future()
        with self._lock:
            self._answers[token] = (worker, answer)
        if not self._send(worker, (kind, token, node, list(argv), timeout_s, started)):
            with self._lock:
                self._answers.pop(token, None)
            raise ConnectError(NodeState.UNREACHABLE, f"{node}: its telemetry worker is not running")
        deadline = time.monotonic() + timeout_s + EXEC_GRACE_S
        cancelled = False
        try:
            while True:
                try:
                    return answer.result(timeout=0.2)
                except FutureTimeout:
                    pass
                if cancel is not None and cancel.is_set() and not cancelled:
                    cancelled = True
                    self._send(worker, ("cancel", token))
                if time.monotonic() >= deadline:
                    raise ConnectError(
                        NodeState.COMMAND_FAILED,
                        f"{node}: no answer from its telemetry worker within {timeout_s + EXEC_GRACE_S:g} s",
                    )
        finally:
            with self._lock:
                self._answers.pop(token, None)

    def _send(self, worker: _Worker, message: tuple[Any, ...]) -> bool:
        conn = worker.conn
        if conn is None:
            return False
        with worker.send_lock:
            try:
                conn.send(message)
            except (OSError, ValueError):
                return False
        return True

    def _read(self, worker: _Worker, conn: Connection) -> None:
        listener = self.listener
        unreadable = 0
        while True:
            try:
                items = conn.recv()
                unreadable = 0
            except (EOFError, OSError):
                break
            except Exception:
                # A message the console cannot unpickle (the next ones are whole): a bug, not a death; the
                # same again and again is one, and the worker is started afresh.
                log.exception("telemetry worker %d sent something unreadable", worker.number)
                unreadable += 1
                if unreadable >= 3:
                    break
                continue
            for item in items:
                try:
                    self._dispatch(listener, worker, item)
                except Exception:
                    log.exception("telemetry worker %d: handling %s failed", worker.number, item[0])
        if self._running and worker.conn is conn:
            self._worker_died(worker)

    def _dispatch(self, listener: WorkerListener, worker: _Worker, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "lines":
            listener.on_parsed(item[1], worker.decoder.decode(item[1], item[2]), item[3])
        elif kind == "state":
            listener.on_state(item[1], item[2], item[3], item[4])
        elif kind == "kernel":
            listener.on_kernel_events(item[1], item[2], item[3])
        elif kind == "kernel_state":
            listener.on_kernel_state(item[1], item[2])
        elif kind == "exec":
            _, token, ok, payload = item
            with self._lock:
                waiting = self._answers.get(token)
            if waiting is None:
                return  # its caller gave up
            answer = waiting[1]
            if answer.done():
                return  # failed already (its worker was reported dead)
            if ok:
                answer.set_result(payload)
            else:
                state, message, fingerprint = payload
                answer.set_exception(ConnectError(state, message, fingerprint))

    def _worker_died(self, worker: _Worker) -> None:
        """Each of its nodes says so, its commands in flight fail, and it is started again after a backoff."""
        process = worker.process
        code = None
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = process.wait(timeout=2)
            if process.poll() is None:  # its pipe broke, or it kept sending what cannot be read
                process.kill()
                code = process.wait(timeout=5)
        backoff = self._restarts[worker.number]
        if time.monotonic() - worker.started_at >= WORKER_STEADY_S:
            backoff.reset()  # it had been running well: this death is news, not the same one again
        delay = backoff.next_delay()
        why = (
            f"the telemetry worker process for this node (fleet-telemetry-{worker.number}) ended "
            f"(exit status {code}); starting it again in {delay:.0f} s"
        )
        for spec in worker.specs:
            self.listener.on_state(spec.name, NodeState.UNREACHABLE, why, None)
        self._fail_answers(worker, why)
        if worker.conn is not None:
            worker.conn.close()
        worker.conn = None

        def respawn() -> None:
            if self._running:
                self._spawn(worker)

        timer = threading.Timer(delay, respawn)
        timer.daemon = True
        timer.start()

    def _fail_answers(self, worker: _Worker | None, why: str) -> None:
        """Commands waiting on ``worker`` (None: on any) fail with ``why``."""
        with self._lock:
            answers = [answer for owner, answer in self._answers.values() if worker is None or owner is worker]
        for answer in answers:
            if not answer.done():
                answer.set_exception(ConnectError(NodeState.UNREACHABLE, why))


if __name__ == "__main__":
    # python -m console.services.telemetry_workers FD NUMBER: the console's end is FD; the first message
    # says what to stream.
    _conn = Connection(int(sys.argv[1]))
    try:
        _specs, _ssh, _settings, _follow, (_level, _paramiko_level), _nice = _conn.recv()
    except (EOFError, OSError):
        sys.exit(0)
    if _nice:
        os.nice(_nice)
    logging.basicConfig(
        level=_level, format=f"%(asctime)s %(levelname)s fleet-telemetry-{sys.argv[2]} %(name)s: %(message)s"
    )
    logging.getLogger("paramiko").setLevel(_paramiko_level)
    worker_main(_conn, _specs, _ssh, _settings, _follow)
