"""The main window: fleet table, filter, node panel, status bar; and ``run_gui`` which starts it.

Data flow: a :class:`SnapshotWorker` in its own QThread takes snapshots of the fleet model on a timer and
sends them to the window through a queued signal; the window only applies them. Nothing on the GUI
thread touches the network, and the table repaints only rows that changed.
"""

from __future__ import annotations

import datetime as dt
import itertools
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QObject, QPoint, QSize, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QSplitter,
    QSystemTrayIcon,
    QTableView,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from console.core import collector
from console.core.actions.planning import SPECS, ActionKind, ActionPlan, availability
from console.core.actions.roles import Permission, records_nothing, refusal
from console.core.actions.runs import ActionState, ActionStatus
from console.core.alerts.incidents import ShiftName
from console.core.alerts.rules import AlertRules, Severity
from console.core.floor.find import BoxMatch, find_boxes
from console.core.floor.heatmap import elevations, first_partitions
from console.core.hostlist import compress
from console.core.inventory import Inventory
from console.core.telemetry.fleet import FleetModel, FleetSnapshot
from console.core.telemetry.samples import NodeState
from console.core.tenants.accounting import AccountingComparison
from console.core.tenants.allocation import UNASSIGNED, SchedulerAllocations, idle_capacity, tenancy, tenant_figures
from console.core.tenants.moves import MovePlan
from console.gui.action_dialog import ActionDialog
from console.gui.actions_dock import ActionsDock
from console.gui.alerts_dock import AlertsDock
from console.gui.find_dialog import FindBoxDialog
from console.gui.fleet_table import COLUMNS, NODE_NAME_ROLE, WORST_HIGH, Column, FleetFilterProxy, FleetTableModel
from console.gui.floor_view import FloorView, HeatmapPicture
from console.gui.handover_dialog import HandoverDialog
from console.gui.log_view import LogView
from console.gui.move_dialog import MoveTenantDialog
from console.gui.node_panel import NodePanel
from console.gui.ports import ActionsPort, MovesPort, RecordsPort
from console.gui.rack_view import RackView
from console.gui.screen_fit import fit_size
from console.gui.sparkline import TrendDelegate
from console.gui.style import STATE_COLOURS, action_icon, app_icon
from console.gui.tenants_view import TenantsView
from console.gui.text import LabelTexts, esc, plain_label, plain_tip, rich_label
from console.gui.worker import ChangeRelay, StatusRelay, Worker

SNAPSHOT_INTERVAL_MS: Final = 250
RECORDS_INTERVAL_MS: Final = 5000
TENANTS_REFRESH_MS: Final = 5000
LOG_REFRESH_MS: Final = 10_000
DETAILS_INTERVAL_MS: Final = 5000
PLOT_INTERVAL_MS: Final = 1000
# How often the fleet table re-sorts to new readings (never while the pointer is over it or an action's
# dialog or menu is open): rows stay put long enough to be clicked.
RESORT_MS: Final = 10_000
FLOOR_REFRESH_MS: Final = 2000  # the heatmap or the racks, while shown
RACKS_REFRESH_S: Final = 6.0
# How long the status bar keeps an action's words: while it runs (until its next change), and its outcome.
ACTION_PENDING_MS: Final = 3_600_000
ACTION_OUTCOME_MS: Final = 60_000


class FleetService(Protocol):
    """What the window needs from the wiring (console.app.LiveFleet): a model to read, a life cycle."""

    @property
    def fleet(self) -> FleetModel: ...

    @property
    def inventory(self) -> Inventory: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def reconnect(self, node: str) -> None: ...


class SnapshotWorker(QObject):
    """Lives in a worker thread; turns the fleet model into snapshots of what changed."""

    snapshot = Signal(object)

    def __init__(self, fleet: FleetModel, interval_ms: int = SNAPSHOT_INTERVAL_MS) -> None:
        super().__init__()
        self.fleet = fleet
        self.interval_ms = interval_ms
        self._version = 0
        self._timer: QTimer | None = None

    @Slot()
    def start(self) -> None:
        self._timer = QTimer(self)
        self._timer.setInterval(self.interval_ms)
        self._timer.timeout.connect(self.take)
        self._timer.start()
        self.take()

    @Slot()
    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()

    @Slot()
    def take(self) -> None:
        snap = self.fleet.snapshot(self._version)
        self._version = snap.version
        self.snapshot.emit(snap)


def repeating(parent: QObject, interval_ms: int, slot: Callable[[], object]) -> QTimer:
    """A started timer that calls ``slot`` every ``interval_ms`` on the GUI thread."""
    timer = QTimer(parent)
    timer.setInterval(interval_ms)
    timer.timeout.connect(slot)
    timer.start()
    return timer


