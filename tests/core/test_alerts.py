"""Alert rules on a fake clock: sustained conditions, hysteresis, severities, evidence, configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.core.alerts.config import AlertRulesError, Severity, load_rules
from console.core.alerts.rules import AlertEngine
from console.core.inventory import parse_inventory
from console.core.parsers.npu_smi import parse_npu_smi
from console.core.parsers.nvidia_csv import STREAM_FIELDS, NvidiaCsvParser
from console.core.telemetry.fleet import FleetModel
from console.core.telemetry.samples import NodeState, ParsedLine, Vendor
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


def test_slow_path_details_map_xids_to_the_gpu_and_raise_ecc_remap_throttle_alerts() -> None:
    from console.core.telemetry.details import parse_detail_output
    from console.core.telemetry.sources import FRAME
    from tests.standins.nvidia_table import parse_table

    clock = Clock()
    fleet = _fleet(clock)
    fleet.set_state("g", NodeState.UP)
    engine = AlertEngine(clock=clock)
    table = parse_table(
        (FIXTURES / "nvidia" / "table_8xH100-SXM-80GB-HBM3_driver565.57.01_idle_no-timestamp-line.txt").read_text()
    )
    fleet.ingest("g", [ParsedLine(sample=g.sample) for g in table.gpus], clock.now)
    # Fault injection in memory on a real recording (the P100's bus id and counters changed, the file is not):
    xml = (FIXTURES / "nvidia" / "q-x_1xTeslaP100-PCIE-16GB_driver510.47.03.xml").read_text()
    xml = xml.replace("00000000:00:04.0", "00000000:9A:00.0")  # make it GPU 4 of this node
    volatile_start = xml.index("<volatile>")
    double = xml.index("<double_bit>", volatile_start)
    total = xml.index("<total>0</total>", double)
    xml = xml[:total] + "<total>2</total>" + xml[total + len("<total>0</total>") :]
    xml = xml.replace("<pending_retirement>No</pending_retirement>", "<pending_retirement>Yes</pending_retirement>")
    xml = xml.replace(
        "<clocks_throttle_reason_hw_thermal_slowdown>Not Active", "<clocks_throttle_reason_hw_thermal_slowdown>Active"
    )
    journal = "2026-11-29T05:11:12+0000 g kernel: NVRM: Xid (PCI:0000:9a:00): 79, pid=0, GPU has fallen off the bus.\n"
    output = f"{xml}\n{FRAME} nvidia-xml 0\n{journal}\n{FRAME} journalctl 0\n"
    fleet.apply_report("g", parse_detail_output(output, clock.now))
    view = fleet.view("g")
    assert view.gpu_details[4].ecc_uncorrected_volatile == 2.0
    assert [(r.accelerator, r.event.code) for r in view.xids] == [(4, 79)]
    assert view.recent_xids(4, clock.now) == [79]
    alerts = {a.rule: a for a in fleet.evaluate_alerts(engine)}
    assert alerts["ecc_uncorrected"].severity == Severity.CRITICAL and alerts["ecc_uncorrected"].accelerator == 4
    assert alerts["remap_pending"].severity == Severity.WARNING
    assert alerts["xid_79"].severity == Severity.CRITICAL and "fallen off the bus" in alerts["xid_79"].message
    assert "throttle" not in alerts  # throttling must last 60 s
    for _ in range(2):
        clock.now += 31
        fleet.apply_report("g", parse_detail_output(output, clock.now))
        fleet.evaluate_alerts(engine)
    rules = {a.rule for a in fleet.view("g").alerts}
    assert "throttle" in rules
    assert len(fleet.view("g").xids) == 1  # the same kernel line read again is not a new event


def test_a_node_slurm_has_allocated_with_every_gpu_at_zero_is_flagged_after_ten_minutes() -> None:
    clock = Clock()
    fleet = _fleet(clock)
    fleet.set_state("g", NodeState.UP)
    engine = AlertEngine(clock=clock)

    def idle_minutes(minutes: int, util: str = "0") -> None:
        for _ in range(minutes * 6):
            clock.now += 10
            line = _gpu(40).sample
            assert line is not None
            from dataclasses import replace

            fleet.ingest("g", [ParsedLine(sample=replace(line, utilization_pct=float(util)))], clock.now)
            fleet.evaluate_alerts(engine)

    fleet.set_scheduler_states({"g": "IDLE"})
    idle_minutes(11)
    assert fleet.view("g").alerts == ()  # idle and not allocated: nothing to say
    fleet.set_scheduler_states({"g": "ALLOCATED"})
    idle_minutes(9)
    assert fleet.view("g").alerts == ()
    idle_minutes(2)
    (alert,) = fleet.view("g").alerts
    assert (alert.rule, alert.severity) == ("allocated_idle", Severity.WARNING)
    assert alert.evidence["slurm_state"] == "ALLOCATED"
    idle_minutes(3, util="97")
    assert fleet.view("g").alerts == ()


def test_a_gpu_that_fell_off_the_bus_without_an_xid_line_raises_the_xid_79_alert_on_that_gpu() -> None:
    from console.core.telemetry.details import parse_detail_output
    from console.core.telemetry.sources import FRAME
    from tests.standins.nvidia_table import parse_table

    clock = Clock()
    fleet = _fleet(clock)
    fleet.set_state("g", NodeState.UP)
    table = parse_table(
        (FIXTURES / "nvidia" / "table_8xH100-SXM-80GB-HBM3_driver565.57.01_idle_no-timestamp-line.txt").read_text()
    )
    fleet.ingest("g", [ParsedLine(sample=g.sample) for g in table.gpus], clock.now)
    bus = table.gpus[4].sample.pci_bus_id
    assert isinstance(bus, str)
    short = bus[-12:].lower()  # "0000:9a:00.0"-style, as the kernel writes it
    journal = (
        f"2026-11-29T05:11:12+0000 g kernel: NVRM: The NVIDIA GPU {short}\n"
        "                                   NVRM: (PCI ID: 10de:2330) installed in this system has\n"
        "                                   NVRM: fallen off the bus and is not responding to commands.\n"
    )
    fleet.apply_report("g", parse_detail_output(f"{journal}{FRAME} journalctl 0\n", clock.now))
    alerts = {a.rule: a for a in fleet.evaluate_alerts(AlertEngine(clock=clock))}
    assert alerts["xid_79"].severity == Severity.CRITICAL and alerts["xid_79"].accelerator == 4


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[throttle]\nreasons = 5", "[throttle] reasons must be a list of strings"),
        ('[throttle]\nreasons = "hw_thermal_slowdown"', "[throttle] reasons must be a list of strings"),
        ("[stale]\nafter_s = nan", "[stale] after_s must be a number of seconds"),
        ("[stale]\nafter_s = inf", "[stale] after_s must be a number of seconds"),
        ("[temperature]\nnvidia = { warning_c = nan, critical_c = 92 }", "[temperature] nvidia needs"),
        ('[temperature]\nnvidia = { warning_c = "85", critical_c = 92 }', "[temperature] nvidia needs"),
        ("[temperature]\nnvidia = { warning_c = 85, critical_c = 92, shutdown_c = 99 }", "unknown key 'shutdown_c'"),
        ("[temperature]\nnvidia = 85", "[temperature] nvidia must be a table"),
        ("[stale]\nseverity = 2", "[stale] severity must be info, warning or critical"),
        ("[xid]\ncritical = " + "[" * 3000 + "]" * 3000, "nested too deeply"),
    ],
)
def test_every_bad_value_in_an_alert_rules_file_is_refused_naming_the_file_and_key(
    text: str, words: str, tmp_path: Path
) -> None:
    from console.core.alerts.config import load_rules_file

    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(AlertRulesError) as caught:
        load_rules_file(path)
    assert str(path) in str(caught.value) and words in str(caught.value)


def test_an_alert_rules_file_that_is_not_utf8_is_refused_in_words(tmp_path: Path) -> None:
    from console.core.alerts.config import load_rules_file

    path = tmp_path / "rules.toml"
    path.write_bytes(b"[stale]\nafter_s = 30 # \xff\xfe\n")
    with pytest.raises(AlertRulesError, match="not UTF-8"):
        load_rules_file(path)
