"""The main window: fleet table, filter, node panel, status bar; and ``run_gui`` which starts it.

Data flow: a :class:`SnapshotWorker` in its own QThread takes snapshots of the fleet model on a timer and
sends them to the window through a queued signal; the window only applies them. Nothing on the GUI
thread touches the network, and the table repaints only rows that changed.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QSplitter,
    QSystemTrayIcon,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from console.core.actions.planning import ActionKind
from console.core.actions.roles import records_nothing
from console.core.alerts.config import AlertRules, Severity
from console.core.alerts.incidents import ShiftName
from console.core.inventory import Inventory
from console.core.telemetry.fleet import FleetModel, FleetSnapshot
from console.core.telemetry.latest import LatestViews
from console.core.telemetry.samples import NodeState
from console.core.tenants.accounting import AccountingComparison
from console.core.tenants.allocation import SchedulerAllocations, idle_capacity, tenant_figures
from console.gui import window_actions, window_floor
from console.gui.actions_dock import ActionsDock
from console.gui.alerts_dock import AlertsDock
from console.gui.fleet_table import COLUMNS, NODE_NAME_ROLE, WORST_HIGH, Column, FleetFilterProxy, FleetTableModel
from console.gui.handover_dialog import HandoverDialog
from console.gui.log_view import LogView
from console.gui.move_dialog import MoveTenantDialog
from console.gui.node_panel import NodePanel
from console.gui.ports import ActionsPort, MovesPort, RecordsPort
from console.gui.screen_fit import fit_size
from console.gui.sparkline import TrendDelegate
from console.gui.style import STATE_COLOURS, app_icon
from console.gui.tenants_view import TenantsView
from console.gui.text import LabelTexts, esc, plain_label, plain_tip, rich_label
from console.gui.worker import ChangeRelay, Worker, repeating

if TYPE_CHECKING:
    from PySide6.QtWidgets import QToolBar

    from console.gui.action_dialog import ActionDialog
    from console.gui.find_dialog import FindBoxDialog
    from console.gui.floor_view import FloorView
    from console.gui.rack_view import RackView
    from console.gui.worker import StatusRelay

SNAPSHOT_INTERVAL_MS: Final = 250
RECORDS_INTERVAL_MS: Final = 5000
TENANTS_REFRESH_MS: Final = 5000
LOG_REFRESH_MS: Final = 10_000
PLOT_INTERVAL_MS: Final = 1000
# How often the fleet table re-sorts to new readings (never while the pointer is over it or an action's
# dialog or menu is open): rows stay put long enough to be clicked.
RESORT_MS: Final = 10_000
# How long the status bar keeps an action's words: while it runs (until its next change), and its outcome.


class MainWindow(QMainWindow):
    # Made by the rooms (console.gui.window_actions, console.gui.window_floor) when the window has their parts.
    relay: StatusRelay
    actions_toolbar: QToolBar
    details_timer: QTimer
    last_dialog: ActionDialog
    floor: FloorView
    floor_timer: QTimer
    racks: RackView
    _racks_at: float
    find_dialog: FindBoxDialog | None

    # The rooms' work, bound as the window's methods.
    _add_actions = window_actions._add_actions
    _add_move = window_actions._add_move
    _chosen = window_actions._chosen
    open_move = window_actions.open_move
    _record_refused_move = window_actions._record_refused_move
    _moved = window_actions._moved
    _update_action_items = window_actions._update_action_items
    _context_menu = window_actions._context_menu
    open_action = window_actions.open_action
    _submit = window_actions._submit
    _record_refused = window_actions._record_refused
    _cancel_action = window_actions._cancel_action
    _action_changed = window_actions._action_changed
    _leds_from_record = window_actions._leds_from_record
    _led_changed = window_actions._led_changed
    _say_action = window_actions._say_action
    _refresh_details = window_actions._refresh_details
    _add_floor = window_floor._add_floor
    _floor_off_thread = window_floor._floor_off_thread
    refresh_floor = window_floor.refresh_floor
    show_floor = window_floor.show_floor
    _partitions = window_floor._partitions
    _tenants = window_floor._tenants
    _share_selection = window_floor._share_selection
    _floor_selected = window_floor._floor_selected
    open_find = window_floor.open_find
    _found = window_floor._found
    _locate_found = window_floor._locate_found

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

        views = fleet.views()
        self.latest = LatestViews(views)  # what every view reads, fed by the snapshots
        self.model = FleetTableModel(views)
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
            self.latest.views,
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
            rows = tenant_figures(self.latest.views(), self.tenants_view.allocations())
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
        self.latest.apply(snap.changed)
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
