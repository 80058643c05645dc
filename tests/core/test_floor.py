"""The floor's model (pure): one cell per accelerator coloured against its own limit, unreachable and stale
nodes never mistaken for idle ones, groups by rack, tenant, partition and vendor; racks as elevations; and
finding the box from any of its names."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from console.core.alerts.config import AlertRules, Severity, TemperatureLimits
from console.core.alerts.rules import Alert
from console.core.floor.find import find_boxes, short_bus
from console.core.floor.heatmap import (
    TEMP_MARGIN_C,
    CellKind,
    ColorBy,
    GroupBy,
    GroupOrder,
    elevations,
    first_partitions,
    floor_groups,
    group_figure,
)
from console.core.inventory import BmcSpec, Inventory, InventoryError, NodeSpec, RackSpec, parse_inventory
from console.core.parsers.nvidia_xml import GpuDetail
from console.core.telemetry.details import HealthReport
from console.core.telemetry.fleet import FleetModel
from console.core.telemetry.samples import AcceleratorSample, NodeState, ParsedLine, Vendor

RULES = AlertRules(temperature={Vendor.NVIDIA: TemperatureLimits(85, 92), Vendor.ASCEND: TemperatureLimits(95, 105)})


def _world() -> tuple[Inventory, FleetModel]:
    specs = (
        NodeSpec(name="gpu-001", host="10.0.0.1", rack="R1", slot=1, height=4, tenant="acme", vendor=Vendor.NVIDIA),
        NodeSpec(
            name="gpu-002",
            host="10.0.0.2",
            rack="R1",
            slot=5,
            height=4,
            tenant="globex",
            vendor=Vendor.NVIDIA,
            bmc=BmcSpec(url="https://bmc-002.dc1:8443"),
        ),
        NodeSpec(name="npu-003", host="10.0.0.3", rack="R2", slot=1, height=4, tenant="acme", vendor=Vendor.ASCEND),
        NodeSpec(name="gpu-004", host="10.0.0.4", rack="R2", slot=5, height=4, vendor=Vendor.NVIDIA),
    )
    inventory = Inventory(
        Path("fleet.toml"), specs, racks=(RackSpec("R2", row="B", position=1), RackSpec("R1", "A", 3))
    )
    fleet = FleetModel(inventory)
    now = time.time()
    for name, util, temp, vendor in (
        ("gpu-001", 0.0, 40.0, Vendor.NVIDIA),
        ("gpu-002", 90.0, 91.0, Vendor.NVIDIA),
        ("npu-003", 50.0, 100.0, Vendor.ASCEND),
    ):
        fleet.set_state(name, NodeState.UP)
        samples = [
            AcceleratorSample(
                index=g,
                vendor=vendor,
                utilization_pct=util,
                temperature_c=temp,
                power_w=350.0,
                power_limit_w=700.0,
                uuid=f"GPU-{name}-{g}",
                pci_bus_id=f"00000000:{0x18 + g:02X}:00.0",
                npu_id=g if vendor == Vendor.ASCEND else None,
                health="Alarm" if vendor == Vendor.ASCEND and g == 1 else "OK",
            )
            for g in range(2)
        ]
        fleet.ingest(name, [ParsedLine(sample=s) for s in samples], now)
    fleet.set_state("gpu-004", NodeState.UNREACHABLE, "no route to host")
    fleet.apply_report(
        "gpu-002",
        HealthReport(taken_at=now, gpus=(GpuDetail(index=1, serial="1652922001234", pci_bus_id="00000000:19:00.0"),)),
    )
    return inventory, fleet


def _cells(groups: list, node: str) -> list:  # type: ignore[type-arg]
    return [c for g in groups for c in g.cells if c.node == node]


def test_idle_and_unreachable_are_never_the_same_cell() -> None:
    _inventory, fleet = _world()
    groups = floor_groups(fleet.views(), ColorBy.UTILIZATION, GroupBy.RACK, RULES)
    idle = _cells(groups, "gpu-001")
    assert [(c.kind, c.level) for c in idle] == [(CellKind.VALUE, 0.0), (CellKind.VALUE, 0.0)]
    (down,) = _cells(groups, "gpu-004")  # never read: one cell, and it says why
    assert down.kind == CellKind.UNREACHABLE and down.words == "unreachable"


def test_temperature_is_coloured_against_the_vendors_limit_and_power_against_the_gpus() -> None:
    _inventory, fleet = _world()
    hot = floor_groups(fleet.views(), ColorBy.TEMPERATURE, GroupBy.RACK, RULES)
    # The scale runs from 30 °C to the vendor's critical limit plus a margin: what passes it is apart.
    assert (
        _cells(hot, "gpu-002")[0].level == pytest.approx((91 - 30) / (92 + TEMP_MARGIN_C - 30))
        and "91 °C of 92" in _cells(hot, "gpu-002")[0].words
        and not _cells(hot, "gpu-002")[0].over_limit
    )
    ascend = _cells(hot, "npu-003")[0]  # Ascend's own limit, 105 °C
    assert ascend.level == pytest.approx((100 - 30) / (105 + TEMP_MARGIN_C - 30)) and ascend.value == 100.0
    power = floor_groups(fleet.views(), ColorBy.POWER, GroupBy.RACK, RULES)
    assert _cells(power, "gpu-001")[0].level == pytest.approx(0.5)


def test_health_takes_the_alerts_and_the_ascend_health_word() -> None:
    _inventory, fleet = _world()

    class Given:
        rules = RULES

        def evaluate(self, facts: object) -> dict[str, tuple[Alert, ...]]:
            return {"gpu-002": (Alert("gpu-002", "xid_79", 1, Severity.CRITICAL, "off the bus", {}, 1.0, 1.0),)}

    fleet.evaluate_alerts(Given())  # type: ignore[arg-type]
    health = floor_groups(fleet.views(), ColorBy.HEALTH, GroupBy.VENDOR, RULES)
    assert [c.level for c in _cells(health, "gpu-002")] == [0.0, 1.0]
    assert [c.level for c in _cells(health, "npu-003")] == [0.0, 1.0]  # Alarm: critical, as its alert
    assert "npu-smi: Alarm" in _cells(health, "npu-003")[1].words


def test_groups_by_rack_tenant_partition_and_vendor_the_unnamed_last() -> None:
    _inventory, fleet = _world()
    views = fleet.views()
    by = {
        group_by: [(g.name, g.nodes) for g in floor_groups(views, ColorBy.UTILIZATION, group_by, RULES, partitions)]
        for group_by, partitions in (
            (GroupBy.RACK, None),
            (GroupBy.TENANT, None),
            (GroupBy.PARTITION, first_partitions([("gpu", ["gpu-001", "gpu-002"]), ("ascend", ["npu-003"])])),
            (GroupBy.VENDOR, None),
        )
    }
    assert by[GroupBy.RACK] == [("R1", ["gpu-001", "gpu-002"]), ("R2", ["npu-003", "gpu-004"])]
    assert by[GroupBy.TENANT] == [("acme", ["gpu-001", "npu-003"]), ("globex", ["gpu-002"]), ("(none)", ["gpu-004"])]
    assert by[GroupBy.PARTITION][-1] == ("(none)", ["gpu-004"]) and by[GroupBy.PARTITION][0][0] == "ascend"
    assert [name for name, _ in by[GroupBy.VENDOR]] == ["ascend", "nvidia"]
    tenants = floor_groups(views, ColorBy.UTILIZATION, GroupBy.TENANT, RULES, tenants={"gpu-004": "initech"})
    assert [g.name for g in tenants][-1] == "(none)"  # Slurm's tenancy given: the others hold none


def test_racks_are_elevations_in_hall_order_and_clashes_are_listed_not_drawn() -> None:
    inventory, _fleet = _world()
    racks = elevations(inventory)
    assert [(r.name, r.row) for r in racks] == [("R1", "A"), ("R2", "B")]
    assert [(s.node, s.unit, s.height) for s in racks[0].slots] == [("gpu-001", 1, 4), ("gpu-002", 5, 4)]
    clash = Inventory(
        Path("f.toml"),
        (
            NodeSpec(name="a", host="h", rack="R9", slot=1, height=4),
            NodeSpec(name="b", host="h", rack="R9", slot=3),
            NodeSpec(name="c", host="h", rack="R9", slot=41, height=4),
            NodeSpec(name="d", host="h", rack="R9"),
        ),
    )
    (r9,) = elevations(clash)
    assert [s.node for s in r9.slots] == ["a"] and r9.unplaced == ["d", "b", "c"]


def test_the_inventory_takes_racks_and_heights_and_refuses_bad_ones(tmp_path: Path) -> None:
    text = (
        '[[rack]]\nname = "R1"\nrow = "A"\nposition = 2\n'
        '[[node]]\nname = "n1"\nhost = "h"\nrack = "R1"\nslot = 3\nheight = 8\n'
    )
    inventory = parse_inventory(text, tmp_path / "f.toml")
    assert inventory.racks == (RackSpec("R1", "A", 2, 42),) and inventory.node("n1").height == 8
    for bad, words in (
        (text.replace("height = 8", "height = 0"), "height must be 1 to 60"),
        (text.replace('name = "R1"\n', ""), "needs a name"),
        (text.replace("position = 2", "colour = 2"), "unknown key"),
    ):
        with pytest.raises(InventoryError, match=words):
            parse_inventory(bad, tmp_path / "f.toml")


def test_a_box_is_found_by_any_of_its_names_whole_and_case_blind() -> None:
    inventory, fleet = _world()
    views = fleet.views()
    (uuid,) = find_boxes("gpu-GPU-002-1".replace("gpu-GPU", "GPU-gpu"), inventory, views)
    assert (uuid.node, uuid.accelerator, uuid.what, uuid.serial) == ("gpu-002", 1, "uuid", "1652922001234")
    assert uuid.words() == "gpu-002: hall row A / rack R1 / unit 5 / GPU 1 (bus 19:00.0)"
    assert [m.what for m in find_boxes("1652922001234", inventory, views)] == ["serial"]
    by_bus = find_boxes("19:00.0", inventory, views)
    assert {(m.node, m.accelerator) for m in by_bus} == {("gpu-001", 1), ("gpu-002", 1), ("npu-003", 1)}
    assert find_boxes("00000000:19:00.0", inventory, views)[0].pci_bus_id == "00000000:19:00.0"
    assert [(m.node, m.what) for m in find_boxes("BMC-002.DC1", inventory, views)] == [("gpu-002", "bmc")]
    assert [(m.node, m.accelerator) for m in find_boxes("npu 1", inventory, views)] == [("npu-003", 1)]
    assert find_boxes("gpu-00", inventory, views) == [] and find_boxes("  ", inventory, views) == []
    assert [m.what for m in find_boxes("10.0.0.4", inventory, views)] == ["address"]
    assert find_boxes("gpu-002", inventory, views)[0].as_json()["hall_row"] == "A"
    assert short_bus("0000:5D:00.0") == "5d:00.0"


def test_a_nodes_cells_are_kept_while_its_view_is_the_same_and_rebuilt_when_it_changes() -> None:
    from console.core.floor.heatmap import CellCache

    _inventory, fleet = _world()
    cache = CellCache()
    first = floor_groups(fleet.views(), ColorBy.UTILIZATION, GroupBy.RACK, RULES, cache=cache)
    again = floor_groups(fleet.views(), ColorBy.UTILIZATION, GroupBy.RACK, RULES, cache=cache)
    assert _cells(again, "gpu-001")[0] is _cells(first, "gpu-001")[0]  # unchanged: the same cells
    sample = AcceleratorSample(index=0, vendor=Vendor.NVIDIA, utilization_pct=75.0)
    fleet.ingest("gpu-001", [ParsedLine(sample=sample)], time.time())
    changed = floor_groups(fleet.views(), ColorBy.UTILIZATION, GroupBy.RACK, RULES, cache=cache)
    assert _cells(changed, "gpu-001")[0].level == pytest.approx(0.75)
    assert _cells(changed, "gpu-002")[0] is _cells(first, "gpu-002")[0]
    by_heat = floor_groups(fleet.views(), ColorBy.TEMPERATURE, GroupBy.RACK, RULES, cache=cache)
    assert "°C" in _cells(by_heat, "gpu-002")[0].words  # another measure: rebuilt


def test_76_and_100_degrees_are_apart_on_the_scale_and_past_the_limit_is_its_own_colour() -> None:
    _inventory, fleet = _world()
    now = time.time()
    for g, temp in ((0, 76.0), (1, 100.0)):
        sample = AcceleratorSample(index=g, vendor=Vendor.NVIDIA, temperature_c=temp)
        fleet.ingest("gpu-001", [ParsedLine(sample=sample)], now)
    warm, hot = _cells(floor_groups(fleet.views(), ColorBy.TEMPERATURE, GroupBy.RACK, RULES), "gpu-001")
    assert hot.level - warm.level > 0.3 and hot.level < 1.0
    assert hot.over_limit and not warm.over_limit and "over the critical limit" in hot.words


def test_a_groups_figure_is_its_max_and_mean_and_groups_sort_by_it() -> None:
    _inventory, fleet = _world()
    by_name = floor_groups(fleet.views(), ColorBy.TEMPERATURE, GroupBy.RACK, RULES)
    assert [g.name for g in by_name] == ["R1", "R2"]
    assert group_figure(by_name[0], ColorBy.TEMPERATURE).words() == "max 91 °C · mean 66 °C"
    assert (
        group_figure(by_name[1], ColorBy.TEMPERATURE).words() == "max 100 °C · mean 100 °C"
    )  # the down node: no value
    hottest = floor_groups(fleet.views(), ColorBy.TEMPERATURE, GroupBy.RACK, RULES, order=GroupOrder.TOP)
    assert [g.name for g in hottest] == ["R2", "R1"]
    assert group_figure(by_name[0], ColorBy.HEALTH).words() == ""  # health has no figure


@pytest.mark.parametrize(
    ("word", "severity", "level"),
    [
        ("Alarm", Severity.CRITICAL, 1.0),
        ("Critical", Severity.CRITICAL, 1.0),
        ("General Warning", Severity.WARNING, 0.5),
        ("Important  Warning", Severity.WARNING, 0.5),
        ("Warning", Severity.WARNING, 0.5),
        ("Overheated Gently", Severity.WARNING, 0.5),  # a word npu-smi may add: never read as healthy
        ("OK", None, 0.0),
    ],
)
def test_an_ascend_health_word_colours_the_heatmap_as_severely_as_it_alerts(
    word: str, severity: Severity | None, level: float
) -> None:
    from console.core.alerts.rules import AlertEngine

    inventory = Inventory(Path("fleet.toml"), (NodeSpec(name="npu-1", host="h", vendor=Vendor.ASCEND),))
    fleet = FleetModel(inventory)
    fleet.set_state("npu-1", NodeState.UP)
    sample = AcceleratorSample(index=0, vendor=Vendor.ASCEND, temperature_c=50.0, health=word)
    fleet.ingest("npu-1", [ParsedLine(sample=sample)], time.time())
    alerts = [a for a in fleet.evaluate_alerts(AlertEngine(RULES)) if a.rule == "accelerator_health"]
    assert [a.severity for a in alerts] == ([severity] if severity else [])
    (cell,) = _cells(floor_groups(fleet.views(), ColorBy.HEALTH, GroupBy.VENDOR, RULES), "npu-1")
    # The cell reads the tool's word and, beside the alert, counts it as the alert does.
    assert cell.level == level
    assert (f"npu-smi: {word}" in cell.words) == (severity is not None)
