"""What the technician's walkthrough (issue 12) found, each pinned by a test (pytest-qt, offscreen, Qt
warnings fail), on a fleet model fed by hand: Slurm's state readable and coloured, problems that Slurm
alone knows kept under "Problems only"."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from console.core.alerts.config import default_rules
from console.core.inventory import Inventory, NodeSpec
from console.core.parsers.slurm import state_words
from console.core.telemetry.fleet import FleetModel
from console.core.telemetry.samples import AcceleratorSample, NodeState, ParsedLine, Vendor
from console.gui.fleet_table import Column
from console.gui.main_window import MainWindow
from console.gui.style import SLURM_DRAIN_COLOURS, SLURM_OUT_COLOURS

SHOTS = os.environ.get("FLEET_SCREENSHOTS")
SLURM = {
    "gpu-001": "ALLOCATED",
    "gpu-002": "ALLOCATED+DRAIN",
    "gpu-003": "IDLE+DRAIN",
    "gpu-004": "MIXED+DRAIN+REBOOT_REQUESTED",
    "gpu-005": "DOWN+NOT_RESPONDING",
    "gpu-006": "IDLE",
}


def _fleet(names: list[str]) -> FleetModel:
    specs = tuple(NodeSpec(name=n, host=f"10.0.0.{i}", rack="R1", slot=i) for i, n in enumerate(names, 1))
    fleet = FleetModel(Inventory(Path("fleet.toml"), specs))
    for name in names:
        fleet.set_state(name, NodeState.UP)
        lines = [
            ParsedLine(
                sample=AcceleratorSample(index=g, vendor=Vendor.NVIDIA, utilization_pct=50.0, temperature_c=55.0)
            )
            for g in range(8)
        ]
        fleet.ingest(name, lines, time.time())
    return fleet


def _window(qtbot: Any, fleet: FleetModel) -> MainWindow:
    window = MainWindow(fleet)
    qtbot.addWidget(window)
    window.resize(1600, 900)
    window.show()
    window.apply_snapshot(fleet.snapshot())
    return window


def _cell(window: MainWindow, name: str, column: Column, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
    row = window.model.row_of(name)
    assert row is not None
    return window.model.data(window.model.index(row, column), role)


def test_slurm_states_are_told_apart_in_full_words_that_fit_their_column(qtbot: Any) -> None:
    fleet = _fleet(list(SLURM))
    fleet.set_scheduler_states(SLURM)
    window = _window(qtbot, fleet)
    shown = {name: _cell(window, name, Column.SCHEDULER) for name in SLURM}
    assert shown == {
        "gpu-001": "allocated",
        "gpu-002": "draining",
        "gpu-003": "drained",
        "gpu-004": "draining · reboot pending",
        "gpu-005": "down · not responding",
        "gpu-006": "idle",
    }
    metrics = window.table.fontMetrics()
    width = window.table.horizontalHeader().sectionSize(Column.SCHEDULER)
    assert all(metrics.horizontalAdvance(text) + 12 <= width for text in shown.values()), width
    assert "Slurm: MIXED+DRAIN+REBOOT_REQUESTED" in _cell(window, "gpu-004", Column.NODE, Qt.ItemDataRole.ToolTipRole)
    # The drain colour shows (the row's own colour no longer wins), and down is not drained.
    background = Qt.ItemDataRole.BackgroundRole
    assert _cell(window, "gpu-003", Column.SCHEDULER, background) == QColor(SLURM_DRAIN_COLOURS[0])
    assert _cell(window, "gpu-005", Column.SCHEDULER, background) == QColor(SLURM_OUT_COLOURS[0])
    assert _cell(window, "gpu-001", Column.SCHEDULER, background) is None
    if SHOTS:
        window.grab().save(str(Path(SHOTS) / "slurm-column.png"))


def test_problems_only_keeps_nodes_slurm_holds_out_of_service(qtbot: Any) -> None:
    fleet = _fleet(list(SLURM))
    fleet.set_scheduler_states(SLURM)
    window = _window(qtbot, fleet)
    window.problems.setChecked(True)
    kept = {window.proxy.data(window.proxy.index(r, Column.NODE)) for r in range(window.proxy.rowCount())}
    assert kept == {"gpu-002", "gpu-003", "gpu-004", "gpu-005"}
    window.problems.setChecked(False)
    window.filter.setText("drained")
    assert window.proxy.rowCount() == 1 and window.proxy.data(window.proxy.index(0, Column.NODE)) == "gpu-003"


def test_slurms_state_words_name_each_flag() -> None:
    assert state_words("IDLE+DRAIN").words == "drained"
    assert state_words("DOWN+DRAIN+REBOOT_ISSUED").words == "down · drained · rebooting"
    assert state_words("IDLE+POWERED_DOWN").out_of_service and not state_words("MIXED").out_of_service
    assert state_words("MIXED+SOMETHING_NEW").words == "mixed · something new"


class QuietRunner:
    def __init__(self) -> None:
        self.listeners: list[Any] = []

    def submit(self, plan: Any, typed: Any = ()) -> list[Any]:
        return []

    def cancel(self, action_id: int) -> bool:
        return False

    def statuses(self) -> list[Any]:
        return []

    def add_listener(self, listener: Any) -> None:
        self.listeners.append(listener)


class NoActions:
    """An ActionsPort that plans nothing and runs nothing: the window's own logic is under test."""

    operator = "tina"

    def __init__(self, fleet: FleetModel) -> None:
        specs = tuple(fleet.spec(n) for n in fleet.names)
        self.inventory = Inventory(Path("fleet.toml"), specs, scheduler=NodeSpec(name="scheduler", host="ctl"))
        self._runner = QuietRunner()

    @property
    def runner(self) -> QuietRunner:
        return self._runner

    def plan(self, request: Any) -> Any:
        raise NotImplementedError

    def node_details(self, node: str) -> Any:
        raise LookupError("no scheduler here")

    def partitions(self) -> dict[str, Any]:
        return {}

    def earlier_unfinished(self, hours: float = 24.0) -> list[Any]:
        return []

    def lit_leds(self) -> dict[str, str]:
        return {}


