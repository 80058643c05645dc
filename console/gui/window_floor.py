"""The window's floor: the heatmap and the racks (their pictures made off the GUI thread), the selection
they share with the table, and finding the box (Ctrl+K) with its locate LED. Functions of the window,
bound as its methods."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
)

from console.core.actions.planning import ActionKind
from console.core.floor.find import BoxMatch, find_boxes
from console.core.floor.heatmap import elevations, first_partitions
from console.core.hostlist import compress
from console.core.tenants.allocation import tenancy
from console.gui.find_dialog import FindBoxDialog
from console.gui.fleet_table import NODE_NAME_ROLE
from console.gui.floor_view import FloorView, HeatmapPicture
from console.gui.rack_view import RackView
from console.gui.worker import repeating

if TYPE_CHECKING:
    from console.gui.main_window import MainWindow

FLOOR_REFRESH_MS: Final = 2000  # the heatmap or the racks, while shown
RACKS_REFRESH_S: Final = 6.0


def _add_floor(window: MainWindow) -> None:
    """The whole floor: the heatmap and the racks, beside the table (refreshed while shown)."""
    window.floor = FloorView(
        window.latest.views,
        lambda: window.rules,
        window._partitions,
        window._tenants,
        off_thread=window._floor_off_thread,
    )
    window.racks = RackView(
        window.latest.views, lambda: elevations(window.inventory), lambda: window.rules, lambda: window.leds
    )
    for view in (window.floor, window.racks):
        view.node_chosen.connect(window._show_node_from_log)
        view.nodes_selected.connect(window._floor_selected)
    window.tabs.insertTab(1, window.floor, "&Heatmap")
    window.tabs.insertTab(2, window.racks, "&Racks")
    # One selection: the table's rows, the heatmap's cells and the racks' chassis show the same nodes.
    window.table.selectionModel().selectionChanged.connect(window._share_selection)
    window._racks_at = 0.0
    window.tabs.currentChanged.connect(lambda _i: window.refresh_floor(force=True))
    window.floor_timer = repeating(window, FLOOR_REFRESH_MS, window.refresh_floor)
    find = QAction("Find the box", window)
    find.setShortcut(QKeySequence("Ctrl+K"))
    find.triggered.connect(window.open_find)
    window.addAction(find)
    window.find_dialog = None


def _floor_off_thread(
    window: MainWindow,
    work: Callable[[], HeatmapPicture],
    done: Callable[[HeatmapPicture], None],
    failed: Callable[[Exception], None],
) -> None:
    window._shared_worker().call(work, done, failed, owner=window.floor)


def refresh_floor(window: MainWindow, force: bool = False) -> None:
    """The heatmap every 2 s while shown; the racks (a costlier picture, slower states) every 6 s."""
    shown, floor, racks = window.tabs.currentWidget(), window.floor, window.racks
    if shown is floor:
        floor.refresh(now=force)
    elif shown is racks:
        now = time.monotonic()
        if force or now - window._racks_at >= RACKS_REFRESH_S:
            window._racks_at = now
            racks.refresh()


def show_floor(window: MainWindow, view: str, color_by: str | None = None, group_by: str | None = None) -> None:
    """Open on the heatmap or the racks (``--view``, ``--color-by``, ``--group-by``)."""
    if color_by:
        window.floor.color.setCurrentText(color_by)
        if view != "heatmap" and window.racks.color.findText(color_by) >= 0:
            window.racks.color.setCurrentText(color_by)  # the racks by the same measure
    if group_by:
        window.floor.group.setCurrentText(group_by)
    window.tabs.setCurrentWidget(window.floor if view == "heatmap" else window.racks)
    window.refresh_floor(force=True)


def _partitions(window: MainWindow) -> dict[str, str]:
    slurm = window.tenants_view.allocations()
    if slurm is None:
        return {}
    return first_partitions((p.name, p.nodes) for p in slurm.partitions.values())


def _tenants(window: MainWindow) -> dict[str, str] | None:
    slurm = window.tenants_view.allocations()
    return {v.name: t for v in window.latest.views() if (t := tenancy(v, slurm).tenant)}


def _share_selection(window: MainWindow, *_args: object) -> None:
    rows = {index.row() for index in window.table.selectionModel().selectedRows()}
    nodes = {str(window.proxy.data(window.proxy.index(row, 0), NODE_NAME_ROLE)) for row in rows}
    for canvas in (window.floor.canvas, window.racks.canvas):
        if canvas.selected != nodes:
            canvas.set_selected(nodes)


def _floor_selected(window: MainWindow, nodes: list[str]) -> None:
    """Cells chosen on the floor select their nodes: the toolbar's actions then work on them."""
    window.select_nodes(nodes, switch=False)
    if nodes:
        window.show_notice(f"{len(nodes)} node(s) selected for the actions: {compress(nodes)}", 10000)


def open_find(window: MainWindow) -> FindBoxDialog:
    if window.find_dialog is None:
        window.find_dialog = FindBoxDialog(
            lambda text: find_boxes(text, window.inventory, window.latest.views()), window
        )
        window.find_dialog.found.connect(window._found)
        window.find_dialog.locate_requested.connect(window._locate_found)
    if window.find_dialog.isVisible():
        window.find_dialog.raise_()  # already open behind the window: bring it forward
    window.find_dialog.show()
    window.find_dialog.query.setFocus()
    window.find_dialog.query.selectAll()
    return window.find_dialog


def _found(window: MainWindow, match: BoxMatch) -> None:
    window.tabs.setCurrentWidget(window.racks)
    window.racks.refresh()
    window.racks.highlight(match.node, match.words())
    window.select_nodes([match.node], switch=False)


def _locate_found(window: MainWindow, node: str) -> None:
    dialog = window.open_action(ActionKind.LOCATE, [node])
    led = dialog.option("led") if dialog is not None else None
    if isinstance(led, QComboBox):
        led.setCurrentText("blink")
