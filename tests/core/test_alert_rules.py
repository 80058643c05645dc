"""Each alert rule alone: a small function of typed facts, the rules file and the time (no engine, no
fleet model). The engine's holding and clearing are tested in test_alerts.py."""

from __future__ import annotations

from console.core.alerts.config import Severity, load_rules
from console.core.alerts.rules import (
    ACCELERATOR_RULES,
    LIVE_NODE_RULES,
    STATE_RULES,
    Alert,
    NodeFacts,
    RuleContext,
    XidRecord,
    accelerator_health,
    accelerator_xids,
    allocated_idle,
    ecc_and_remapping,
    findings,
    node_xids,
    parse_error,
    rebooted,
    temperature,
    throttle,
    unreachable_or_stale,
)
from console.core.parsers.nvidia_xml import GpuDetail
from console.core.parsers.xid import XidEvent
from console.core.telemetry.samples import AcceleratorSample, NodeState, Vendor

NOW = 10_000.0
RULES = load_rules()


def _context(active: Alert | None = None) -> RuleContext:
    return RuleContext(RULES, NOW, lambda node, rule, accelerator: active)


def _gpu(index: int = 0, **values: object) -> AcceleratorSample:
    return AcceleratorSample(index=index, vendor=Vendor.NVIDIA, **values)  # type: ignore[arg-type]


def _facts(state: NodeState = NodeState.UP, since: float = NOW - 1000, **values: object) -> NodeFacts:
    return NodeFacts(name="gpu-001", state=state, state_since=since, error="why", samples=(), **values)  # type: ignore[arg-type]


def test_every_rule_is_in_the_registry_once() -> None:
    registry = [*STATE_RULES, *LIVE_NODE_RULES, *ACCELERATOR_RULES]
    assert len(registry) == len(set(registry)) == 10


def test_unreachable_after_its_delay_and_stale_after_its_own() -> None:
    assert unreachable_or_stale(_context(), _facts(NodeState.UNREACHABLE, since=NOW - 10)) == []
    [down] = unreachable_or_stale(_context(), _facts(NodeState.UNREACHABLE, since=NOW - 61))
    assert (down.rule, down.severity, down.message) == ("unreachable", Severity.CRITICAL, "unreachable for 61 s: why")
    [stale] = unreachable_or_stale(_context(), _facts(NodeState.STALE, since=NOW - 31))
    assert (stale.rule, stale.severity) == ("stale", Severity.WARNING)


def test_parse_error_must_last_before_it_is_an_alert() -> None:
    [finding] = parse_error(_context(), _facts(NodeState.PARSE_ERROR))
    assert (finding.rule, finding.message, finding.for_s) == ("parse_error", "why", RULES.parse_error_after_s)
    assert parse_error(_context(), _facts()) == []


def test_a_reboot_is_news_for_ten_minutes() -> None:
    assert rebooted(_context(), _facts(rebooted_at=NOW - 60))[0].severity == Severity.INFO
    assert rebooted(_context(), _facts(rebooted_at=NOW - 601)) == []


def _xid(code: int, accelerator: int | None, age: float = 5.0) -> XidRecord:
    return XidRecord(accelerator, XidEvent((0, 0x3B, 0), code, "detail", "2025-10-25T09:14:03"), NOW - age)


def test_xids_count_for_their_gpu_or_for_the_node_within_the_window() -> None:
    facts = _facts(xids=(_xid(79, 0), _xid(13, None), _xid(48, None, age=601)))
    [node_level] = node_xids(_context(), facts)
    assert (node_level.rule, node_level.severity, node_level.accelerator) == ("xid_13", Severity.INFO, None)
    [gpu_level] = accelerator_xids(_context(), facts, _gpu(0))
    assert (gpu_level.rule, gpu_level.severity, gpu_level.accelerator) == ("xid_79", Severity.CRITICAL, 0)
    assert accelerator_xids(_context(), facts, _gpu(1)) == []


