"""The fleet table's Trend column: the last 10 minutes of a node's mean utilisation (blue) and hottest
temperature (red) as two small lines, drawn by a delegate from the history rings the window already keeps
(only for the rows in sight; each node's points are kept for a second)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Final

import numpy as np
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem, QWidget

from console.core.telemetry.fleet import FleetModel
from console.core.telemetry.history import HISTORY_SECONDS

POINTS: Final = 40  # one per 15 s over 10 minutes
UTIL_COLOUR: Final = "#1d4ed8"
TEMP_COLOUR: Final = "#dc2626"
TEMP_TOP_C: Final = 100.0


def node_trend(fleet: FleetModel, node: str, now: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean utilisation and hottest temperature of the node's accelerators in POINTS bins over the history
    (NaN where no reading fell in a bin)."""
    edges = np.linspace(now - HISTORY_SECONDS, now, POINTS + 1)
    util = np.full((0, POINTS), np.nan)
    temp = np.full((0, POINTS), np.nan)
    view_indices = [a.sample.index for a in fleet.view(node).accelerators]
    rows_u: list[np.ndarray] = []
    rows_t: list[np.ndarray] = []
    for index in view_indices:
        for metric, rows in (("utilization_pct", rows_u), ("temperature_c", rows_t)):
            series = fleet.series(node, index, metric, edges[0])
            if series is None or not len(series.times):
                continue
            bins = np.clip(np.digitize(series.times, edges) - 1, 0, POINTS - 1)
            sums = np.bincount(bins, weights=np.nan_to_num(series.values), minlength=POINTS)
            counts = np.bincount(bins, weights=np.isfinite(series.values).astype(float), minlength=POINTS)
            with np.errstate(invalid="ignore", divide="ignore"):
                rows.append(np.where(counts > 0, sums / counts, np.nan))
    if rows_u:
        util = np.vstack(rows_u)
    if rows_t:
        temp = np.vstack(rows_t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN bin (no reading then) stays NaN
        mean_util = np.nanmean(util, axis=0) if len(util) else np.full(POINTS, np.nan)
        max_temp = np.nanmax(temp, axis=0) if len(temp) else np.full(POINTS, np.nan)
    return mean_util, max_temp


class TrendDelegate(QStyledItemDelegate):
    """Paints the Trend column; ``node_of(index)`` names the row's node."""

    def __init__(
        self,
        fleet: FleetModel,
        node_of: Callable[[QModelIndex | QPersistentModelIndex], str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.fleet = fleet
        self.node_of = node_of
        self._cache: dict[str, tuple[float, tuple[np.ndarray, np.ndarray]]] = {}

    def trend(self, node: str) -> tuple[np.ndarray, np.ndarray]:
        now = time.time()
        cached = self._cache.get(node)
        if cached is None or now - cached[0] > 1.0:
            cached = (now, node_trend(self.fleet, node, now))
            self._cache[node] = cached
        return cached[1]

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().paint(painter, option, index)
        node = self.node_of(index)
        if not node:
            return
        util, temp = self.trend(node)
        rect = option.rect.adjusted(3, 3, -3, -3)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for values, top, colour in ((util, 100.0, UTIL_COLOUR), (temp, TEMP_TOP_C, TEMP_COLOUR)):
            line = QPolygonF()
            for i, value in enumerate(values):
                if not np.isfinite(value):
                    continue
                x = rect.left() + rect.width() * i / (POINTS - 1)
                y = rect.bottom() - rect.height() * min(max(float(value) / top, 0.0), 1.0)
                line.append(QPointF(x, y))
            if line.size() > 1:
                painter.setPen(QPen(QColor(colour), 1.2))
                painter.drawPolyline(line)
        painter.restore()
