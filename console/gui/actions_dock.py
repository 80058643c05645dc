"""The Actions panel: every action of this session, its state and progress, with cancel."""

from __future__ import annotations

import enum
import time
from typing import Any, Final

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from console.core.action_runner import ActionState, ActionStatus
from console.gui.text import plain_label, plain_tip

AnyIndex = QModelIndex | QPersistentModelIndex


class ActionColumn(enum.IntEnum):
    ID = 0
    NODE = 1
    ACTION = 2
    STATE = 3
    MESSAGE = 4
    STARTED = 5
    DURATION = 6


ACTION_HEADERS: Final = ["#", "Node", "Action", "State", "Progress", "Started", "Took"]
STATE_COLOURS: Final = {
    ActionState.QUEUED: "#6b7280",
    ActionState.RUNNING: "#1d4ed8",
    ActionState.TRACKING: "#1d4ed8",
    ActionState.DONE: "#15803d",
    ActionState.FAILED: "#b91c1c",
    ActionState.TIMED_OUT: "#b45309",
    ActionState.CANCELLED: "#6b7280",
}


class ActionsTableModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self._rows: list[ActionStatus] = []
        self._row_of: dict[int, int] = {}
        self._bold = QFont()
        self._bold.setBold(True)

    def update(self, status: ActionStatus) -> None:
        row = self._row_of.get(status.id)
        if row is None:
            self.beginInsertRows(QModelIndex(), 0, 0)
            self._rows.insert(0, status)
            self._row_of = {s.id: i for i, s in enumerate(self._rows)}
            self.endInsertRows()
        else:
            self._rows[row] = status
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(ActionColumn) - 1))

    def status_at(self, row: int) -> ActionStatus:
        return self._rows[row]

    def statuses(self) -> list[ActionStatus]:
        return list(self._rows)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(ActionColumn)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return ACTION_HEADERS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        status = self._rows[index.row()]
        column = ActionColumn(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            match column:
                case ActionColumn.ID:
                    return str(status.id)
                case ActionColumn.NODE:
                    return status.node
                case ActionColumn.ACTION:
                    return status.kind.value
                case ActionColumn.STATE:
                    return status.state.value
                case ActionColumn.MESSAGE:
                    return status.message
                case ActionColumn.STARTED:
                    when = status.started_at or status.created_at
                    return time.strftime("%H:%M:%S", time.localtime(when))
                case ActionColumn.DURATION:
                    if status.started_at is None:
                        return ""
                    end = status.finished_at or time.time()
                    return f"{end - status.started_at:.0f} s"
        if role == Qt.ItemDataRole.ForegroundRole and column == ActionColumn.STATE:
            return QColor(STATE_COLOURS[status.state])
        if role == Qt.ItemDataRole.FontRole and column == ActionColumn.STATE:
            return self._bold
        if role == Qt.ItemDataRole.ToolTipRole:
            return plain_tip("\n".join([status.message, *status.commands]))
        return None


class ActionsDock(QDockWidget):
    """Queued, running and finished actions; cancel the selected one."""

    cancel_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Actions", parent)
        self.setObjectName("actions-dock")
        self.model = ActionsTableModel()
        self.table = QTableView()
        self.table.setObjectName("actions-table")
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        for column, width in {
            ActionColumn.ID: 40,
            ActionColumn.NODE: 100,
            ActionColumn.ACTION: 100,
            ActionColumn.STATE: 80,
            ActionColumn.MESSAGE: 520,
            ActionColumn.STARTED: 70,
        }.items():
            header.resizeSection(column, width)
        header.setSectionResizeMode(ActionColumn.MESSAGE, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.cancel_button = QPushButton("Cancel selected")
        self.cancel_button.setObjectName("cancel-action")
        self.cancel_button.setToolTip("Cancel a queued action (nothing is sent), or stop watching a running one")
        self.cancel_button.clicked.connect(self._cancel)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        self.summary = plain_label("No actions yet.")
        row.addWidget(self.summary, 1)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        layout.addWidget(self.table)
        self.setWidget(body)

    @Slot(object)
    def update_status(self, status: ActionStatus) -> None:
        self.model.update(status)
        statuses = self.model.statuses()
        active = sum(1 for s in statuses if not s.finished)
        failed = sum(1 for s in statuses if s.state in (ActionState.FAILED, ActionState.TIMED_OUT))
        self.summary.setText(f"{active} in progress · {failed} failed · {len(statuses)} this session")

    def _cancel(self) -> None:
        index = self.table.currentIndex()
        if index.isValid():
            self.cancel_requested.emit(self.model.status_at(index.row()).id)