class MainWindow(QMainWindow):
    def __init__(  # noqa: PLR0915 - builds the window: table, panel, docks, toolbar, shortcuts
        self,
        fleet: FleetModel,
        title_suffix: str = "",
        actions: ActionsPort | None = None,
        records: RecordsPort | None = None,
        allocations: Callable[[], SchedulerAllocations | None] | None = None,
        idle_since: Callable[[], Mapping[tuple[str, int], float]] | None = None,
        history: Callable[[str, str, str], list[tuple[str, float, float, float, float]]] | None = None,
        moves: MovesPort | None = None,
        accounting: Callable[[str, str, str], AccountingComparison] | None = None,
        inventory: Inventory | None = None,
        rules: AlertRules | None = None,
        idle_watching: Callable[[], float | None] | None = None,
    ) -> None:
        super().__init__()
        # The inventory's racks and places, and the alert rules' limits (the heatmap colours against them).
        self.inventory = inventory or Inventory(Path("fleet.toml"), tuple(fleet.spec(n) for n in fleet.names))
        self.rules = rules or AlertRules()
        self.leds: set[str] = set()  # nodes whose locate LED the console lit or read lit
        self.fleet = fleet
        self.moves = moves
        self.move_item: QAction | None = None
        self.move_dialog: MoveTenantDialog | None = None
        self.action_service = actions
        self.records = records
        who = ""
        if records is not None:
            # Who is at the console and in which role, always in sight: every record carries it.
            who = f" — {records.incidents.operator} ({records.incidents.role.value})"
        self.setWindowTitle(f"Fleet Console{title_suffix}{who}")
        self.setWindowIcon(app_icon())
        # 1600 × 940 where the screen has room; a crash-cart laptop's 1366 × 768 gets what it has, less its
        # panel and the window's own title bar.
        fit_size(self, 1600, 940)
        self.snapshots_applied = 0
        self.scheduler_problem: str | None = None
        self.last_apply_ms = 0.0

        self.model = FleetTableModel(fleet.views())
        self.proxy = FleetFilterProxy()
        self.proxy.setSourceModel(self.model)

        self.filter = QLineEdit()
        self.filter.setObjectName("fleet-filter")
        self.filter.setPlaceholderText("Filter: node, state, rack, tenant, 'hot'…  (Ctrl+F)")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(lambda text: self._hiding_rows(lambda: self.proxy.set_filter_text(text)))
        self.filter.returnPressed.connect(self._focus_table)
        self.problems = QCheckBox("Problems only")
        self.problems.setToolTip("Hide nodes that are up and not hot (Ctrl+P)")
        self.problems.toggled.connect(lambda on: self._hiding_rows(lambda: self.proxy.set_problems_only(on)))
        self.shown = plain_label("")
        self.shown.setStyleSheet("color:#555")

        self.table = QTableView()
        self.table.setObjectName("fleet-table")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(Column.NODE, Qt.SortOrder.AscendingOrder)
        self._sort_column = int(Column.NODE)
        self.table.horizontalHeader().sortIndicatorChanged.connect(self._sort_changed)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, spec in COLUMNS.items():
            if spec.width is not None:
                header.resizeSection(column, spec.width)
        header.setStretchLastSection(True)
        # Each row's last 10 minutes, utilisation in blue, the hottest GPU in red (only rows in sight draw).
        self.trend = TrendDelegate(fleet, lambda index: str(index.data(NODE_NAME_ROLE) or ""))
        self.table.setItemDelegateForColumn(Column.TREND, self.trend)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        # A filter, "Problems only" or new data hides rows: Qt then moves its current row to a neighbour; the
        # window puts it back on the panel's node, or clears both (see _hiding_rows).
        self._rows_sync_pending = False

        self.panel = NodePanel(fleet)

        top = QHBoxLayout()
        top.addWidget(self.filter, 1)
        top.addWidget(self.problems)
        top.addWidget(self.shown)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(6, 6, 0, 6)
        left_layout.addLayout(top)
        left_layout.addWidget(self.table)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.panel)
        splitter.setStretchFactor(0, 5)
        splitter.setStretchFactor(1, 4)
        splitter.setSizes([960, 640])
        self.tabs = QTabWidget()
        self.tabs.setObjectName("views")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(splitter, "&Fleet")
        self.setCentralWidget(self.tabs)
        self.log_view: LogView | None = None

        self.state_labels: dict[NodeState, QLabel] = {}
        self._status_texts = LabelTexts()
        self.hot_label = rich_label("")
        for state in NodeState:
            label = rich_label("")
            label.setObjectName(f"count-{state.name.lower()}")
            self.state_labels[state] = label
            self.statusBar().addWidget(label)
        self.statusBar().addWidget(self.hot_label)
        self.notice = rich_label("")
        self.notice.setObjectName("notice")
        self.statusBar().addWidget(self.notice, 1)
        self._notice_timer = QTimer(self)
        self._notice_timer.setSingleShot(True)
        self._notice_timer.timeout.connect(lambda: self.notice.setText(""))
        self.total_label = plain_label("")
        self.statusBar().addPermanentWidget(self.total_label)
        # A desk whose role opens no incidents says so, always in sight: a fault seen only here is in no record.
        silent = records_nothing(records.incidents.role) if records is not None else None
        self.records_nothing = plain_label(silent or "")
        self.records_nothing.setObjectName("records-nothing")
        self.records_nothing.setStyleSheet("color: #8a5a00; font-weight: bold;")
        self.records_nothing.setVisible(silent is not None)
        self.statusBar().addPermanentWidget(self.records_nothing)

        self._add_shortcuts()
        self.alerts_dock = AlertsDock(self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.alerts_dock)
        self.alerts_dock.node_chosen.connect(self.select_node)
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(app_icon(), self)
            self.tray.setToolTip("Fleet Console")
            self.tray.show()
        self.announced: list[str] = []
        self.action_items: dict[ActionKind, QAction] = {}
        self.worker: Worker | None = None
        self.dock: ActionsDock | None = None
        if actions is not None:
            self._add_actions(actions)
        if records is not None:
            self._add_log(records)
        # Who holds which accelerators: Slurm's side from the scheduler watch (in memory), or none.
        self.tenants_view = TenantsView(
            self.model.views,
            allocations or (lambda: None),
            idle_since,
            history,
            self._shared_worker() if history is not None else self.worker,
            accounting,
            idle_watching,
        )
        if moves is not None and self.dock is not None:
            self._add_move(moves)
        self.tenants_view.node_chosen.connect(self._show_node_from_log)
        self.tenants_view.nodes_chosen.connect(self.select_nodes)
        self.tabs.addTab(self.tenants_view, "&Tenants")
        self._add_floor()
        self.idle_label = plain_label("")
        self.idle_label.setObjectName("idle-capacity")
        self.statusBar().addPermanentWidget(self.idle_label)
        self._chain_focus()
        self.tenants_timer = repeating(self, TENANTS_REFRESH_MS, self.refresh_tenants)
        self.plot_timer = repeating(self, PLOT_INTERVAL_MS, self.refresh_plots)
        self.tabs.currentChanged.connect(lambda _i: self.refresh_plots())
        self.resort_timer = repeating(self, RESORT_MS, self.resort)
        self._update_counts({})

    # --- keyboard --------------------------------------------------------------------------------------------

    def _chain_focus(self) -> None:
        """Tab goes from the filter to the table, the node's GPUs, the alerts and the actions (and Shift+Tab
        back); inside a table the arrow keys move, so Tab never gets stuck walking its cells."""
        tables = [self.table, self.panel.table, self.alerts_dock.table]
        if self.dock is not None:
            tables.append(self.dock.table)
        for table in tables:
            table.setTabKeyNavigation(False)
        chain: list[QWidget] = [self.filter, self.problems, *tables]
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)

    def _add_shortcuts(self) -> None:
        find = QAction("Find", self)
        find.setShortcut(QKeySequence.StandardKey.Find)
        find.triggered.connect(self._focus_filter)
        problems = QAction("Problems only", self)
        problems.setShortcut(QKeySequence("Ctrl+P"))
        problems.triggered.connect(self.problems.toggle)
        clear = QAction("Clear filter", self)
        clear.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        clear.triggered.connect(self._clear_filter)
        for action in (find, problems, clear):
            self.addAction(action)

    # --- actions ---------------------------------------------------------------------------------------------

    def _add_actions(self, service: ActionsPort) -> None:
        worker = self._shared_worker()
        self.relay = StatusRelay()
        self.dock = ActionsDock(self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.dock)
        # Alerts and Actions side by side, each a dock of its own: both in sight while an action runs.
        self.splitDockWidget(self.alerts_dock, self.dock, Qt.Orientation.Horizontal)
        # Runner threads emit; the relay lives on the GUI thread, so the dock is updated there.
        self.relay.status.connect(self.dock.update_status, Qt.ConnectionType.QueuedConnection)
        self.relay.status.connect(self._action_changed, Qt.ConnectionType.QueuedConnection)
        service.runner.add_listener(self.relay.status.emit)
        # Alerts take the wider half: their words are longer than an action's.
        docks = [self.alerts_dock, self.dock]
        QTimer.singleShot(0, lambda: self.resizeDocks(docks, [3, 2], Qt.Orientation.Horizontal))
        self.dock.cancel_requested.connect(self._cancel_action)
        self.dock.cancel_reboot_requested.connect(
            lambda node: self.open_action(ActionKind.CANCEL_REBOOT, [node] if node in self.fleet.names else None)
        )
        # What earlier consoles left unfinished (a reboot still pending in Slurm): in the panel from the start.
        worker.call(
            service.earlier_unfinished,
            self.dock.load_earlier,
            lambda error: self.show_notice(f"Earlier consoles' actions could not be read: {error}", 15000),
        )
        # The locate LEDs the record says were left lit (by this desk before a restart, or another): lit in
        # the racks from the start.
        worker.call(
            service.lit_leds,
            self._leds_from_record,
            lambda error: self.show_notice(f"The locate LEDs' record could not be read: {error}", 15000),
        )
        toolbar = QToolBar("Actions", self)
        toolbar.setObjectName("actions-toolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.setIconSize(QSize(18, 18))
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
        self.actions_toolbar = toolbar
        for kind, spec in SPECS.items():  # each kind's label and shortcut come from its own module
            item = QAction(action_icon(kind.value), spec.label, self)
            item.setObjectName(f"action-{kind.value}")
            if spec.shortcut:
                item.setShortcut(QKeySequence(spec.shortcut))
            item.triggered.connect(lambda _checked=False, k=kind: self.open_action(k))
            toolbar.addAction(item)
            self.action_items[kind] = item
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.selectionModel().selectionChanged.connect(self._update_action_items)
        self.details_timer = repeating(self, DETAILS_INTERVAL_MS, self._refresh_details)
        self._update_action_items()

    def _add_move(self, moves: MovesPort) -> None:
        """The move-node wizard, beside the actions: it drains and resumes through the same runner."""
        item = QAction(action_icon("reassign"), "Move to tenant…", self)
        item.setObjectName("action-move-tenant")
        item.triggered.connect(lambda _checked=False: self.open_move())
        self.actions_toolbar.addAction(item)
        self.move_item = item
        self._update_action_items()

    def _chosen(self, nodes: list[str] | None) -> list[str]:
        """The nodes asked for, else the selected ones; none: the status bar says to select some."""
        nodes = nodes or self.selected_nodes()
        if not nodes:
            self.show_notice("Select one or more nodes first", 5000)
        return nodes

    def open_move(self, nodes: list[str] | None = None) -> MoveTenantDialog | None:
        if self.moves is None or self.worker is None:
            return None
        nodes = self._chosen(nodes)
        if not nodes:
            return None
        if self.move_dialog is not None and self.move_dialog.handle is not None and self.move_dialog.outcome is None:
            self.move_dialog.show()  # a move runs: show it rather than start a second one
            self.move_dialog.raise_()
            return self.move_dialog
        tenants = [r.tenant for r in self.tenants_view.rows if r.tenant != UNASSIGNED]
        tenants += [s.tenant for s in (self.action_service.inventory.nodes if self.action_service else ()) if s.tenant]
        self.move_dialog = MoveTenantDialog(nodes, self.moves, self.worker, tenants, self)
        self.move_dialog.moved.connect(self._moved)
        self.move_dialog.refused.connect(self._record_refused_move)
        self.move_dialog.show()
        return self.move_dialog

    def _record_refused_move(self, plan: MovePlan) -> None:
        """A refused move, recorded off the GUI thread (the Log view and the audit show it)."""
        moves, worker = self.moves, self._shared_worker()
        if moves is not None:
            worker.call(lambda: moves.record_refused(plan), lambda _row: None)

    def _moved(self, progress: object) -> None:
        self.refresh_tenants()
        message = str(getattr(progress, "message", ""))
        self.show_notice(message, 30000, critical=getattr(progress, "outcome", "") != "done")

    def _add_floor(self) -> None:
        """The whole floor: the heatmap and the racks, beside the table (refreshed while shown)."""
        self.floor = FloorView(
            self.model.views, lambda: self.rules, self._partitions, self._tenants, off_thread=self._floor_off_thread
        )
        self.racks = RackView(
            self.model.views, lambda: elevations(self.inventory), lambda: self.rules, lambda: self.leds
        )
        for view in (self.floor, self.racks):
            view.node_chosen.connect(self._show_node_from_log)
            view.nodes_selected.connect(self._floor_selected)
        self.tabs.insertTab(1, self.floor, "&Heatmap")
        self.tabs.insertTab(2, self.racks, "&Racks")
        # One selection: the table's rows, the heatmap's cells and the racks' chassis show the same nodes.
        self.table.selectionModel().selectionChanged.connect(self._share_selection)
        self._racks_at = 0.0
        self.tabs.currentChanged.connect(lambda _i: self.refresh_floor(force=True))
        self.floor_timer = repeating(self, FLOOR_REFRESH_MS, self.refresh_floor)
        find = QAction("Find the box", self)
        find.setShortcut(QKeySequence("Ctrl+K"))
        find.triggered.connect(self.open_find)
        self.addAction(find)
        self.find_dialog: FindBoxDialog | None = None

    def _floor_off_thread(
        self,
        work: Callable[[], HeatmapPicture],
        done: Callable[[HeatmapPicture], None],
        failed: Callable[[Exception], None],
    ) -> None:
        self._shared_worker().call(work, done, failed, owner=self.floor)

    def _shared_worker(self) -> Worker:
        """The window's one worker pool (scheduler and BMC reads, the log, the heatmap), made at first need."""
        if self.worker is None:
            self.worker = Worker()
        return self.worker

    def refresh_plots(self) -> bool:
        """The node's plots, every second while the Fleet tab is in front (behind another tab they would
        only take the GIL from the rest; they catch up when the tab comes back). Returns whether it drew."""
        if self.tabs.currentIndex() != 0:
            return False
        self.panel.refresh_plots()
        return True

    def refresh_floor(self, force: bool = False) -> None:
        """The heatmap every 2 s while shown; the racks (a costlier picture, slower states) every 6 s."""
        shown = self.tabs.currentWidget()
        if shown is self.floor:
            self.floor.refresh(now=force)
        elif shown is self.racks:
            now = time.monotonic()
            if force or now - self._racks_at >= RACKS_REFRESH_S:
                self._racks_at = now
                self.racks.refresh()

    def show_floor(self, view: str, color_by: str | None = None, group_by: str | None = None) -> None:
        """Open on the heatmap or the racks (``--view``, ``--color-by``, ``--group-by``)."""
        if color_by:
            self.floor.color.setCurrentText(color_by)
            if view != "heatmap" and self.racks.color.findText(color_by) >= 0:
                self.racks.color.setCurrentText(color_by)  # the racks by the same measure
        if group_by:
            self.floor.group.setCurrentText(group_by)
        self.tabs.setCurrentWidget(self.floor if view == "heatmap" else self.racks)
        self.refresh_floor(force=True)

    def _partitions(self) -> dict[str, str]:
        slurm = self.tenants_view.allocations()
        if slurm is None:
            return {}
        return first_partitions((p.name, p.nodes) for p in slurm.partitions.values())

    def _tenants(self) -> dict[str, str] | None:
        slurm = self.tenants_view.allocations()
        return {v.name: t for v in self.model.views() if (t := tenancy(v, slurm).tenant)}

    def _share_selection(self, *_args: object) -> None:
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        nodes = {str(self.proxy.data(self.proxy.index(row, 0), NODE_NAME_ROLE)) for row in rows}
        for canvas in (self.floor.canvas, self.racks.canvas):
            if canvas.selected != nodes:
                canvas.set_selected(nodes)

    def _floor_selected(self, nodes: list[str]) -> None:
        """Cells chosen on the floor select their nodes: the toolbar's actions then work on them."""
        self.select_nodes(nodes, switch=False)
        if nodes:
            self.show_notice(f"{len(nodes)} node(s) selected for the actions: {compress(nodes)}", 10000)

    def open_find(self) -> FindBoxDialog:
        if self.find_dialog is None:
            self.find_dialog = FindBoxDialog(lambda text: find_boxes(text, self.inventory, self.model.views()), self)
            self.find_dialog.found.connect(self._found)
            self.find_dialog.locate_requested.connect(self._locate_found)
        if self.find_dialog.isVisible():
            self.find_dialog.raise_()  # already open behind the window: bring it forward
        self.find_dialog.show()
        self.find_dialog.query.setFocus()
        self.find_dialog.query.selectAll()
        return self.find_dialog

    def _found(self, match: BoxMatch) -> None:
        self.tabs.setCurrentWidget(self.racks)
        self.racks.refresh()
        self.racks.highlight(match.node, match.words())
        self.select_nodes([match.node], switch=False)

    def _locate_found(self, node: str) -> None:
        dialog = self.open_action(ActionKind.LOCATE, [node])
        led = dialog.option("led") if dialog is not None else None
        if isinstance(led, QComboBox):
            led.setCurrentText("blink")

    def _add_log(self, records: RecordsPort) -> None:
        self.records_relay = ChangeRelay()
        self.log_view = LogView(records, self._shared_worker())
        self.log_view.node_chosen.connect(self._show_node_from_log)
        self.log_view.report_requested.connect(self.open_handover)
        self.tabs.addTab(self.log_view, "&Log")
        self.tabs.currentChanged.connect(self._tab_changed)
        # The incident service's thread says "changed"; the relay brings it to the GUI thread.
        self.records_relay.changed.connect(self._records_changed, Qt.ConnectionType.QueuedConnection)
        records.incidents.listeners.append(self.records_relay.changed.emit)
        self.records_timer = repeating(self, RECORDS_INTERVAL_MS, self._show_record_problems)
        # What other consoles and the terminal changed, and the newer archive minutes: read again while shown.
        self.log_timer = repeating(self, LOG_REFRESH_MS, self._records_changed)
        self.handover: HandoverDialog | None = None

    def refresh_tenants(self) -> None:
        """The Tenants view (when shown) and the fleet's idle capacity in the status bar (always)."""
        if self.tabs.currentWidget() is self.tenants_view or not self.tenants_view.rows:
            self.tenants_view.refresh()
            rows = self.tenants_view.rows
        else:
            rows = tenant_figures(self.model.views(), self.tenants_view.allocations())
        idle, total = idle_capacity(rows)
        self.idle_label.setText(f"idle: {idle} of {total} accelerators ({100 * idle / max(total, 1):.0f} %)")

    def show_tenants(self) -> None:
        self.tabs.setCurrentWidget(self.tenants_view)
        self.refresh_tenants()

    def show_log(self) -> None:
        if self.log_view is not None:
            self.tabs.setCurrentWidget(self.log_view)

    def _tab_changed(self, index: int) -> None:
        if self.log_view is not None and self.tabs.widget(index) is self.log_view:
            self.log_view.prefill_nodes(self.selected_nodes())
            self.log_view.refresh()

    def _records_changed(self) -> None:
        if self.log_view is not None and self.tabs.currentWidget() is self.log_view:
            self.log_view.refresh()

    def _show_record_problems(self) -> None:
        assert self.records is not None
        problems = self.records.problems
        if problems:
            self.show_notice("; ".join(problems), RECORDS_INTERVAL_MS * 2, critical=True)

    def _show_node_from_log(self, node: str) -> None:
        self.tabs.setCurrentIndex(0)
        self.select_node(node)

    def open_handover(self) -> HandoverDialog | None:
        if self.records is None or self.worker is None or self.log_view is None:
            return None
        qdate = self.log_view.date.date()
        choice = self.log_view.shift.currentText()
        shift = ShiftName(choice) if choice in (ShiftName.DAY.value, ShiftName.NIGHT.value) else None
        date = dt.date(qdate.year(), qdate.month(), qdate.day())
        if shift is None:
            date, shift = self.records.log.current_shift()
        self.handover = HandoverDialog(self.records, self.worker, date, shift, self)
        self.handover.show()
        return self.handover

    def selected_nodes(self) -> list[str]:
        """The selected rows' nodes; with none selected, the current row's (the node in the panel): the
        toolbar acts on what the panel shows."""
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        if not rows and self.table.currentIndex().isValid():
            rows = [self.table.currentIndex().row()]
        return [self.proxy.data(self.proxy.index(row, 0), NODE_NAME_ROLE) for row in rows]

    def _sort_changed(self, column: int, order: Qt.SortOrder) -> None:
        """A first click on a number column sorts the worst (largest) first."""
        first_click = column != self._sort_column
        self._sort_column = column
        if first_click and column in WORST_HIGH and order == Qt.SortOrder.AscendingOrder:
            self.table.horizontalHeader().setSortIndicator(column, Qt.SortOrder.DescendingOrder)

    def pointer_over_table(self) -> bool:
        return self.table.viewport().underMouse()

    def resort(self) -> bool:
        """Put the rows in order for the readings since the last sort, unless the operator is pointing at
        one or acting (a dialog or a menu is open). Returns whether it sorted."""
        if self.pointer_over_table() or QApplication.activeModalWidget() or QApplication.activePopupWidget():
            return False
        header = self.table.horizontalHeader()
        self._hiding_rows(lambda: self.proxy.sort(header.sortIndicatorSection(), header.sortIndicatorOrder()))
        return True

    def _hiding_rows(self, change: Callable[[], None]) -> None:
        """Run a change that may hide rows; then put the current row back on the panel's node if it is still
        shown, else clear both — the panel and the toolbar never drift to a node the operator did not choose
        (Qt moves its current row to a neighbour of a hidden one)."""
        self._rows_sync_pending = True
        try:
            change()
        finally:
            self._sync_current()

    def _sync_current(self) -> None:
        self._rows_sync_pending = False
        shown = self.panel.view
        selection = self.table.selectionModel()
        if shown is not None:
            row = self.model.row_of(shown.name)
            index = self.proxy.mapFromSource(self.model.index(row, 0)) if row is not None else QModelIndex()
            if index.isValid():
                if self.table.currentIndex().row() != index.row():
                    selection.setCurrentIndex(index, QItemSelectionModel.SelectionFlag.NoUpdate)
            else:
                selection.clearCurrentIndex()
                self.panel.show_view(None)
        self._update_action_items()

    def _update_action_items(self) -> None:
        if self.action_service is None:
            return
        nodes = self.selected_nodes()
        inventory = self.action_service.inventory
        refused = refusal(self.records.incidents.role, Permission.ACT) if self.records is not None else None
        read_only = refused is not None
        for kind, item in self.action_items.items():
            if refused is not None:
                item.setEnabled(False)
                item.setToolTip(plain_tip(refused))
                continue
            if not nodes:
                item.setEnabled(False)
                item.setToolTip("select one or more nodes first")
                continue
            reasons = [why for n in nodes if (why := availability(kind, inventory.node(n), inventory))]
            item.setEnabled(not reasons)
            item.setToolTip(
                plain_tip(reasons[0] if reasons else f"{kind.value} {compress(nodes)}: preview first, then run")
            )
        if self.move_item is not None:
            self.move_item.setEnabled(bool(nodes) and not read_only)
            self.move_item.setToolTip(
                plain_tip(refused or "")
                if read_only
                else plain_tip(f"move {compress(nodes)} to another tenant: preview first")
                if nodes
                else "select one or more nodes first"
            )

    def _context_menu(self, position: QPoint) -> None:
        menu = QMenu(self)
        for item in self.action_items.values():
            menu.addAction(item)
        if self.move_item is not None:
            menu.addAction(self.move_item)
        menu.popup(self.table.viewport().mapToGlobal(position))

    def open_action(self, kind: ActionKind, nodes: list[str] | None = None) -> ActionDialog | None:
        if self.action_service is None or self.worker is None:
            return None
        nodes = self._chosen(nodes)
        if not nodes:
            return None
        dialog = ActionDialog(kind, nodes, self.action_service, self.worker, self)
        dialog.confirmed.connect(self._submit)
        dialog.refused.connect(self._record_refused)
        dialog.setModal(True)
        dialog.show()
        self.last_dialog = dialog
        return dialog

    def _submit(self, plan: ActionPlan, typed: list[str]) -> None:
        assert self.action_service is not None and self.worker is not None
        runner = self.action_service.runner

        def refused(error: Exception) -> None:
            self.show_notice(f"Not run: {error}", 15000)

        # Writing the intent rows touches the disk: off the GUI thread like everything else.
        self.worker.call(lambda: runner.submit(plan, typed), lambda _statuses: None, refused)

    def _record_refused(self, plan: ActionPlan) -> None:
        """A refused attempt, recorded off the GUI thread (the Log view and the audit show it)."""
        assert self.action_service is not None and self.worker is not None
        runner = self.action_service.runner
        self.worker.call(lambda: runner.record_refused(plan), lambda _ids: None)

    def _cancel_action(self, action_id: int) -> None:
        assert self.action_service is not None and self.worker is not None
        runner = self.action_service.runner
        self.worker.call(lambda: runner.cancel(action_id), lambda _result: None)

    def _action_changed(self, status: ActionStatus) -> None:
        # An action on the node in the panel changes what Slurm or the BMC say: ask again now.
        view = self.panel.view
        if view is not None and view.name in status.node.split(","):
            self._refresh_details()
        self._led_changed(status)
        self._say_action(status)

    def _leds_from_record(self, lit: dict[str, str]) -> None:
        """The locate LEDs as the record has them: the racks draw exactly those."""
        known = set(lit) & set(self.fleet.names)
        if known != self.leds:
            self.leds = known
            if self.tabs.currentWidget() is self.racks:  # only the racks draw the LEDs
                self.refresh_floor(force=True)

    def _led_changed(self, status: ActionStatus) -> None:
        """An action that went through may have lit or put out a locate LED: the record says which (its
        kind's module reads it: console.core.actions.kinds.locate.lit_leds)."""
        if status.state != ActionState.DONE or self.action_service is None or self.worker is None:
            return
        self.worker.call(self.action_service.lit_leds, self._leds_from_record, lambda _error: None)

    def _say_action(self, status: ActionStatus) -> None:
        """After Run: the action comes forward in its dock, and the status bar says where it is ("drain
        gpu-006 queued (#8)") until it ends, then its outcome."""
        if self.dock is None or status.id in self.dock.earlier:
            return
        if status.state == ActionState.QUEUED:
            self.dock.show_action(status.id)
        words = f"{status.kind.value} {status.node} {status.state.value} (#{status.id})"
        if status.finished:
            failed = status.state != ActionState.DONE
            self.show_notice(f"{words}: {status.message}", ACTION_OUTCOME_MS, critical=failed)
        elif status.state in (ActionState.RUNNING, ActionState.TRACKING):
            self.show_notice(f"{words}: {status.message}", ACTION_PENDING_MS)
        else:
            self.show_notice(words, ACTION_PENDING_MS)

    def _refresh_details(self) -> None:
        view = self.panel.view
        if self.action_service is None or self.worker is None or view is None:
            return
        service = self.action_service
        name = view.name
        self.worker.call(lambda: service.node_details(name), self.panel.show_details, self.panel.details_failed)

    def _focus_filter(self) -> None:
        self.filter.setFocus()
        self.filter.selectAll()

    def _clear_filter(self) -> None:
        self.filter.clear()
        self._focus_table()

    def _focus_table(self) -> None:
        self.table.setFocus()
        if not self.table.currentIndex().isValid() and self.proxy.rowCount() > 0:
            self.table.setCurrentIndex(self.proxy.index(0, 0))

    # --- data ----------------------------------------------------------------------------------------------

    @Slot(object)
    def apply_snapshot(self, snap: FleetSnapshot) -> None:
        started = time.perf_counter()
        proxy = self.proxy

        if proxy.filtering:

            def apply() -> None:
                self.model.apply(snap.changed)
                proxy.refilter()  # new readings may show or hide rows; the shown ones keep their places

            self._hiding_rows(apply)
        else:
            # No filter: no row shows or hides, and the current row stays (each call into Qt on the way
            # would let go of the GIL and wait to take it back).
            self.model.apply(snap.changed)
        for view in snap.changed:
            before = {a.key for a in self.alerts_dock.model.alerts_of(view.name)}
            for alert in view.alerts:
                if alert.key not in before and alert.severity == Severity.CRITICAL:
                    self._announce(f"CRITICAL {alert.node}: {alert.message}")
            self.alerts_dock.model.set_node_alerts(view.name, view.alerts)
        self.alerts_dock.update_summary()
        current = self.panel.view
        if current is not None:
            for view in snap.changed:
                if view.name == current.name:
                    self.panel.show_view(view)
                    break
        self._update_counts(snap.counts)
        if snap.scheduler_problem != self.scheduler_problem:
            self.scheduler_problem = snap.scheduler_problem
            if snap.scheduler_problem:
                self.show_notice(snap.scheduler_problem, 15000)
        self.snapshots_applied += 1
        self.last_apply_ms = (time.perf_counter() - started) * 1000

    def show_notice(self, text: str, timeout_ms: int, critical: bool = False) -> None:
        """A line in the status bar beside the counts (QStatusBar.showMessage would paint over them)."""
        colour = "#b91c1c" if critical else "#1f2937"
        self.notice.setText(f"<span style='color:{colour}'>{'▲ ' if critical else ''}{esc(text)}</span>")
        self.notice.setToolTip(plain_tip(text))
        self._notice_timer.start(timeout_ms)

    def _announce(self, text: str) -> None:
        """A new critical alert: in the status bar, and on the desktop unless switched off."""
        self.announced.append(text)
        self.show_notice(text, 60_000, critical=True)
        if self.tray is not None and self.alerts_dock.notify.isChecked():
            self.tray.showMessage("Fleet Console", text, QSystemTrayIcon.MessageIcon.Critical, 15_000)

    def _update_counts(self, counts: dict[NodeState, int]) -> None:
        say = self._status_texts.say
        for state, label in self.state_labels.items():
            count = counts.get(state, 0)
            if count or state in (NodeState.UP, NodeState.UNREACHABLE, NodeState.STALE):
                colour = STATE_COLOURS[state][0]
                say(label, f"<span style='color:{colour}'>●</span> {state.value}: <b>{count}</b>")
            else:
                say(label, None)
        hot = self.model.hot_count
        say(self.hot_label, f"<span style='color:#c62828'>▲</span> hot: <b>{hot}</b>" if hot else "")
        nodes = self.model.rowCount()
        say(self.total_label, f"{nodes} nodes · {self.model.accelerator_total} accelerators")
        say(self.shown, f"{self.proxy.rowCount()} of {nodes} shown")

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self._rows_sync_pending:
            return  # Qt moving its current row after a filter: _sync_current decides
        if not current.isValid():
            self.panel.show_view(None)
            self._update_action_items()
            return
        name = self.proxy.data(current, NODE_NAME_ROLE)
        self.panel.show_view(self.fleet.view(name))
        self.panel.refresh_plots()
        self._refresh_details()
        self._update_action_items()

    def select_node(self, name: str) -> bool:
        row = self.model.row_of(name)
        if row is None:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            return False
        self.table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        )
        self.table.scrollTo(index)
        return True

    def select_nodes(self, names: list[str], switch: bool = True) -> int:
        """Select these nodes in the fleet table (the actions then work on them); returns how many. ``switch``:
        show the table (else the current view stays, the heatmap's selection say)."""
        indexes = []
        for name in names:
            row = self.model.row_of(name)
            index = self.proxy.mapFromSource(self.model.index(row, 0)) if row is not None else None
            if index is not None and index.isValid():
                indexes.append(index)
        if not indexes:
            return 0
        if switch:
            self.tabs.setCurrentIndex(0)
        selection = self.table.selectionModel()
        selection.setCurrentIndex(
            indexes[0], QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        )
        for index in indexes[1:]:
            selection.select(index, QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)
        self.table.scrollTo(indexes[0])
        return len(indexes)


