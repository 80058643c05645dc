"""What the floor's two pictures share: the cell sizes, the colour of every cell (each measure's ramp, the
kinds that hold no value, a value past its limit), hit boxes, and the canvas that turns hover, click,
Ctrl+click and a dragged rectangle into node choices; and the tab that scrolls a canvas."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final

from PySide6.QtCore import QPoint, QRect, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import (
    QScrollArea,
    QToolTip,
    QWidget,
)

from console.core.floor.heatmap import (
    TEMP_MARGIN_C,
    Cell,
    CellKind,
    ColorBy,
)

CELL: Final = 10
SMALL_CELL: Final = 6
BIG_FLOOR_CELLS: Final = 2400
GAP: Final = 1
NODE_GAP: Final = 3
BLOCK_GAP: Final = 14  # between groups
BLOCK_NODES: Final = 24  # nodes a group's block holds side by side before it wraps
LABEL_H: Final = 18
MARGIN: Final = 6
UNIT_PX: Final = 8  # one rack unit in the rack view
RACK_W: Final = 132
# Value ramps, low to high: pale to dark, so "idle" is the lightest colour and never grey.
RAMPS: Final = {
    ColorBy.UTILIZATION: ("#eef6ff", "#7fb3e6", "#08519c"),
    ColorBy.TEMPERATURE: ("#fff7e0", "#fd8d3c", "#b10026"),
    ColorBy.POWER: ("#f7fcf5", "#74c476", "#00441b"),
    ColorBy.MEMORY: ("#fcfbfd", "#9e9ac8", "#3f007d"),
    ColorBy.HEALTH: ("#d9f2d9", "#ffd166", "#d62828"),
    ColorBy.STATE: ("#d9f2d9", "#e9d5ff", "#d62828"),
}
UNREACHABLE_FILL: Final = "#3f3f46"
OVER_LIMIT_FILL: Final = "#d100d1"  # past the critical temperature or the power limit: no ramp colour is this
STALE_FILL: Final = "#d6c7a1"
NO_READING_FILL: Final = "#ffffff"
SELECTED: Final = "#1d4ed8"


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    return QColor(
        round(a.red() + (b.red() - a.red()) * t),
        round(a.green() + (b.green() - a.green()) * t),
        round(a.blue() + (b.blue() - a.blue()) * t),
    )


def cell_argb(cell: Cell, color_by: ColorBy) -> int:
    """A cell's colour as a pixel: a value on its measure's ramp (past 1: the top colour), the kinds without a
    value their own. The one place both views and the tests take a cell's colour from."""
    if cell.kind == CellKind.VALUE:
        if cell.over_limit:
            return hex_argb(OVER_LIMIT_FILL)
        return colour_table(color_by)[min(255, max(0, int(cell.level * 255)))]
    return kind_colours()[cell.kind]


def cell_colour(cell: Cell, color_by: ColorBy) -> QColor:
    return QColor.fromRgb(cell_argb(cell, color_by))


@dataclass(slots=True)
class HitBox:
    rect: QRect
    node: str
    cell: Cell | None = None


class FloorCanvas(QWidget):
    """What the heatmap and the rack view share: hit boxes, hover, click, Ctrl+click and rubber-band."""

    node_chosen = Signal(str)
    selection_changed = Signal(list)

    def __init__(self) -> None:
        super().__init__()
        self.setMouseTracking(True)
        self.boxes: list[HitBox] = []
        self.selected: set[str] = set()
        self._press: QPoint | None = None
        self._band: QRect | None = None

    def at(self, point: QPoint) -> HitBox | None:
        for box in self.boxes:
            if box.rect.contains(point):
                return box
        return None

    def describe(self, box: HitBox) -> str:
        return box.node

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        point = event.position().toPoint()
        if self._press is not None and (point - self._press).manhattanLength() > 4:
            self._band = QRect(self._press, point).normalized()
            self.update()
            return
        box = self.at(point)
        if box is not None:
            QToolTip.showText(event.globalPosition().toPoint(), self.describe(box), self)
        else:
            QToolTip.hideText()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = event.position().toPoint()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        point = event.position().toPoint()
        band, self._band, self._press = self._band, None, None
        if band is not None:
            nodes = {b.node for b in self.boxes if band.intersects(b.rect)}
            if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
                nodes |= self.selected
            self.set_selected(nodes, emit=True)
            return
        box = self.at(point)
        if box is None:
            return
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.set_selected(self.selected ^ {box.node}, emit=True)
        else:
            self.node_chosen.emit(box.node)

    def set_selected(self, nodes: set[str], emit: bool = False) -> None:
        self.selected = set(nodes)
        self.update()
        if emit:
            self.selection_changed.emit(sorted(self.selected))

    def paint_band(self, painter: QPainter) -> None:
        if self._band is not None:
            painter.setPen(QPen(QColor(SELECTED), 1, Qt.PenStyle.DashLine))
            painter.setBrush(QColor(29, 78, 216, 40))
            painter.drawRect(self._band)


def hex_argb(colour: str) -> int:
    return QColor(colour).rgb() & 0xFFFFFFFF


@functools.cache
def colour_table(color_by: ColorBy) -> tuple[int, ...]:
    """The measure's ramp as 256 ARGB values (a level in 0..1 picks one), made once per measure."""
    low, mid, high = (QColor(c) for c in RAMPS[color_by])
    out = []
    for i in range(256):
        level = i / 255
        colour = _mix(low, mid, level * 2) if level < 0.5 else _mix(mid, high, (level - 0.5) * 2)
        out.append(colour.rgb() & 0xFFFFFFFF)
    return tuple(out)


@functools.cache
def kind_colours() -> dict[CellKind, int]:
    """The cells that hold no value: unreachable, stale, no reading."""
    return {
        CellKind.UNREACHABLE: hex_argb(UNREACHABLE_FILL),
        CellKind.STALE: hex_argb(STALE_FILL),
        CellKind.NO_READING: hex_argb(NO_READING_FILL),
    }


class FloorTab(QWidget):
    """What the Heatmap and Racks tabs share: their signals, and their canvas in a scroll area."""

    node_chosen = Signal(str)
    nodes_selected = Signal(list)
    refreshed = Signal()

    def scrolled(self, canvas: FloorCanvas) -> QScrollArea:
        canvas.node_chosen.connect(self.node_chosen)
        canvas.selection_changed.connect(self.nodes_selected)
        area = QScrollArea()
        area.setWidget(canvas)
        area.setWidgetResizable(True)
        return area


def legend_text(color_by: ColorBy) -> str:
    what = {
        ColorBy.UTILIZATION: "utilisation 0 → 100 %",
        ColorBy.TEMPERATURE: f"temperature 30 °C → the vendor's critical limit + {TEMP_MARGIN_C:.0f} °C",
        ColorBy.POWER: "power → the GPU's power limit",
        ColorBy.MEMORY: "memory used → total",
        ColorBy.HEALTH: "healthy · warning · critical (alerts, ECC, XID, npu-smi health)",
        ColorBy.STATE: "in service · drained · down",
    }[color_by]
    over = "  Magenta: past the limit." if color_by in (ColorBy.TEMPERATURE, ColorBy.POWER) else ""
    return f"Light → dark: {what}.{over}  Dark grey ╲: unreachable (never idle).  Tan: stale.  White: no reading."
