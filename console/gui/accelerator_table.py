"""The node panel's accelerator table: one row per accelerator with its figures, its worst alert and the
slow path's identity (serial, bus id), hot and stale rows marked; a thin table model with its columns
declared once (AccColumn, ACC_HEADERS)."""

from __future__ import annotations

import enum
from typing import Any, Final

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from console.core.alerts.config import Severity
from console.core.alerts.rules import Alert
from console.core.parsers.nvidia_xml import GpuDetail
from console.core.telemetry.fleet import NodeView
from console.core.telemetry.samples import LIVE_STATES, AcceleratorSample, NotAvailable
from console.gui.style import (
    CRITICAL_BACKGROUND,
    HOT_BACKGROUND,
    HOT_TEXT,
    SERIES_COLOURS,
    SEVERITY_COLOURS,
    WARNING_BACKGROUND,
    dot_icon,
)
from console.gui.text import plain_tip

AnyIndex = QModelIndex | QPersistentModelIndex


class AccColumn(enum.IntEnum):
    """In the order shown: which accelerator, what is wrong with it, where it sits and what an RMA needs
    (bus id, serial), then its readings."""

    INDEX = 0
    ALERT = 1
    BUS = 2
    SERIAL = 3
    MODEL = 4
    UTIL = 5
    MEMORY = 6
    TEMP = 7
    POWER = 8
    PSTATE = 9
    CLOCK = 10
    FAN = 11
    UUID = 12


ACC_HEADERS: Final = {
    AccColumn.INDEX: "#",
    AccColumn.ALERT: "Alert",
    AccColumn.BUS: "PCI bus",
    AccColumn.SERIAL: "Serial",
    AccColumn.MODEL: "Model",
    AccColumn.UTIL: "Util",
    AccColumn.MEMORY: "Memory used / total",
    AccColumn.TEMP: "Temp",
    AccColumn.POWER: "Power / limit",
    AccColumn.PSTATE: "P-state",
    AccColumn.CLOCK: "SM clock",
    AccColumn.FAN: "Fan",
    AccColumn.UUID: "UUID",
}


_ATTR: Final = {
    AccColumn.UTIL: "utilization_pct",
    AccColumn.TEMP: "temperature_c",
    AccColumn.CLOCK: "sm_clock_mhz",
    AccColumn.FAN: "fan_pct",
    AccColumn.PSTATE: "pstate",
}


def _v(value: float | str | NotAvailable, unit: str = "", digits: int = 0) -> str:
    if isinstance(value, NotAvailable):
        return "N/A"
    if isinstance(value, str):
        return value
    return f"{value:.{digits}f}{unit}"


def _gib(value: float | NotAvailable) -> str:
    return "N/A" if isinstance(value, NotAvailable) else f"{value / 1024:.1f}"


class AcceleratorTableModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self._samples: list[AcceleratorSample] = []
        self._stale: list[bool] = []
        self._alerts: dict[int, Alert] = {}  # the worst alert per accelerator index
        self._details: dict[int, GpuDetail] = {}
        self._view: NodeView | None = None
        self._looked = False
        self._bold = QFont()
        self._bold.setBold(True)

    def set_view(self, view: NodeView | None) -> None:
        samples = [a.sample for a in view.accelerators] if view is not None else []
        stale = [a.stale or view.state not in LIVE_STATES for a in view.accelerators] if view is not None else []
        worst: dict[int, Alert] = {}
        for alert in view.alerts if view is not None else ():
            if alert.accelerator is not None:
                known = worst.get(alert.accelerator)
                if known is None or alert.severity > known.severity:
                    worst[alert.accelerator] = alert
        self._alerts = worst
        self._view = view
        self._details = dict(view.gpu_details) if view is not None else {}
        self._looked = view is not None and view.report is not None  # the slow path has looked once
        if len(samples) != len(self._samples):
            self.beginResetModel()
            self._samples, self._stale = samples, stale
            self.endResetModel()
        else:
            self._samples, self._stale = samples, stale
            if samples:
                self.dataChanged.emit(self.index(0, 0), self.index(len(samples) - 1, len(AccColumn) - 1))

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._samples)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(AccColumn)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return ACC_HEADERS[AccColumn(section)]
        return None

    def data(  # noqa: PLR0912 - one branch per column and role of the accelerator table
        self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid():
            return None
        s = self._samples[index.row()]
        column = AccColumn(index.column())
        hot = self._view is not None and self._view.accelerator_hot(s)
        alert = self._alerts.get(s.index)
        detail = self._details.get(s.index)
        if role == Qt.ItemDataRole.DisplayRole:
            match column:
                case AccColumn.INDEX:
                    return str(s.index)
                case AccColumn.ALERT:
                    return f"{alert.severity.word}: {alert.rule.replace('_', ' ')}" if alert is not None else ""
                case AccColumn.SERIAL:
                    if detail is not None:
                        return _v(detail.serial)
                    return "–" if self._looked else "…"  # none from this vendor's tool, or not looked yet
                case AccColumn.MODEL:
                    return _v(s.model)
                case AccColumn.UTIL:
                    return _v(s.utilization_pct, " %")
                case AccColumn.MEMORY:
                    return f"{_gib(s.memory_used_mib)} / {_gib(s.memory_total_mib)} GiB"
                case AccColumn.TEMP:
                    return _v(s.temperature_c, " °C")
                case AccColumn.POWER:
                    return f"{_v(s.power_w, '', 0)} / {_v(s.power_limit_w, ' W', 0)}"
                case AccColumn.CLOCK:
                    return _v(s.sm_clock_mhz, " MHz")
                case AccColumn.FAN:
                    return _v(s.fan_pct, " %")
                case AccColumn.PSTATE:
                    return _v(s.pstate)
                case AccColumn.BUS:
                    bus = s.pci_bus_id
                    if isinstance(bus, NotAvailable) and detail is not None:
                        bus = detail.pci_bus_id  # the slow path's, where the stream has none
                    return _v(bus)
                case AccColumn.UUID:
                    return _v(s.uuid)
        if role == Qt.ItemDataRole.DecorationRole and column == AccColumn.INDEX:
            return dot_icon(SERIES_COLOURS[index.row() % len(SERIES_COLOURS)])
        if role == Qt.ItemDataRole.BackgroundRole:
            # The faulty accelerator's whole row; a hot one's temperature.
            if alert is not None and alert.severity == Severity.CRITICAL:
                return QColor(CRITICAL_BACKGROUND)
            if hot and column == AccColumn.TEMP:
                return QColor(HOT_BACKGROUND)
            if alert is not None and alert.severity == Severity.WARNING:
                return QColor(WARNING_BACKGROUND)
        if role == Qt.ItemDataRole.FontRole and column == AccColumn.ALERT and alert is not None:
            return self._bold
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == AccColumn.ALERT and alert is not None:
                return QColor(SEVERITY_COLOURS[int(alert.severity)])
            if self._stale[index.row()]:
                return QColor("#8a8f98")
            if hot and column == AccColumn.TEMP:
                return QColor(HOT_TEXT)
        if role == Qt.ItemDataRole.ToolTipRole and column == AccColumn.ALERT and alert is not None:
            return plain_tip(alert.message)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (
            AccColumn.UTIL,
            AccColumn.TEMP,
            AccColumn.POWER,
            AccColumn.CLOCK,
            AccColumn.FAN,
            AccColumn.MEMORY,
        ):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and isinstance(getattr(s, _ATTR.get(column, ""), None), NotAvailable):
            reason = getattr(s, _ATTR[column])
            return plain_tip(f"not available: the tool printed {reason.reason}")
        return None
