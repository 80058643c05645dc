"""Wiring: inventory → fleet model + telemetry worker + stream hub. Used by the window and by ``poll``.

Kept free of Qt so the headless commands never load it; the window takes a :class:`LiveFleet` and only
ever reads its :class:`FleetModel`.
"""

from __future__ import annotations

import getpass
import logging
import math
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.core.action_runner import ActionRunner, RunnerSettings
from console.core.actions import ActionPlan, ActionRequest, NodeDetails, plan_action, read_node_details
from console.core.alerts import AlertEngine, AlertRules
from console.core.details import (
    DETAIL_INTERVAL_S,
    KERNEL_LOOKBACK_S,
    detail_argv,
    kernel_follow_argv,
    parse_detail_output,
)
from console.core.fleet import FleetModel
from console.core.inventory import Inventory, NodeSpec
from console.core.parsers.slurm import Partition
from console.core.pipeline import TelemetryPipeline
from console.core.samples import NodeState, Vendor
from console.core.store import SessionLock, Store
from console.core.telemetry import AUTO, TelemetrySource, describe_exit, source_for
from console.engines.registry import EngineExecutor, Engines
from console.transport.hub import HubSettings, StreamHub, raise_fd_limit
from console.transport.ssh import (
    ConnectError,
    JumpPool,
    SshSettings,
    close_quietly,
    connect,
    exec_once,
    fingerprint,
    resolve,
)


@dataclass(frozen=True, slots=True)
class Plan:
    streamed: list[NodeSpec]
    sources: dict[str, TelemetrySource]


def plan(inventory: Inventory) -> Plan:
    return Plan(list(inventory.nodes), {spec.name: source_for(spec.vendor) for spec in inventory.nodes})


class LiveFleet:
    """Everything that keeps the fleet model current. ``start()`` returns at once; nothing blocks."""

    def __init__(
        self,
        inventory: Inventory,
        ssh: SshSettings | None = None,
        hub_settings: HubSettings | None = None,
        clock: Callable[[], float] = time.time,
        alert_rules: AlertRules | None = None,
        detail_interval_s: float | None = None,
        details: bool = True,
        follow_kernel: bool = True,
    ) -> None:
        self.inventory = inventory
        self.fleet = FleetModel(inventory, clock=clock)
        self.alerts = AlertEngine(alert_rules, clock=clock)
        self.pipeline = TelemetryPipeline(self.fleet, alerts=self.alerts)
        self.plan = plan(inventory)
        for name, source in self.plan.sources.items():
            self.pipeline.set_parser(name, source.make_parser())
            self.fleet.set_source(name, source.name, source.vendor)
        self.hub = StreamHub(
            self.plan.streamed,
            argv_for=lambda spec: self.plan.sources[spec.name].stream_argv,
            name_for=lambda spec: self.plan.sources[spec.name].name,
            listener=self,
            ssh=ssh,
            settings=hub_settings,
            follow_argv_for=self._follow_argv if follow_kernel else None,
        )

        interval = detail_interval_s or detail_interval_for(len(inventory.nodes))
        self.details = DetailPoller(self, interval) if details else None

    def start(self) -> None:
        raise_fd_limit()
        self.pipeline.start()
        self.hub.start()
        if self.details is not None:
            self.details.start()

    def stop(self) -> None:
        """Returns within a few seconds whatever the nodes do: slow-path looks are cancelled, connections
        closed, connects still under way are not waited for."""
        if self.details is not None:
            self.details.stop()
        self.hub.stop()
        self.pipeline.stop()

    def reconnect(self, node: str) -> None:
        """Retry a node now instead of at its next backoff step (returns at once)."""
        if node in self.plan.sources:
            self.hub.reconnect(node)

    # HubListener: called from transport threads.
    def on_state(self, node: str, state: NodeState, error: str | None, fingerprint: str | None) -> None:
        if error and error.startswith(AUTO.name):
            # The hub knows the script as "auto-detect"; once the node said which tool it runs, name that.
            detected = self.fleet.view(node).telemetry_source
            if detected and detected != AUTO.name:
                error = detected + error[len(AUTO.name) :]
        self.fleet.set_state(node, state, error, fingerprint)

    def on_lines(self, node: str, lines: Sequence[str], received_at: float) -> None:
        self.pipeline.submit(node, lines, received_at)

    def on_kernel_lines(self, node: str, lines: Sequence[str], received_at: float) -> None:
        self.pipeline.submit_kernel(node, lines, received_at)

    def on_kernel_state(self, node: str, state: str) -> None:
        self.fleet.set_kernel_follow(node, state)

    def _follow_argv(self, spec: NodeSpec, since: float | None) -> list[str] | None:
        """The kernel log is followed on NVIDIA nodes (and those still auto-detecting): XIDs are NVIDIA's."""
        if self.plan.sources[spec.name].vendor not in (Vendor.NVIDIA, Vendor.AUTO):
            return None
        return kernel_follow_argv(since if since is not None else time.time() - KERNEL_LOOKBACK_S)