@dataclass(frozen=True, slots=True)
class WindowParts:
    """What the window shows beside the live fleet, each wired by the composition root where it runs:
    actions, the shift's record, Slurm's tenancy and the archive's idle times and history, the moves."""

    actions: ActionsPort | None = None
    records: RecordsPort | None = None
    allocations: Callable[[], SchedulerAllocations | None] | None = None
    idle_since: Callable[[], Mapping[tuple[str, int], float]] | None = None
    idle_watching: Callable[[], float | None] | None = None
    history: Callable[[str, str, str], list[tuple[str, float, float, float, float]]] | None = None
    moves: MovesPort | None = None
    accounting: Callable[[str, str, str], AccountingComparison] | None = None
    rules: AlertRules | None = None


class ConsoleSession:
    """Owns the live fleet, the snapshot thread and the window; stops all of them on close."""

    def __init__(
        self,
        live: FleetService,
        interval_ms: int = SNAPSHOT_INTERVAL_MS,
        actions: ActionsPort | None = None,
        parts: WindowParts | None = None,
    ) -> None:
        self.live = live
        parts = parts or WindowParts(actions=actions)
        self.action_service = parts.actions
        self.window = MainWindow(
            live.fleet,
            title_suffix=f" — {live.inventory.path.name}",
            actions=parts.actions,
            records=parts.records,
            allocations=parts.allocations,
            idle_since=parts.idle_since,
            idle_watching=parts.idle_watching,
            history=parts.history,
            moves=parts.moves,
            accounting=parts.accounting,
            inventory=live.inventory,
            rules=parts.rules,
        )
        self.thread = QThread()
        self.thread.setObjectName("snapshot-thread")
        self.worker = SnapshotWorker(live.fleet, interval_ms)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.start)
        self.worker.snapshot.connect(self.window.apply_snapshot, Qt.ConnectionType.QueuedConnection)
        # Returns at once: it only moves the node's next attempt to now and wakes the transport.
        self.window.panel.reconnect_requested.connect(live.reconnect)

    def start(self) -> None:
        self.live.start()
        self.thread.start()

    def stop(self) -> None:
        if self.thread.isRunning():
            # The worker's timer lives in the worker thread: stop it there, then end the thread's loop.
            QTimer.singleShot(0, self.worker, self.worker.stop)
            self.thread.quit()
            self.thread.wait(5000)
        if self.window.worker is not None:
            self.window.worker.shutdown()
        self.live.stop()


