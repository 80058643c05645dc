"""Alert rules on a fake clock: sustained conditions, hysteresis, severities, evidence, configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.core.alerts import AlertEngine, AlertRulesError, Severity, load_rules
from console.core.fleet import FleetModel
from console.core.inventory import parse_inventory
from console.core.parsers.npu_smi import parse_npu_smi
from console.core.parsers.nvidia_csv import STREAM_FIELDS, NvidiaCsvParser
from console.core.samples import NodeState, ParsedLine, Vendor
from tests.paths import FIXTURES


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _fleet(clock: Clock) -> FleetModel:
    inventory = parse_inventory(
        '[[node]]\nname = "g"\nhost = "a"\n[[node]]\nname = "n"\nhost = "b"\n', Path("/x/f.toml")
    )
    return FleetModel(inventory, clock=clock)


def _gpu(temp: float, index: int = 0) -> ParsedLine:
    values = {
        "timestamp": "2024/11/14 07:00:14.123",
        "count": "8",
        "index": str(index),
        "uuid": "GPU-x",
        "name": "NVIDIA H100 80GB HBM3",
        "pci.bus_id": "00000000:18:00.0",
        "utilization.gpu": "99",
        "memory.used": "10",
        "memory.total": "81559",
        "temperature.gpu": str(temp),
        "power.draw": "650",
        "power.limit": "700.00",
        "clocks.sm": "1400",
        "fan.speed": "[N/A]",
        "pstate": "P0",
    }
    return NvidiaCsvParser().parse_line(", ".join(values[f] for f in STREAM_FIELDS))


def _step(fleet: FleetModel, engine: AlertEngine, clock: Clock, seconds: int, temp: float) -> list[object]:
    raised: list[object] = []
    for _ in range(seconds):
        clock.now += 1
        fleet.ingest("g", [_gpu(temp)], clock.now)
        raised += fleet.evaluate_alerts(engine)
    return raised


def test_hot_gpu_alerts_only_after_30_s_and_clears_after_cooling_below_the_margin() -> None:
    clock = Clock()
    fleet = _fleet(clock)
    fleet.set_state("g", NodeState.UP)
    engine = AlertEngine(clock=clock)
    assert _step(fleet, engine, clock, 29, 88) == []
    raised = _step(fleet, engine, clock, 2, 88)
    assert len(raised) == 1
    (alert,) = fleet.view("g").alerts
    assert (alert.rule, alert.accelerator, alert.severity) == ("temperature", 0, Severity.WARNING)
    assert alert.evidence["temperature_c"] == 88.0 and alert.evidence["limit_c"] == 85.0
    assert "GPU 0 at 88 °C (limit 85 °C)" in alert.message
    _step(fleet, engine, clock, 5, 93)
    assert fleet.view("g").alerts[0].severity == Severity.CRITICAL
    # 82 °C is below the limit but within the 5 °C margin: the alert stays (no flapping).
    _step(fleet, engine, clock, 60, 82)
    assert fleet.view("g").alerts and "cooling" in fleet.view("g").alerts[0].message
    _step(fleet, engine, clock, 29, 70)
    assert fleet.view("g").alerts
    _step(fleet, engine, clock, 2, 70)
    assert fleet.view("g").alerts == ()


def test_short_spikes_never_alert() -> None:
    clock = Clock()
    fleet = _fleet(clock)
    fleet.set_state("g", NodeState.UP)
    engine = AlertEngine(clock=clock)
    for _ in range(10):
        _step(fleet, engine, clock, 20, 90)
        _step(fleet, engine, clock, 1, 60)
    assert fleet.view("g").alerts == ()


def test_unreachable_node_alerts_after_a_minute_and_clears_when_back() -> None:
    clock = Clock()
    fleet = _fleet(clock)
    engine = AlertEngine(clock=clock)
    fleet.set_state("n", NodeState.UNREACHABLE, "connection refused")
    clock.now += 59
    assert fleet.evaluate_alerts(engine) == []
    clock.now += 2
    (alert,) = fleet.evaluate_alerts(engine)
    assert (alert.rule, alert.severity) == ("unreachable", Severity.CRITICAL)
    assert "connection refused" in alert.message
    fleet.set_state("n", NodeState.UP)
    clock.now += 1
    fleet.evaluate_alerts(engine)
    assert fleet.view("n").alerts == ()


def test_ascend_health_words_raise_with_their_severity() -> None:
    clock = Clock()
    fleet = _fleet(clock)
    fleet.set_state("n", NodeState.UP)
    engine = AlertEngine(clock=clock)
    text = (FIXTURES / "ascend" / "npu-smi-info_8x910B3_npusmi25.2.0_one-process.txt").read_text()
    # Fault injected in memory (the recording itself is untouched): NPU 0's health word reads Alarm.
    chips = parse_npu_smi(text.replace("| OK  ", "| Alarm", 1)).chips
    fleet.ingest("n", [ParsedLine(sample=c) for c in chips], clock.now)
    (alert,) = fleet.evaluate_alerts(engine)
    assert (alert.rule, alert.accelerator, alert.severity) == ("accelerator_health", 0, Severity.CRITICAL)
    assert alert.message == "NPU 0 chip 0 health is Alarm" and alert.evidence == {"health": "Alarm"}


def test_rules_file_overrides_defaults_and_bad_files_are_refused() -> None:
    rules = load_rules("[temperature]\nfor_s = 5\nnvidia = { warning_c = 70, critical_c = 80 }\n")
    assert rules.temperature_for_s == 5 and rules.limits(Vendor.NVIDIA).warning_c == 70
    assert rules.stale_after_s == 30  # untouched keys keep their defaults
    for bad, words in [
        ("[temperatur]\n", "unknown section [temperatur]"),
        ("[stale]\nafter = 3\n", "unknown key 'after' in [stale]"),
        ("[stale]\nafter_s = -1\n", "must be a number of seconds"),
        ("[unreachable]\nseverity = 'bad'\n", "severity must be"),
        ("[temperature]\nnvidia = { warning_c = 99, critical_c = 90 }\n", "warning_c is above critical_c"),
        ("[stale\n", "rules:"),
    ]:
        with pytest.raises(AlertRulesError, match=words.replace("[", r"\[").replace("]", r"\]")):
            load_rules(bad, "rules")
