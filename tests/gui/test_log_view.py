"""The Log view and the handover report in the window (pytest-qt, offscreen, Qt warnings fail), on the real
store and archive: the shift's incidents and actions, acknowledge / note / resolve from the keyboard and
buttons, the node timeline, the report shown, saved and signed off, and a liaison who can change nothing."""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QMessageBox

from console.core.actions.roles import Role
from console.core.alerts.config import load_rules
from console.core.alerts.incidents import IncidentState, ShiftName
from console.core.inventory import parse_inventory
from console.core.records.archive import TelemetryArchive
from console.core.records.incident_log import IncidentLog
from console.core.records.incident_types import AcceleratorRef
from console.core.records.store import Store
from console.core.telemetry.fleet import FleetModel, NodeMinute
from console.core.telemetry.samples import NodeState
from console.gui.handover_dialog import HandoverDialog
from console.gui.log_tables import IncidentColumn
from console.gui.log_view import LogView
from console.gui.main_window import MainWindow
from console.gui.worker import Worker
from console.services.incidents import IncidentService
from console.services.shift_log import ShiftLog

SHOTS = os.environ.get("FLEET_SCREENSHOTS")
INVENTORY = """
[[node]]
name = "gpu-001"
host = "10.0.0.1"
rack = "R1"
tenant = "acme"
[[node]]
name = "gpu-002"
host = "10.0.0.2"
rack = "R2"
tenant = "globex"
"""


@dataclass
class Records:
    """The window's RecordsPort over the real store and archive (no live fleet)."""

    incidents: IncidentService
    log: ShiftLog
    problems: list[str] = field(default_factory=list)


def _records(tmp_path: Path, role: Role = Role.TECHNICIAN, fleet: FleetModel | None = None) -> Records:
    inventory = parse_inventory(INVENTORY, tmp_path / "fleet.toml")
    store = Store(tmp_path / "console.sqlite3")
    archive = TelemetryArchive(tmp_path / "telemetry.sqlite3")
    now = time.time()
    start = int(now - 3 * 3600) // 60 * 60
    for minute in range(0, 3 * 60):
        util = 90.0 if minute < 120 else 0.0
        nodes = [
            NodeMinute("gpu-001", NodeState.UP, tuple((i, (util, util, 70.0 + i, 500.0, 1000.0, 60)) for i in range(8)))
        ]
        archive.write([(start + minute * 60, nodes)], [])
    archive.write(
        [], [("gpu-001", now - 3600, "slurm", "IDLE+DRAIN"), ("gpu-001", now - 3700, "xid", "XID 79 on GPU 6")]
    )
    log = IncidentLog(store)
    log.open(
        nodes=["gpu-001"],
        cause="xid_79",
        severity="critical",
        opened_by="rule:xid_79",
        message="GPU 6 fell off the bus",
        accelerators=[AcceleratorRef("gpu-001", 6, "GPU-6")],
        tenants=["acme"],
        at=now - 3700,
    )
    log.open(nodes=["gpu-002"], cause="temperature", severity="warning", opened_by="rule:temperature", at=now - 600)
    store.record_intent(
        operator="alice",
        kind="drain",
        node="gpu-001",
        params={},
        reason="XID 79",
        ticket="OPS-7",
        engine="slurm",
        host=None,
        command=None,
        session="s",
    )
    service = IncidentService(store, inventory, load_rules().incidents, operator="alice", role=role, fleet=fleet)
    return Records(service, ShiftLog(store, inventory, archive, fleet=fleet))


WORKERS: list[Worker] = []


@pytest.fixture(autouse=True)
def _workers_drained(qtbot: Any) -> Any:
    """Every read a test started is delivered (or dropped) before the next test: none lands in another."""
    yield
    for worker in WORKERS:
        qtbot.waitUntil(lambda w=worker: w.pending() == 0, timeout=10_000)
        worker.shutdown()
    WORKERS.clear()


def _worker() -> Worker:
    WORKERS.append(Worker())
    return WORKERS[-1]


def _view(qtbot: Any, records: Records) -> LogView:
    view = LogView(records, _worker())  # type: ignore[arg-type]
    qtbot.addWidget(view)
    view.resize(1600, 900)
    view.shift.setCurrentText("last 24 h")
    with qtbot.waitSignal(view.refreshed, timeout=10_000):
        view.refresh()
    # Every read started so far is shown: a later wait is for the next refresh, not one already queued.
    qtbot.waitUntil(lambda: view.worker.pending() == 0, timeout=10_000)
    return view