def test_allocated_but_idle_needs_slurm_allocated_and_every_accelerator_at_zero() -> None:
    idle = (_gpu(0, utilization_pct=0.0), _gpu(1, utilization_pct=0.0))
    busy = (_gpu(0, utilization_pct=0.0), _gpu(1, utilization_pct=3.0))
    facts = NodeFacts("n", NodeState.UP, 0.0, None, idle, scheduler_state="ALLOCATED")
    [finding] = allocated_idle(_context(), facts)
    assert finding.for_s == RULES.allocated_idle_for_s
    assert allocated_idle(_context(), NodeFacts("n", NodeState.UP, 0.0, None, busy, scheduler_state="ALLOCATED")) == []
    assert allocated_idle(_context(), NodeFacts("n", NodeState.UP, 0.0, None, idle, scheduler_state="IDLE")) == []


def test_temperature_over_the_vendor_limit_and_hysteresis_while_it_cools() -> None:
    limits = RULES.limits(Vendor.NVIDIA)
    [hot] = temperature(_context(), _facts(), _gpu(temperature_c=limits.warning_c + 1))
    assert (hot.severity, hot.evidence["limit_c"]) == (Severity.WARNING, limits.warning_c)
    [burning] = temperature(_context(), _facts(), _gpu(temperature_c=limits.critical_c))
    assert burning.severity == Severity.CRITICAL
    cooling = _gpu(temperature_c=limits.warning_c - 1)
    assert temperature(_context(), _facts(), cooling) == []  # no alert active: nothing to hold
    active = Alert("gpu-001", "temperature", 0, Severity.CRITICAL, "", {}, NOW - 60, NOW - 1)
    [held] = temperature(_context(active), _facts(), cooling)
    assert held.severity == Severity.CRITICAL and "cooling" in held.message
    cold = _gpu(temperature_c=limits.warning_c - RULES.temperature_clear_margin_c - 1)
    assert temperature(_context(active), _facts(), cold) == []


def test_ecc_and_remapping_from_the_slow_path() -> None:
    detail = GpuDetail(index=0, ecc_uncorrected_volatile=2.0, remapped_rows_failure="Yes", remapped_rows_pending="Yes")
    rules = {f.rule: f.severity for f in ecc_and_remapping(_context(), _facts(gpu_details={0: detail}), _gpu(0))}
    assert rules == {
        "ecc_uncorrected": Severity.CRITICAL,
        "remap_failure": Severity.CRITICAL,
        "remap_pending": Severity.WARNING,
    }
    assert ecc_and_remapping(_context(), _facts(), _gpu(0)) == []


def test_throttling_counts_only_the_reasons_the_rules_name() -> None:
    detail = GpuDetail(index=0, throttle_reasons=("hw_thermal_slowdown", "gpu_idle"))
    [finding] = throttle(_context(), _facts(gpu_details={0: detail}), _gpu(0))
    assert finding.evidence == {"throttle_reasons": ["hw_thermal_slowdown"]}
    assert throttle(_context(), _facts(), _gpu(0, throttle_reasons=("gpu_idle",))) == []


def test_the_vendors_health_word_sets_the_severity() -> None:
    npu = AcceleratorSample(index=3, vendor=Vendor.ASCEND, health="Alarm", npu_id=3, chip_id=0)
    [finding] = accelerator_health(_context(), _facts(), npu)
    assert (finding.severity, finding.message) == (Severity.CRITICAL, "NPU 3 chip 0 health is Alarm")
    assert accelerator_health(_context(), _facts(), _gpu(0, health="OK")) == []


def test_a_node_that_does_not_stream_gets_only_the_state_rules() -> None:
    hot = _gpu(temperature_c=200.0)
    down = NodeFacts("n", NodeState.UNREACHABLE, NOW - 120, "gone", (hot,), xids=(_xid(79, 0),))
    assert [f.rule for f in findings(_context(), down)] == ["unreachable"]
