"""The floor in the window (pytest-qt, offscreen, Qt warnings fail): the heatmap's groups and colours
(unreachable never like idle), hover words, a click opening the node, a dragged rectangle or Ctrl+click
selecting nodes for the actions; the racks with a lit locate LED; Ctrl+K finding a GPU's box."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor

from console.core.actions.planning import ActionKind
from console.core.actions.runs import ActionState, ActionStatus
from console.core.floor.heatmap import CellKind
from console.core.telemetry.samples import AcceleratorSample, ParsedLine, Vendor
from console.gui.floor_canvas import UNREACHABLE_FILL, cell_colour
from console.gui.main_window import MainWindow
from tests.core.test_floor import RULES, _world
from tests.gui.test_walkthrough import NoActions

SHOTS = os.environ.get("FLEET_SCREENSHOTS")


def _window(qtbot: Any, lit: dict[str, str] | None = None) -> MainWindow:
    inventory, fleet = _world()
    actions = NoActions(fleet)
    actions.lit_leds = lambda: dict(lit if lit is not None else {})  # type: ignore[method-assign]
    actions.inventory = inventory.__class__(
        inventory.path, inventory.nodes, scheduler=actions.inventory.scheduler, racks=inventory.racks
    )
    window = MainWindow(fleet, actions=actions, inventory=actions.inventory, rules=RULES)  # type: ignore[arg-type]
    qtbot.addWidget(window)
    window.resize(1400, 860)
    window.show()
    window.apply_snapshot(fleet.snapshot())
    return window


def test_the_heatmap_groups_and_colours_and_never_draws_unreachable_as_idle(qtbot: Any) -> None:
    window = _window(qtbot)
    with qtbot.waitSignal(window.floor.refreshed):
        window.show_floor("heatmap", "utilization", "tenant")
    canvas = window.floor.canvas
    assert [g.name for g in canvas.groups] == ["acme", "globex", "(none)"]
    assert len(canvas.boxes) == sum(len(g.cells) for g in canvas.groups) == 7
    idle = next(b.cell for b in canvas.boxes if b.node == "gpu-001")
    down = next(b.cell for b in canvas.boxes if b.node == "gpu-004")
    assert idle is not None and down is not None and down.kind == CellKind.UNREACHABLE
    assert cell_colour(down, canvas.color_by) == QColor(UNREACHABLE_FILL) != cell_colour(idle, canvas.color_by)
    box = next(b for b in canvas.boxes if b.node == "gpu-002")
    assert canvas.describe(box).startswith("gpu-002 · GPU 0\nutilization: 90 %")
    assert "1 unreachable" in window.floor.summary.text() and "unreachable (never idle)" in window.floor.legend.text()
    window.floor.group.setCurrentText("rack")
    assert [g.name for g in canvas.groups] == ["R1", "R2"]
    if SHOTS:
        window.grab().save(str(Path(SHOTS) / "heatmap-test.png"))


def test_cells_selected_on_the_heatmap_select_their_nodes_for_the_actions(qtbot: Any) -> None:
    window = _window(qtbot)
    window.show_floor("heatmap", "health", "rack")
    canvas = window.floor.canvas
    first = [b for b in canvas.boxes if b.node in ("gpu-001", "gpu-002")]
    top_left = first[0].rect.topLeft() - QPoint(2, 2)
    bottom_right = first[-1].rect.bottomRight() + QPoint(2, 2)
    with qtbot.waitSignal(window.floor.nodes_selected) as chosen:
        qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=top_left)
        qtbot.mouseMove(canvas, pos=bottom_right)
        qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=bottom_right)
    assert chosen.args == [["gpu-001", "gpu-002"]]
    assert window.tabs.currentWidget() is window.floor  # the heatmap stays in front
    assert window.selected_nodes() == ["gpu-001", "gpu-002"]
    assert window.action_items[ActionKind.DRAIN].isEnabled()
    assert window.racks.canvas.selected == {"gpu-001", "gpu-002"}  # one selection in every view
    npu = next(b for b in canvas.boxes if b.node == "npu-003")
    with qtbot.waitSignal(window.floor.nodes_selected) as more:
        qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, npu.rect.center())
    assert more.args == [["gpu-001", "gpu-002", "npu-003"]]
    with qtbot.waitSignal(window.floor.node_chosen) as opened:
        qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=npu.rect.center())
    assert opened.args == ["npu-003"] and window.panel.view is not None and window.panel.view.name == "npu-003"


def test_ctrl_k_finds_a_gpu_shows_its_rack_and_blinking_its_led_shows_in_the_racks(qtbot: Any) -> None:
    lit: dict[str, str] = {}  # the record's LEDs, as the action service would read them
    window = _window(qtbot, lit)
    finder = window.open_find()
    qtbot.keyClicks(finder.query, "gpu-gpu-002-1")
    qtbot.keyClick(finder.query, Qt.Key.Key_Return)
    match = finder.selected()
    assert match is not None and match.node == "gpu-002" and match.accelerator == 1
    assert window.tabs.currentWidget() is window.racks
    assert window.racks.canvas.highlighted == "gpu-002"
    assert "hall row A / rack R1 / unit 5 / GPU 1" in window.racks.answer.text()
    assert finder.locate.isEnabled()  # gpu-002 has a BMC
    # The LED action ran (the guarded pipeline is tested elsewhere) and the record has it: the rack view
    # shows the LED on; once a later locate puts it out, off.
    lit["gpu-002"] = "locate LED still blinking since 03:12 (locate #41 by tina)"
    done = ActionStatus(41, "gpu-002", ActionKind.LOCATE, ActionState.DONE, "LED Blinking", (), time.time())
    window.relay.status.emit(done)
    qtbot.waitUntil(lambda: "gpu-002" in window.racks.canvas.leds)
    assert "locate LED on" in window.racks.canvas.describe(
        next(b for b in window.racks.canvas.boxes if b.node == "gpu-002")
    )
    if SHOTS:
        window.grab().save(str(Path(SHOTS) / "racks-found.png"))
    del lit["gpu-002"]
    window.relay.status.emit(
        ActionStatus(42, "gpu-002", ActionKind.LOCATE, ActionState.DONE, "LED Off", (), time.time())
    )
    qtbot.waitUntil(lambda: "gpu-002" not in window.racks.canvas.leds)
    finder.query.setText("nothing-like-this")
    assert finder.run() == [] and "nothing is" in finder.status.text()
    finder.close()


def test_the_tables_trend_column_draws_each_nodes_last_ten_minutes(qtbot: Any) -> None:
    import numpy as np

    from console.core.telemetry.fleet import FleetModel
    from console.core.telemetry.samples import AcceleratorSample, NodeState, ParsedLine, Vendor
    from console.gui.fleet_table import Column
    from console.gui.sparkline import POINTS, node_trend
    from tests.helpers.fakes import FakeClock

    inventory, _ = _world()
    clock = FakeClock(time.time() - 300)
    fleet = FleetModel(inventory, clock=clock)
    fleet.set_state("gpu-001", NodeState.UP)
    for step in range(30):  # five minutes of readings, utilisation climbing
        lines = [
            ParsedLine(
                sample=AcceleratorSample(
                    index=g, vendor=Vendor.NVIDIA, utilization_pct=step * 3.0 + g, temperature_c=40.0 + step
                )
            )
            for g in range(2)
        ]
        fleet.ingest("gpu-001", lines, clock())
        clock.advance(10)
    util, temp = node_trend(fleet, "gpu-001", clock())
    assert len(util) == POINTS and np.isnan(util[0])  # no reading ten minutes ago
    finite = util[np.isfinite(util)]
    assert len(finite) >= 15 and finite[-1] > finite[0] and np.nanmax(temp) >= 65
    (idle, _) = node_trend(fleet, "gpu-004", clock())  # unreachable, never read: nothing to draw
    assert np.isnan(idle).all()
    window = MainWindow(fleet, inventory=inventory, rules=RULES)
    qtbot.addWidget(window)
    window.show()
    assert window.table.itemDelegateForColumn(Column.TREND) is window.trend
    window.table.scrollTo(window.proxy.index(0, Column.TREND))
    window.table.grab()  # the delegate paints the rows in sight without a warning
    assert "gpu-001" in window.trend._cache


def test_the_periodic_heatmap_refresh_groups_the_cells_off_the_gui_thread(qtbot: Any, monkeypatch: Any) -> None:
    import threading

    from console.gui import floor_view

    window = _window(qtbot)
    window.show_floor("heatmap", "utilization", "rack")  # the operator's switch: at once, on the GUI thread
    threads: list[bool] = []
    grouped = floor_view.floor_groups

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread() is threading.main_thread())
        return grouped(*args, **kwargs)

    drawn_on: list[bool] = []
    draw = floor_view.draw_heatmap

    def recording_draw(*args: Any, **kwargs: Any) -> Any:
        drawn_on.append(threading.current_thread() is threading.main_thread())
        return draw(*args, **kwargs)

    monkeypatch.setattr(floor_view, "floor_groups", recording)
    monkeypatch.setattr(floor_view, "draw_heatmap", recording_draw)
    with qtbot.waitSignal(window.floor.refreshed):
        window.refresh_floor()  # the 2-s timer's call
    assert threads == [False]
    assert drawn_on == [False]  # the picture too is drawn off the GUI thread
    assert [g.name for g in window.floor.canvas.groups] == ["R1", "R2"]
    window.floor.group.setCurrentText("tenant")  # a change of grouping is at once again
    assert threads == [False, True]
    assert drawn_on == [False, True]


def test_a_heatmap_redrawn_with_the_same_nodes_keeps_their_places_and_a_new_width_lays_them_out_again(
    qtbot: Any,
) -> None:
    from PySide6.QtGui import QFont

    from console.core.floor.heatmap import ColorBy, GroupBy, floor_groups
    from console.gui import floor_view

    window = _window(qtbot)
    views = window.latest.views()
    groups = floor_groups(views, ColorBy.UTILIZATION, GroupBy.RACK, RULES, {}, None)
    first = floor_view.draw_heatmap(groups, ColorBy.UTILIZATION, 900, QFont())
    again = floor_view.draw_heatmap(
        floor_groups(views, ColorBy.TEMPERATURE, GroupBy.RACK, RULES, {}, None),
        ColorBy.TEMPERATURE,
        900,
        QFont(),
        first,
    )
    # Nothing moved: the places are kept; the words are new (each group's figure is for the new measure).
    assert [rect for rect, _ in again.labels] == [rect for rect, _ in first.labels]
    assert [text for _, text in again.labels] == [
        "R1 (2) · max 91 °C · mean 66 °C",
        "R2 (2) · max 100 °C · mean 100 °C",
    ]
    assert [b.rect for b in again.boxes] == [b.rect for b in first.boxes]
    assert [b.cell for b in again.boxes] != [b.cell for b in first.boxes]  # the cells are the new ones
    assert first.boxes[0].cell is groups[0].cells[0]  # the earlier picture's boxes are left as they were
    narrow = floor_view.draw_heatmap(groups, ColorBy.UTILIZATION, 400, QFont(), first)
    assert narrow.width == 400 and len(narrow.labels) == 2
    assert (narrow.cells, narrow.unreachable) == (7, 1)
    canvas = window.floor.canvas
    canvas.show_picture(narrow)  # drawn for another width than the canvas has: drawn again for its own
    assert canvas.picture is not None and canvas.picture.width == canvas.layout_width() != 400


def test_the_node_plots_wait_behind_another_tab_and_catch_up_when_it_comes_back(qtbot: Any) -> None:
    window = _window(qtbot)
    window.select_node("gpu-001")
    drawn: list[str] = []
    window.panel.refresh_plots = lambda: drawn.append(window.tabs.tabText(window.tabs.currentIndex()))  # type: ignore[method-assign]
    assert window.refresh_plots() and drawn == ["&Fleet"]
    window.show_floor("heatmap")
    assert not window.refresh_plots()  # the 1-s timer's call while the heatmap is in front
    assert drawn == ["&Fleet"]
    window.tabs.setCurrentIndex(0)  # back on the table: drawn at once
    assert drawn == ["&Fleet", "&Fleet"]


def test_the_hottest_rack_reads_off_the_labels_sorts_first_and_the_racks_colour_by_temperature(qtbot: Any) -> None:
    from console.core.floor.heatmap import GroupOrder
    from console.gui.floor_canvas import OVER_LIMIT_FILL
    from console.gui.floor_view import group_label

    window = _window(qtbot)
    with qtbot.waitSignal(window.floor.refreshed):
        window.show_floor("heatmap", "temperature", "rack")
    canvas = window.floor.canvas
    labels = [group_label(g, canvas.color_by) for g in canvas.groups]
    assert labels == ["R1 (2) · max 91 °C · mean 66 °C", "R2 (2) · max 100 °C · mean 100 °C"]
    assert [text for _rect, text in canvas.picture.labels] == labels  # what the picture draws
    with qtbot.waitSignal(window.floor.refreshed):
        window.floor.order.setCurrentText(GroupOrder.TOP.value)
    assert [g.name for g in canvas.groups] == ["R2", "R1"]
    hot = next(b.cell for b in canvas.boxes if b.node == "npu-003")  # 100 °C: under Ascend's 105, no magenta
    assert hot is not None and not hot.over_limit
    # The racks by temperature: each chassis in its highest reading's colour, said in words on hover.
    window.show_floor("racks")
    with qtbot.waitSignal(window.racks.refreshed):
        window.racks.color.setCurrentText("temperature")
    look = window.racks.canvas.looks["gpu-002"]
    assert look.words.startswith("highest temperature: GPU ") and "91 °C of 92" in look.words
    assert look.fill != window.racks.canvas.looks["gpu-001"].fill  # 91 °C is not 40 °C
    assert "temperature 30 °C" in window.racks.legend.text()
    window.fleet.ingest(
        "gpu-001",
        [ParsedLine(sample=AcceleratorSample(index=0, vendor=Vendor.NVIDIA, temperature_c=97.0))],
        time.time(),
    )
    window.apply_snapshot(window.fleet.snapshot())
    with qtbot.waitSignal(window.racks.refreshed):
        window.racks.refresh()
    assert window.racks.canvas.looks["gpu-001"].fill == OVER_LIMIT_FILL  # past NVIDIA's 92: its own colour
    if SHOTS:
        window.grab().save(str(Path(SHOTS) / "racks-by-temperature.png"))


def test_a_locate_led_the_record_says_was_left_lit_shows_in_the_racks_from_the_start(qtbot: Any) -> None:
    """Lit by this desk before a restart, or by another desk: the record, not the window, keeps it."""
    lit = {"gpu-002": "locate LED still on since 2026-12-07 03:12 (locate #41 by dana.k)", "gone-9": "…"}
    window = _window(qtbot, lit)
    qtbot.waitUntil(lambda: "gpu-002" in window.leds)
    assert window.leds == {"gpu-002"}  # a node the inventory no longer has is left out
    window.show_floor("racks", "health", "rack")
    qtbot.waitUntil(lambda: "gpu-002" in window.racks.canvas.leds)
    box = next(b for b in window.racks.canvas.boxes if b.node == "gpu-002")
    assert "locate LED on" in window.racks.canvas.describe(box)