def _shot(widget: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        widget.grab().save(str(Path(SHOTS) / name))


def test_the_log_lists_incidents_worst_first_with_their_actions_and_figures(qtbot: Any, tmp_path: Path) -> None:
    view = _view(qtbot, _records(tmp_path))
    assert view.incident_proxy.rowCount() == 2 and view.action_proxy.rowCount() == 1
    view.incident_table.sortByColumn(IncidentColumn.SEVERITY, Qt.SortOrder.DescendingOrder)
    top = view.incident_proxy.index(0, IncidentColumn.CAUSE).data()
    assert top.startswith("xid_79: GPU 6 fell off the bus")
    assert view.action_proxy.index(0, 6).data() == "#1"  # the drain names its incident
    figures = _seen(view.figures.text())
    assert "Opened 2" in figures and "still open 2" in figures
    with qtbot.waitSignal(view.refreshed, timeout=10_000):
        view.severity.setCurrentText("warning")
    assert view.incident_proxy.rowCount() == 1
    with qtbot.waitSignal(view.refreshed, timeout=10_000):
        view.severity.setCurrentText("any severity")
    with qtbot.waitSignal(view.refreshed, timeout=10_000):
        view.rack.setCurrentText("R1")
    assert view.incident_proxy.rowCount() == 1 and view.action_proxy.rowCount() == 1
    view.text.setText("OPS-7")
    with qtbot.waitSignal(view.refreshed, timeout=10_000):
        qtbot.keyClick(view.text, Qt.Key.Key_Return)
    assert view.action_proxy.rowCount() == 1


def _seen(rich: str) -> str:
    document = QTextDocument()
    document.setHtml(rich)
    return document.toPlainText()


def test_each_figure_leads_to_its_incidents_and_a_repeat_offender_to_its_node(qtbot: Any, tmp_path: Path) -> None:
    records = _records(tmp_path)
    log = IncidentLog(records.log.store)
    now = time.time()
    log.acknowledge(2, "bob", None, at=now - 300)  # five minutes after it opened
    for n in range(7):  # seven nodes with two incidents each in 30 days: repeat offenders
        for k in range(2):
            log.open(nodes=[f"gpu-1{n}0"], cause=f"c{k}", severity="warning", opened_by="rule:x", at=now - 900 + k)
    log.resolve(3, "bob", None, at=now - 800)
    view = _view(qtbot, records)
    assert view.incident_proxy.rowCount() == 16
    figures = _seen(view.figures.text())
    assert "repeat offenders (30 days): gpu-100 (2)" in figures and "5 of 7 show all" in figures.replace("—", "")
    view.follow_figure("acknowledge")  # the figure's link
    assert view.incident_proxy.rowCount() == 1
    row = view.incident_proxy.index(0, IncidentColumn.ID)
    assert row.data() == "2" and view.incident_proxy.index(0, IncidentColumn.TO_ACKNOWLEDGE).data() == "5 min"
    assert "Showing the 1 incident(s) behind “time to acknowledge”" in _seen(view.figures.text())
    view.follow_figure("repeat_offenders")
    assert view.incident_proxy.rowCount() == 14
    view.follow_figure("offenders:")  # show all: every offender named
    assert "gpu-160 (2)" in _seen(view.figures.text()) and "show fewer" in _seen(view.figures.text())
    with qtbot.waitSignal(view.node_chosen) as chosen:
        view.follow_figure("node:gpu-130")
    assert chosen.args == ["gpu-130"]
    view.follow_figure("all")
    assert view.incident_proxy.rowCount() == 16
    # Time to resolve sorts as a duration, the unresolved after every resolved one.
    view.incident_table.sortByColumn(IncidentColumn.TO_RESOLVE, Qt.SortOrder.AscendingOrder)
    assert view.incident_proxy.index(0, IncidentColumn.ID).data() == "3"
    assert view.incident_proxy.index(0, IncidentColumn.TO_RESOLVE).data() == "2 min"
    _shot(view, "log-figures.png")


def test_a_technician_acknowledges_annotates_and_resolves_from_the_view(qtbot: Any, tmp_path: Path) -> None:
    records = _records(tmp_path)
    view = _view(qtbot, records)
    assert view.select_incident(1)
    assert view.ack_button.isEnabled() and view.resolve_button.isEnabled()
    view.note.setText("reseating GPU 6")
    with qtbot.waitSignal(view.refreshed, timeout=10_000):
        qtbot.mouseClick(view.ack_button, Qt.MouseButton.LeftButton)
    incident = view.selected_incident()
    assert incident is not None and incident.state == IncidentState.ACKNOWLEDGED and incident.acknowledged_by == "alice"
    assert not view.ack_button.isEnabled()
    qtbot.mouseClick(view.note_button, Qt.MouseButton.LeftButton)
    assert view.message.text() == "type the note first"
    view.note.setText("swapped, RMA 4471")
    with qtbot.waitSignal(view.refreshed, timeout=10_000):
        qtbot.mouseClick(view.note_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(view.refreshed, timeout=10_000):
        qtbot.mouseClick(view.resolve_button, Qt.MouseButton.LeftButton)
    incident = records.incidents.log.incident(1)
    assert incident.state == IncidentState.RESOLVED and [n.text for n in incident.notes] == ["swapped, RMA 4471"]
    assert "swapped, RMA 4471" in view.detail.toPlainText() and "resolved" in view.detail.toPlainText()


def test_enter_on_an_incident_shows_its_node_timeline_from_the_archive(qtbot: Any, tmp_path: Path) -> None:
    view = _view(qtbot, _records(tmp_path))
    view.select_incident(1)  # selecting shows the node's timeline on its own; Enter reads it again
    qtbot.waitUntil(lambda: view.worker.pending() == 0, timeout=10_000)
    view.timeline.shown = None
    view.incident_table.setFocus()
    with qtbot.waitSignal(view.timeline_shown, timeout=10_000):
        qtbot.keyClick(view.incident_table, Qt.Key.Key_Return)
    shown = view.timeline.shown
    assert shown is not None and shown.node == "gpu-001" and shown.series is not None
    assert shown.series.util.shape[1] == 8 and len(shown.series.times) > 60
    kinds = {e.kind for e in shown.events}
    assert {"incident", "action", "slurm", "xid"} <= kinds
    events = view.timeline.events
    assert events.topLevelItemCount() == len(shown.events)
    times = [events.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) for i in range(events.topLevelItemCount())]
    assert times == sorted(times) and times[0] < times[-1]  # oldest first, as a story is read
    view.show()
    qtbot.waitExposed(view)
    assert events.viewport().height() >= 4 * events.sizeHintForRow(0)  # more than three rows in sight
    _shot(view, "log-view.png")


def test_a_liaison_sees_the_log_but_every_changing_control_is_off(qtbot: Any, tmp_path: Path) -> None:
    view = _view(qtbot, _records(tmp_path, Role.LIAISON))
    view.select_incident(1)
    for control in (view.ack_button, view.note_button, view.resolve_button, view.open_button, view.note):
        assert not control.isEnabled()
    assert "liaison role reads only" in view.open_button.toolTip()
    assert view.timeline_button.isEnabled()


def test_the_handover_report_is_shown_saved_and_signed_off_by_a_supervisor(qtbot: Any, tmp_path: Path) -> None:
    records = _records(tmp_path, Role.SUPERVISOR)
    date, shift = records.log.current_shift()
    dialog = HandoverDialog(records, _worker(), date, shift)  # type: ignore[arg-type]
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=10_000)
    text = dialog.browser.toPlainText()
    assert "Open incidents" in text and "Not signed off." in text
    for fmt in ("html", "csv", "pdf"):
        dialog.save(fmt, tmp_path / f"report.{fmt}")
        assert (tmp_path / f"report.{fmt}").stat().st_size > 100, dialog.message.text()
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")
    qtbot.mouseClick(dialog.sign_button, Qt.MouseButton.LeftButton)
    assert "type a note" in dialog.message.text()
    dialog.note.setText("handed over to the night shift")
    # Signing off asks first, saying what it freezes; Cancel signs nothing.
    qtbot.mouseClick(dialog.sign_button, Qt.MouseButton.LeftButton)
    box = dialog.confirm_box
    assert box is not None and box.isVisible()
    assert "This freezes the report as it is now: 2 incident(s) open at the shift's end" in box.text()
    assert "added to it as amendments" in box.text()
    _shot(box, "handover-sign-off-confirm.png")
    qtbot.mouseClick(box.button(QMessageBox.StandardButton.Cancel), Qt.MouseButton.LeftButton)
    assert dialog.message.text() == "not signed off" and records.log.signoff(date, shift) is None
    qtbot.mouseClick(dialog.sign_button, Qt.MouseButton.LeftButton)
    assert dialog.confirm_box is not None
    with qtbot.waitSignal(dialog.loaded, timeout=10_000):
        qtbot.mouseClick(dialog.confirm_box.button(QMessageBox.StandardButton.Yes), Qt.MouseButton.LeftButton)
    assert "Signed off by alice (supervisor)" in dialog.browser.toPlainText()
    assert dialog.sign_button.text() == "&Amend"
    _shot(dialog, "handover.png")