class GuiThreadCollector:
    """The cycle collector's schedule (:mod:`console.core.collector`: why short pauses) on the GUI
    thread: the collector runs on whichever thread allocates, but Qt objects must be freed on the GUI thread.
    At 1,000 nodes a second's young objects took 30-90 ms to walk, which the window felt as a stutter every
    second under the automatic collector."""

    def __init__(self, parent: QObject) -> None:
        self._ramp: list[tuple[QTimer, int]] = []
        for at_s in collector.RAMP_S:
            once = QTimer(parent)
            once.setSingleShot(True)
            once.timeout.connect(collector.collect_recent)
            self._ramp.append((once, round(at_s * 1000)))
        self._timers: list[tuple[QTimer, int]] = []
        for interval_s, collect in collector.SCHEDULE:
            timer = QTimer(parent)
            timer.timeout.connect(collect)
            self._timers.append((timer, round(interval_s * 1000)))

    def start(self) -> None:
        collector.take_over()
        for timer, interval in self._timers:
            timer.start(interval)
        for timer, at in self._ramp:  # the first recent passes sooner: the connections' heap in pieces
            timer.start(at)

    def stop(self) -> None:
        for timer, _interval in [*self._timers, *self._ramp]:
            timer.stop()
        collector.give_back()


def run_gui(
    live: FleetService,
    screenshot: Path | None = None,
    after_s: float = 5.0,
    select: str | None = None,
    stop: threading.Event | None = None,
    view: str = "table",
    notice: str | None = None,
    parts: WindowParts | None = None,
    color_by: str | None = None,
    group_by: str | None = None,
) -> int:
    """Run the window until it is closed, or until ``stop`` is set (the command's SIGINT/SIGTERM handler
    sets it: the window then quits as its own Quit does)."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Fleet Console")
    app.setWindowIcon(app_icon())
    app.setDesktopFileName("fleet-console")
    # Python runs its signal handlers (Ctrl+C, SIGTERM) only between bytecodes: wake it a few times a
    # second while Qt's loop waits, and quit once a handler asked for it.
    signal_tick = QTimer(app)
    signal_tick.timeout.connect(lambda: app.quit() if stop is not None and stop.is_set() else None)
    signal_tick.start(200)
    session = ConsoleSession(live, parts=parts)
    collector = GuiThreadCollector(app)
    collector.start()
    session.start()
    window = session.window
    window.show()

    def choose() -> None:
        if select:
            window.select_node(select)
        elif not window.table.currentIndex().isValid() and window.proxy.rowCount():
            window.table.setCurrentIndex(window.proxy.index(0, 0))
        window.table.setFocus()

    QTimer.singleShot(0, choose)
    if view == "log":
        QTimer.singleShot(0, window.show_log)
    elif view == "tenants":
        QTimer.singleShot(0, window.show_tenants)
    elif view in ("heatmap", "racks"):
        QTimer.singleShot(0, lambda: window.show_floor(view, color_by, group_by))
    if notice:
        QTimer.singleShot(0, lambda: window.show_notice(notice, 24 * 3600 * 1000, critical=True))
    if screenshot is not None:

        def shoot() -> None:
            window.panel.refresh_plots()
            window.refresh_floor(force=True)
            window.grab().save(str(screenshot))
            app.quit()

        QTimer.singleShot(int(after_s * 1000), shoot)
    try:
        return int(app.exec())
    finally:
        session.stop()
        collector.stop()