def poll_once(
    inventory: Inventory,
    ssh: SshSettings | None = None,
    timeout_s: float = 20.0,
    workers: int = 32,
    clock: Callable[[], float] = time.time,
    alert_rules: AlertRules | None = None,
) -> FleetModel:
    """One reading from every node, in parallel; each node ends up/failed with its reason."""
    ssh = ssh or SshSettings()
    fleet = FleetModel(inventory, clock=clock)
    chosen = plan(inventory)
    jumps = JumpPool(ssh)
    stopping = threading.Event()
    open_clients: set[Any] = set()
    clients_lock = threading.Lock()

    def one(spec: NodeSpec) -> None:
        source = chosen.sources[spec.name]
        fleet.set_source(spec.name, source.name, source.vendor)
        if stopping.is_set():
            return
        try:
            client = connect(resolve(spec, ssh), ssh, jump_pool=jumps)
        except ConnectError as exc:
            fleet.set_state(spec.name, exc.state, exc.message, exc.fingerprint)
            return
        with clients_lock:
            if stopping.is_set():
                close_quietly(client)
                return
            open_clients.add(client)
        try:
            read(spec, source, client)
        finally:
            with clients_lock:
                open_clients.discard(client)
            close_quietly(client)

    def read(spec: NodeSpec, source: TelemetrySource, client: Any) -> None:
        try:
            transport = client.get_transport()
            key_print = fingerprint(transport.get_remote_server_key()) if transport else None
            result = exec_once(client, source.once_argv, timeout_s, cancel=stopping)
        except ConnectError as exc:
            fleet.set_state(spec.name, exc.state, exc.message)
            return
        stdout = result.stdout.decode("utf-8", "replace")
        if result.exit_status != 0:
            fleet.set_state(
                spec.name,
                NodeState.COMMAND_FAILED,
                describe_exit(source.name, result.exit_status, result.stderr.decode("utf-8", "replace") or stdout),
                key_print,
            )
            return
        parser = source.make_parser()
        parsed = parser.parse_lines(stdout.splitlines()) + parser.finish()
        if not any(p.sample is not None or p.error is not None for p in parsed):
            fleet.set_state(spec.name, NodeState.COMMAND_FAILED, f"{source.name} printed nothing", key_print)
            return
        fleet.set_state(spec.name, NodeState.UP, None, key_print)
        fleet.ingest(spec.name, parsed, clock())
        # The slow path on the same connection: ECC, remapped rows, XIDs in the last hour, node health.
        detected = next((p.detected[1] for p in parsed if p.detected is not None), source.vendor)
        started = clock()
        try:
            details = exec_once(client, detail_argv(detected, started - 3600), timeout_s, cancel=stopping)
        except ConnectError:
            return  # the reading above stands
        fleet.apply_report(spec.name, parse_detail_output(details.stdout.decode("utf-8", "replace"), started))

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poll")
    try:
        list(pool.map(one, inventory.nodes))
    except BaseException:
        # Interrupted (Ctrl+C, SIGTERM): drop what has not started, end what waits on a node, do not wait
        # for connects still under way (they close their connection when they return).
        stopping.set()
        pool.shutdown(wait=False, cancel_futures=True)
        with clients_lock:
            for client in open_clients:
                close_quietly(client)
        raise
    finally:
        pool.shutdown(wait=False)
        jumps.close()
    # One look: rules that need a condition to last (temperature for 30 s …) cannot fire in a single reading.
    fleet.evaluate_alerts(AlertEngine(alert_rules, clock=clock))
    return fleet


class FleetHealth:
    """The action runner's view of a node's connection and telemetry (NodeHealth port)."""

    def __init__(self, fleet: FleetModel) -> None:
        self.fleet = fleet

    def health(self, node: str) -> tuple[NodeState, float | None]:
        view = self.fleet.view(node)
        return view.state, view.last_sample_at


