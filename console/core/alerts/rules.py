"""Alert rules over the live fleet: what is wrong, since when, and the readings that show it.

Each rule looks at node views once a second. A condition must hold for ``for_s`` before an alert is
raised, and must be gone for ``clear_s`` (and, for temperatures, below the limit minus a margin) before
it clears: hysteresis, so an alert does not flap. Alerts carry a severity, first-seen and last-seen times,
and evidence. Rules and limits come from a TOML file; every default is documented in DEFAULT_RULES.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from console.core.alerts.config import AlertRules, Severity, default_rules
from console.core.parsers.nvidia_xml import GpuDetail
from console.core.parsers.xid import XidEvent
from console.core.telemetry.counters import AcceleratorCounters, grown
from console.core.telemetry.samples import LIVE_STATES, AcceleratorSample, NodeState, NotAvailable, Vendor
from console.core.vendors.ascend import health_severity

UNREACHABLE_STATES: Final = frozenset(
    {
        NodeState.UNREACHABLE,
        NodeState.AUTH_FAILED,
        NodeState.HOST_KEY_UNKNOWN,
        NodeState.HOST_KEY_CHANGED,
        NodeState.COMMAND_FAILED,
    }
)


@dataclass(frozen=True, slots=True)
class Alert:
    node: str
    rule: str
    accelerator: int | None
    severity: Severity
    message: str
    evidence: dict[str, Any]
    first_seen: float
    last_seen: float

    @property
    def key(self) -> tuple[str, str, int | None]:
        return (self.node, self.rule, self.accelerator)

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.word,
            "accelerator": self.accelerator,
            "message": self.message,
            "evidence": self.evidence,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
        }


@dataclass(slots=True)
class _Track:
    since: float | None = None  # when the condition started holding
    clear_since: float | None = None  # when it stopped holding (for an active alert)
    alert: Alert | None = None


@dataclass(frozen=True, slots=True)
class XidRecord:
    """An XID event from a node's kernel log, mapped to a GPU where its PCI bus id matches one."""

    accelerator: int | None  # the GPU index the PCI bus id maps to, where it maps
    event: XidEvent
    seen_at: float


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """What the alert rules read about a node (the fleet model copies them under its lock)."""

    name: str
    state: NodeState
    state_since: float
    error: str | None
    samples: tuple[AcceleratorSample, ...]
    gpu_details: Mapping[int, GpuDetail] = field(default_factory=dict)
    xids: tuple[XidRecord, ...] = ()
    rebooted_at: float | None = None
    scheduler_state: str | None = None
    # Per accelerator index: the sticky counters as last acknowledged (an incident's acknowledgement).
    acknowledged: Mapping[int, AcceleratorCounters] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Finding:
    """A condition seen now: what, how bad, and the readings that show it; it must hold ``for_s`` before it
    is an alert, and be gone ``clear_s`` before the alert clears."""

    rule: str
    accelerator: int | None
    severity: Severity
    message: str
    evidence: dict[str, Any]
    for_s: float = 0.0
    clear_s: float = 0.0


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What a rule may read besides the node: the rules file, the time, and the alert already active for
    a (node, rule, accelerator) key (for hysteresis)."""

    rules: AlertRules
    now: float
    active: Callable[[str, str, int | None], Alert | None]


NodeRule = Callable[[RuleContext, NodeFacts], list[Finding]]
AcceleratorRule = Callable[[RuleContext, NodeFacts, AcceleratorSample], list[Finding]]


class AlertEngine:
    """Keeps the state of every rule for every node; ``evaluate`` is called about once a second."""

    def __init__(self, rules: AlertRules | None = None, clock: Callable[[], float] = time.time) -> None:
        self.rules = rules or default_rules()
        self.clock = clock
        self._tracks: dict[tuple[str, str, int | None], _Track] = {}
        self._findings_of: dict[tuple[str, str, int | None], Finding] = {}

    def evaluate(self, nodes: Iterable[NodeFacts]) -> dict[str, tuple[Alert, ...]]:
        """Active alerts per node after looking at ``nodes``."""
        now = self.clock()
        context = RuleContext(self.rules, now, self._active)
        seen: set[tuple[str, str, int | None]] = set()
        result: dict[str, list[Alert]] = {}
        for facts in nodes:
            result.setdefault(facts.name, [])
            for finding in findings(context, facts):
                key = (facts.name, finding.rule, finding.accelerator)
                seen.add(key)
                self._hold(key, finding, now)
        self._clear_unseen(seen, now)
        for (node, _rule, _acc), track in self._tracks.items():
            if track.alert is not None:
                result.setdefault(node, []).append(track.alert)
        return {
            node: tuple(sorted(alerts, key=lambda a: (-a.severity, a.first_seen))) for node, alerts in result.items()
        }

    def _active(self, node: str, rule: str, accelerator: int | None) -> Alert | None:
        track = self._tracks.get((node, rule, accelerator))
        return track.alert if track is not None else None

    def _hold(self, key: tuple[str, str, int | None], finding: Finding, now: float) -> None:
        """A finding seen now: start its track, raise it once it held ``for_s``, or refresh the alert."""
        track = self._tracks.setdefault(key, _Track())
        if track.since is None:
            track.since = now
        track.clear_since = None
        if track.alert is None and now - track.since >= finding.for_s:
            track.alert = Alert(
                node=key[0],
                rule=finding.rule,
                accelerator=finding.accelerator,
                severity=finding.severity,
                message=finding.message,
                evidence=finding.evidence,
                first_seen=track.since,
                last_seen=now,
            )
        elif track.alert is not None:
            track.alert = replace(
                track.alert,
                last_seen=now,
                message=finding.message,
                evidence=finding.evidence,
                severity=max(track.alert.severity, finding.severity),
            )
        self._findings_of[key] = finding

    def _clear_unseen(self, seen: set[tuple[str, str, int | None]], now: float) -> None:
        """Conditions not seen now: forget those never raised, clear alerts gone for their ``clear_s``."""
        for key, track in list(self._tracks.items()):
            if key in seen:
                continue
            last = self._findings_of.get(key)
            if track.alert is None:
                del self._tracks[key]
                self._findings_of.pop(key, None)
                continue
            if track.clear_since is None:
                track.clear_since = now
            if now - track.clear_since >= (last.clear_s if last else 0.0):
                del self._tracks[key]
                self._findings_of.pop(key, None)


def findings(context: RuleContext, facts: NodeFacts) -> list[Finding]:
    """Every rule of the registry over one node: the node's state always; the rest while it streams."""
    out: list[Finding] = []
    for node_rule in STATE_RULES:
        out.extend(node_rule(context, facts))
    if facts.state not in LIVE_STATES:
        return out
    for node_rule in LIVE_NODE_RULES:
        out.extend(node_rule(context, facts))
    for sample in facts.samples:
        for rule in ACCELERATOR_RULES:
            out.extend(rule(context, facts, sample))
    return out


