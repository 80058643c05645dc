"""The whole floor: the heatmap (one cell per accelerator, grouped and coloured as chosen) and the racks as
elevations. Each is painted as one image (8,000 cells at 1,000 nodes are rectangles, not widgets); hover says
what a cell is, a click opens its node, Ctrl+click and a dragged rectangle select nodes for the actions.
The models are :mod:`console.core.floor`'s."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from console.core.alerts import AlertRules, Severity
from console.core.fleet import NodeView
from console.core.floor import (
    Cell,
    CellCache,
    CellGroup,
    CellKind,
    ColorBy,
    GroupBy,
    RackElevation,
    floor_groups,
)
from console.core.samples import LIVE_STATES, NodeState
from console.gui.style import SLURM_DRAIN_COLOURS
from console.gui.text import LabelTexts, plain_label

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


@dataclass(frozen=True, slots=True)
class HeatmapPicture:
    """The heatmap drawn for one width: each cell's place, the group labels and the pixels.

    Made by :func:`draw_heatmap` on any thread (no widget in it: a QImage, QRects and a copied QFont), then
    swapped into the canvas on the GUI thread. At 1,000 nodes, laying out and colouring 8,000 cells is
    20-30 ms of Python, which the telemetry threads stretched to 50-300 ms on the GUI thread."""

    groups: list[CellGroup]
    color_by: ColorBy
    width: int
    structure: tuple[object, ...]
    boxes: list[HitBox]
    labels: list[tuple[QRect, str]]
    xs: npt.NDArray[np.intp]
    ys: npt.NDArray[np.intp]
    size: int
    height: int
    image: QImage
    cells: int
    unreachable: int


def heatmap_structure(groups: Sequence[CellGroup], width: int) -> tuple[object, ...]:
    """What the layout depends on: the width and each group's nodes and their cell counts."""
    shape: list[object] = [width]
    for group in groups:
        counts: dict[str, int] = {}
        for cell in group.cells:
            counts[cell.node] = counts.get(cell.node, 0) + 1
        shape.append((group.name, tuple(counts.items())))
    return tuple(shape)


