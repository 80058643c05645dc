"""The fleet model: ingest, aggregates, parse-error state and its expiry, vanished GPUs — on a fake clock."""

from __future__ import annotations

from pathlib import Path

from console.core.inventory import parse_inventory
from console.core.parsers.nvidia_csv import STREAM_FIELDS, NvidiaCsvParser
from console.core.telemetry.fleet import PARSE_ERROR_HOLD_S, FleetModel
from console.core.telemetry.samples import NodeState


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _fleet(clock: FakeClock) -> FleetModel:
    inventory = parse_inventory(
        '[[node]]\nname = "a"\nhost = "h1"\ntenant = "acme"\n[[node]]\nname = "b"\nhost = "h2"\n',
        Path("/x/fleet.toml"),
    )
    return FleetModel(inventory, clock=clock)


def _line(index: int, util: str, temp: str, count: int = 2, power: str = "300.0") -> str:
    values = {
        "timestamp": "2024/11/14 07:00:14.123",
        "count": str(count),
        "index": str(index),
        "uuid": f"GPU-{index}",
        "name": "NVIDIA H100 80GB HBM3",
        "pci.bus_id": "00000000:18:00.0",
        "utilization.gpu": util,
        "memory.used": "10",
        "memory.total": "81559",
        "temperature.gpu": temp,
        "power.draw": power,
        "power.limit": "700.00",
        "clocks.sm": "1980",
        "fan.speed": "[N/A]",
        "pstate": "P0",
    }
    return ", ".join(values[f] for f in STREAM_FIELDS)


def test_ingested_lines_make_a_node_view_with_aggregates() -> None:
    clock = FakeClock()
    fleet = _fleet(clock)
    parser = NvidiaCsvParser()
    fleet.set_state("a", NodeState.UP)
    fleet.ingest("a", [parser.parse_line(_line(0, "80", "60")), parser.parse_line(_line(1, "[N/A]", "90"))], clock())
    view = fleet.view("a")
    assert view.state is NodeState.UP and view.accelerator_count == 2
    assert view.mean_utilization == 80.0 and view.max_utilization == 80.0  # N/A is left out, not counted as 0
    assert view.max_temperature == 90.0 and view.hot
    assert view.total_power == 600.0
    assert fleet.series("a", 1, "temperature_c") is not None
    # A snapshot's views come with their aggregates worked out (off the GUI thread); a view's are kept.
    snapped = next(v for v in fleet.snapshot().changed if v.name == "a")
    assert snapped._aggregates == (80.0, 80.0, 90.0, 600.0)
    assert fleet.view("a")._aggregates is None


def test_snapshot_reports_only_what_changed_and_counts_states() -> None:
    clock = FakeClock()
    fleet = _fleet(clock)
    first = fleet.snapshot()
    assert {v.name for v in first.changed} == {"a", "b"}
    assert first.counts == {NodeState.CONNECTING: 2}
    fleet.set_state("b", NodeState.UNREACHABLE, "connection refused")
    second = fleet.snapshot(first.version)
    assert [v.name for v in second.changed] == ["b"]
    assert second.counts == {NodeState.CONNECTING: 1, NodeState.UNREACHABLE: 1}
    assert fleet.snapshot(second.version).changed == ()


def test_an_unreadable_line_shows_parse_error_for_a_while_then_clears() -> None:
    clock = FakeClock()
    fleet = _fleet(clock)
    parser = NvidiaCsvParser()
    fleet.set_state("a", NodeState.UP)
    fleet.ingest("a", [parser.parse_line(_line(0, "50", "50")), parser.parse_line("0, 1, GPU-")], clock())
    view = fleet.view("a")
    assert view.state is NodeState.PARSE_ERROR
    assert view.error is not None and "expected 15 comma-separated fields" in view.error
    assert view.lines_parsed == 1 and view.lines_rejected == 1
    assert view.accelerator_count == 1  # the good line still counts
    clock.now += PARSE_ERROR_HOLD_S - 1
    fleet.expire()
    assert fleet.view("a").state is NodeState.PARSE_ERROR
    clock.now += 2
    fleet.expire()
    assert fleet.view("a").state is NodeState.UP