class ActionService:
    """Actions for one inventory: the audit store, the engines and the runner, wired to a live fleet."""

    def __init__(
        self,
        inventory: Inventory,
        data_dir: Path,
        ssh: SshSettings,
        live: LiveFleet | None = None,
        settings: RunnerSettings | None = None,
        operator: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.inventory = inventory
        self.operator = operator or default_operator()
        self.store = Store(data_dir / "console.sqlite3")
        session = uuid.uuid4().hex
        self.session_lock = SessionLock(data_dir / "sessions", session)
        self.interrupted = self.store.mark_interrupted(self.session_lock.alive)
        self._stop = threading.Event()
        self._scheduler_thread: threading.Thread | None = None
        if live is not None and inventory.scheduler is not None:
            # Slurm's view of every node, for the rules that need it (allocated but idle).
            self._scheduler_thread = threading.Thread(
                target=self._watch_scheduler, args=(live.fleet,), name="scheduler-poller", daemon=True
            )
        self.engines = Engines(inventory, ssh, shell=live.hub if live else None, environ=environ)
        self.runner = ActionRunner(
            self.store,
            EngineExecutor(self.engines),
            self.engines,
            inventory,
            health=FleetHealth(live.fleet) if live else None,
            settings=settings,
            session=session,
        )

    def start(self) -> None:
        if self._scheduler_thread is not None and not self._scheduler_thread.is_alive():
            self._scheduler_thread.start()

    def _watch_scheduler(self, fleet: FleetModel) -> None:
        while True:
            try:
                fleet.set_scheduler_states(self.scheduler_states())
            except Exception:
                log.debug("reading Slurm's node states failed", exc_info=True)
            if self._stop.wait(SCHEDULER_POLL_S):
                return

    def plan(self, request: ActionRequest) -> ActionPlan:
        """Reads the scheduler and BMCs for the preview: call it from a worker, not a GUI thread."""
        return plan_action(request, self.inventory, self.engines)

    def partitions(self) -> dict[str, Partition]:
        """Slurm's partitions (network: call from a worker); empty without a scheduler."""
        scheduler = self.engines.scheduler()
        return scheduler.partitions() if scheduler is not None else {}

    def scheduler_states(self) -> dict[str, str]:
        """Slurm's state word for every inventory node (network: call from a worker)."""
        scheduler = self.engines.scheduler()
        if scheduler is None:
            return {}
        names = {spec.scheduler_name: spec.name for spec in self.inventory.nodes}
        found = scheduler.nodes(list(names))
        return {names[key]: node.raw_state for key, node in found.items() if key in names}

    def node_details(self, node: str) -> NodeDetails:
        """The scheduler's and the BMC's view of one node (network: call from a worker)."""
        return read_node_details(self.inventory.node(node), self.engines)

    def close(self) -> None:
        self._stop.set()
        if self._scheduler_thread is not None and self._scheduler_thread.is_alive():
            self._scheduler_thread.join(timeout=30)
        self.runner.shutdown()
        self.engines.close()
        self.session_lock.release()
        self.store.close()


SCHEDULER_POLL_S = 30.0
log = logging.getLogger(__name__)


def default_operator() -> str:
    """The name that goes into Slurm's Reason and the audit log: $FLEET_CONSOLE_OPERATOR, else the OS user."""
    return str(os.environ.get("FLEET_CONSOLE_OPERATOR") or getpass.getuser())


def detail_interval_for(nodes: int) -> float:
    """30 s, stretched in big fleets so that at most 20 nodes are looked at per second (50 s at 1,000):
    each look is a channel, a fork on the node and ~100 KB of XML on a 2-core console."""
    return max(DETAIL_INTERVAL_S, nodes / 20.0)


class DetailPoller:
    """The slow path for every streaming node: one command per node every ``interval_s`` on its existing
    connection (NVIDIA details, kernel log, node health), parsed off the reader and GUI threads.

    Each look has a deadline for the whole call (``timeout_s``). A node whose last look hit it is suspect: at
    most half the workers look at suspect nodes at a time, so nodes whose tools hang cannot hold every
    worker and leave healthy nodes unchecked."""

    def __init__(
        self, live: LiveFleet, interval_s: float = DETAIL_INTERVAL_S, workers: int = 4, timeout_s: float = 30.0
    ) -> None:
        self.live = live
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
        self._phase = {spec.name: rng.random() * interval_s for spec in live.inventory.nodes}
        first = min(interval_s, 10.0) / interval_s
        self._due = {name: now + phase * first for name, phase in self._phase.items()}
        self._busy: set[str] = set()
        self._since: dict[str, float] = {}
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
                view = self.live.fleet.view(name)
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
                self._pool.submit(self._look, name, view.vendor)

    def _next_slot(self, name: str, now: float) -> float:
        """The node's next time on its own phase, at least half an interval from now."""
        start = self._start + self._phase[name]
        slots = math.floor((now - start) / self.interval_s) + 1
        due = start + slots * self.interval_s
        return due if due - now >= self.interval_s / 2 else due + self.interval_s

    def _look(self, name: str, vendor: Vendor) -> None:
        try:
            started = time.time()
            since = self._since.get(name, started - 3600)
            try:
                followed = (self.live.fleet.view(name).kernel_follow or "").startswith("following")
                argv = detail_argv(vendor, since, kernel_log=not followed)
                result = self.live.hub.exec(name, argv, self.timeout_s, cancel=self._stop)
            except ConnectError as exc:
                if exc.state == NodeState.COMMAND_FAILED:  # no whole answer within the deadline
                    with self._lock:
                        self._suspect.add(name)
                return  # the node's own state already says why
            with self._lock:
                self._suspect.discard(name)
            report = parse_detail_output(result.stdout.decode("utf-8", "replace"), started)
            self._since[name] = started - 5  # a little overlap; repeats are dropped by the model
            self.live.fleet.apply_report(name, report)
        finally:
            with self._lock:
                self._busy.discard(name)