def test_after_a_filter_the_panel_and_the_toolbar_show_the_same_node_or_none(qtbot: Any) -> None:
    from console.core.actions.planning import ActionKind

    fleet = _fleet(list(SLURM))
    fleet.set_scheduler_states(SLURM)
    window = MainWindow(fleet, actions=NoActions(fleet))  # type: ignore[arg-type]
    qtbot.addWidget(window)
    window.show()
    window.apply_snapshot(fleet.snapshot())
    drain = window.action_items[ActionKind.DRAIN]
    assert window.select_node("gpu-003")
    assert window.panel.view is not None and drain.isEnabled()

    # A filter that hides the node: the panel empties every field, and no action is offered for a hidden node.
    window.filter.setText("gpu-001")
    qtbot.waitUntil(lambda: window.panel.view is None)
    assert window.panel.title.text() == "Select a node"
    assert {label.text() for label in window.panel._fields.values()} == {"–"}
    assert window.panel.accelerators.rowCount() == 0
    assert not drain.isEnabled()

    # The keyboard moves the current row without selecting: the toolbar acts on the node the panel shows.
    window.filter.clear()
    qtbot.waitUntil(lambda: window.proxy.rowCount() == len(SLURM))
    window.table.selectionModel().clearSelection()
    window.table.setFocus()
    window.table.selectionModel().setCurrentIndex(
        window.proxy.index(1, 0), window.table.selectionModel().SelectionFlag.NoUpdate
    )
    assert window.panel.view is not None and window.panel.view.name == "gpu-002"
    assert window.selected_nodes() == ["gpu-002"] and drain.isEnabled()
    assert "gpu-002" in drain.toolTip()


def _alert(node: str, rule: str, severity: Any, first: float, last: float, gpu: int | None = 0) -> Any:
    from console.core.alerts.rules import Alert

    return Alert(node, rule, gpu, severity, f"{rule} on {node}", {"value": 1}, first, last)


