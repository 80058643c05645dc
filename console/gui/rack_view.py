"""The Racks tab: the racks as elevations by hall row, unit 1 at the bottom, each chassis coloured, its
accelerators as small cells, a lit locate LED as a lamp; a search's answer outlined and scrolled into sight."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QVBoxLayout,
)

from console.core.alerts.config import AlertRules, Severity
from console.core.floor.heatmap import (
    Cell,
    CellCache,
    CellKind,
    ColorBy,
    RackElevation,
)
from console.core.telemetry.fleet import NodeView
from console.core.telemetry.samples import LIVE_STATES, NodeState
from console.gui.floor_canvas import (
    CELL,
    GAP,
    LABEL_H,
    MARGIN,
    NO_READING_FILL,
    RACK_W,
    SELECTED,
    STALE_FILL,
    UNIT_PX,
    UNREACHABLE_FILL,
    FloorCanvas,
    FloorTab,
    HitBox,
    cell_argb,
    hex_argb,
    legend_text,
)
from console.gui.style import SLURM_DRAIN_COLOURS
from console.gui.text import plain_label


@dataclass(frozen=True, slots=True)
class NodeLook:
    """How the rack view draws a chassis: its worst state's colour and its accelerators' cells."""

    fill: str
    words: str
    cells: tuple[Cell, ...] = ()


def node_look(view: NodeView, cells: Sequence[Cell]) -> NodeLook:
    """The chassis's colour from its worst: unreachable, a critical alert, a warning, drained in Slurm, up."""
    if view.state not in LIVE_STATES and view.state != NodeState.STALE:
        return NodeLook(UNREACHABLE_FILL, view.state.value, tuple(cells))
    worst = view.alerts[0].severity if view.alerts else None
    if worst == Severity.CRITICAL:
        return NodeLook("#f5a3a3", f"critical: {view.alerts[0].rule.replace('_', ' ')}", tuple(cells))
    if worst == Severity.WARNING:
        return NodeLook("#ffd166", f"warning: {view.alerts[0].rule.replace('_', ' ')}", tuple(cells))
    if "DRAIN" in (view.scheduler_state or ""):
        return NodeLook(SLURM_DRAIN_COLOURS[0], "drained in Slurm", tuple(cells))
    if view.state == NodeState.STALE:
        return NodeLook(STALE_FILL, "stale", tuple(cells))
    return NodeLook("#d9f2d9", "up", tuple(cells))


def measure_look(view: NodeView, cells: Sequence[Cell], color_by: ColorBy) -> NodeLook:
    """The chassis in its highest reading's colour for the measure (a reading past its limit first): the
    hottest rack stands out as on the heatmap. A node that is not up keeps its state's colour."""
    if view.state not in LIVE_STATES and view.state != NodeState.STALE:
        return NodeLook(UNREACHABLE_FILL, view.state.value, tuple(cells))
    values = [c for c in cells if c.kind == CellKind.VALUE]
    if not values:
        stale = view.state == NodeState.STALE or any(c.kind == CellKind.STALE for c in cells)
        return NodeLook(STALE_FILL if stale else NO_READING_FILL, "stale" if stale else "no reading", tuple(cells))
    top = max(values, key=lambda c: (c.over_limit, c.level))
    fill = f"#{cell_argb(top, color_by) & 0xFFFFFF:06x}"
    where = f"GPU {top.accelerator}" if top.accelerator is not None else "the node"
    return NodeLook(fill, f"highest {color_by.value}: {where} {top.words}", tuple(cells))


