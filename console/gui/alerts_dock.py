"""The Alerts dock: every active alert in the fleet, worst first, with its evidence; double-click finds the
node. New critical alerts are announced in the status bar and, unless switched off, on the desktop."""

from __future__ import annotations

import enum
import json
import time
from typing import Any, Final

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from console.core.alerts.config import Severity
from console.core.alerts.rules import Alert
from console.core.when import zone_name
from console.gui.style import SEVERITY_COLOURS
from console.gui.text import LabelTexts, plain_tip, rich_label

AnyIndex = QModelIndex | QPersistentModelIndex


class AlertColumn(enum.IntEnum):
    SEVERITY = 0
    NODE = 1
    ACCELERATOR = 2
    RULE = 3
    MESSAGE = 4
    SINCE = 5


HEADERS: Final = ["Severity", "Node", "Accel.", "Rule", "What", "Since"]
MIN_ROWS: Final = 6


def _identity(alert: Alert) -> tuple[object, ...]:
    """One row per alert: the same rule on the same accelerator, at the same severity, since the same time."""
    return (*alert.key, int(alert.severity), alert.first_seen)


class AlertsModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self._alerts: list[Alert] = []
        self._by_node: dict[str, tuple[Alert, ...]] = {}
        self._bold = QFont()
        self._bold.setBold(True)

    def set_node_alerts(self, node: str, alerts: tuple[Alert, ...]) -> None:
        """Rows are updated in place — an alert seen again only changes its last-seen time — and inserted or
        removed one by one, so a selection and a double-click stay on their alert while the fleet streams."""
        if self._by_node.get(node, ()) == alerts:
            return
        if alerts:
            self._by_node[node] = alerts
        else:
            self._by_node.pop(node, None)
        wanted = sorted(
            (a for group in self._by_node.values() for a in group),
            key=lambda a: (-int(a.severity), a.first_seen, a.node, a.rule, a.accelerator or -1),
        )
        identity = {_identity(a) for a in wanted}
        for row in range(len(self._alerts) - 1, -1, -1):
            if _identity(self._alerts[row]) not in identity:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._alerts[row]
                self.endRemoveRows()
        for row, alert in enumerate(wanted):
            if row < len(self._alerts) and _identity(self._alerts[row]) == _identity(alert):
                if self._alerts[row] != alert:
                    self._alerts[row] = alert
                    self.dataChanged.emit(self.index(row, 0), self.index(row, len(AlertColumn) - 1))
                continue
            self.beginInsertRows(QModelIndex(), row, row)
            self._alerts.insert(row, alert)
            self.endInsertRows()

    def alerts_of(self, node: str) -> tuple[Alert, ...]:
        """The node's alerts as the dock shows them now."""
        return self._by_node.get(node, ())

    def alert_at(self, row: int) -> Alert:
        return self._alerts[row]

    def counts(self) -> dict[Severity, int]:
        out: dict[Severity, int] = {}
        for alert in self._alerts:
            out[alert.severity] = out.get(alert.severity, 0) + 1
        return out

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._alerts)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(AlertColumn)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            # Local times, their zone named as everywhere else (the CLI's audit too).
            return f"Since ({zone_name()})" if section == AlertColumn.SINCE else HEADERS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        alert = self._alerts[index.row()]
        column = AlertColumn(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            match column:
                case AlertColumn.SEVERITY:
                    return alert.severity.word
                case AlertColumn.NODE:
                    return alert.node
                case AlertColumn.ACCELERATOR:
                    return "" if alert.accelerator is None else str(alert.accelerator)
                case AlertColumn.RULE:
                    return alert.rule.replace("_", " ")
                case AlertColumn.MESSAGE:
                    return alert.message
                case AlertColumn.SINCE:
                    return time.strftime("%H:%M:%S", time.localtime(alert.first_seen))
        if role == Qt.ItemDataRole.ForegroundRole and column == AlertColumn.SEVERITY:
            return QColor(SEVERITY_COLOURS[int(alert.severity)])
        if role == Qt.ItemDataRole.FontRole and column == AlertColumn.SEVERITY:
            return self._bold
        if role == Qt.ItemDataRole.ToolTipRole:
            return plain_tip(
                f"{alert.message}\nevidence: {json.dumps(alert.evidence)}\nlast seen "
                + time.strftime("%H:%M:%S", time.localtime(alert.last_seen))
            )
        return None


class AlertsDock(QDockWidget):
    node_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Alerts", parent)
        self.setObjectName("alerts-dock")
        self.model = AlertsModel()
        self.table = QTableView()
        self.table.setObjectName("alerts-table")
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        for column, width in {
            AlertColumn.SEVERITY: 70,
            AlertColumn.NODE: 90,
            AlertColumn.ACCELERATOR: 50,
            AlertColumn.RULE: 130,
        }.items():
            header.resizeSection(column, width)
        header.setSectionResizeMode(AlertColumn.MESSAGE, QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        # Enter and a double-click (both "activate" a row) open the alert's node.
        self.table.activated.connect(lambda index: self.node_chosen.emit(self.model.alert_at(index.row()).node))
        # At least six alerts in sight without scrolling.
        self.table.setMinimumHeight(MIN_ROWS * 22 + self.table.horizontalHeader().sizeHint().height() + 4)
        self.summary = rich_label("No alerts.")  # counts and severity words only
        self._texts = LabelTexts()
        self.notify = QCheckBox("Desktop notifications")
        self.notify.setObjectName("desktop-notifications")
        self.notify.setToolTip("Announce new critical alerts on the desktop (system tray)")
        self.notify.setChecked(True)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        row.addWidget(self.summary, 1)
        row.addWidget(self.notify)
        layout.addLayout(row)
        layout.addWidget(self.table)
        self.setWidget(body)

    def update_summary(self) -> None:
        """Each snapshot; the label is set only when its words change (``LabelTexts`` says why)."""
        counts = self.model.counts()
        if not counts:
            self._texts.say(self.summary, "No alerts.")
            return
        parts = [
            f"<span style='color:{SEVERITY_COLOURS[int(s)]}'><b>{counts[s]}</b> {s.word}</span>"
            for s in sorted(counts, reverse=True)
        ]
        self._texts.say(self.summary, " · ".join(parts))
