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

from console.core.actions.planning import ActionKind
from console.core.actions.runs import ActionState, ActionStatus
from console.core.when import zone_name
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
    ActionState.UNWATCHED: "#b45309",
    ActionState.UNKNOWN: "#b45309",
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
            return f"Started ({zone_name()})" if section == ActionColumn.STARTED else ACTION_HEADERS[section]
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


def _reboot_in_slurm(status: ActionStatus) -> bool:
    return status.kind == ActionKind.REBOOT and any("scontrol reboot" in c for c in status.commands)


class ActionsDock(QDockWidget):
    """Queued, running and finished actions — this session's and the unfinished ones of earlier consoles.
    The button says what it does to the selected action: cancel one still queued (nothing was sent), or
    stop watching one whose command was sent (it stands); a Slurm reboot also offers its cancel in Slurm."""

    cancel_requested = Signal(int)
    cancel_reboot_requested = Signal(str)  # the node whose reboot Slurm should forget

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
            ActionColumn.STATE: 125,
            ActionColumn.MESSAGE: 520,
            ActionColumn.STARTED: 110,
        }.items():
            header.resizeSection(column, width)
        header.setSectionResizeMode(ActionColumn.MESSAGE, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.cancel_button = QPushButton("Cancel selected")
        self.cancel_button.setObjectName("cancel-action")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self._cancel)
        self.cancel_reboot_button = QPushButton("Cancel the reboot in Slurm…")
        self.cancel_reboot_button.setObjectName("cancel-reboot-in-slurm")
        self.cancel_reboot_button.setToolTip("Preview and run scontrol cancel_reboot on the node")
        self.cancel_reboot_button.hide()
        self.cancel_reboot_button.clicked.connect(self._cancel_reboot)
        self.earlier: set[int] = set()  # rows of earlier consoles, loaded from the store
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        self.summary = plain_label("No actions yet.")
        row.addWidget(self.summary, 1)
        row.addWidget(self.cancel_reboot_button)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        layout.addWidget(self.table)
        self.setWidget(body)
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self._sync_buttons())

    @Slot(object)
    def update_status(self, status: ActionStatus) -> None:
        self.model.update(status)
        statuses = self.model.statuses()
        active = sum(1 for s in statuses if not s.finished)
        failed = sum(1 for s in statuses if s.state in (ActionState.FAILED, ActionState.TIMED_OUT))
        pending = sum(1 for s in statuses if s.state in (ActionState.UNWATCHED, ActionState.UNKNOWN))
        earlier = f" · {len(self.earlier)} from earlier consoles" if self.earlier else ""
        unwatched = f" · {pending} not watched" if pending else ""
        self.summary.setText(f"{active} in progress · {failed} failed{unwatched}{earlier} · {len(statuses)} in all")
        self._sync_buttons()

    def show_action(self, action_id: int) -> None:
        """Bring the dock forward with the action selected (the one just run)."""
        for row, status in enumerate(self.model.statuses()):
            if status.id == action_id:
                self.show()
                self.raise_()
                index = self.model.index(row, 0)
                self.table.setCurrentIndex(index)
                self.table.scrollTo(index)
                return

    def load_earlier(self, statuses: list[ActionStatus]) -> None:
        """The unfinished actions earlier consoles left (a reboot still pending in Slurm, say)."""
        for status in sorted(statuses, key=lambda s: s.id):
            self.earlier.add(status.id)
            self.update_status(status)

    def selected(self) -> ActionStatus | None:
        index = self.table.currentIndex()
        return self.model.status_at(index.row()) if index.isValid() else None

    def _sync_buttons(self) -> None:
        status = self.selected()
        button = self.cancel_button
        if status is None:
            button.setText("Cancel selected")
            button.setEnabled(False)
            button.setToolTip("Select an action")
        elif status.id in self.earlier:
            button.setText("Stop watching")
            button.setEnabled(False)
            button.setToolTip("An earlier console's action: this console does not watch it")
        elif status.state == ActionState.QUEUED:
            button.setText("Cancel (not sent yet)")
            button.setEnabled(True)
            button.setToolTip("The action never runs: nothing was sent")
        elif not status.finished:
            button.setText("Stop watching")
            button.setEnabled(True)
            button.setToolTip(
                "The command was sent and stands: the console stops watching for its outcome and records where it was"
            )
        else:
            button.setText("Cancel selected")
            button.setEnabled(False)
            button.setToolTip(plain_tip(f"Already {status.state.value}"))
        reboot_pending = (
            status is not None
            and _reboot_in_slurm(status)
            and status.state
            in (
                ActionState.RUNNING,
                ActionState.TRACKING,
                ActionState.UNWATCHED,
                ActionState.UNKNOWN,
            )
        )
        self.cancel_reboot_button.setVisible(reboot_pending)

    def _cancel(self) -> None:
        status = self.selected()
        if status is not None and status.id not in self.earlier:
            self.cancel_requested.emit(status.id)

    def _cancel_reboot(self) -> None:
        status = self.selected()
        if status is not None:
            self.cancel_reboot_requested.emit(status.node)
