"""The Log view's two tables: incidents and actions, each a thin model with its columns declared once (title
and width) and a sort key per column (the UserRole value), shown through a sorting proxy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from console.core.alerts.incidents import IncidentState, duration_words
from console.core.records.incident_types import Incident
from console.core.records.log_types import AuditRow
from console.core.when import local_minute, parse_iso
from console.gui.style import SEVERITY_COLOURS
from console.gui.text import plain_tip

AnyIndex = QModelIndex | QPersistentModelIndex
SEVERITY_RANK: Final = {"critical": 2, "warning": 1, "info": 0}
# An action's outcome that needs a second look: refused attempts (never run) and failures.
OUTCOME_COLOURS: Final = {"refused": "#8a1c7c", "failed": "#b00020", "timed out": "#b00020"}


def local(when: float | None) -> str:
    return "" if when is None else local_minute(when)


@dataclass(frozen=True, slots=True)
class LogColumn:
    title: str
    width: int


class IncidentColumn:
    (
        ID,
        SEVERITY,
        STATE,
        NODES,
        CAUSE,
        OPENED,
        OPENED_BY,
        ACKNOWLEDGED,
        TO_ACKNOWLEDGE,
        RESOLVED,
        TO_RESOLVE,
        TICKET,
        ACTIONS,
    ) = range(13)


INCIDENT_COLUMNS: Final = {
    IncidentColumn.ID: LogColumn("#", 60),
    IncidentColumn.SEVERITY: LogColumn("Severity", 70),
    IncidentColumn.STATE: LogColumn("State", 100),
    IncidentColumn.NODES: LogColumn("Nodes", 120),
    IncidentColumn.CAUSE: LogColumn("Cause", 220),
    IncidentColumn.OPENED: LogColumn("Opened", 125),
    IncidentColumn.OPENED_BY: LogColumn("By", 110),
    IncidentColumn.ACKNOWLEDGED: LogColumn("Acknowledged", 150),
    IncidentColumn.TO_ACKNOWLEDGE: LogColumn("To ack", 65),
    IncidentColumn.RESOLVED: LogColumn("Resolved", 150),
    IncidentColumn.TO_RESOLVE: LogColumn("To resolve", 75),
    IncidentColumn.TICKET: LogColumn("Ticket", 80),
    IncidentColumn.ACTIONS: LogColumn("Actions", 60),
}


class IncidentFilterProxy(QSortFilterProxyModel):
    """Sorts by each column's UserRole value; ``only`` (incident ids) narrows the list to the incidents
    behind a figure the user followed (None: every incident of the page)."""

    def __init__(self) -> None:
        super().__init__()
        self.setSortRole(Qt.ItemDataRole.UserRole)
        self.only: frozenset[int] | None = None

    def set_only(self, ids: frozenset[int] | None) -> None:
        self.beginFilterChange()
        self.only = ids
        self.endFilterChange()

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        if self.only is None:
            return True
        model = self.sourceModel()
        assert isinstance(model, IncidentTableModel)
        return model.incidents[source_row].id in self.only


class IncidentTableModel(QAbstractTableModel):
    """Thin: one incident per row; the sort key of each column is its SortRole value."""

    def __init__(self) -> None:
        super().__init__()
        self.incidents: list[Incident] = []

    def set_incidents(self, incidents: list[Incident]) -> None:
        self.beginResetModel()
        self.incidents = incidents
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.incidents)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(INCIDENT_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return INCIDENT_COLUMNS[section].title
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        incident = self.incidents[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(incident, column)
        if role == Qt.ItemDataRole.UserRole:  # the sort key
            return {
                IncidentColumn.ID: incident.id,
                IncidentColumn.SEVERITY: SEVERITY_RANK.get(incident.severity, 0),
                IncidentColumn.OPENED: incident.opened,
                IncidentColumn.ACKNOWLEDGED: incident.acknowledged or 0.0,
                IncidentColumn.RESOLVED: incident.resolved or 0.0,
                IncidentColumn.TO_ACKNOWLEDGE: _took(incident.opened, incident.acknowledged),
                IncidentColumn.TO_RESOLVE: _took(incident.opened, incident.resolved),
                IncidentColumn.ACTIONS: len(incident.actions),
            }.get(column, self._text(incident, column))
        if role == Qt.ItemDataRole.ForegroundRole and column in (IncidentColumn.SEVERITY, IncidentColumn.STATE):
            if incident.state == IncidentState.RESOLVED:
                return QColor("#666666")
            return QColor(SEVERITY_COLOURS[SEVERITY_RANK.get(incident.severity, 0)])
        if role == Qt.ItemDataRole.ToolTipRole and column == IncidentColumn.CAUSE:
            return plain_tip(incident.message or incident.cause)
        return None

    @staticmethod
    def _text(incident: Incident, column: int) -> str:
        match column:
            case IncidentColumn.ID:
                return str(incident.id)
            case IncidentColumn.SEVERITY:
                return incident.severity
            case IncidentColumn.STATE:
                return incident.state.value
            case IncidentColumn.NODES:
                return ", ".join(incident.nodes)
            case IncidentColumn.CAUSE:
                return incident.cause + (f": {incident.message}" if incident.message else "")
            case IncidentColumn.OPENED:
                return local(incident.opened)
            case IncidentColumn.OPENED_BY:
                return incident.opened_by
            case IncidentColumn.ACKNOWLEDGED:
                return f"{local(incident.acknowledged)} {incident.acknowledged_by or ''}".strip()
            case IncidentColumn.RESOLVED:
                return f"{local(incident.resolved)} {incident.resolved_by or ''}".strip()
            case IncidentColumn.TO_ACKNOWLEDGE:
                return "" if incident.acknowledged is None else duration_words(incident.acknowledged - incident.opened)
            case IncidentColumn.TO_RESOLVE:
                return "" if incident.resolved is None else duration_words(incident.resolved - incident.opened)
            case IncidentColumn.TICKET:
                return incident.ticket or ""
            case IncidentColumn.ACTIONS:
                return str(len(incident.actions)) if incident.actions else ""
        return ""


def _took(opened: float, then: float | None) -> float:
    """Seconds from opening to ``then``, for sorting; not yet is sorted after every real time."""
    return then - opened if then is not None else float("inf")


class ActionColumn:
    ID, TIME, OPERATOR, KIND, NODE, STATE, INCIDENT, REASON = range(8)


ACTION_COLUMNS: Final = {
    ActionColumn.ID: LogColumn("#", 60),
    ActionColumn.TIME: LogColumn("Time", 125),
    ActionColumn.OPERATOR: LogColumn("Operator", 100),
    ActionColumn.KIND: LogColumn("Action", 90),
    ActionColumn.NODE: LogColumn("Node", 120),
    ActionColumn.STATE: LogColumn("Outcome", 110),
    ActionColumn.INCIDENT: LogColumn("Incident", 70),
    ActionColumn.REASON: LogColumn("Reason", 260),
}


class ActionTableModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[AuditRow] = []

    def set_rows(self, rows: list[AuditRow]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(ACTION_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return ACTION_COLUMNS[section].title
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if index.column() == ActionColumn.STATE and role == Qt.ItemDataRole.ToolTipRole:
            return plain_tip(row.message or "")  # why it ended so: a refusal's words, a failure's cause
        if index.column() == ActionColumn.STATE and role == Qt.ItemDataRole.ForegroundRole:
            return QColor(OUTCOME_COLOURS[row.state]) if row.state in OUTCOME_COLOURS else None
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.UserRole):
            return None
        if role == Qt.ItemDataRole.UserRole and index.column() == ActionColumn.TIME:
            return row.created_at  # ISO UTC: sorts as time
        if role == Qt.ItemDataRole.UserRole and index.column() in (ActionColumn.ID, ActionColumn.INCIDENT):
            return row.id if index.column() == ActionColumn.ID else (row.incident_id or 0)
        match index.column():
            case ActionColumn.ID:
                return str(row.id)
            case ActionColumn.TIME:
                return local(parse_iso(row.created_at))  # local, as the incidents' times
            case ActionColumn.OPERATOR:
                return row.operator
            case ActionColumn.KIND:
                return row.kind
            case ActionColumn.NODE:
                return row.node
            case ActionColumn.STATE:
                return row.state
            case ActionColumn.INCIDENT:
                return f"#{row.incident_id}" if row.incident_id else ""
            case ActionColumn.REASON:
                return " ".join(x for x in (row.reason or "", f"[{row.ticket}]" if row.ticket else "") if x)
        return None


def sortable(model: QAbstractTableModel) -> QSortFilterProxyModel:
    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(model)
    proxy.setSortRole(Qt.ItemDataRole.UserRole)
    return proxy


def table_for(proxy: QSortFilterProxyModel, columns: dict[int, LogColumn], name: str) -> QTableView:
    table = QTableView()
    table.setObjectName(name)
    table.setModel(proxy)
    table.setSortingEnabled(True)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().hide()
    table.verticalHeader().setDefaultSectionSize(22)
    table.setWordWrap(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    for column, spec in columns.items():
        header.resizeSection(column, spec.width)
    header.setStretchLastSection(True)
    return table


def fit_columns(table: QTableView, columns: dict[int, LogColumn], cap: int = 360) -> None:
    """Each column as wide as its content needs (never under its declared width, never over ``cap``): a
    time is never cut to "2026-12-07 15:5…". The last column stretches."""
    header = table.horizontalHeader()
    for column, spec in columns.items():
        if column == max(columns):
            continue
        header.resizeSection(column, min(cap, max(spec.width, table.sizeHintForColumn(column) + 12)))