def test_a_gpu_that_leaves_the_bus_is_dropped_when_the_count_shrinks() -> None:
    clock = FakeClock()
    fleet = _fleet(clock)
    parser = NvidiaCsvParser()
    fleet.ingest("a", [parser.parse_line(_line(i, "1", "30", count=2)) for i in range(2)], clock())
    fleet.ingest("a", [parser.parse_line(_line(0, "1", "30", count=1))], clock())
    assert [a.sample.index for a in fleet.view("a").accelerators] == [0]


def test_an_accelerator_silent_for_three_seconds_is_marked_stale() -> None:
    clock = FakeClock()
    fleet = _fleet(clock)
    parser = NvidiaCsvParser()
    fleet.ingest("a", [parser.parse_line(_line(0, "1", "30"))], clock())
    assert not fleet.view("a").accelerators[0].stale
    clock.now += 3.5
    assert fleet.view("a").accelerators[0].stale


def test_losing_the_connection_clears_an_old_parse_error() -> None:
    clock = FakeClock()
    fleet = _fleet(clock)
    fleet.set_state("a", NodeState.UP)
    fleet.ingest("a", [NvidiaCsvParser().parse_line("garbage")], clock())
    fleet.set_state("a", NodeState.UNREACHABLE, "connection lost")
    fleet.set_state("a", NodeState.UP)
    assert fleet.view("a").state is NodeState.UP


def test_a_node_is_hot_where_its_vendors_temperature_alert_begins_and_with_the_rules_in_force() -> None:
    from console.core.alerts.config import load_rules
    from console.core.alerts.rules import AlertEngine
    from console.core.telemetry.samples import AcceleratorSample, ParsedLine, Vendor

    clock = FakeClock()
    inventory = parse_inventory(
        '[[node]]\nname = "amd"\nhost = "h1"\nvendor = "amd"\n'
        '[[node]]\nname = "npu"\nhost = "h2"\nvendor = "ascend"\n'
        '[[node]]\nname = "gpu"\nhost = "h3"\nvendor = "nvidia"\n',
        Path("/x/fleet.toml"),
    )
    fleet = FleetModel(inventory, clock=clock)
    readings = {"amd": (Vendor.AMD, 90.0), "npu": (Vendor.ASCEND, 82.0), "gpu": (Vendor.NVIDIA, 86.0)}
    for name, (vendor, temperature) in readings.items():
        fleet.set_state(name, NodeState.UP)
        sample = AcceleratorSample(index=0, vendor=vendor, temperature_c=temperature)
        fleet.ingest(name, [ParsedLine(sample=sample)], clock())
    engine = AlertEngine(clock=clock)
    fleet.evaluate_alerts(engine)
    clock.now += 31  # held past the rule's for_s
    for name, (vendor, temperature) in readings.items():
        sample = AcceleratorSample(index=0, vendor=vendor, temperature_c=temperature)
        fleet.ingest(name, [ParsedLine(sample=sample)], clock())
    raised = {a.node for a in fleet.evaluate_alerts(engine) if a.rule == "temperature"}
    hot = {name for name in readings if fleet.view(name).hot}
    # AMD warns at 95 °C and Ascend at 80 °C as shipped: a hot row is a row with a temperature alert.
    assert hot == raised == {"npu", "gpu"}
    npu = fleet.view("npu")
    assert npu.hot_c == 80.0 and npu.accelerator_hot(npu.accelerators[0].sample)
    # A site's own limits move the mark with the alerts.
    site = load_rules("[temperature]\namd = { warning_c = 88, critical_c = 100 }\n")
    fleet.evaluate_alerts(AlertEngine(site, clock=clock))
    assert fleet.view("amd").hot and fleet.view("amd").hot_c == 88.0


def test_the_latest_views_keep_the_inventorys_order_and_take_each_snapshots_changes() -> None:
    from console.core.telemetry.latest import LatestViews

    clock = FakeClock()
    fleet = _fleet(clock)
    latest = LatestViews(fleet.views())
    fleet.set_state("b", NodeState.UP)
    latest.apply(fleet.snapshot(1).changed)
    assert [v.name for v in latest.views()] == ["a", "b"]
    assert latest.views()[1].state == NodeState.UP and latest.views()[0].state != NodeState.UP
