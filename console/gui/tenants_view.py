"""The Tenants view: one row per tenant (nodes, accelerators held, healthy / unhealthy / unreachable,
allocated to jobs, busy, idle but allocated, idle and free, where the tenant comes from, disagreements),
each expandable to its nodes; a double-click on a node opens it in the fleet table.

Computed on the GUI thread from the fleet model's views and the scheduler watch's last read of Slurm
(both in memory: no network, no disk), a few times a minute; rows are updated in place, so expansion and
selection stay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from console.core.fleet import FleetModel
from console.core.tenants import SchedulerAllocations, TenantFigures, idle_capacity, tenancy, tenant_figures
from console.gui.text import plain_label

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
WARN: Final = QColor("#8a5a00")


class TenantsView(QWidget):
    node_chosen = Signal(str)
    refreshed = Signal()

    def __init__(self, fleet: FleetModel, allocations: Callable[[], SchedulerAllocations | None]) -> None:
        super().__init__()
        self.fleet = fleet
        self.allocations = allocations
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
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree, 1)
        self._items: dict[str, QTreeWidgetItem] = {}

    def refresh(self) -> None:
        slurm = self.allocations()
        views = self.fleet.views()
        self.rows = tenant_figures(views, slurm)
        by_name = {v.name: v for v in views}
        seen = set()
        self.tree.setSortingEnabled(False)
        for row in self.rows:
            seen.add(row.tenant)
            item = self._items.get(row.tenant)
            if item is None:
                item = self._items[row.tenant] = QTreeWidgetItem(self.tree)
            self._fill(item, row.tenant, row.nodes, row, row.source, len(row.disagreements))
            wanted = set(row.node_names)
            existing = [c for i in range(item.childCount()) if (c := item.child(i)) is not None]
            for child in existing:
                if child.data(0, NODE_ROLE) not in wanted:
                    item.removeChild(child)
            children = {c.data(0, NODE_ROLE): c for c in existing if c.data(0, NODE_ROLE) in wanted}
            for name in row.node_names:
                child = children.get(name) or QTreeWidgetItem(item)
                child.setData(0, NODE_ROLE, name)
                node_row = tenant_figures([by_name[name]], slurm)[0]
                held = tenancy(by_name[name], slurm)
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
        self.refreshed.emit()

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
            item.setToolTip(11, values[11])

    def _chosen(self, item: QTreeWidgetItem, _column: int) -> None:
        node = item.data(0, NODE_ROLE)
        if isinstance(node, str):
            self.node_chosen.emit(node)
