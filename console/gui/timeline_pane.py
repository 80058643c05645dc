"""A node's timeline in the Log view: archived utilisation and temperature on one time axis, the events
(incidents, notes, actions, Slurm and node states, XIDs, BMC log entries, archive gaps) marked on the plots
and listed under them."""

from __future__ import annotations

from typing import Final

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from console.core.records.log_types import NodeTimeline
from console.gui.log_tables import local
from console.gui.style import SERIES_COLOURS
from console.gui.text import plain_label, plain_tip

EVENT_COLOURS: Final = {
    "incident": "#b00020",
    "note": "#555555",
    "action": "#1f5fbf",
    "state": "#7a4b00",
    "slurm": "#6a1b9a",
    "alert": "#c77700",
    "xid": "#d00000",
    "bmc": "#00796b",
    "gap": "#888888",
}


class EventItem(QTreeWidgetItem):
    """An event row: sorted by its exact time under the Time column (two in one minute keep their order)."""

    def __lt__(self, other: QTreeWidgetItem) -> bool:
        tree = self.treeWidget()
        if tree is not None and tree.sortColumn() == 0:
            return float(self.data(0, Qt.ItemDataRole.UserRole)) < float(other.data(0, Qt.ItemDataRole.UserRole))
        return self.text(tree.sortColumn() if tree else 0) < other.text(tree.sortColumn() if tree else 0)


class TimelinePlot(pg.PlotWidget):  # type: ignore[misc]
    """Archived utilisation (per accelerator) or temperature over time, with the events as marks."""

    def __init__(self, title: str, unit: str, y_max: float) -> None:
        super().__init__(axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
        self.setBackground("w")
        # Side by side at 120 px: with the incident lists beside them the Log tab still fits a 768-px screen.
        self.setMinimumHeight(100)
        self.setMouseEnabled(x=True, y=False)
        self.setYRange(0, y_max)
        self.getAxis("left").setLabel(f"{title} ({unit})")
        self.getAxis("left").setWidth(52)
        self.showGrid(x=True, y=True, alpha=0.2)
        self.curves: list[pg.PlotDataItem] = []
        self.marks: list[pg.InfiniteLine] = []

    def show_series(self, times: np.ndarray, values: np.ndarray, events: list[tuple[float, str]]) -> None:
        for item in [*self.curves, *self.marks]:
            self.removeItem(item)
        self.curves, self.marks = [], []
        for column in range(values.shape[1] if values.ndim == 2 else 0):
            pen = pg.mkPen(SERIES_COLOURS[column % len(SERIES_COLOURS)], width=1.2)
            curve = self.plot(times, values[:, column], pen=pen, connect="finite")
            self.curves.append(curve)
        for at, kind in events:
            line = pg.InfiniteLine(
                pos=at, angle=90, pen=pg.mkPen(EVENT_COLOURS.get(kind, "#888"), width=1, style=Qt.PenStyle.DashLine)
            )
            self.addItem(line)
            self.marks.append(line)


class TimelinePane(QWidget):
    """A node's timeline: the two plots on one time axis and the events listed under them."""

    def __init__(self) -> None:
        super().__init__()
        self.title = plain_label("Timeline: select an incident")
        self.title.setObjectName("timeline-title")
        self.util = TimelinePlot("Utilisation", "%", 100)
        self.temp = TimelinePlot("Temperature", "°C", 100)
        self.temp.setXLink(self.util)
        self.events = QTreeWidget()
        self.events.setObjectName("timeline-events")
        self.events.setHeaderLabels(["Time", "What", "Detail"])
        self.events.setRootIsDecorated(False)
        self.events.setColumnWidth(0, 125)
        self.events.setColumnWidth(1, 70)
        self.notes = plain_label("")
        self.notes.setStyleSheet("color:#8a5a00")
        self.notes.setWordWrap(True)
        # Two rows at least on a 768-px screen; the list takes what the plots leave (four and more at 900 px).
        self.events.setMinimumHeight(60)
        self.events.setSortingEnabled(True)
        # The two plots side by side: each keeps its 150 px and the window still fits a 768-px screen.
        plots = QHBoxLayout()
        plots.addWidget(self.util)
        plots.addWidget(self.temp)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addLayout(plots, 3)
        layout.addWidget(self.notes)
        layout.addWidget(self.events, 2)  # the plots do not take every pixel: the events keep their rows
        self.shown: NodeTimeline | None = None

    def show_timeline(self, timeline: NodeTimeline) -> None:
        self.shown = timeline
        series = timeline.series
        points = 0 if series is None else len(series.times)
        step = "" if series is None else (" (hourly)" if series.resolution_s == 3600 else " (per minute)")
        self.title.setText(
            f"Timeline of {timeline.node}: {local(timeline.since)} → {local(timeline.until)}{step}, "
            f"{points} archived points, {len(timeline.events)} events (read in {timeline.took_ms:.0f} ms)"
        )
        marks = [(e.at, e.kind) for e in timeline.events if e.kind in ("incident", "action", "xid", "bmc", "slurm")]
        if series is not None and len(series.times):
            self.util.show_series(series.times, series.util, marks)
            self.temp.show_series(series.times, series.temp, marks)
        else:
            self.util.show_series(np.zeros(0), np.zeros((0, 0)), marks)
            self.temp.show_series(np.zeros(0), np.zeros((0, 0)), marks)
        self.util.setXRange(timeline.since, timeline.until, padding=0)
        self.notes.setText("; ".join(timeline.notes))
        self.events.setSortingEnabled(False)
        self.events.clear()
        # Oldest first, as a story is read (a click on "Time" turns it round); the last 2,000 at most.
        for event in timeline.events[-2000:]:
            item = EventItem([local(event.at), event.kind, event.text])
            item.setData(0, Qt.ItemDataRole.UserRole, event.at)
            item.setForeground(1, QColor(EVENT_COLOURS.get(event.kind, "#333")))
            item.setToolTip(2, plain_tip(event.text))
            self.events.addTopLevelItem(item)
        self.events.setSortingEnabled(True)
        self.events.sortByColumn(0, Qt.SortOrder.AscendingOrder)
