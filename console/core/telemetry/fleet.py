"""The live fleet: per-node state, latest samples and history, shared between threads.

Writers are the transport (connection state) and the telemetry worker (samples); readers (the GUI timer,
``poll``) take :class:`NodeView` snapshots of the nodes that changed since their last look. One lock
guards it all; nothing slow ever runs under it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from console.core.alerts.config import AlertRules, Severity, TemperatureLimits, default_rules
from console.core.alerts.rules import Alert, AlertEngine, NodeFacts, XidRecord
from console.core.inventory import Inventory, NodeSpec
from console.core.pacing import no_pace
from console.core.parsers.nvidia_xml import GpuDetail
from console.core.parsers.xid import XidEvent, bus_key
from console.core.telemetry.counters import AcceleratorCounters
from console.core.telemetry.details import HealthReport
from console.core.telemetry.history import AcceleratorHistory, MinuteStats, Series
from console.core.telemetry.latency import LatencyRecorder
from console.core.telemetry.samples import (
    LIVE_STATES,
    AcceleratorSample,
    NodeState,
    NotAvailable,
    ParsedLine,
    Vendor,
)

# A node whose tool printed an unreadable line shows "parse error" for this long after the last one.
PARSE_ERROR_HOLD_S: Final = 10.0
# A node reporting more accelerators than any chassis holds is broken or hostile: each one would cost a
# 10-minute history. Samples past this many distinct indices are refused and the node says so.
MAX_ACCELERATORS_PER_NODE: Final = 64
# An accelerator that stops appearing in its node's stream is shown as stale after this long.
ACCELERATOR_STALE_S: Final = 3.0


@dataclass(frozen=True, slots=True)
class AcceleratorView:
    sample: AcceleratorSample
    updated_at: float
    stale: bool


XID_KEEP_S: Final = 24 * 3600.0
XID_RECENT_S: Final = 600.0
REBOOT_DETECT_S: Final = 120.0


@dataclass(frozen=True, slots=True)
class NodeView:
    """An immutable picture of one node, safe to hand to another thread."""

    name: str
    spec: NodeSpec
    state: NodeState
    error: str | None
    state_since: float
    vendor: Vendor
    telemetry_source: str | None
    accelerators: tuple[AcceleratorView, ...]
    last_sample_at: float | None
    host_key_fingerprint: str | None
    lines_parsed: int
    lines_rejected: int
    version: int
    alerts: tuple[Alert, ...] = ()
    report: HealthReport | None = None
    gpu_details: dict[int, GpuDetail] = field(default_factory=dict)
    xids: tuple[XidRecord, ...] = ()
    rebooted_at: float | None = None
    # The followed kernel log: "following (journalctl)", "no permission: …", "unavailable: …"; None where
    # it is not followed (then the slow path's report says how the kernel log was read).
    kernel_follow: str | None = None
    # Slurm's state word for the node (``ALLOCATED``, ``IDLE+DRAIN`` …), from the scheduler watch.
    scheduler_state: str | None = None
    # The sticky counters per accelerator as last acknowledged (see console.core.telemetry.counters).
    acknowledged: dict[int, AcceleratorCounters] = field(default_factory=dict)
    # The temperature limits of the node's vendor in the alert rules in force (None: the shipped rules').
    temperature_limits: TemperatureLimits | None = None
    # The node's aggregates (mean and top utilisation, hottest, total power), worked out at the first ask
    # and kept: the window's table asks at each snapshot, repaint and sort, and the snapshot's thread works
    # them out before the GUI thread sees the view (FleetModel.snapshot).
    _aggregates: tuple[float | None, float | None, float | None, float | None] | None = field(
        init=False, default=None, compare=False, repr=False
    )

    def aggregates(self) -> tuple[float | None, float | None, float | None, float | None]:
        """(mean utilisation, top utilisation, hottest, total power): None where no accelerator reads it."""
        if self._aggregates is not None:
            return self._aggregates
        utilizations: list[float] = []
        temperatures: list[float] = []
        powers: list[float] = []
        for view in self.accelerators:
            sample = view.sample
            if not isinstance(sample.utilization_pct, NotAvailable):
                utilizations.append(sample.utilization_pct)
            if not isinstance(sample.temperature_c, NotAvailable):
                temperatures.append(sample.temperature_c)
            if not isinstance(sample.power_w, NotAvailable):
                powers.append(sample.power_w)
        worked_out = (
            sum(utilizations) / len(utilizations) if utilizations else None,
            max(utilizations) if utilizations else None,
            max(temperatures) if temperatures else None,
            sum(powers) if powers else None,
        )
        object.__setattr__(self, "_aggregates", worked_out)
        return worked_out

    @property
    def mean_utilization(self) -> float | None:
        return self.aggregates()[0]

    @property
    def max_utilization(self) -> float | None:
        return self.aggregates()[1]

    @property
    def max_temperature(self) -> float | None:
        return self.aggregates()[2]

    @property
    def total_power(self) -> float | None:
        return self.aggregates()[3]

    @property
    def kernel_log(self) -> str | None:
        """How the kernel log is read now, in words."""
        if self.kernel_follow is not None:
            return self.kernel_follow
        return self.report.kernel_log if self.report is not None else None

    def recent_xids(self, index: int, now: float, window_s: float = XID_RECENT_S) -> list[int]:
        return [r.event.code for r in self.xids if r.accelerator == index and now - r.seen_at <= window_s]

    @property
    def samples(self) -> tuple[AcceleratorSample, ...]:
        return tuple(a.sample for a in self.accelerators)

    @property
    def worst_alert(self) -> Severity | None:
        return max((a.severity for a in self.alerts), default=None)

    @property
    def accelerator_count(self) -> int:
        return len(self.accelerators)

    @property
    def hot_c(self) -> float:
        """Where this node's accelerators count as hot: its vendor's warning limit in the alert rules in
        force (NVIDIA 85 °C, Ascend 80 °C, AMD 95 °C as shipped), so a hot row and a temperature alert
        agree."""
        return (self.temperature_limits or default_rules().limits(self.vendor)).warning_c

    def accelerator_hot(self, sample: AcceleratorSample) -> bool:
        temperature = sample.temperature_c
        return not isinstance(temperature, NotAvailable) and temperature >= self.hot_c

    @property
    def hot(self) -> bool:
        hottest = self.max_temperature
        return hottest is not None and hottest >= self.hot_c and self.state in LIVE_STATES


@dataclass(frozen=True, slots=True)
class FleetSnapshot:
    version: int
    changed: tuple[NodeView, ...]
    counts: dict[NodeState, int]
    scheduler_problem: str | None = None  # why Slurm's node states could not be read, if they could not


@dataclass(slots=True)
class _Node:
    spec: NodeSpec
    state: NodeState = NodeState.CONNECTING
    error: str | None = None
    state_since: float = 0.0
    host_key_fingerprint: str | None = None
    telemetry_source: str | None = None
    vendor: Vendor = Vendor.AUTO
    latest: dict[int, AcceleratorSample] = field(default_factory=dict)
    updated_at: dict[int, float] = field(default_factory=dict)
    history: dict[int, AcceleratorHistory] = field(default_factory=dict)
    last_sample_at: float | None = None
    parse_error: str | None = None
    parse_error_at: float = 0.0
    lines_parsed: int = 0
    lines_rejected: int = 0
    version: int = 0
    alerts: tuple[Alert, ...] = ()
    report: HealthReport | None = None
    gpu_details: dict[int, GpuDetail] = field(default_factory=dict)
    xids: list[XidRecord] = field(default_factory=list)
    xid_keys: set[tuple[str | None, int, tuple[int, int, int], str]] = field(default_factory=set)
    boot_time: float | None = None
    rebooted_at: float | None = None
    scheduler_state: str | None = None
    kernel_follow: str | None = None
    acknowledged: dict[int, AcceleratorCounters] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NodeMinute:
    """One node over one minute, for the telemetry archive: its state at the end, and per accelerator
    (index) the aggregates of ``AcceleratorHistory.minute``."""

    node: str
    state: NodeState
    accelerators: tuple[tuple[int, MinuteStats], ...]


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """The few words of a node the archive and the incident service follow: cheap to take for all nodes."""

    node: str
    state: NodeState
    scheduler_state: str | None
    alerts: tuple[Alert, ...]
    xids: tuple[XidRecord, ...] = ()


class FleetModel:
    def __init__(
        self,
        inventory: Inventory,
        clock: Callable[[], float] = time.time,
        max_accelerators: int = MAX_ACCELERATORS_PER_NODE,
    ) -> None:
        self._clock = clock
        self.max_accelerators = max_accelerators
        self._lock = threading.Lock()
        self.scheduler_problem: str | None = None
        # Every node starts at version 1, so a reader's first snapshot (since 0) has them all.
        self._version = 1
        now = clock()
        self._nodes: dict[str, _Node] = {
            spec.name: _Node(spec=spec, state_since=now, vendor=spec.vendor, version=1) for spec in inventory.nodes
        }
        self.latency: LatencyRecorder | None = None
        # The rules the alerts are evaluated with: their temperature limits also make a row "hot".
        self.rules: AlertRules = default_rules()

    # --- writers ------------------------------------------------------------------------------------

    def set_state(
        self,
        name: str,
        state: NodeState,
        error: str | None = None,
        host_key_fingerprint: str | None = None,
    ) -> None:
        with self._lock:
            node = self._nodes[name]
            if node.state == state and node.error == error:
                return
            if node.state != state:
                node.state_since = self._clock()
            node.state = state
            node.error = error
            if state not in LIVE_STATES:
                node.parse_error = None  # a new connection starts with a clean slate
            if host_key_fingerprint is not None or state not in LIVE_STATES:
                node.host_key_fingerprint = host_key_fingerprint
            self._bump(node)

    def set_source(self, name: str, source: str, vendor: Vendor) -> None:
        with self._lock:
            node = self._nodes[name]
            node.telemetry_source = source
            node.vendor = vendor
            self._bump(node)

    def ingest(self, name: str, parsed: Sequence[ParsedLine], received_at: float) -> None:
        """Apply one batch of parsed lines from a node's stream."""
        with self._lock:
            node = self._nodes[name]
            now = self._clock()
            for line in parsed:
                if line.detected is not None:
                    node.telemetry_source, node.vendor = line.detected
                    continue
                if line.sample is None:
                    node.lines_rejected += 1
                    node.parse_error = line.error
                    node.parse_error_at = now
                    continue
                sample = line.sample
                index = sample.index
                if sample.count is not None and not 0 <= index < sample.count:
                    # The tool contradicts itself (index 4,999 of a count of 1): a broken or hostile tool. Kept,
                    # the line would replace the node's real GPUs one after another (see the count rule below).
                    node.lines_rejected += 1
                    node.parse_error = (
                        f"the node's tool says it has {sample.count} accelerator(s) but reports index {index}: "
                        "that line is not kept; check the node's tool"
                    )
                    node.parse_error_at = now
                    continue
                if index not in node.latest and len(node.latest) >= self.max_accelerators:
                    node.lines_rejected += 1
                    node.parse_error = (
                        f"the node reports more than {self.max_accelerators} accelerators (index {index}): readings "
                        "past that are not kept; check the node's tool"
                    )
                    node.parse_error_at = now
                    continue
                node.lines_parsed += 1
                if line.field_errors:
                    node.parse_error = f"{'; '.join(line.field_errors)} (the other fields are read)"
                    node.parse_error_at = now
                node.latest[index] = sample
                node.updated_at[index] = now
                history = node.history.get(index)
                if history is None:
                    history = node.history[index] = AcceleratorHistory()
                history.append(now, sample)
                node.last_sample_at = now
                if sample.count is not None and len(node.latest) > sample.count:
                    # A GPU left the bus or the node was re-imaged with fewer: drop what is gone.
                    for gone in [i for i in node.latest if i >= sample.count]:
                        del node.latest[gone], node.updated_at[gone]
                        node.history.pop(gone, None)
                if self.latency is not None:
                    self.latency.record(sample.node_time, received_at, now)
            self._bump(node)

    def expire(self) -> None:
        """Clear parse errors whose hold time is over; called a few times a second by the worker."""
        with self._lock:
            now = self._clock()
            for node in self._nodes.values():
                if node.parse_error is not None and now - node.parse_error_at >= PARSE_ERROR_HOLD_S:
                    node.parse_error = None
                    self._bump(node)

    def apply_report(self, name: str, report: HealthReport) -> None:
        """A slow-path look (health details, kernel log, node health) from the detail poller."""
        with self._lock:
            node = self._nodes[name]
            by_bus = {bus_key(str(s.pci_bus_id)): i for i, s in node.latest.items() if isinstance(s.pci_bus_id, str)}
            details: dict[int, GpuDetail] = {}
            for detail in report.gpus:
                bus = bus_key(detail.pci_bus_id) if isinstance(detail.pci_bus_id, str) else None
                index = by_bus.get(bus, detail.index) if bus is not None else detail.index
                details[index] = detail
            node.gpu_details = details
            node.report = report
            self._add_xids(node, report.xids, report.taken_at, by_bus)
            boot = report.node.boot_time(report.taken_at)
            if boot is not None:
                if node.boot_time is not None and abs(boot - node.boot_time) > REBOOT_DETECT_S:
                    node.rebooted_at = report.taken_at
                node.boot_time = boot
            self._bump(node)

    def add_kernel_events(self, name: str, events: Sequence[XidEvent], seen_at: float) -> None:
        """XID events from the followed kernel log, as the node's kernel writes them."""
        with self._lock:
            node = self._nodes[name]
            by_bus = {bus_key(str(s.pci_bus_id)): i for i, s in node.latest.items() if isinstance(s.pci_bus_id, str)}
            if self._add_xids(node, events, seen_at, by_bus):
                self._bump(node)

    def set_kernel_follow(self, name: str, state: str | None) -> None:
        """How the node's kernel log is followed, in words (None: not followed)."""
        with self._lock:
            node = self._nodes[name]
            if node.kernel_follow != state:
                node.kernel_follow = state
                self._bump(node)

    @staticmethod
    def _add_xids(
        node: _Node, events: Sequence[XidEvent], seen_at: float, by_bus: dict[tuple[int, int, int] | None, int]
    ) -> bool:
        """New events only (the slow path and a re-followed log repeat what was seen); True if any."""
        added = False
        for event in events:
            key = (event.when, event.code, event.bus, event.detail)
            if key in node.xid_keys:
                continue
            node.xid_keys.add(key)
            node.xids.append(XidRecord(by_bus.get(event.bus), event, seen_at))
            added = True
        cutoff = seen_at - XID_KEEP_S
        node.xids = [r for r in node.xids if r.seen_at >= cutoff][-200:]
        if len(node.xid_keys) > 2000:
            node.xid_keys = {(r.event.when, r.event.code, r.event.bus, r.event.detail) for r in node.xids}
        return added

    def set_scheduler_problem(self, problem: str | None) -> None:
        """Why Slurm's node states could not be read (None: they were)."""
        with self._lock:
            self.scheduler_problem = problem

    def set_scheduler_states(self, states: dict[str, str]) -> None:
        """Slurm's state word per node (``ALLOCATED``, ``IDLE+DRAIN`` …), for the rules and the window."""
        with self._lock:
            for name, state in states.items():
                node = self._nodes.get(name)
                if node is not None and node.scheduler_state != state:
                    node.scheduler_state = state
                    self._bump(node)

    def evaluate_alerts(self, engine: AlertEngine) -> list[Alert]:
        """Run the alert rules over every node; returns alerts raised since the last call.

        The facts are copied under the lock (references only) and the rules run outside it, so ingestion
        is not held up by a thousand nodes' worth of rule checks."""
        with self._lock:
            facts = [
                NodeFacts(
                    name=name,
                    state=(state := self._effective_state(node)),
                    state_since=node.state_since,
                    error=self._effective_error(node, state),
                    samples=tuple(node.latest[i] for i in sorted(node.latest)),
                    gpu_details=dict(node.gpu_details),
                    xids=tuple(node.xids),
                    rebooted_at=node.rebooted_at,
                    scheduler_state=node.scheduler_state,
                    acknowledged=dict(node.acknowledged),
                )
                for name, node in self._nodes.items()
            ]
        results = engine.evaluate(facts)
        raised: list[Alert] = []
        with self._lock:
            if engine.rules is not self.rules:  # a node is hot where its vendor's alerts begin
                self.rules = engine.rules
                for node in self._nodes.values():
                    self._bump(node)
            for name, alerts in results.items():
                node = self._nodes[name]
                if alerts != node.alerts:
                    before = {a.key for a in node.alerts}
                    raised += [a for a in alerts if a.key not in before]
                    node.alerts = alerts
                    self._bump(node)
        return raised

    def set_acknowledged(self, name: str, baselines: dict[int, AcceleratorCounters]) -> None:
        """The sticky counters acknowledged per accelerator (an incident's acknowledgement): the rules alert
        again only when they grow past these."""
        with self._lock:
            node = self._nodes.get(name)
            if node is not None:
                node.acknowledged = {**node.acknowledged, **baselines}
                self._bump(node)

    def use_specs(self, inventory: Inventory) -> None:
        """The inventory's words for the nodes this model already has (a tenant changed by a move)."""
        with self._lock:
            for spec in inventory.nodes:
                node = self._nodes.get(spec.name)
                if node is not None and node.spec != spec:
                    node.spec = spec
                    self._bump(node)

    def _bump(self, node: _Node) -> None:
        self._version += 1
        node.version = self._version

    # --- readers ------------------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return list(self._nodes)

    def spec(self, name: str) -> NodeSpec:
        return self._nodes[name].spec

    def snapshot(self, since_version: int = 0) -> FleetSnapshot:
        with self._lock:
            now = self._clock()
            changed = tuple(self._view(node, now) for node in self._nodes.values() if node.version > since_version)
            counts: dict[NodeState, int] = {}
            for node in self._nodes.values():
                state = self._effective_state(node)
                counts[state] = counts.get(state, 0) + 1
            snapshot = FleetSnapshot(
                version=self._version, changed=changed, counts=counts, scheduler_problem=self.scheduler_problem
            )
        for view in changed:  # here, outside the lock, rather than on the GUI thread at its first ask
            view.aggregates()
        return snapshot

    def view(self, name: str) -> NodeView:
        with self._lock:
            return self._view(self._nodes[name], self._clock())

    def views(self, names: Iterable[str] | None = None) -> list[NodeView]:
        with self._lock:
            now = self._clock()
            chosen = self._nodes.values() if names is None else (self._nodes[n] for n in names)
            return [self._view(node, now) for node in chosen]

    def series(self, name: str, index: int, metric: str, since: float | None = None) -> Series | None:
        with self._lock:
            history = self._nodes[name].history.get(index)
            return None if history is None else history.series(metric, since)

    def statuses(self, alerting_only: bool = False) -> list[NodeStatus]:
        """Every node's state, Slurm state and active alerts (no views, no copies of readings);
        ``alerting_only``: only the nodes with an alert (what the incident service looks at every 2 s)."""
        with self._lock:
            return [
                NodeStatus(name, self._effective_state(node), node.scheduler_state, node.alerts, tuple(node.xids))
                for name, node in self._nodes.items()
                if node.alerts or not alerting_only
            ]

    def minutes(self, start: int, pace: Callable[[], None] = no_pace) -> list[NodeMinute]:
        """Every node's aggregates over the minute starting at ``start`` (a multiple of 60 s), from the
        tallies the rings keep as readings arrive: the rings are taken under the fleet's lock, their tallies
        read outside it (safe: see ``AcceleratorHistory.minute``); ``pace`` is called after each node (see
        :mod:`console.core.pacing`)."""
        with self._lock:  # references only: nothing else while the parser may be waiting for the lock
            taken = [
                (name, self._effective_state(node), sorted(node.history.items())) for name, node in self._nodes.items()
            ]
        out = []
        for name, state, histories in taken:
            accelerators = tuple((index, stats) for index, history in histories if (stats := history.minute(start)))
            out.append(NodeMinute(name, state, accelerators))
            pace()
        return out

    def history_bytes(self) -> int:
        with self._lock:
            return sum(h.nbytes for node in self._nodes.values() for h in node.history.values())

    @staticmethod
    def _effective_state(node: _Node) -> NodeState:
        """A streaming node whose last lines could not be read is in "parse error" (the one place it is
        worked out; the view, the counts and the alert facts all use it)."""
        if node.state == NodeState.UP and node.parse_error is not None:
            return NodeState.PARSE_ERROR
        return node.state

    @staticmethod
    def _effective_error(node: _Node, state: NodeState) -> str | None:
        if state == NodeState.PARSE_ERROR:
            return f"unreadable output from {node.telemetry_source or 'the telemetry tool'}: {node.parse_error}"
        return node.error

    def _view(self, node: _Node, now: float) -> NodeView:
        state = self._effective_state(node)
        error = self._effective_error(node, state)
        accelerators = tuple(
            AcceleratorView(
                sample=node.latest[index],
                updated_at=node.updated_at[index],
                stale=now - node.updated_at[index] > ACCELERATOR_STALE_S,
            )
            for index in sorted(node.latest)
        )
        return NodeView(
            name=node.spec.name,
            spec=node.spec,
            state=state,
            error=error,
            state_since=node.state_since,
            vendor=node.vendor,
            telemetry_source=node.telemetry_source,
            accelerators=accelerators,
            last_sample_at=node.last_sample_at,
            host_key_fingerprint=node.host_key_fingerprint,
            lines_parsed=node.lines_parsed,
            lines_rejected=node.lines_rejected,
            version=node.version,
            alerts=node.alerts,
            report=node.report,
            gpu_details=dict(node.gpu_details),
            xids=tuple(node.xids),
            rebooted_at=node.rebooted_at,
            kernel_follow=node.kernel_follow,
            scheduler_state=node.scheduler_state,
            acknowledged=dict(node.acknowledged),
            temperature_limits=self.rules.limits(node.vendor),
        )
