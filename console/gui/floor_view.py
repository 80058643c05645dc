"""The Heatmap tab: one cell per accelerator, grouped and coloured as chosen, painted as one image (8,000
cells at 1,000 nodes are rectangles, not widgets); hover says what a cell is, a click opens its node,
Ctrl+click and a dragged rectangle select nodes for the actions. The model is :mod:`console.core.floor.heatmap`'s;
the Racks tab is :mod:`console.gui.rack_view`."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
)

from console.core.alerts.config import AlertRules
from console.core.floor.heatmap import (
    Cell,
    CellCache,
    CellGroup,
    CellKind,
    ColorBy,
    GroupBy,
    GroupOrder,
    floor_groups,
    group_figure,
)
from console.core.telemetry.fleet import NodeView
from console.gui.floor_canvas import (
    BIG_FLOOR_CELLS,
    BLOCK_GAP,
    BLOCK_NODES,
    CELL,
    GAP,
    LABEL_H,
    MARGIN,
    NODE_GAP,
    SELECTED,
    SMALL_CELL,
    FloorCanvas,
    FloorTab,
    HitBox,
    cell_argb,
    hex_argb,
    legend_text,
)
from console.gui.text import LabelTexts, plain_label, plain_tip


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


LABEL_MAX_W: Final = 320  # a group's label with its figure: "R041 (4) · max 97 °C · mean 81 °C"


def heatmap_structure(groups: Sequence[CellGroup], width: int) -> tuple[object, ...]:
    """What the layout depends on: the width and each group's nodes and their cell counts."""
    shape: list[object] = [width]
    for group in groups:
        counts: dict[str, int] = {}
        for cell in group.cells:
            counts[cell.node] = counts.get(cell.node, 0) + 1
        shape.append((group.name, tuple(counts.items())))
    return tuple(shape)


def group_label(group: CellGroup, color_by: ColorBy) -> str:
    """``R041 (4) · max 97 °C · mean 81 °C``: the group, its nodes, and its figure for the measure."""
    nodes = len({c.node for c in group.cells})
    figure = group_figure(group, color_by).words()
    return f"{group.name} ({nodes})" + (f" · {figure}" if figure else "")


def _heatmap_places(
    groups: Sequence[CellGroup], width: int, font: QFont, color_by: ColorBy
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
        label = group_label(group, color_by)
        block_width = max(nodes_width, min(metrics.horizontalAdvance(label) + 6, LABEL_MAX_W))
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
        # The places are kept; the words are new (a group's figure moves with its readings).
        labels = [(rect, group_label(group, color_by)) for (rect, _), group in zip(earlier.labels, groups, strict=True)]
        size, height = earlier.size, earlier.height
        xs, ys = earlier.xs, earlier.ys
    else:
        boxes, labels, size, height = _heatmap_places(groups, width, font, color_by)
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
    hatch, frame = hex_argb("#e4e4e7"), hex_argb("#9ca3af")
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
        self.order = QComboBox()
        self.order.setObjectName("heatmap-group-order")
        self.order.addItems([o.value for o in GroupOrder])
        self.order.setToolTip(plain_tip("Groups in order of their figure for the measure: the hottest rack first"))
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
        controls.addWidget(self.order)
        controls.addWidget(self.summary, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(controls)
        layout.addWidget(self.legend)
        layout.addWidget(scroll, 1)
        self.color.currentTextChanged.connect(lambda _t: self.refresh(now=True))
        self.group.currentTextChanged.connect(lambda _t: self.refresh(now=True))
        self.order.currentTextChanged.connect(lambda _t: self.refresh(now=True))

    @property
    def color_by(self) -> ColorBy:
        return ColorBy(self.color.currentText())

    @property
    def group_by(self) -> GroupBy:
        return GroupBy(self.group.currentText())

    @property
    def group_order(self) -> GroupOrder:
        return GroupOrder(self.order.currentText())

    def refresh(self, now: bool = False) -> None:
        """New readings into the picture: at once (``now``: the operator switched the view or its colouring),
        else off the GUI thread where a worker is given."""
        views, color_by, group_by, order = self.views(), self.color_by, self.group_by, self.group_order
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
            groups = floor_groups(views, color_by, group_by, rules, partitions, tenants, cache, order)
            self._show(draw_heatmap(groups, color_by, width, font, None if self._computing else canvas.picture))
            return
        if self._computing:
            return  # the next refresh brings these readings
        self._computing = True
        cache, earlier = self.cache, canvas.picture

        def compute() -> HeatmapPicture:
            groups = floor_groups(views, color_by, group_by, rules, partitions, tenants, cache, order)
            return draw_heatmap(groups, color_by, width, font, earlier)

        def done(picture: HeatmapPicture) -> None:
            self._computing = False
            if (color_by, group_by, order) == (self.color_by, self.group_by, self.group_order):  # else changed
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