# --- node rules ------------------------------------------------------------------------------------------


def unreachable_or_stale(context: RuleContext, facts: NodeFacts) -> list[Finding]:
    rules, state, age = context.rules, facts.state, context.now - facts.state_since
    if state in UNREACHABLE_STATES and age >= rules.unreachable_after_s:
        message = f"{state.value} for {age:.0f} s: {facts.error or ''}".strip()
        return [
            Finding(
                rule="unreachable",
                accelerator=None,
                severity=rules.unreachable_severity,
                message=message,
                evidence={"state": state.value, "since": facts.state_since},
            )
        ]
    if state == NodeState.STALE and age >= rules.stale_after_s:
        return [
            Finding(
                rule="stale",
                accelerator=None,
                severity=rules.stale_severity,
                message=f"no telemetry for {age:.0f} s",
                evidence={"state": state.value, "since": facts.state_since},
            )
        ]
    return []


def parse_error(context: RuleContext, facts: NodeFacts) -> list[Finding]:
    if facts.state != NodeState.PARSE_ERROR:
        return []
    return [
        Finding(
            rule="parse_error",
            accelerator=None,
            severity=context.rules.parse_error_severity,
            message=facts.error or "unreadable telemetry",
            evidence={"error": facts.error},
            for_s=context.rules.parse_error_after_s,
            clear_s=10.0,
        )
    ]


def rebooted(context: RuleContext, facts: NodeFacts) -> list[Finding]:
    at = facts.rebooted_at
    if at is None or context.now - at > context.rules.reboot_window_s:
        return []
    seen = time.strftime("%H:%M:%S", time.localtime(at))
    return [
        Finding(
            rule="rebooted",
            accelerator=None,
            severity=Severity.INFO,
            message=f"the node rebooted (boot time changed, seen {seen})",
            evidence={"seen_at": at},
        )
    ]


