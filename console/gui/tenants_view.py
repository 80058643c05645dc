"""The Tenants view: one row per tenant (nodes, accelerators held, healthy / unhealthy / unreachable,
allocated to jobs, busy, idle but allocated, idle and free, where the tenant comes from, disagreements),
each expandable to its nodes; a double-click on a node opens it in the fleet table.

Computed on the GUI thread from the fleet model's views and the scheduler watch's last read of Slurm
(both in memory: no network, no disk), a few times a minute; rows are updated in place, so expansion and
selection stay.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.core.alerts.incidents import duration_words
from console.core.records.exports import OutputError, OutputTarget, csv_text
from console.core.telemetry.fleet import NodeView
from console.core.tenants.accounting import AccountingComparison
from console.core.tenants.allocation import (
    UNASSIGNED,
    IdleAccelerator,
    SchedulerAllocations,
    TenantFigures,
    by_tenant,
    figures_by_node,
    idle_accelerators,
    idle_capacity,
    job_words,
    watch_words,
)
from console.gui.text import esc, plain_label, plain_tip, rich_label
from console.gui.worker import Worker

COLUMNS: Final = (
    "Tenant / node",
    "Nodes",
    "GPUs",
    "Healthy",
    "Unhealthy",
    "Unreachable",
    "Allocated",
    "Busy",
    "Idle, allocated",
    "Idle, free",
    "Source",
    "Disagreement",
)
NODE_ROLE: Final = Qt.ItemDataRole.UserRole + 1
MAX_FINDER_ROWS: Final = 2000
WARN: Final = QColor("#8a5a00")


ALL_TENANTS: Final = "all tenants"
SORT_ROLE: Final = Qt.ItemDataRole.UserRole + 7  # a cell's number to sort by where its text is words
FINDER_COLUMNS: Final = ("Node", "GPU", "Tenant", "Idle for", "Accelerator-hours wasted", "Job", "User", "Account")


class FigureItem(QTreeWidgetItem):
    """Sorts count columns as numbers (a column's ``SORT_ROLE`` value where its text is words, as "3.0 h")
    and keeps the nodes nobody holds below the tenants."""

    def __lt__(self, other: QTreeWidgetItem) -> bool:
        tree = self.treeWidget()
        column = tree.sortColumn() if tree is not None else 0
        keys = self.data(column, SORT_ROLE), other.data(column, SORT_ROLE)
        if keys[0] is not None and keys[1] is not None:
            return bool(keys[0] < keys[1])
        mine, theirs = self.text(column), other.text(column)
        if column == 0:
            return (mine == UNASSIGNED, mine) < (theirs == UNASSIGNED, theirs)
        try:
            return float(mine or -1) < float(theirs or -1)
        except ValueError:
            return mine < theirs


UsageDays = list[tuple[str, float, float, float, float]]  # (day, held, busy, idle allocated, out of service)
HISTORY_DAYS: Final = 30


# The stacked series of a tenant's day, bottom up: colour and words (the plot and its legend read them here).
USAGE_SERIES: Final = (
    ("#2e7d32", "busy"),
    ("#f9a825", "idle, allocated"),
    ("#90a4ae", "idle, free"),
    ("#c62828", "out of service"),
)


def usage_legend() -> QLabel:
    """The usage plot's legend, outside the plot: a coloured square and the words of each series."""
    label = rich_label(
        " &nbsp; ".join(f'<span style="color:{colour}">■</span> {esc(name)}' for colour, name in USAGE_SERIES)
    )
    label.setObjectName("tenant-history-legend")
    return label


class UsagePlot(pg.PlotWidget):  # type: ignore[misc]  # pyqtgraph ships no type information
    """A tenant's accelerator-hours per day, stacked: busy, idle while allocated, other idle, out of service."""

    def __init__(self) -> None:
        super().__init__()
        self.setBackground("w")
        self.setMinimumHeight(150)
        self.setMouseEnabled(x=False, y=False)
        self.getAxis("left").setLabel("accelerator-hours a day")
        self.showGrid(y=True, alpha=0.2)
        # The legend is a row of its own above the plot (``usage_legend``): inside, it covered the bars.
        self.bars: list[pg.BarGraphItem] = []
        self.days: UsageDays = []

    def show_days(self, days: UsageDays) -> None:
        for bar in self.bars:
            self.removeItem(bar)
        self.bars = []
        self.days = days
        if not days:
            return
        x = np.arange(len(days), dtype=float)
        held = np.array([d[1] for d in days])
        busy = np.array([d[2] for d in days])
        idle_allocated = np.array([d[3] for d in days])
        out = np.array([d[4] for d in days])
        other = np.clip(held - busy - idle_allocated - out, 0, None)
        bottom = np.zeros(len(days))
        for values, (colour, name) in zip((busy, idle_allocated, other, out), USAGE_SERIES, strict=True):
            bar = pg.BarGraphItem(x=x, y0=bottom, height=values, width=0.8, brush=colour, name=name)
            self.addItem(bar)
            self.bars.append(bar)
            bottom = bottom + values
        ticks = [(i, d[0][5:]) for i, d in enumerate(days) if i % max(1, len(days) // 8) == 0]
        self.getAxis("bottom").setTicks([ticks])


class TenantsView(QWidget):
    node_chosen = Signal(str)
    nodes_chosen = Signal(list)
    refreshed = Signal()
    history_shown = Signal()
    accounting_shown = Signal()

    def __init__(
        self,
        views: Callable[[], list[NodeView]],
        allocations: Callable[[], SchedulerAllocations | None],
        idle_since: Callable[[], Mapping[tuple[str, int], float]] | None = None,
        history: Callable[[str, str, str], UsageDays] | None = None,
        worker: Worker | None = None,
        accounting: Callable[[str, str, str], AccountingComparison] | None = None,
        idle_watching: Callable[[], float | None] | None = None,
    ) -> None:
        super().__init__()
        # Since when the idle streaks have been watched (the archive's writer): None before its first minute.
        self.idle_watching = idle_watching or (lambda: None)
        self.history = history
        self.accounting = accounting
        # Slurm's own GPU-hours of the selected tenant's account beside the console's (sacct).
        self.accounting_label = plain_label("")
        self.accounting_label.setObjectName("tenant-accounting")
        self.accounting_label.setWordWrap(True)
        self.worker = worker
        self.plot = UsagePlot()
        self.plot.setObjectName("tenant-history")
        self.plot_title = plain_label("Select a tenant for its last 30 days")
        self.plot_title.setObjectName("tenant-history-title")
        # The window's own latest views (its snapshots): no second copy of the fleet on the GUI thread.
        self.views = views
        self.allocations = allocations
        self.idle_since = idle_since or (lambda: {})
        self.idle: list[IdleAccelerator] = []
        self.rows: list[TenantFigures] = []
        self.summary = plain_label("")
        self.summary.setObjectName("tenants-summary")
        self.summary.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setObjectName("tenants-tree")
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setAlternatingRowColors(True)
        self.tree.setSortingEnabled(True)
        self.tree.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        header = self.tree.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, 200)
        for column in range(1, 10):
            header.resizeSection(column, 110 if column in (8, 9) else 85)
        self.tree.itemDoubleClicked.connect(self._chosen)
        self.tree.itemActivated.connect(self._chosen)
        controls = self._build_finder()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree, 3)
        if history is not None and worker is not None:
            layout.addWidget(self.plot_title)
            layout.addWidget(usage_legend())
            layout.addWidget(self.plot, 2)
            layout.addWidget(self.accounting_label)
            self.tree.currentItemChanged.connect(self._tenant_changed)
        layout.addLayout(controls)
        layout.addWidget(self.finder, 2)
        self._items: dict[str, QTreeWidgetItem] = {}

    def _build_finder(self) -> QHBoxLayout:
        """The idle-capacity finder: accelerators idle longer than N minutes, most hours wasted first."""
        self.minutes = QSpinBox()
        self.minutes.setObjectName("idle-minutes")
        self.minutes.setRange(1, 7 * 24 * 60)
        self.minutes.setValue(30)
        self.minutes.setSuffix(" min")
        self.scope = QComboBox()
        self.scope.setObjectName("idle-scope")
        self.scope.addItems(["held by a tenant", "allocated to a job"])
        self.tenant_filter = QComboBox()
        self.tenant_filter.setObjectName("idle-tenant")
        self.tenant_filter.addItem(ALL_TENANTS)
        self.tenant_filter.currentIndexChanged.connect(self.refresh)
        self.select = QPushButton("&Select their nodes")
        self.select.setObjectName("idle-select")
        self.select.setToolTip("Select the nodes of the chosen rows (all rows when none is chosen) in the fleet table")
        self.select.clicked.connect(self._select_nodes)
        self.export = QPushButton("Export CSV…")
        self.export.setObjectName("idle-export")
        self.export.clicked.connect(self._choose_export)
        for control in (self.minutes, self.scope):
            signal = control.valueChanged if isinstance(control, QSpinBox) else control.currentIndexChanged
            signal.connect(self.refresh)
        self.finder = QTreeWidget()
        self.finder.setObjectName("idle-finder")
        self.finder.setRootIsDecorated(False)
        self.finder.setHeaderLabels(list(FINDER_COLUMNS))
        self.finder.header().resizeSection(4, 180)
        self.finder.header().resizeSection(5, 140)
        self.finder.setSortingEnabled(True)
        self.finder.sortByColumn(4, Qt.SortOrder.DescendingOrder)  # most hours wasted first
        self.finder.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.finder.itemDoubleClicked.connect(self._chosen)
        self.finder.itemActivated.connect(self._chosen)
        self.finder_label = plain_label("")
        self.finder_label.setObjectName("idle-summary")
        self.finder_label.setWordWrap(True)  # long words wrap instead of widening the window past a laptop's screen
        controls = QHBoxLayout()
        controls.addWidget(plain_label("Idle for longer than"))
        controls.addWidget(self.minutes)
        controls.addWidget(self.scope)
        controls.addWidget(self.tenant_filter)
        controls.addWidget(self.finder_label, 1)
        controls.addWidget(self.select)
        controls.addWidget(self.export)
        return controls

    def refresh(self) -> None:
        slurm = self.allocations()
        views = self.views()
        nodes = figures_by_node(views, slurm)
        self.rows = by_tenant(nodes)
        of_node = {figures.node_names[0]: (held, figures) for held, figures in nodes}
        seen = set()
        self.tree.setSortingEnabled(False)
        for row in self.rows:
            seen.add(row.tenant)
            item = self._items.get(row.tenant)
            if item is None:
                item = self._items[row.tenant] = FigureItem(self.tree)
            self._fill(item, row.tenant, row.nodes, row, row.source, len(row.disagreements))
            wanted = set(row.node_names)
            existing = [c for i in range(item.childCount()) if (c := item.child(i)) is not None]
            for child in existing:
                if child.data(0, NODE_ROLE) not in wanted:
                    item.removeChild(child)
            children = {c.data(0, NODE_ROLE): c for c in existing if c.data(0, NODE_ROLE) in wanted}
            for name in row.node_names:
                child = children.get(name) or FigureItem(item)
                child.setData(0, NODE_ROLE, name)
                held, node_row = of_node[name]
                disagreement = (
                    f"inventory {held.inventory_tenant}, Slurm {held.slurm_tenant} ({held.slurm_why})"
                    if held.disagreement
                    else ""
                )
                self._fill(child, name, None, node_row, held.source, disagreement)
        for name in [n for n in self._items if n not in seen]:
            gone = self._items.pop(name)
            self.tree.takeTopLevelItem(self.tree.indexOfTopLevelItem(gone))
        self.tree.setSortingEnabled(True)
        idle, total = idle_capacity(self.rows)
        words = [f"{len(self.rows)} tenants, {total} accelerators; idle {idle} ({100 * idle / max(total, 1):.0f} %)"]
        if slurm is None:
            words.append("no scheduler configured: tenants from the inventory only")
        elif slurm.problem:
            words.append(slurm.problem)
        self.summary.setText(" · ".join(words))
        self._refresh_finder(views, slurm)
        self.refreshed.emit()

    def _refresh_finder(self, views: list[NodeView], slurm: SchedulerAllocations | None) -> None:
        allocated_only = self.scope.currentIndex() == 1
        now = time.time()
        longer_than_s = self.minutes.value() * 60.0
        self._tenant_choices([r.tenant for r in self.rows if r.tenant != UNASSIGNED])
        tenant = self.tenant_filter.currentText()
        self.idle = [
            i
            for i in idle_accelerators(views, slurm, self.idle_since(), now, longer_than_s, allocated_only)
            if tenant in (ALL_TENANTS, i.tenant)
        ]
        self.finder.setSortingEnabled(False)
        self.finder.clear()
        for idle in self.idle[:MAX_FINDER_ROWS]:
            job = idle.job
            item = FigureItem(
                [
                    idle.node,
                    str(idle.index),
                    idle.tenant or "",
                    duration_words(idle.idle_s),
                    f"{idle.wasted_hours:.1f}",
                    job_words(job, slurm is not None),
                    job.user if job else "",
                    job.account if job else "",
                ]
            )
            item.setData(0, NODE_ROLE, idle.node)
            item.setData(3, SORT_ROLE, idle.idle_s)
            item.setData(4, SORT_ROLE, idle.wasted_hours)
            self.finder.addTopLevelItem(item)
        self.finder.setSortingEnabled(True)
        hours = sum(i.wasted_hours for i in self.idle)
        watching = watch_words(self.idle_watching(), now, longer_than_s)
        self.finder_label.setText(f"{len(self.idle)} accelerators, {hours:.1f} accelerator-hours so far · {watching}")

    def _tenant_choices(self, tenants: list[str]) -> None:
        """The tenant filter's list follows the tenants seen; the choice stays while its tenant is there."""
        wanted = [ALL_TENANTS, *sorted(set(tenants))]
        have = [self.tenant_filter.itemText(i) for i in range(self.tenant_filter.count())]
        if wanted == have:
            return
        chosen = self.tenant_filter.currentText()
        self.tenant_filter.blockSignals(True)
        self.tenant_filter.clear()
        self.tenant_filter.addItems(wanted)
        self.tenant_filter.setCurrentText(chosen if chosen in wanted else ALL_TENANTS)
        self.tenant_filter.blockSignals(False)

    def _choose_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the idle accelerators as CSV", "idle-accelerators.csv")
        if path:
            self.export_csv(Path(path))

    def export_csv(self, path: Path) -> None:
        """The finder's rows as CSV (all of them, not only those shown); cells a spreadsheet would run
        as formulas are made inert."""
        rows = [a.as_json() for a in self.idle]
        columns = list(IdleAccelerator.__slots__) if not rows else list(rows[0])
        try:
            OutputTarget.check(path, force=True).write(  # the file dialog asked before replacing a file
                csv_text(columns, ([row.get(c) for c in columns] for row in rows)).encode("utf-8")
            )
            self.finder_label.setText(f"exported {len(rows)} rows to {path}")
        except OutputError as exc:
            self.finder_label.setText(f"{path} could not be written: {exc}")

    @staticmethod
    def _fill(
        item: QTreeWidgetItem, name: str, nodes: int | None, row: TenantFigures, source: str, disagreement: int | str
    ) -> None:
        values = [
            name,
            "" if nodes is None else str(nodes),
            str(row.accelerators),
            str(row.healthy),
            str(row.unhealthy),
            str(row.unreachable),
            str(row.allocated),
            str(row.busy),
            str(row.idle_allocated),
            str(row.idle_unallocated),
            source,
            (str(disagreement) if disagreement else "") if isinstance(disagreement, int) else disagreement,
        ]
        for column, value in enumerate(values):
            item.setText(column, value)
            if 1 <= column <= 9:
                item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        for column in (4, 5):
            item.setForeground(column, WARN if values[column] not in ("0", "") else QColor("#222222"))
        if values[11]:
            item.setForeground(11, WARN)
            item.setToolTip(11, plain_tip(values[11]))

    def _tenant_changed(self, current: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        if current is None or current.parent() is not None or current.text(0) == UNASSIGNED:
            return
        self.show_history(current.text(0))

    def show_history(self, tenant: str, days: int = HISTORY_DAYS) -> None:
        """The tenant's last ``days`` UTC days from the archive (disk: through the worker)."""
        if self.history is None or self.worker is None:
            return
        today = dt.datetime.now(dt.UTC).date()
        since, until = (today - dt.timedelta(days=days - 1)).isoformat(), (today + dt.timedelta(days=1)).isoformat()
        history = self.history
        self.plot_title.setText(f"{tenant}: reading the archive…")

        def shown(result: UsageDays) -> None:
            self.plot.show_days(result)
            total = sum(d[1] for d in result)
            busy = sum(d[2] for d in result)
            self.plot_title.setText(
                f"{tenant}, last {days} days: {total:.0f} accelerator-hours held, {busy:.0f} busy"
                + (f" ({100 * busy / total:.0f} %)" if total else "")
                + ("" if result else " — nothing archived yet")
            )
            self.history_shown.emit()

        def failed(error: Exception) -> None:
            self.plot_title.setText(f"{tenant}: the archive could not be read: {error}")
            self.history_shown.emit()

        self.worker.call(lambda: history(since, until, tenant), shown, failed, owner=self)
        self._show_accounting(tenant, since, until)

    def _show_accounting(self, tenant: str, since: str, until: str) -> None:
        """Slurm's record of the account beside the console's (network: through the worker)."""
        if self.accounting is None or self.worker is None:
            return
        accounting = self.accounting
        self.accounting_label.setText("Asking Slurm's accounting (sacct)…")
        self.accounting_label.setStyleSheet("")

        def shown(result: AccountingComparison) -> None:
            self.accounting_label.setText(result.words())
            self.accounting_label.setStyleSheet("color:#b00020; font-weight:bold" if result.differs else "")
            self.accounting_shown.emit()

        def failed(error: Exception) -> None:
            self.accounting_label.setText(f"Slurm's accounting could not be compared: {error}")
            self.accounting_shown.emit()

        self.worker.call(lambda: accounting(since, until, tenant), shown, failed, owner=self)

    def selected_idle_nodes(self) -> list[str]:
        """The nodes of the finder's selected rows (for the fleet table's selection and its actions)."""
        return list(dict.fromkeys(str(i.data(0, NODE_ROLE)) for i in self.finder.selectedItems()))

    def _select_nodes(self) -> None:
        nodes = self.selected_idle_nodes() or list(dict.fromkeys(a.node for a in self.idle))
        if nodes:
            self.nodes_chosen.emit(nodes)

    def _chosen(self, item: QTreeWidgetItem, _column: int) -> None:
        node = item.data(0, NODE_ROLE)
        if isinstance(node, str):
            self.node_chosen.emit(node)