def test_the_alerts_dock_keeps_its_selection_while_alerts_are_seen_again_and_enter_opens_the_node(
    qtbot: Any,
) -> None:
    from console.core.alerts.config import Severity
    from console.gui.alerts_dock import AlertsDock

    dock = AlertsDock()
    qtbot.addWidget(dock)
    dock.resize(1000, 260)
    dock.show()
    model = dock.model
    model.set_node_alerts("gpu-003", (_alert("gpu-003", "xid_79", Severity.CRITICAL, 100.0, 100.0, 6),))
    model.set_node_alerts("gpu-007", (_alert("gpu-007", "hot", Severity.WARNING, 110.0, 110.0),))
    dock.table.setCurrentIndex(model.index(1, 0))  # the warning on gpu-007
    with qtbot.assertNotEmitted(model.modelReset):
        for second in range(5):  # the fleet streams: every alert is seen again each second
            model.set_node_alerts(
                "gpu-003", (_alert("gpu-003", "xid_79", Severity.CRITICAL, 100.0, 101.0 + second, 6),)
            )
            model.set_node_alerts("gpu-007", (_alert("gpu-007", "hot", Severity.WARNING, 110.0, 111.0 + second),))
        # A new critical alert lands above the selection: the selection follows its alert.
        model.set_node_alerts("gpu-001", (_alert("gpu-001", "ecc", Severity.CRITICAL, 90.0, 120.0),))
    assert model.rowCount() == 3
    selected = dock.table.selectionModel().selectedRows()
    assert [model.alert_at(i.row()).node for i in selected] == ["gpu-007"]
    assert model.alert_at(dock.table.currentIndex().row()).node == "gpu-007"
    with qtbot.waitSignal(dock.node_chosen) as chosen:
        qtbot.keyClick(dock.table, Qt.Key.Key_Return)
    assert chosen.args == ["gpu-007"]
    # Six rows in sight without scrolling.
    assert dock.table.viewport().height() >= 6 * dock.table.verticalHeader().defaultSectionSize()


def test_alerts_and_actions_have_docks_of_their_own(qtbot: Any) -> None:
    fleet = _fleet(list(SLURM))
    window = MainWindow(fleet, actions=NoActions(fleet))  # type: ignore[arg-type]
    qtbot.addWidget(window)
    window.show()
    assert window.dock is not None
    assert window.tabifiedDockWidgets(window.alerts_dock) == []
    assert not window.alerts_dock.visibleRegion().isEmpty() and not window.dock.visibleRegion().isEmpty()


def test_the_alerts_dock_rows_stay_in_worst_first_order_through_any_sequence_of_updates(qtbot: Any) -> None:
    import random

    from console.core.alerts.config import Severity
    from console.gui.alerts_dock import AlertsModel

    model = AlertsModel()
    rng = random.Random(7)
    nodes = [f"gpu-{i:03d}" for i in range(6)]
    current: dict[str, tuple[Any, ...]] = {}
    for step in range(300):
        node = rng.choice(nodes)
        alerts = tuple(
            _alert(node, rule, rng.choice([Severity.WARNING, Severity.CRITICAL]), rng.choice([1.0, 2.0, 3.0]), step)
            for rule in rng.sample(["hot", "ecc", "xid_79", "power"], rng.randint(0, 3))
        )
        current[node] = alerts
        model.set_node_alerts(node, alerts)
        expected = sorted(
            (a for group in current.values() for a in group),
            key=lambda a: (-int(a.severity), a.first_seen, a.node, a.rule, a.accelerator or -1),
        )
        assert [model.alert_at(r) for r in range(model.rowCount())] == expected, step