def test_a_technician_cannot_sign_off(qtbot: Any, tmp_path: Path) -> None:
    records = _records(tmp_path)
    dialog = HandoverDialog(records, _worker(), dt.date.today(), ShiftName.DAY)  # type: ignore[arg-type]
    qtbot.addWidget(dialog)
    assert not dialog.sign_button.isEnabled() and "may not sign off" in dialog.sign_button.toolTip()
    window = MainWindow(FleetModel(records.log.inventory), records=records)  # type: ignore[arg-type]
    qtbot.addWidget(window)
    assert window.records_nothing.isHidden()  # a technician's desk records


def test_the_window_names_the_operator_and_role_and_a_liaison_gets_no_actions(qtbot: Any, tmp_path: Path) -> None:
    inventory = parse_inventory(INVENTORY, tmp_path / "fleet.toml")
    fleet = FleetModel(inventory)
    records = _records(tmp_path, Role.LIAISON, fleet)
    window = MainWindow(fleet, " — fleet.toml", records=records)  # type: ignore[arg-type]
    qtbot.addWidget(window)
    assert window.windowTitle() == "Fleet Console — fleet.toml — alice (liaison)"
    # A liaison's desk opens no incidents: the status bar says so, always in sight.
    assert not window.records_nothing.isHidden()
    assert window.records_nothing.text().startswith("this desk records nothing: incidents are opened by technicians'")
    assert window.log_view is not None
    with qtbot.waitSignal(window.log_view.refreshed, timeout=10_000):
        window.show_log()
    assert window.tabs.currentWidget() is window.log_view
    window.log_view.select_incident(1)
    with qtbot.waitSignal(window.log_view.node_chosen):
        window.log_view._go_to_node()
    assert window.tabs.currentIndex() == 0