def node_xids(context: RuleContext, facts: NodeFacts) -> list[Finding]:
    """XIDs whose PCI bus id matched no GPU in the stream still count, for the node."""
    out = []
    for record in facts.xids:
        if record.accelerator is not None or context.now - record.seen_at > context.rules.xid_window_s:
            continue
        domain, bus, device = record.event.bus
        out.append(
            _xid_finding(
                context,
                record,
                None,
                f"XID {record.event.code} on PCI {domain:04x}:{bus:02x}:{device:02x}, {record.event.meaning}",
            )
        )
    return out


def allocated_idle(context: RuleContext, facts: NodeFacts) -> list[Finding]:
    scheduler_state = facts.scheduler_state or ""
    utilisations = [s.utilization_pct for s in facts.samples]
    if not (
        scheduler_state.split("+")[0] == "ALLOCATED"
        and utilisations
        and all(not isinstance(u, NotAvailable) and u == 0 for u in utilisations)
    ):
        return []
    return [
        Finding(
            rule="allocated_idle",
            accelerator=None,
            severity=context.rules.allocated_idle_severity,
            message=f"Slurm has the node allocated ({scheduler_state}) but all {len(utilisations)} accelerators "
            "are at 0 %",
            evidence={"slurm_state": scheduler_state, "utilization_pct": 0.0},
            for_s=context.rules.allocated_idle_for_s,
            clear_s=60.0,
        )
    ]


# --- accelerator rules -----------------------------------------------------------------------------------


def temperature(context: RuleContext, facts: NodeFacts, sample: AcceleratorSample) -> list[Finding]:
    rules, reading = context.rules, sample.temperature_c
    if isinstance(reading, NotAvailable):
        return []
    limits = rules.limits(sample.vendor)
    if reading >= limits.warning_c:
        critical = reading >= limits.critical_c
        limit = limits.critical_c if critical else limits.warning_c
        return [
            Finding(
                rule="temperature",
                accelerator=sample.index,
                severity=Severity.CRITICAL if critical else Severity.WARNING,
                message=f"{_label(sample)} at {reading:.0f} °C (limit {limit:.0f} °C)",
                evidence={
                    "temperature_c": reading,
                    "limit_c": limit,
                    "power_w": _number(sample.power_w),
                    "utilization_pct": _number(sample.utilization_pct),
                },
                for_s=rules.temperature_for_s,
                clear_s=rules.temperature_clear_s,
            )
        ]
    margin = limits.warning_c - rules.temperature_clear_margin_c
    if reading < margin:
        return []
    active = context.active(facts.name, "temperature", sample.index)
    if active is None:
        return []
    # Hysteresis: still within the margin under the limit — the alert stays.
    return [
        Finding(
            rule="temperature",
            accelerator=sample.index,
            severity=active.severity,
            message=f"{_label(sample)} at {reading:.0f} °C (cooling, clears below {margin:.0f} °C)",
            evidence={"temperature_c": reading},
            for_s=rules.temperature_for_s,
            clear_s=rules.temperature_clear_s,
        )
    ]


def ecc_and_remapping(context: RuleContext, facts: NodeFacts, sample: AcceleratorSample) -> list[Finding]:
    """The slow path's ECC and row-remapping counters of the GPU."""
    detail = facts.gpu_details.get(sample.index)
    if detail is None:
        return []
    rules, label = context.rules, _label(sample)
    out = []
    baseline = facts.acknowledged.get(sample.index)
    growth = grown(baseline, detail) if baseline is not None else {}
    uncorrected = _number(detail.ecc_uncorrected_volatile)
    if uncorrected and (baseline is None or "ecc_uncorrected_volatile" in growth):
        out.append(
            Finding(
                rule="ecc_uncorrected",
                accelerator=sample.index,
                severity=rules.ecc_severity,
                message=f"{label}: {uncorrected:.0f} uncorrectable ECC error(s) since the driver loaded",
                evidence={
                    "ecc_uncorrected_volatile": uncorrected,
                    "ecc_uncorrected_aggregate": _number(detail.ecc_uncorrected_aggregate),
                },
            )
        )
    failure = detail.remapped_rows_failure
    if (
        isinstance(failure, str)
        and failure.lower() == "yes"
        and (baseline is None or baseline.flags.get("remapped_rows_failure", "").lower() != "yes" or growth)
    ):
        out.append(
            Finding(
                rule="remap_failure",
                accelerator=sample.index,
                severity=rules.remap_failure_severity,
                message=f"{label}: row remapping failed (no spare rows left)",
                evidence={"remapped_rows_uncorrectable": _number(detail.remapped_rows_uncorrectable)},
            )
        )
    pending_acknowledged = (
        baseline is not None
        and not growth
        and any(
            baseline.flags.get(name, "").lower() == "yes" for name in ("remapped_rows_pending", "retired_pages_pending")
        )
    )
    if detail.retired_or_remapped_pending and not pending_acknowledged:
        out.append(
            Finding(
                rule="remap_pending",
                accelerator=sample.index,
                severity=rules.remap_pending_severity,
                message=f"{label}: rows/pages pending remap — the GPU needs a reset",
                evidence={
                    "remapped_rows_pending": str(detail.remapped_rows_pending),
                    "retired_pages_pending": str(detail.retired_pages_pending),
                },
            )
        )
    return out


