"""The fleet table: a thin model over :class:`NodeView` rows, and the filter/sort proxy in front of it."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import Any, Final

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor, QFont

from console.core.alerts.config import Severity
from console.core.parsers.slurm import state_words
from console.core.records.poll_record import alert_words, power_words
from console.core.telemetry.fleet import NodeView
from console.core.telemetry.samples import LIVE_STATES, NodeState
from console.gui.style import (
    CRITICAL_BACKGROUND,
    SLURM_DRAIN_COLOURS,
    SLURM_OUT_COLOURS,
    row_background,
    row_foreground,
    state_icon,
)
from console.gui.text import plain_tip

SORT_ROLE: Final = Qt.ItemDataRole.UserRole + 1
NODE_NAME_ROLE: Final = Qt.ItemDataRole.UserRole + 2

AnyIndex = QModelIndex | QPersistentModelIndex


class Column(enum.IntEnum):
    """In the order shown: what needs a person (state, alerts, Slurm) first, in sight on a 1,600-px screen."""

    NODE = 0
    STATE = 1
    ALERTS = 2
    SCHEDULER = 3
    TREND = 4
    ACCELERATORS = 5
    UTIL_MEAN = 6
    UTIL_MAX = 7
    TEMP_MAX = 8
    POWER = 9
    TENANT = 10
    RACK = 11
    VENDOR = 12
    ISSUE = 13


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """Everything about one column of the fleet table, in one place: its header, its starting width (px;
    None: it stretches), and whether it holds numbers (right-aligned)."""

    header: str
    width: int | None
    numeric: bool = False


# Columns whose first click sorts the worst first by their largest value (hot, busy, power-hungry, most
# accelerators); State and Alerts sort the worst first in ascending order of their keys.
WORST_HIGH: Final = frozenset({Column.ACCELERATORS, Column.UTIL_MEAN, Column.UTIL_MAX, Column.TEMP_MAX, Column.POWER})
COLUMNS: Final = {
    Column.NODE: ColumnSpec("Node", 86),
    Column.STATE: ColumnSpec("State", 124),
    Column.ALERTS: ColumnSpec("Alerts", 150),
    Column.SCHEDULER: ColumnSpec("Slurm", 170),
    Column.TREND: ColumnSpec("10 min", 80),
    Column.ACCELERATORS: ColumnSpec("Accel.", 46, numeric=True),
    Column.UTIL_MEAN: ColumnSpec("Util avg", 64, numeric=True),
    Column.UTIL_MAX: ColumnSpec("Util max", 66, numeric=True),
    Column.TEMP_MAX: ColumnSpec("Temp max", 72, numeric=True),
    Column.POWER: ColumnSpec("Power", 68, numeric=True),
    Column.TENANT: ColumnSpec("Tenant", 104),
    Column.RACK: ColumnSpec("Rack / U", 78),
    Column.VENDOR: ColumnSpec("Vendor", 56),
    Column.ISSUE: ColumnSpec("Issue", None),
}
# Sort order of states: the ones that need a person first.
STATE_RANK: Final = {
    NodeState.HOST_KEY_CHANGED: 0,
    NodeState.HOST_KEY_UNKNOWN: 1,
    NodeState.AUTH_FAILED: 2,
    NodeState.UNREACHABLE: 3,
    NodeState.COMMAND_FAILED: 4,
    NodeState.PARSE_ERROR: 5,
    NodeState.STALE: 6,
    NodeState.CONNECTING: 7,
    NodeState.UP: 8,
}


def _fmt(value: float | None, unit: str, digits: int = 0) -> str:
    return "–" if value is None else f"{value:.{digits}f}{unit}"


def _power(value: float | None) -> str:
    return "–" if value is None else power_words(value)  # as the terminal's table says it


class FleetTableModel(QAbstractTableModel):
    def __init__(self, views: list[NodeView]) -> None:
        super().__init__()
        self._rows: list[NodeView] = list(views)
        self._row_of = {view.name: i for i, view in enumerate(self._rows)}
        # The status bar's totals, kept as rows change (counting 1,000 rows at each snapshot took the GUI
        # thread a few milliseconds, four times a second).
        self._hot = {view.name for view in self._rows if view.hot}
        self._accelerators = {view.name: view.accelerator_count for view in self._rows}
        self.accelerator_total = sum(self._accelerators.values())
        self._bold = QFont()
        self._bold.setBold(True)

    # --- updates (GUI thread) ----------------------------------------------------------------------------

    def apply(self, changed: tuple[NodeView, ...] | list[NodeView]) -> None:
        """Replace the rows that changed, then one dataChanged from the first to the last of them.

        One signal, not one per contiguous block: in a sorted table the changed rows are scattered (a
        quarter of a thousand nodes per snapshot), and each emit is a trip into Qt and back that waits for
        the GIL behind the telemetry threads. The view repaints only the rows in sight either way."""
        first = last = -1
        for view in changed:
            row = self._row_of.get(view.name)
            if row is not None:
                self._rows[row] = view
                first = row if first < 0 else min(first, row)
                last = max(last, row)
                if view.hot:
                    self._hot.add(view.name)
                else:
                    self._hot.discard(view.name)
                count = view.accelerator_count
                self.accelerator_total += count - self._accelerators[view.name]
                self._accelerators[view.name] = count
        if first >= 0:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(Column) - 1))

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Put the rows in order of ``column``: every row's key in one pass of Python, then one reorder.

        Why not QSortFilterProxyModel's own sort: it asks data() twice per comparison from C++, and each of
        those ~20,000 calls at 1,000 nodes takes the GIL back from the telemetry threads (waiting up to the
        switch interval each time): the window froze for seconds at each re-sort. Stable, as Qt's is."""
        if not 0 <= column < len(Column):
            return
        which = Column(column)
        ordered = sorted(
            self._rows, key=lambda view: self._sort_key(view, which), reverse=order == Qt.SortOrder.DescendingOrder
        )
        if ordered == self._rows:
            return
        self.layoutAboutToBeChanged.emit()
        before = self.persistentIndexList()
        names = [self._rows[index.row()].name for index in before]
        self._rows = ordered
        self._row_of = {view.name: i for i, view in enumerate(ordered)}
        self.changePersistentIndexList(
            before, [self.index(self._row_of[name], index.column()) for name, index in zip(names, before, strict=True)]
        )
        self.layoutChanged.emit()

    def scheduler_state(self, name: str) -> str:
        """Slurm's word for the node (``IDLE+DRAIN`` …), as the scheduler watch last read it."""
        row = self._row_of.get(name)
        return (self._rows[row].scheduler_state or "") if row is not None else ""

    def view_at(self, row: int) -> NodeView:
        return self._rows[row]

    def row_of(self, name: str) -> int | None:
        return self._row_of.get(name)

    def views(self) -> list[NodeView]:
        return list(self._rows)

    @property
    def hot_count(self) -> int:
        """Live nodes with an accelerator at or over the hot mark."""
        return len(self._hot)

    # --- Qt model ----------------------------------------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[Column(section)].header
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        view = self._rows[index.row()]
        column = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(view, column)
        if role == SORT_ROLE:
            return self._sort_key(view, column)
        if role == NODE_NAME_ROLE:
            return view.name
        if role == Qt.ItemDataRole.DecorationRole and column == Column.STATE:
            return state_icon(view.state)
        if column == Column.SCHEDULER and role in (Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole):
            # Slurm's own colour first: a drained node reads as drained whatever its telemetry says.
            slurm = state_words(view.scheduler_state or "")
            if slurm.out_of_service:
                colours = SLURM_DRAIN_COLOURS if slurm.drained else SLURM_OUT_COLOURS
                return QColor(colours[0] if role == Qt.ItemDataRole.BackgroundRole else colours[1])
        if role == Qt.ItemDataRole.BackgroundRole:
            if view.worst_alert == Severity.CRITICAL and view.state in LIVE_STATES:
                return QColor(CRITICAL_BACKGROUND)
            return row_background(view.state, view.hot)
        if role == Qt.ItemDataRole.ForegroundRole:
            return row_foreground(view.state, view.hot)
        if role == Qt.ItemDataRole.FontRole and (
            (column == Column.TEMP_MAX and view.hot) or (column == Column.STATE and view.state not in LIVE_STATES)
        ):
            return self._bold
        if role == Qt.ItemDataRole.TextAlignmentRole and COLUMNS[column].numeric:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return plain_tip(self._tooltip(view))
        return None

    @staticmethod
    def _live(view: NodeView) -> bool:
        return view.state in LIVE_STATES or view.state == NodeState.STALE

    def _display(self, view: NodeView, column: Column) -> str:
        live = self._live(view)
        match column:
            case Column.NODE:
                return view.name
            case Column.STATE:
                return view.state.value
            case Column.VENDOR:
                return view.vendor.value
            case Column.ACCELERATORS:
                return str(view.accelerator_count) if view.accelerators else "–"
            case Column.UTIL_MEAN:
                return _fmt(view.mean_utilization, " %") if live else "–"
            case Column.UTIL_MAX:
                return _fmt(view.max_utilization, " %") if live else "–"
            case Column.TEMP_MAX:
                return _fmt(view.max_temperature, " °C") if live else "–"
            case Column.POWER:
                return _power(view.total_power) if live else "–"
            case Column.TENANT:
                return view.spec.tenant or ""
            case Column.RACK:
                rack = view.spec.rack or ""
                return f"{rack} / U{view.spec.slot}" if view.spec.slot is not None else rack
            case Column.SCHEDULER:
                return state_words(view.scheduler_state or "").words
            case Column.ALERTS:
                return alert_words(view)
            case Column.ISSUE:
                return (view.error or "").split("\n", 1)[0]
            case Column.TREND:
                return ""  # drawn by the TrendDelegate
        return ""

    def _sort_key(self, view: NodeView, column: Column) -> Any:
        live = self._live(view)
        missing = -1.0
        match column:
            case Column.STATE:
                return STATE_RANK[view.state]
            case Column.ALERTS:
                worst = view.worst_alert
                return 1 if worst is None else -(10 * int(worst) + len(view.alerts))
            case Column.ACCELERATORS:
                return view.accelerator_count
            case Column.UTIL_MEAN:
                return view.mean_utilization if live and view.mean_utilization is not None else missing
            case Column.UTIL_MAX:
                return view.max_utilization if live and view.max_utilization is not None else missing
            case Column.TEMP_MAX:
                return view.max_temperature if live and view.max_temperature is not None else missing
            case Column.POWER:
                return view.total_power if live and view.total_power is not None else missing
            case Column.RACK:
                return f"{view.spec.rack or ''}/{view.spec.slot or 0:03d}"
        return self._display(view, column).lower()

    @staticmethod
    def _tooltip(view: NodeView) -> str:
        since = time.strftime("%H:%M:%S", time.localtime(view.state_since))
        text = f"{view.name}: {view.state.value} since {since}"
        if view.scheduler_state:
            text += f"\nSlurm: {view.scheduler_state}"
        if view.error:
            text += f"\n{view.error}"
        return text