def test_the_window_fits_a_768_px_screen_with_plots_at_least_150_px_high(qtbot: Any, tmp_path: Path) -> None:
    from tests.gui.test_log_view import _records

    fleet = _fleet(list(SLURM))
    # Every tab counts (a tab widget is as tall as its tallest page): the Log's too.
    records = _records(tmp_path, fleet=fleet)
    window = MainWindow(fleet, actions=NoActions(fleet), records=records)  # type: ignore[arg-type]
    qtbot.addWidget(window)
    assert window.minimumSizeHint().height() <= 768 - 32 - 25, window.minimumSizeHint()  # a panel, a title bar
    window.resize(1366, 728)
    window.show()
    window.apply_snapshot(fleet.snapshot())
    assert window.select_node("gpu-001")
    panel = window.panel
    panel.node_tabs.setCurrentIndex(1)  # Trends
    qtbot.waitUntil(lambda: panel.util_plot.isVisible() and panel.temp_plot.height() >= 150)
    assert panel.util_plot.height() >= 150 and panel.temp_plot.height() >= 150
    ticks = panel.util_plot.getPlotItem().getAxis("bottom")._tickLevels
    assert [label for _, label in ticks[0]] == ["−8 min", "−4 min", "now"]
    if SHOTS:
        window.grab().save(str(Path(SHOTS) / "window-1366x768-trends.png"))


class GivenAlerts:
    """An alert engine that answers what the test says (the rules have tests of their own)."""

    def __init__(self, alerts: dict[str, tuple[Any, ...]]) -> None:
        self.alerts = alerts
        self.rules = default_rules()

    def evaluate(self, facts: Any) -> dict[str, tuple[Any, ...]]:
        return self.alerts


def test_the_gpu_off_the_bus_is_marked_with_its_bus_id_and_serial_and_the_title_takes_the_alerts_colour(
    qtbot: Any,
) -> None:
    from console.core.alerts.config import Severity
    from console.core.parsers.nvidia_xml import GpuDetail
    from console.core.telemetry.details import HealthReport
    from console.gui.accelerator_table import AccColumn
    from console.gui.style import CRITICAL_BACKGROUND, HOT_BACKGROUND, SEVERITY_COLOURS

    fleet = _fleet(["gpu-003", "gpu-004"])
    details = tuple(
        GpuDetail(index=g, serial=f"1652922{g:06d}", pci_bus_id=f"00000000:{0x18 + g:02X}:00.0") for g in range(8)
    )
    fleet.apply_report("gpu-003", HealthReport(taken_at=time.time(), gpus=details))
    xid = _alert("gpu-003", "xid_79", Severity.CRITICAL, 100.0, 100.0, 6)
    fleet.evaluate_alerts(GivenAlerts({"gpu-003": (xid,), "gpu-004": ()}))  # type: ignore[arg-type]
    window = _window(qtbot, fleet)
    assert window.select_node("gpu-003")
    panel = window.panel
    gpus = panel.accelerators
    headers = [gpus.headerData(c, Qt.Orientation.Horizontal) for c in range(gpus.columnCount())]
    assert headers[:4] == ["#", "Alert", "PCI bus", "Serial"]
    assert gpus.data(gpus.index(6, AccColumn.ALERT)) == "critical: xid 79"
    assert gpus.data(gpus.index(6, AccColumn.SERIAL)) == "1652922000006"
    assert gpus.data(gpus.index(6, AccColumn.BUS)) == "00000000:1E:00.0"
    assert gpus.data(gpus.index(6, AccColumn.MODEL), Qt.ItemDataRole.BackgroundRole) == QColor(CRITICAL_BACKGROUND)
    assert gpus.data(gpus.index(5, AccColumn.MODEL), Qt.ItemDataRole.BackgroundRole) is None
    title = panel.title.text()
    assert SEVERITY_COLOURS[2] in title and "critical: xid 79 on GPU 6" in title and "#15803d" not in title
    # Hot and critical are different colours, not two pinks.
    assert abs(QColor(HOT_BACKGROUND).hslHue() - QColor(CRITICAL_BACKGROUND).hslHue()) >= 20
    # The columns that need a person are in sight on a 1,600-px screen.
    header = window.table.horizontalHeader()
    right = header.sectionViewportPosition(Column.SCHEDULER) + header.sectionSize(Column.SCHEDULER)
    assert right <= window.table.viewport().width()
    assert header.visualIndex(Column.ALERTS) == header.visualIndex(Column.STATE) + 1
    if SHOTS:
        window.grab().save(str(Path(SHOTS) / "gpu-off-the-bus.png"))


def _order(window: MainWindow) -> list[str]:
    return [window.proxy.data(window.proxy.index(r, Column.NODE)) for r in range(window.proxy.rowCount())]