def test_a_refused_attempt_shows_in_the_log_with_its_own_state_and_the_refusals_words(
    qtbot: Any, tmp_path: Path
) -> None:
    from console.gui.log_tables import ActionColumn

    records = _records(tmp_path)
    store = records.log.store
    row = store.record_intent(
        operator="dave",
        kind="power",
        node="gpu-002",
        params={"reset_type": "ForceRestart"},
        reason="hung",
        ticket=None,
        engine=None,
        host=None,
        command=None,
        session="s",
    )
    store.record_outcome(row, state="refused", message="not run: gpu-002: BMC https://bmc2 did not answer within 10 s")
    view = _view(qtbot, records)
    proxy = view.action_proxy
    [refused] = [
        proxy.index(r, ActionColumn.STATE) for r in range(proxy.rowCount()) if proxy.index(r, 0).data() == str(row)
    ]
    assert refused.data() == "refused"
    assert "did not answer within 10 s" in refused.data(Qt.ItemDataRole.ToolTipRole)
    assert refused.data(Qt.ItemDataRole.ForegroundRole) is not None


def test_a_liaisons_window_greys_every_action_with_the_words_the_runner_and_the_command_line_say(
    qtbot: Any, tmp_path: Path
) -> None:
    from console.core.actions.planning import ActionKind
    from console.core.actions.roles import Permission, refusal
    from console.core.inventory import parse_inventory
    from console.gui.main_window import MainWindow
    from console.gui.text import plain_tip
    from tests.gui.test_walkthrough import NoActions

    fleet = FleetModel(parse_inventory(INVENTORY, tmp_path / "fleet.toml"))
    records = _records(tmp_path, Role.LIAISON, fleet)
    window = MainWindow(fleet, actions=NoActions(fleet), records=records)  # type: ignore[arg-type]
    qtbot.addWidget(window)
    window.select_nodes([fleet.names[0]])
    words = refusal(Role.LIAISON, Permission.ACT)
    assert words is not None
    for item in (window.action_items[ActionKind.DRAIN], window.action_items[ActionKind.REBOOT]):
        assert not item.isEnabled() and item.toolTip() == plain_tip(words)
    move = window.move_item
    assert move is None or (not move.isEnabled() and move.toolTip() == plain_tip(words))