def _heatmap_places(
    groups: Sequence[CellGroup], width: int, font: QFont
) -> tuple[list[HitBox], list[tuple[QRect, str]], int, int]:
    """Each group a block — its label over its nodes, a node a column of its cells — and the blocks flow
    left to right, wrapping: a rack of four 8-GPU servers is a small tile, a thousand nodes one screen.
    Returns the boxes, the labels, the cell size and the height all of it takes."""
    metrics = QFontMetrics(font)
    # Smaller cells for a big floor: 8,000 accelerators still fit a screen or two.
    cells_total = sum(len(g.cells) for g in groups)
    size = CELL if cells_total <= BIG_FLOOR_CELLS else SMALL_CELL
    boxes: list[HitBox] = []
    labels: list[tuple[QRect, str]] = []
    x, y, line_height = MARGIN, MARGIN, 0
    for group in groups:
        by_node: dict[str, list[Cell]] = {}
        for cell in group.cells:
            by_node.setdefault(cell.node, []).append(cell)
        tallest = max((len(cells) for cells in by_node.values()), default=1)
        column = size + NODE_GAP
        per_row = max(1, min(len(by_node), (width - 2 * MARGIN) // column, BLOCK_NODES))
        rows = -(-len(by_node) // per_row)
        nodes_width = per_row * column
        label = f"{group.name} ({len(by_node)})"
        block_width = max(nodes_width, min(metrics.horizontalAdvance(label) + 6, 220))
        block_height = LABEL_H + rows * (tallest * (size + GAP) + NODE_GAP)
        if x + block_width > width - MARGIN and x > MARGIN:
            x, y, line_height = MARGIN, y + line_height + BLOCK_GAP, 0
        labels.append((QRect(x, y, block_width, LABEL_H), label))
        for position, (node, cells) in enumerate(by_node.items()):
            left = x + (position % per_row) * column
            top = y + LABEL_H + (position // per_row) * (tallest * (size + GAP) + NODE_GAP)
            for i, cell in enumerate(cells):
                boxes.append(HitBox(QRect(left, top + i * (size + GAP), size, size), node, cell))
        x += block_width + BLOCK_GAP
        line_height = max(line_height, block_height)
    return boxes, labels, size, y + line_height + MARGIN * 2


def draw_heatmap(
    groups: list[CellGroup], color_by: ColorBy, width: int, font: QFont, earlier: HeatmapPicture | None = None
) -> HeatmapPicture:
    """The picture of ``groups`` at ``width``. Where nothing moved since ``earlier`` (same width, same nodes
    in the same groups), its places are kept and only the cells are new. Safe off the GUI thread."""
    width = max(width, 400)
    structure = heatmap_structure(groups, width)
    all_cells = [c for g in groups for c in g.cells]
    if earlier is not None and earlier.structure == structure:  # the same nodes with as many cells each
        boxes = [HitBox(box.rect, box.node, cell) for box, cell in zip(earlier.boxes, all_cells, strict=True)]
        labels, size, height = earlier.labels, earlier.size, earlier.height
        xs, ys = earlier.xs, earlier.ys
    else:
        boxes, labels, size, height = _heatmap_places(groups, width, font)
        xs = np.array([b.rect.x() for b in boxes], dtype=np.intp)
        ys = np.array([b.rect.y() for b in boxes], dtype=np.intp)
    image = _heatmap_image(boxes, labels, xs, ys, size, width, height, color_by, font)
    return HeatmapPicture(
        groups=groups,
        color_by=color_by,
        width=width,
        structure=structure,
        boxes=boxes,
        labels=labels,
        xs=xs,
        ys=ys,
        size=size,
        height=height,
        image=image,
        cells=len(all_cells),
        unreachable=sum(1 for c in all_cells if c.kind == CellKind.UNREACHABLE),
    )


def _heatmap_image(
    boxes: list[HitBox],
    labels: list[tuple[QRect, str]],
    xs: npt.NDArray[np.intp],
    ys: npt.NDArray[np.intp],
    size: int,
    width: int,
    height: int,
    color_by: ColorBy,
    font: QFont,
) -> QImage:
    """The cells into one image (numpy writes the pixels: 8,000 cells in a few milliseconds), the group
    labels on it; the canvas's paintEvent then only draws the image and the selection."""
    height = max(height, 1)
    pixels = np.full((height, width), 0xFFFFFFFF, dtype=np.uint32)
    hatch, frame = _argb("#e4e4e7"), _argb("#9ca3af")
    if boxes:
        # Every cell's colour, then every cell's square of pixels at once (fancy indexing).
        colours = np.array([cell_argb(b.cell, color_by) for b in boxes if b.cell is not None], dtype=np.uint32)
        dy, dx = np.divmod(np.arange(size * size), size)
        rows = ys[:, None] + dy[None, :]
        columns = xs[:, None] + dx[None, :]
        inside = (rows < height).all(axis=1) & (columns < width).all(axis=1)
        pixels[rows[inside], columns[inside]] = colours[inside, None]
    for box in boxes:
        cell = box.cell
        if cell is None or cell.kind == CellKind.VALUE:
            continue
        r = box.rect
        x, y, w, h = r.x(), r.y(), r.width(), r.height()
        if y + h > height or x + w > width:
            continue
        if cell.kind == CellKind.UNREACHABLE:
            diagonal = np.arange(min(w, h))
            pixels[y + diagonal, x + diagonal] = hatch
        else:
            pixels[y, x : x + w] = frame
            pixels[y + h - 1, x : x + w] = frame
            pixels[y : y + h, x] = frame
            pixels[y : y + h, x + w - 1] = frame
    image = QImage(pixels.data, width, height, width * 4, QImage.Format.Format_RGB32).copy()
    painter = QPainter(image)
    label_font = QFont(font)
    label_font.setBold(True)
    painter.setFont(label_font)
    painter.setPen(QColor("#1f2937"))
    metrics = painter.fontMetrics()
    for rect, label in labels:
        text = metrics.elidedText(label, Qt.TextElideMode.ElideRight, rect.width())
        painter.drawText(rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
    painter.end()
    return image


class HeatmapCanvas(FloorCanvas):
    """Groups stacked, each a label and its nodes flowing left to right; a node is a strip of its cells.
    Shows a :class:`HeatmapPicture`; draws one itself only for a change of size or an immediate refresh."""

    def __init__(self) -> None:
        super().__init__()
        self.repaints = 0
        self.last_paint_ms = 0.0
        self.picture: HeatmapPicture | None = None  # what is shown; the hit boxes are its boxes

    @property
    def groups(self) -> list[CellGroup]:
        return self.picture.groups if self.picture is not None else []

    @property
    def color_by(self) -> ColorBy:
        return self.picture.color_by if self.picture is not None else ColorBy.UTILIZATION

    def layout_width(self) -> int:
        return max(self.width(), 400)

    def set_groups(self, groups: list[CellGroup], color_by: ColorBy) -> None:
        """Draw and show ``groups`` now, on this thread."""
        self.show_picture(draw_heatmap(groups, color_by, self.layout_width(), QFont(self.font()), self.picture))

    def show_picture(self, picture: HeatmapPicture) -> None:
        """Swap in a picture drawn elsewhere; one drawn for another width is drawn again for this one."""
        if picture.width != self.layout_width():
            picture = draw_heatmap(picture.groups, picture.color_by, self.layout_width(), QFont(self.font()), None)
        self.picture = picture
        self.boxes = picture.boxes
        if self.minimumHeight() != picture.height:
            self.setMinimumHeight(picture.height)
        self.update()

    def resizeEvent(self, event: object) -> None:
        if self.picture is not None and self.picture.width != self.layout_width():
            self.set_groups(self.groups, self.color_by)

    def sizeHint(self) -> QSize:
        return QSize(800, self.minimumHeight())

    def describe(self, box: HitBox) -> str:
        cell = box.cell
        if cell is None:
            return box.node
        which = f"GPU {cell.accelerator}" if cell.accelerator is not None else "no accelerator"
        age = f", {time.time() - cell.updated_at:.0f} s ago" if cell.updated_at else ""
        return f"{box.node} · {which}\n{self.color_by.value}: {cell.words}{age}"

    def paintEvent(self, event: QPaintEvent) -> None:
        started = time.perf_counter()
        painter = QPainter(self)
        painter.fillRect(event.rect(), QColor("#ffffff"))
        if self.picture is not None:
            painter.drawImage(event.rect(), self.picture.image, event.rect())
        if self.selected:
            painter.setPen(QPen(QColor(SELECTED), 2))
            for box in self.boxes:
                if box.node in self.selected:
                    painter.drawRect(box.rect.adjusted(-1, -1, 0, 0))
        self.paint_band(painter)
        painter.end()
        self.repaints += 1
        self.last_paint_ms = (time.perf_counter() - started) * 1000


def _argb(colour: str) -> int:
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
        CellKind.UNREACHABLE: _argb(UNREACHABLE_FILL),
        CellKind.STALE: _argb(STALE_FILL),
        CellKind.NO_READING: _argb(NO_READING_FILL),
    }


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
        inside_rack = _argb("#f3f4f6")
        for rack, x, y in self._positions():
            top, bottom = y + LABEL_H, min(height, y + LABEL_H + rack.units * UNIT_PX + 1)
            pixels[top:bottom, x + 1 : min(width, x + RACK_W)] = inside_rack
        lamp, not_read = _argb("#3b82f6"), _argb("#ffffff")
        size = CELL - 2
        for box in self.boxes:
            r = box.rect
            if r.bottom() >= height or r.right() >= width:
                continue
            look = self.looks.get(box.node)
            pixels[r.top() : r.bottom() + 1, r.left() : r.right() + 1] = _argb(look.fill) if look else not_read
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


def legend_text(color_by: ColorBy) -> str:
    what = {
        ColorBy.UTILIZATION: "utilisation 0 → 100 %",
        ColorBy.TEMPERATURE: "temperature 30 °C → the vendor's critical limit",
        ColorBy.POWER: "power → the GPU's power limit",
        ColorBy.MEMORY: "memory used → total",
        ColorBy.HEALTH: "healthy · warning · critical (alerts, ECC, XID, npu-smi health)",
        ColorBy.STATE: "in service · drained · down",
    }[color_by]
    return f"Light → dark: {what}.  Dark grey ╲: unreachable (never idle).  Tan: stale.  White: no reading."


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


OffThread = Callable[
    [Callable[[], HeatmapPicture], Callable[[HeatmapPicture], None], Callable[[Exception], None]], None
]


class FloorView(FloorTab):
    """The Heatmap tab: the controls, the legend and the canvas (scrolling)."""

    def __init__(
        self,
        views: Callable[[], list[NodeView]],
        rules: Callable[[], AlertRules],
        partitions: Callable[[], Mapping[str, str]] | None = None,
        tenants: Callable[[], Mapping[str, str] | None] | None = None,
        off_thread: OffThread | None = None,
    ) -> None:
        super().__init__()
        self.views = views
        self.rules = rules
        self.partitions = partitions or (lambda: {})
        self.tenants = tenants or (lambda: None)
        # The periodic refresh groups, colours and draws the cells off the GUI thread (at 1,000 nodes that
        # is 8,000 cells of Python, which the telemetry threads stretch to hundreds of milliseconds); the
        # GUI thread swaps the picture in. One at a time: the cell cache is the worker's while it computes.
        self.off_thread = off_thread
        self._computing = False
        self.color = QComboBox()
        self.color.setObjectName("heatmap-color-by")
        self.color.addItems([c.value for c in ColorBy])
        self.group = QComboBox()
        self.group.setObjectName("heatmap-group-by")
        self.group.addItems([g.value for g in GroupBy])
        self.legend: QLabel = plain_label("")
        self.legend.setObjectName("heatmap-legend")
        self.legend.setWordWrap(True)
        self.summary = plain_label("")
        self._texts = LabelTexts()
        self.cache = CellCache()  # a refresh rebuilds the cells of the nodes that changed only
        self.canvas = HeatmapCanvas()
        self.canvas.setObjectName("heatmap")
        scroll = self.scrolled(self.canvas)
        controls = QHBoxLayout()
        controls.addWidget(plain_label("Colour by"))
        controls.addWidget(self.color)
        controls.addWidget(plain_label("Group by"))
        controls.addWidget(self.group)
        controls.addWidget(self.summary, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(controls)
        layout.addWidget(self.legend)
        layout.addWidget(scroll, 1)
        self.color.currentTextChanged.connect(lambda _t: self.refresh(now=True))
        self.group.currentTextChanged.connect(lambda _t: self.refresh(now=True))

    @property
    def color_by(self) -> ColorBy:
        return ColorBy(self.color.currentText())

    @property
    def group_by(self) -> GroupBy:
        return GroupBy(self.group.currentText())

    def refresh(self, now: bool = False) -> None:
        """New readings into the picture: at once (``now``: the operator switched the view or its colouring),
        else off the GUI thread where a worker is given."""
        views, color_by, group_by = self.views(), self.color_by, self.group_by
        # Slurm's partitions and the tenants only for their own grouping (the tenants are worked out node by
        # node, on this thread).
        rules = self.rules()
        partitions = self.partitions() if group_by == GroupBy.PARTITION else {}
        tenants = self.tenants() if group_by == GroupBy.TENANT else None
        canvas = self.canvas
        width, font = canvas.layout_width(), QFont(canvas.font())
        if now or self.off_thread is None:
            # While the worker computes, the cache and the earlier picture are its own: this refresh works
            # without them.
            cache = CellCache() if self._computing else self.cache
            groups = floor_groups(views, color_by, group_by, rules, partitions, tenants, cache)
            self._show(draw_heatmap(groups, color_by, width, font, None if self._computing else canvas.picture))
            return
        if self._computing:
            return  # the next refresh brings these readings
        self._computing = True
        cache, earlier = self.cache, canvas.picture

        def compute() -> HeatmapPicture:
            groups = floor_groups(views, color_by, group_by, rules, partitions, tenants, cache)
            return draw_heatmap(groups, color_by, width, font, earlier)

        def done(picture: HeatmapPicture) -> None:
            self._computing = False
            if (color_by, group_by) == (self.color_by, self.group_by):  # else the operator changed them
                self._show(picture)

        def failed(error: Exception) -> None:
            self._computing = False
            self._texts.say(self.summary, f"the heatmap could not be refreshed: {type(error).__name__}: {error}")

        self.off_thread(compute, done, failed)

    def _show(self, picture: HeatmapPicture) -> None:
        self.canvas.show_picture(picture)
        self._texts.say(self.legend, legend_text(self.color_by))
        self._texts.say(
            self.summary, f"{picture.cells} cells in {len(picture.groups)} groups · {picture.unreachable} unreachable"
        )
        self.refreshed.emit()


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
        legend = plain_label(
            "Chassis colour: green up · amber warning · red critical · lavender drained in Slurm · dark grey "
            "unreachable · tan stale; cells: utilisation; blue lamp: locate LED on."
        )
        legend.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.answer)
        layout.addWidget(legend)
        layout.addWidget(self.scroller, 1)

    def refresh(self) -> None:
        rules = self.rules()
        looks = {v.name: node_look(v, self.cache.cells(v, ColorBy.UTILIZATION, rules)) for v in self.views()}
        self.canvas.set_racks(self.racks(), looks, self.leds(), ColorBy.UTILIZATION)
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