def _heat(fleet: FleetModel, temperatures: dict[str, float]) -> None:
    for name, temperature in temperatures.items():
        lines = [
            ParsedLine(sample=AcceleratorSample(index=g, vendor=Vendor.NVIDIA, temperature_c=temperature))
            for g in range(8)
        ]
        fleet.ingest(name, lines, time.time())


def test_rows_stay_put_between_slow_resorts_and_never_move_under_the_pointer(qtbot: Any, monkeypatch: Any) -> None:
    names = ["gpu-001", "gpu-002", "gpu-003", "gpu-004"]
    fleet = _fleet(names)
    _heat(fleet, {"gpu-001": 40.0, "gpu-002": 50.0, "gpu-003": 60.0, "gpu-004": 70.0})
    window = _window(qtbot, fleet)
    header = window.table.horizontalHeader()
    # The first click on a number column sorts the worst (hottest) first.
    x = header.sectionViewportPosition(Column.TEMP_MAX) + header.sectionSize(Column.TEMP_MAX) // 2
    from PySide6.QtCore import QPoint

    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2))
    assert header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
    assert _order(window) == ["gpu-004", "gpu-003", "gpu-002", "gpu-001"]

    since = fleet.snapshot().version
    _heat(fleet, {"gpu-001": 90.0, "gpu-004": 30.0})  # the readings turn the order round
    window.apply_snapshot(fleet.snapshot(since))
    assert _order(window) == ["gpu-004", "gpu-003", "gpu-002", "gpu-001"]  # nothing moved under the pointer
    window.filter.setText("gpu-00")  # with a filter on too: it applies to new readings, rows keep their places
    since = fleet.snapshot().version
    _heat(fleet, {"gpu-002": 95.0})
    window.apply_snapshot(fleet.snapshot(since))
    assert _order(window) == ["gpu-004", "gpu-003", "gpu-002", "gpu-001"]
    monkeypatch.setattr(window, "pointer_over_table", lambda: True)
    assert not window.resort() and _order(window)[0] == "gpu-004"
    monkeypatch.setattr(window, "pointer_over_table", lambda: False)
    window.select_node("gpu-003")
    assert window.resort()
    assert _order(window) == ["gpu-002", "gpu-001", "gpu-003", "gpu-004"]
    # The model re-sorts itself in one pass (not Qt asking for keys per comparison): the current row and
    # the selection follow their node.
    current = window.proxy.mapToSource(window.table.currentIndex())
    assert window.model.view_at(current.row()).name == "gpu-003" and window.panel.view.name == "gpu-003"  # type: ignore[union-attr]
    assert window.selected_nodes() == ["gpu-003"]


def test_after_run_the_action_comes_forward_and_the_status_bar_follows_it_to_its_outcome(qtbot: Any) -> None:
    from console.core.actions.planning import ActionKind
    from console.core.actions.runs import ActionState, ActionStatus

    fleet = _fleet(list(SLURM))
    window = MainWindow(fleet, actions=NoActions(fleet))  # type: ignore[arg-type]
    qtbot.addWidget(window)
    window.show()
    window.show_notice("CRITICAL gpu-003: GPU 6: XID 79, GPU has fallen off the bus", 60_000, critical=True)
    assert window.dock is not None
    queued = ActionStatus(8, "gpu-006", ActionKind.DRAIN, ActionState.QUEUED, "queued", (), time.time())
    window.relay.status.emit(queued)
    qtbot.waitUntil(lambda: "drain gpu-006 queued (#8)" in window.notice.text())
    assert window.dock.selected() is not None and window.dock.selected().id == 8
    assert not window.dock.visibleRegion().isEmpty()
    tracking = ActionStatus(8, "gpu-006", ActionKind.DRAIN, ActionState.TRACKING, "checking Slurm", (), time.time())
    window.relay.status.emit(tracking)
    qtbot.waitUntil(lambda: "drain gpu-006 tracking (#8): checking Slurm" in window.notice.text())
    done = ActionStatus(
        8, "gpu-006", ActionKind.DRAIN, ActionState.DONE, "Slurm: IDLE+DRAIN, reason 'tina: hot'", (), time.time()
    )
    window.relay.status.emit(done)
    qtbot.waitUntil(lambda: "drain gpu-006 done (#8): Slurm: IDLE+DRAIN" in window.notice.text())
    assert "XID 79" not in window.notice.text()