class FleetFilterProxy(QSortFilterProxyModel):
    """Filters on every word typed (all must match somewhere in the row); "problems only" hides healthy rows."""

    @staticmethod
    def _scheduler_words(model: FleetTableModel, name: str) -> str:
        raw = model.scheduler_state(name)
        return f"{raw.replace('+', ' ')} {state_words(raw).words}"

    def __init__(self) -> None:
        super().__init__()
        self._words: list[str] = []
        self.problems_only = False
        self.setSortRole(SORT_ROLE)
        # Rows do not re-sort on every reading (they would move under the pointer); the window re-sorts on
        # a slower cadence and re-filters after each snapshot (see MainWindow._resort and refilter).
        self.setDynamicSortFilter(False)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """The header's sort, done by the table model in one pass (FleetTableModel.sort says why); the proxy
        keeps the model's order and only filters."""
        model = self.sourceModel()
        if isinstance(model, FleetTableModel):
            model.sort(column, order)

    def set_filter_text(self, text: str) -> None:
        self.beginFilterChange()
        self._words = text.lower().split()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    @property
    def filtering(self) -> bool:
        return self.problems_only or bool(self._words)

    def refilter(self) -> None:
        """Apply the filter again to new readings (rows shown keep their places)."""
        self.beginFilterChange()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_problems_only(self, enabled: bool) -> None:
        self.beginFilterChange()
        self.problems_only = enabled
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    @staticmethod
    def is_problem(view: NodeView) -> bool:
        """What "Problems only" keeps: a node not up, hot, alerting, or out of service in Slurm (drained,
        draining, down, rebooting, not responding)."""
        out_of_service = state_words(view.scheduler_state or "").out_of_service
        return view.state != NodeState.UP or view.hot or bool(view.alerts) or out_of_service

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        model = self.sourceModel()
        assert isinstance(model, FleetTableModel)
        view = model.view_at(source_row)
        if self.problems_only and not self.is_problem(view):
            return False
        if not self._words:
            return True
        haystack = " ".join(
            (
                view.name,
                view.state.value,
                view.vendor.value,
                view.spec.tenant or "",
                view.spec.rack or "",
                view.spec.host,
                view.error or "",
                self._scheduler_words(model, view.name),
                " ".join(f"alert {a.severity.word} {a.rule.replace('_', ' ')}" for a in view.alerts),
                "hot" if view.hot else "",
            )
        ).lower()
        return all(word in haystack for word in self._words)