class RackCanvas(FloorCanvas):
    """Racks side by side by hall row, unit 1 at the bottom; each chassis in its worst state's colour with its
    accelerators as small cells; a lit locate LED drawn as a blue lamp."""

    def __init__(self) -> None:
        super().__init__()
        self.racks: list[RackElevation] = []
        self.looks: dict[str, NodeLook] = {}
        self.leds: set[str] = set()
        self.highlighted: str | None = None
        self.color_by = ColorBy.UTILIZATION
        self.image: QImage | None = None
        self.last_render_ms = 0.0
        self._overlay_key: tuple[object, ...] = ()
        self._overlay_image: QImage | None = None

    def set_racks(
        self, racks: list[RackElevation], looks: Mapping[str, NodeLook], leds: set[str], color_by: ColorBy
    ) -> None:
        self.racks, self.looks, self.leds, self.color_by = racks, dict(looks), set(leds), color_by
        self._layout()
        self.render_racks()
        self.update()

    def _positions(self) -> list[tuple[RackElevation, int, int]]:
        width = max(self.width(), 400)
        out: list[tuple[RackElevation, int, int]] = []
        x, y, row = MARGIN, MARGIN + LABEL_H, None
        tallest = 0
        for rack in self.racks:
            height = rack.units * UNIT_PX + LABEL_H + 4
            if (rack.row != row and out) or x + RACK_W > width - MARGIN:
                x, y = MARGIN, y + tallest + LABEL_H + MARGIN * 2
                tallest = 0
            row = rack.row
            out.append((rack, x, y))
            tallest = max(tallest, height)
            x += RACK_W + MARGIN * 2
        self.setMinimumHeight(y + tallest + MARGIN * 2)
        return out

    def _layout(self) -> None:
        boxes = []
        for rack, x, y in self._positions():
            for slot in rack.slots:
                top = y + LABEL_H + (rack.units - (slot.unit + slot.height - 1)) * UNIT_PX
                boxes.append(HitBox(QRect(x + 2, top, RACK_W - 4, slot.height * UNIT_PX - 1), slot.node))
        self.boxes = boxes

    def resizeEvent(self, event: object) -> None:
        self._layout()
        self.render_racks()

    def sizeHint(self) -> QSize:
        return QSize(800, self.minimumHeight())

    def describe(self, box: HitBox) -> str:
        look = self.looks.get(box.node)
        led = " · locate LED on" if box.node in self.leds else ""
        return f"{box.node}: {look.words if look else 'not read'}{led}"

    def box_of(self, node: str) -> QRect | None:
        return next((b.rect for b in self.boxes if b.node == node), None)

    def _overlay(self, width: int, height: int) -> QImage:
        """What only the layout changes — rack frames and names, hall rows, chassis borders and names — drawn
        once per layout on a transparent image, laid over the colours on each refresh."""
        key = (width, height, tuple((r.name, tuple(s.node for s in r.slots), len(r.unplaced)) for r in self.racks))
        if self._overlay_key == key and self._overlay_image is not None:
            return self._overlay_image
        image = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        bold = QFont(self.font())
        bold.setBold(True)
        row_seen: set[str | None] = set()
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for rack, x, y in self._positions():
            painter.setFont(bold)
            painter.setPen(QColor("#1f2937"))
            if rack.row not in row_seen:
                row_seen.add(rack.row)
                painter.drawText(x, y - 4, f"Hall row {rack.row}" if rack.row else "Racks with no row")
            painter.drawText(x, y + LABEL_H - 5, rack.name)
            frame = QRect(x, y + LABEL_H - 1, RACK_W, rack.units * UNIT_PX + 2)
            painter.setPen(QPen(QColor("#6b7280"), 1))
            painter.drawRect(frame)
            if rack.unplaced:
                painter.setFont(self.font())
                painter.setPen(QColor("#b91c1c"))
                painter.drawText(x, frame.bottom() + 14, f"{len(rack.unplaced)} with no unit")
        painter.setFont(self.font())
        metrics = painter.fontMetrics()
        for box in self.boxes:
            painter.setPen(QPen(QColor("#4b5563"), 1))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(box.rect)
            # The name on a light tab: readable on any chassis colour, the dark of an unreachable one too.
            label = QRect(box.rect.left() + 2, box.rect.top() + 2, metrics.horizontalAdvance(box.node) + 6, 14)
            painter.fillRect(label, QColor(255, 255, 255, 210))
            painter.setPen(QColor("#111827"))
            painter.drawText(label, Qt.AlignmentFlag.AlignCenter, box.node)
        painter.end()
        self._overlay_key, self._overlay_image = key, image
        return image

    def render_racks(self) -> None:
        """The chassis colours, the GPU cells and the lamps written as pixels (numpy), the layout's overlay on
        them: one image per refresh; a repaint (hover, selection, a search's outline) only draws it."""
        started = time.perf_counter()
        width, height = max(self.width(), 1), max(self.minimumHeight(), 1)
        pixels = np.full((height, width), 0xFFFFFFFF, dtype=np.uint32)
        inside_rack = hex_argb("#f3f4f6")
        for rack, x, y in self._positions():
            top, bottom = y + LABEL_H, min(height, y + LABEL_H + rack.units * UNIT_PX + 1)
            pixels[top:bottom, x + 1 : min(width, x + RACK_W)] = inside_rack
        lamp, not_read = hex_argb("#3b82f6"), hex_argb("#ffffff")
        size = CELL - 2
        for box in self.boxes:
            r = box.rect
            if r.bottom() >= height or r.right() >= width:
                continue
            look = self.looks.get(box.node)
            pixels[r.top() : r.bottom() + 1, r.left() : r.right() + 1] = hex_argb(look.fill) if look else not_read
            for i, cell in enumerate(look.cells[:16] if look else ()):
                cx = r.left() + 4 + i * (size + GAP)
                cy = r.bottom() - CELL
                if cx + size < r.right() - 14 and cy > r.top() + 16:
                    pixels[cy : cy + size, cx : cx + size] = cell_argb(cell, self.color_by)
            if box.node in self.leds:
                pixels[r.top() + 3 : r.top() + 11, r.right() - 12 : r.right() - 4] = lamp
        image = QImage(pixels.data, width, height, width * 4, QImage.Format.Format_RGB32).copy()
        painter = QPainter(image)
        painter.drawImage(0, 0, self._overlay(width, height))
        painter.end()
        self.image = image
        self.last_render_ms = (time.perf_counter() - started) * 1000

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(event.rect(), QColor("#ffffff"))
        if self.image is not None:
            painter.drawImage(event.rect(), self.image, event.rect())
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for box in self.boxes:
            if box.node in self.selected or box.node == self.highlighted:
                painter.setPen(QPen(QColor(SELECTED), 3 if box.node == self.highlighted else 2))
                painter.drawRect(box.rect.adjusted(-1, -1, 1, 1))
        self.paint_band(painter)
        painter.end()