class PlansEverything(NoActions):
    """Plans every request as one harmless Slurm step (the dialog is under test, not the planning)."""

    def plan(self, request: Any) -> Any:
        from console.core.actions.planning import ActionPlan, Engine, Step

        step = Step(request.nodes[0], Engine.SLURM, "ctl", ("scontrol", "reboot", "ASAP", request.nodes[0]))
        return ActionPlan(request=request, steps=[step])


def test_enter_in_the_ticket_field_does_not_run_a_reboot_and_many_nodes_are_one_short_list(qtbot: Any) -> None:
    from console.core.actions.planning import ActionKind
    from console.gui.action_dialog import ActionDialog
    from console.gui.worker import Worker

    nodes = [f"gpu-{i:03d}" for i in range(1, 9)]
    fleet = _fleet(nodes)
    worker = Worker()
    try:
        dialog = ActionDialog(ActionKind.REBOOT, nodes, PlansEverything(fleet), worker)  # type: ignore[arg-type]
        qtbot.addWidget(dialog)
        dialog.show()
        assert "gpu-[001-008]" in dialog.windowTitle() and dialog.width() < 1000
        qtbot.keyClicks(dialog.reason, "ECC storm")
        qtbot.waitUntil(dialog.run_button.isEnabled)
        dialog.ticket.setFocus()
        qtbot.keyClicks(dialog.ticket, "OPS-12")
        qtbot.waitUntil(dialog.run_button.isEnabled)  # the preview for the ticket is back: Run could run
        with qtbot.assertNotEmitted(dialog.confirmed):
            qtbot.keyClick(dialog.ticket, Qt.Key.Key_Return)
        assert dialog.isVisible()
    finally:
        worker.shutdown()


def test_tab_moves_between_the_table_the_panel_and_the_docks(qtbot: Any) -> None:
    from PySide6.QtWidgets import QApplication

    fleet = _fleet(list(SLURM))
    window = MainWindow(fleet, actions=NoActions(fleet))  # type: ignore[arg-type]
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    window.apply_snapshot(fleet.snapshot())
    assert window.select_node("gpu-001") and window.dock is not None
    window.table.setFocus()
    qtbot.waitUntil(window.table.hasFocus)
    visited = []
    for _ in range(3):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        visited.append(QApplication.focusWidget())
    assert visited == [window.panel.table, window.alerts_dock.table, window.dock.table]
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Backtab)
    assert QApplication.focusWidget() is window.alerts_dock.table


def test_the_window_asks_who_is_there_and_takes_only_a_name_the_audit_log_can_hold(qtbot: Any) -> None:
    from PySide6.QtWidgets import QDialogButtonBox

    from console.core.actions.roles import Role
    from console.gui.identity import OperatorDialog

    dialog = OperatorDialog("root", role=Role.SUPERVISOR)
    qtbot.addWidget(dialog)
    dialog.show()
    # The title is whole ("Who is at the console?"), and the role in effect is offered, to be changed here.
    assert dialog.windowTitle() == "Who is at the console?" and dialog.width() >= 460
    assert dialog.chosen_role() == Role.SUPERVISOR
    dialog.role.setCurrentText("liaison")
    assert dialog.chosen_role() == Role.LIAISON
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert ok is not None and not ok.isEnabled()
    qtbot.keyClicks(dialog.name, "dana: night")
    assert not ok.isEnabled() and "':'" in dialog.problem.text()
    dialog.name.clear()
    qtbot.keyClicks(dialog.name, "dana.k")
    assert ok.isEnabled() and dialog.chosen() == "dana.k"


class PlansWithSlurm(NoActions):
    """Plans with the real planning over a Slurm that holds a reboot of every node until its jobs end."""

    def plan(self, request: Any) -> Any:
        from console.core.actions.planning import plan_action
        from tests.core.test_planning import FakeEngines
        from tests.helpers.fakes import FakeSlurm

        slurm = FakeSlurm(states=dict.fromkeys(request.nodes, "MIXED+DRAIN+REBOOT_REQUESTED"))
        return plan_action(request, self.inventory, FakeEngines(slurm))  # type: ignore[arg-type]