def throttle(context: RuleContext, facts: NodeFacts, sample: AcceleratorSample) -> list[Finding]:
    detail = facts.gpu_details.get(sample.index)
    reasons = detail.throttle_reasons if detail is not None else sample.throttle_reasons
    if not reasons:
        return []
    throttling = sorted(set(reasons) & context.rules.throttle_reasons)
    if not throttling:
        return []
    return [
        Finding(
            rule="throttle",
            accelerator=sample.index,
            severity=Severity.WARNING,
            message=f"{_label(sample)} throttled: {', '.join(r.replace('_', ' ') for r in throttling)}",
            evidence={"throttle_reasons": throttling},
            for_s=context.rules.throttle_for_s,
            clear_s=60.0,
        )
    ]


def accelerator_xids(context: RuleContext, facts: NodeFacts, sample: AcceleratorSample) -> list[Finding]:
    if not facts.xids:
        return []
    return [
        _xid_finding(
            context, record, sample.index, f"{_label(sample)}: XID {record.event.code}, {record.event.meaning}"
        )
        for record in facts.xids
        if record.accelerator == sample.index
        and context.now - record.seen_at <= context.rules.xid_window_s
        and not _acknowledged(facts, record)
    ]


def accelerator_health(context: RuleContext, facts: NodeFacts, sample: AcceleratorSample) -> list[Finding]:
    """The health word the vendor tool reports (Ascend's words: console.core.vendors.ascend)."""
    health = sample.health
    word = health_severity(health)
    if word is None:
        return []
    return [
        Finding(
            rule="accelerator_health",
            accelerator=sample.index,
            severity=Severity[word.upper()],
            message=f"{_label(sample)} health is {health}",
            evidence={"health": health},
            for_s=context.rules.health_for_s,
            clear_s=context.rules.health_clear_s,
        )
    ]


def _acknowledged(facts: NodeFacts, record: XidRecord) -> bool:
    """An XID seen before its accelerator's acknowledgement no longer alerts; a later one does."""
    baseline = facts.acknowledged.get(record.accelerator) if record.accelerator is not None else None
    return baseline is not None and record.seen_at <= baseline.taken_at


def _xid_finding(context: RuleContext, record: XidRecord, accelerator: int | None, message: str) -> Finding:
    critical = record.event.code in context.rules.xid_critical
    return Finding(
        rule=f"xid_{record.event.code}",
        accelerator=accelerator,
        severity=Severity.CRITICAL if critical else Severity.INFO,
        message=message,
        evidence={"xid": record.event.code, "detail": record.event.detail[:200], "kernel_time": record.event.when},
    )


# The registry: a rule is a small function of the facts; adding one is adding it here (and its tests).
STATE_RULES: Final[tuple[NodeRule, ...]] = (unreachable_or_stale, parse_error, rebooted)
LIVE_NODE_RULES: Final[tuple[NodeRule, ...]] = (node_xids, allocated_idle)
ACCELERATOR_RULES: Final[tuple[AcceleratorRule, ...]] = (
    temperature,
    ecc_and_remapping,
    throttle,
    accelerator_xids,
    accelerator_health,
)


def _number(value: Any) -> float | None:
    return None if isinstance(value, NotAvailable) or value is None else float(value)


def _label(sample: AcceleratorSample) -> str:
    if sample.vendor == Vendor.ASCEND and sample.npu_id is not None:
        return f"NPU {sample.npu_id} chip {sample.chip_id}"
    return f"GPU {sample.index}"
