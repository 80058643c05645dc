"""The window, offscreen, with pytest-qt; any Qt warning fails the test (see pyproject's qt_log_level_fail)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage

from console.app import LiveFleet
from console.core.inventory import parse_inventory
from console.core.parsers.nvidia_csv import NvidiaCsvParser
from console.core.telemetry.fleet import FleetModel
from console.core.telemetry.samples import NodeState
from console.gui.fleet_table import Column
from console.gui.main_window import MainWindow
from console.gui.session import ConsoleSession
from console.gui.style import HOT_BACKGROUND, STATE_COLOURS
from tests.helpers.fakes import FakeClock, nvidia_line
from tests.helpers.live import FAST, NO_USER_CONFIG, inventory_for
from tests.paths import NVIDIA

EIGHT_H100 = NVIDIA / "table_8xH100-SXM-80GB-HBM3_driver565.57.01_idle_no-timestamp-line.txt"


@pytest.fixture
def session(qtbot: Any, sshd_factory: Any, tmp_path: Path) -> Iterator[ConsoleSession]:
    sshd = sshd_factory(["127.0.0.2", "127.0.0.3", "127.0.0.4"], **{"127_0_0_3": EIGHT_H100})
    # 127.0.0.4 answers but its host key is not known: a row that must stand out.
    known = tmp_path / "known_hosts"
    sshd.write_known_hosts(known, ["127.0.0.2", "127.0.0.3"])
    inventory = inventory_for(
        sshd,
        tmp_path,
        {"h100-load": "127.0.0.2", "dgx-idle": "127.0.0.3", "new-node": "127.0.0.4"},
        known_hosts=known,
    )
    live = LiveFleet(inventory, NO_USER_CONFIG, FAST)
    console = ConsoleSession(live, interval_ms=100)
    qtbot.addWidget(console.window)
    console.start()
    console.window.show()
    yield console
    console.stop()


def _row(window: MainWindow, name: str) -> int:
    row = window.model.row_of(name)
    assert row is not None
    return row


def _cell(window: MainWindow, name: str, column: Column, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
    return window.model.data(window.model.index(_row(window, name), column), role)


def test_table_fills_from_replayed_recordings_over_real_sshd_and_plots_get_points(
    qtbot: Any, session: ConsoleSession
) -> None:
    window = session.window
    qtbot.waitUntil(lambda: _cell(window, "h100-load", Column.STATE) == "up", timeout=20_000)
    qtbot.waitUntil(lambda: _cell(window, "dgx-idle", Column.ACCELERATORS) == "8", timeout=20_000)
    qtbot.waitUntil(lambda: _cell(window, "new-node", Column.STATE) == "host key unknown", timeout=20_000)
    qtbot.waitUntil(lambda: _cell(window, "h100-load", Column.UTIL_MEAN) == "100 %", timeout=20_000)
    assert _cell(window, "h100-load", Column.TEMP_MAX) == "59 °C"
    assert _cell(window, "dgx-idle", Column.POWER) == "682 W"  # 100+82+85+85+84+85+86+75 from the recording
    unknown_bg = _cell(window, "new-node", Column.NODE, Qt.ItemDataRole.BackgroundRole)
    assert unknown_bg == QColor(STATE_COLOURS[NodeState.HOST_KEY_UNKNOWN][1])
    assert "SHA256:" in _cell(window, "new-node", Column.ISSUE)

    assert window.select_node("dgx-idle")
    panel = window.panel
    assert panel.view is not None and panel.view.name == "dgx-idle"
    assert panel.accelerators.rowCount() == 8
    qtbot.waitUntil(lambda: panel.util_plot.points_drawn >= 16 and panel.temp_plot.points_drawn >= 16, timeout=10_000)
    assert len(panel.temp_plot.curves) == 8
    counts = window.state_labels[NodeState.UP].text()
    assert "up: <b>2</b>" in counts


def test_filter_problems_only_and_keyboard_navigation(qtbot: Any, session: ConsoleSession) -> None:
    window = session.window
    qtbot.waitUntil(lambda: _cell(window, "new-node", Column.STATE) == "host key unknown", timeout=20_000)
    qtbot.waitUntil(lambda: _cell(window, "h100-load", Column.STATE) == "up", timeout=20_000)
    qtbot.waitUntil(lambda: _cell(window, "dgx-idle", Column.STATE) == "up", timeout=20_000)

    qtbot.keyClicks(window.filter, "dgx")
    assert window.proxy.rowCount() == 1
    window.filter.clear()
    window.problems.setChecked(True)
    assert window.proxy.rowCount() == 1
    assert window.proxy.data(window.proxy.index(0, Column.NODE)) == "new-node"
    window.problems.setChecked(False)
    assert window.proxy.rowCount() == 3

    window.table.setFocus()
    window.table.setCurrentIndex(window.proxy.index(0, 0))
    first = window.panel.view
    qtbot.keyClick(window.table, Qt.Key.Key_Down)
    second = window.panel.view
    assert first is not None and second is not None and first.name != second.name
    assert second.name == window.proxy.data(window.proxy.index(1, Column.NODE))


def test_unreachable_node_shows_its_error_in_the_panel(qtbot: Any, session: ConsoleSession) -> None:
    window = session.window
    qtbot.waitUntil(lambda: _cell(window, "new-node", Column.STATE) == "host key unknown", timeout=20_000)
    window.select_node("new-node")
    assert window.panel.error.isVisibleTo(window.panel)
    assert "host key UNKNOWN" in window.panel.error.text()
    assert window.panel.reconnect.isVisibleTo(window.panel)
    with qtbot.waitSignal(window.panel.reconnect_requested) as requested:
        qtbot.mouseClick(window.panel.reconnect, Qt.MouseButton.LeftButton)
    assert requested.args == ["new-node"]
    qtbot.waitUntil(lambda: _cell(window, "h100-load", Column.STATE) == "up", timeout=20_000)
    window.select_node("h100-load")
    assert not window.panel.reconnect.isVisibleTo(window.panel)


def test_window_renders_to_a_png(qtbot: Any, session: ConsoleSession, tmp_path: Path) -> None:
    window = session.window
    qtbot.waitUntil(lambda: _cell(window, "dgx-idle", Column.ACCELERATORS) == "8", timeout=20_000)
    window.select_node("dgx-idle")
    window.resize(1600, 940)  # the desk screen (the offscreen screen is 800 px: the window fits what it has)
    target = tmp_path / "window.png"
    assert window.grab().save(str(target))
    image = QImage(str(target))
    assert image.width() >= 1200 and image.height() >= 800
    # What was painted, not only its size: many colours (text, plots, rows), and the "up" dot of the rows.
    colours = {image.pixelColor(x, y).name() for x in range(0, image.width(), 3) for y in range(0, image.height(), 3)}
    assert len(colours) > 50, f"a nearly blank window: {len(colours)} colours"
    assert not window.windowIcon().isNull()  # resources/icons/fleet-console.svg
    up = QColor(STATE_COLOURS[NodeState.UP][0])
    assert any(_near(QColor(c), up) for c in colours), "no state dot of an up node was painted"


def _near(a: QColor, b: QColor) -> bool:
    return abs(a.red() - b.red()) + abs(a.green() - b.green()) + abs(a.blue() - b.blue()) < 24


def _line(index: int, temp: str, count: str = "1") -> str:
    return nvidia_line(
        count=count,
        index=str(index),
        uuid="GPU-x",
        pci_bus_id="00000000:18:00.0",
        utilization_gpu="99",
        memory_used="10",
        temperature_gpu=temp,
        power_draw="650",
        clocks_sm="1400",
    )


def test_hot_row_stands_out_and_sorts_first_by_temperature(qtbot: Any) -> None:
    inventory = parse_inventory(
        '[[node]]\nname = "cool"\nhost = "a"\n[[node]]\nname = "hot"\nhost = "b"\n', Path("/x/f.toml")
    )
    fleet = FleetModel(inventory)
    window = MainWindow(fleet)
    qtbot.addWidget(window)
    parser = NvidiaCsvParser()
    for name, temp in (("cool", "60"), ("hot", "93")):
        fleet.set_state(name, NodeState.UP)
        fleet.ingest(name, [parser.parse_line(_line(0, temp))], 0.0)
    window.apply_snapshot(fleet.snapshot())
    assert _cell(window, "hot", Column.NODE, Qt.ItemDataRole.BackgroundRole) == QColor(HOT_BACKGROUND)
    assert _cell(window, "cool", Column.NODE, Qt.ItemDataRole.BackgroundRole) is None
    window.table.sortByColumn(Column.TEMP_MAX, Qt.SortOrder.DescendingOrder)
    assert window.proxy.data(window.proxy.index(0, Column.NODE)) == "hot"
    window.filter.setText("hot")
    assert window.proxy.rowCount() == 1
    assert "hot: <b>1</b>" in window.hot_label.text()
    assert "2 nodes · 2 accelerators" in window.total_label.text()
    # The count is kept as rows change: the hot node cools, the cool one gains a second accelerator.
    version = fleet.snapshot().version
    fleet.ingest("hot", [parser.parse_line(_line(0, "70"))], 1.0)
    fleet.ingest(
        "cool", [parser.parse_line(_line(0, "61", count="2")), parser.parse_line(_line(1, "61", count="2"))], 1.0
    )
    window.apply_snapshot(fleet.snapshot(version))
    assert window.hot_label.text() == ""
    assert "2 nodes · 3 accelerators" in window.total_label.text()


def test_cycles_are_collected_young_each_pass_and_frozen_ones_within_the_hour() -> None:
    """The collector's passes (the window's and headless): a cycle made since the last pass is freed by it;
    one that was alive (so frozen) at that pass and became garbage later waits for the hourly pass."""
    import gc
    import weakref

    from console.core.collector import collect_all, collect_recent, collect_young

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    gc.disable()
    try:
        young = Cycle()
        young_ref = weakref.ref(young)
        del young
        collect_young()
        assert young_ref() is None
        recent = Cycle()
        recent_ref = weakref.ref(recent)
        collect_recent()  # recent is alive: it survives, frozen
        assert gc.get_freeze_count() > 0
        del recent
        collect_recent()
        collect_young()
        assert recent_ref() is not None  # frozen: out of the collector's sight
        collect_all()
        assert recent_ref() is None
    finally:
        gc.unfreeze()
        gc.enable()


def test_qt_binding_keeps_references_to_none_and_true(qtbot: Any) -> None:
    """PySide6 6.12.0 dropped a reference to None/True on every call like processEvents(); on Python 3.11
    the console then aborted in bool_dealloc after minutes of repaints. pyproject pins it out; this guards."""
    from PySide6.QtWidgets import QApplication, QLabel

    label = QLabel("x")
    qtbot.addWidget(label)
    label.show()
    app = QApplication.instance()
    assert app is not None
    before = (sys.getrefcount(None), sys.getrefcount(True))
    for _ in range(200):
        app.processEvents()
        label.repaint()
    after = (sys.getrefcount(None), sys.getrefcount(True))
    assert after[0] >= before[0] - 20 and after[1] >= before[1] - 20, (before, after)


def test_alerts_fill_the_dock_colour_the_row_and_a_new_critical_is_announced(qtbot: Any, tmp_path: Path) -> None:
    from console.core.alerts.rules import AlertEngine

    clock = FakeClock(2_000_000.0)
    inventory = parse_inventory(
        '[[node]]\nname = "calm"\nhost = "a"\n[[node]]\nname = "burning"\nhost = "b"\n', Path("/x/f.toml")
    )
    fleet = FleetModel(inventory, clock=clock)
    engine = AlertEngine(clock=clock)
    window = MainWindow(fleet)
    qtbot.addWidget(window)
    parser = NvidiaCsvParser()
    version = 0
    for name in ("calm", "burning"):
        fleet.set_state(name, NodeState.UP)
    for _ in range(35):
        clock.advance(1)
        fleet.ingest("calm", [parser.parse_line(_line(0, "55"))], clock.now)
        fleet.ingest("burning", [parser.parse_line(_line(0, "97"))], clock.now)
        fleet.evaluate_alerts(engine)
        snap = fleet.snapshot(version)
        version = snap.version
        window.apply_snapshot(snap)
    dock = window.alerts_dock
    assert dock.model.rowCount() == 1
    alert = dock.model.alert_at(0)
    assert (alert.node, alert.rule, alert.accelerator) == ("burning", "temperature", 0)
    assert _cell(window, "burning", Column.ALERTS) == "critical: temperature"
    assert _cell(window, "calm", Column.ALERTS) == ""
    assert window.announced == ["CRITICAL burning: GPU 0 at 97 °C (limit 92 °C)"]
    assert "1</b> critical" in dock.summary.text()
    window.problems.setChecked(True)
    assert window.proxy.rowCount() == 1
    window.select_node("burning")
    assert "97 °C" in window.panel._fields["Alerts"].text()
    window.resize(1600, 940)
    window.grab().save(str(tmp_path / "alerts.png"))
    if os.environ.get("FLEET_SCREENSHOTS"):
        window.grab().save(str(Path(os.environ["FLEET_SCREENSHOTS"]) / "alerts-dock.png"))


def test_the_node_panel_says_the_locate_led_the_record_says_was_left_lit(qtbot: Any) -> None:
    from PySide6.QtWidgets import QLabel

    from console.core.actions.action_types import NodeDetails

    inventory = parse_inventory('[[node]]\nname = "n1"\nhost = "10.0.0.1"\n', Path("/x/f.toml"))
    fleet = FleetModel(inventory)
    window = MainWindow(fleet)
    qtbot.addWidget(window)
    window.apply_snapshot(fleet.snapshot())
    assert window.select_node("n1")
    lit = "locate LED still blinking since 2026-12-07 03:12:40 UTC (locate #41 by sam)"
    window.panel.show_details(NodeDetails(node="n1", power_state="On", led="Blinking", led_left_on=lit))
    assert any(lit in label.text() for label in window.panel.findChildren(QLabel))