def test_the_cancel_reboot_dialog_says_what_the_node_is_afterwards_and_offers_resume(qtbot: Any) -> None:
    from console.core.actions.planning import ActionKind
    from console.gui.action_dialog import ActionDialog
    from console.gui.worker import Worker

    fleet = _fleet(["gpu-006"])
    worker = Worker()
    try:
        dialog = ActionDialog(ActionKind.CANCEL_REBOOT, ["gpu-006"], PlansWithSlurm(fleet), worker)  # type: ignore[arg-type]
        qtbot.addWidget(dialog)
        dialog.resize(860, 560)
        dialog.show()
        qtbot.waitUntil(dialog.run_button.isEnabled)
        text = dialog.preview.toPlainText()
        assert "Slurm undrains it (MIXED, in service)" in text and "stays MIXED+DRAIN" in text
        assert "State=RESUME" not in text
        dialog.option("then_resume").setChecked(True)
        qtbot.waitUntil(lambda: dialog.run_button.isEnabled() and "State=RESUME" in dialog.preview.toPlainText())
        assert "is resumed: MIXED, in service" in dialog.preview.toPlainText()
        if SHOTS:
            dialog.grab().save(str(Path(SHOTS) / "cancel-reboot-preview.png"))
    finally:
        worker.shutdown()


def test_a_snapshot_of_scattered_rows_is_one_data_changed_over_their_span(qtbot: Any) -> None:
    from console.gui.fleet_table import FleetTableModel

    names = [f"gpu-{i:03d}" for i in range(1, 7)]
    fleet = _fleet(names)
    model = FleetTableModel(fleet.views())
    spans: list[tuple[int, int]] = []
    model.dataChanged.connect(lambda top, bottom, _roles=(): spans.append((top.row(), bottom.row())))
    since = fleet.snapshot().version
    _heat(fleet, {"gpu-002": 91.0, "gpu-005": 40.0})  # rows 1 and 4, not next to each other
    model.apply(fleet.snapshot(since).changed)
    assert spans == [(1, 4)]
    assert model.view_at(1).max_temperature == 91.0 and model.view_at(4).max_temperature == 40.0
    model.apply([])
    assert spans == [(1, 4)]  # nothing changed: no signal


class RefusedBySlurm(NoActions):
    """Plans every request as refused because Slurm cannot be reached (beside the reason rule's refusal)."""

    def plan(self, request: Any) -> Any:
        from console.core.actions.planning import ActionPlan, check_reason

        refusals = [*check_reason(request), "Slurm could not be read: Unable to contact slurm controller"]
        return ActionPlan(request=request, refusals=refusals)


class RefusedForTheReasonOnly(NoActions):
    def plan(self, request: Any) -> Any:
        from console.core.actions.planning import ActionPlan, check_reason

        return ActionPlan(request=request, refusals=check_reason(request))


def test_closing_a_refused_action_records_the_attempt_unless_only_the_reason_was_missing(qtbot: Any) -> None:
    from console.core.actions.planning import ActionKind
    from console.gui.action_dialog import ActionDialog
    from console.gui.worker import Worker

    fleet = _fleet(["gpu-001"])
    worker = Worker()
    try:
        for service, recorded in ((RefusedForTheReasonOnly(fleet), False), (RefusedBySlurm(fleet), True)):
            dialog = ActionDialog(ActionKind.DRAIN, ["gpu-001"], service, worker)  # type: ignore[arg-type]
            qtbot.addWidget(dialog)
            dialog.show()
            qtbot.waitUntil(lambda d=dialog: d.plan is not None)
            emitted: list[Any] = []
            dialog.refused.connect(emitted.append)
            qtbot.keyClick(dialog, Qt.Key.Key_Escape)
            assert not dialog.isVisible()
            assert [p.request.nodes for p in emitted] == ([("gpu-001",)] if recorded else [])
    finally:
        worker.shutdown()