BY_STATE: Final = "alerts and state"
STATE_LEGEND: Final = (
    "Chassis colour: green up · amber warning · red critical · lavender drained in Slurm · dark grey unreachable · "
    "tan stale; cells: utilisation; blue lamp: locate LED on."
)


class RackView(FloorTab):
    """The Racks tab: the elevations, and the answer of the last search."""

    def __init__(
        self,
        views: Callable[[], list[NodeView]],
        racks: Callable[[], list[RackElevation]],
        rules: Callable[[], AlertRules],
        leds: Callable[[], set[str]],
    ) -> None:
        super().__init__()
        self.views = views
        self.racks = racks
        self.rules = rules
        self.leds = leds
        self.cache = CellCache()  # the chassis' cells, rebuilt for the nodes that changed only
        self.canvas = RackCanvas()
        self.canvas.setObjectName("racks")
        self.answer = plain_label("Ctrl+K finds a box by name, address, BMC, GPU UUID, serial or bus id.")
        self.answer.setObjectName("racks-answer")
        self.answer.setWordWrap(True)
        self.scroller = self.scrolled(self.canvas)
        self.color = QComboBox()
        self.color.setObjectName("racks-color-by")
        self.color.addItems([BY_STATE, *(c.value for c in ColorBy if c != ColorBy.STATE)])
        self.color.currentTextChanged.connect(lambda _t: self.refresh())
        self.legend = plain_label("")
        self.legend.setObjectName("racks-legend")
        self.legend.setWordWrap(True)
        controls = QHBoxLayout()
        controls.addWidget(plain_label("Colour by"))
        controls.addWidget(self.color)
        controls.addWidget(self.legend, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.answer)
        layout.addLayout(controls)
        layout.addWidget(self.scroller, 1)

    @property
    def color_by(self) -> ColorBy | None:
        """The measure the chassis are coloured by (None: by their alerts and state)."""
        chosen = self.color.currentText()
        return None if chosen == BY_STATE else ColorBy(chosen)

    def refresh(self) -> None:
        rules = self.rules()
        color_by = self.color_by
        cells_by = color_by or ColorBy.UTILIZATION  # by state, the cells show utilisation
        looks = {}
        for view in self.views():
            cells = self.cache.cells(view, cells_by, rules)
            looks[view.name] = node_look(view, cells) if color_by is None else measure_look(view, cells, color_by)
        self.canvas.set_racks(self.racks(), looks, self.leds(), cells_by)
        self.legend.setText(
            STATE_LEGEND if color_by is None else f"Chassis: its highest reading. {legend_text(color_by)}"
        )
        self.refreshed.emit()

    def highlight(self, node: str | None, words: str = "") -> None:
        """Point at a node (a search's answer): outlined, scrolled into sight, its place said above."""
        self.canvas.highlighted = node
        self.canvas.update()
        if words:
            self.answer.setText(words)
        rect = self.canvas.box_of(node) if node else None
        if rect is not None:
            self.scroller.ensureVisible(rect.center().x(), rect.center().y(), 80, 80)
