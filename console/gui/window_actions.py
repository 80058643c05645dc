"""The window's actions: the toolbar and context menu built from the kinds, the dialog opened on the chosen
nodes, the plan submitted or the refused attempt recorded off the GUI thread, each status said in the
status bar and the Actions dock, the node's details asked again after an action, the locate LEDs read back
from the record; and the move wizard beside them. Functions of the window, bound as its methods."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from PySide6.QtCore import QPoint, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QMenu,
    QToolBar,
)

from console.core.actions.planning import SPECS, ActionKind, ActionPlan, availability
from console.core.actions.roles import Permission, refusal
from console.core.actions.runs import ActionState, ActionStatus
from console.core.hostlist import compress
from console.core.tenants.allocation import UNASSIGNED
from console.core.tenants.moves import MovePlan
from console.gui.action_dialog import ActionDialog
from console.gui.actions_dock import ActionsDock
from console.gui.move_dialog import MoveTenantDialog
from console.gui.ports import ActionsPort, MovesPort
from console.gui.style import action_icon
from console.gui.text import plain_tip
from console.gui.worker import StatusRelay, repeating

if TYPE_CHECKING:
    from console.gui.main_window import MainWindow

ACTION_OUTCOME_MS: Final = 60_000
ACTION_PENDING_MS: Final = 3_600_000
DETAILS_INTERVAL_MS: Final = 5000


def _add_actions(window: MainWindow, service: ActionsPort) -> None:
    worker = window._shared_worker()
    window.relay = StatusRelay()
    window.dock = ActionsDock(window)
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, window.dock)
    # Alerts and Actions side by side, each a dock of its own: both in sight while an action runs.
    window.splitDockWidget(window.alerts_dock, window.dock, Qt.Orientation.Horizontal)
    # Runner threads emit; the relay lives on the GUI thread, so the dock is updated there.
    window.relay.status.connect(window.dock.update_status, Qt.ConnectionType.QueuedConnection)
    window.relay.status.connect(window._action_changed, Qt.ConnectionType.QueuedConnection)
    service.runner.add_listener(window.relay.status.emit)
    # Alerts take the wider half: their words are longer than an action's.
    docks = [window.alerts_dock, window.dock]
    QTimer.singleShot(0, lambda: window.resizeDocks(docks, [3, 2], Qt.Orientation.Horizontal))
    window.dock.cancel_requested.connect(window._cancel_action)
    window.dock.cancel_reboot_requested.connect(
        lambda node: window.open_action(ActionKind.CANCEL_REBOOT, [node] if node in window.fleet.names else None)
    )
    # What earlier consoles left unfinished (a reboot still pending in Slurm): in the panel from the start.
    worker.call(
        service.earlier_unfinished,
        window.dock.load_earlier,
        lambda error: window.show_notice(f"Earlier consoles' actions could not be read: {error}", 15000),
    )
    # The locate LEDs the record says were left lit (by this desk before a restart, or another): lit in
    # the racks from the start.
    worker.call(
        service.lit_leds,
        window._leds_from_record,
        lambda error: window.show_notice(f"The locate LEDs' record could not be read: {error}", 15000),
    )
    toolbar = QToolBar("Actions", window)
    toolbar.setObjectName("actions-toolbar")
    toolbar.setMovable(False)
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    toolbar.setIconSize(QSize(18, 18))
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
    window.actions_toolbar = toolbar
    for kind, spec in SPECS.items():  # each kind's label and shortcut come from its own module
        item = QAction(action_icon(kind.value), spec.label, window)
        item.setObjectName(f"action-{kind.value}")
        if spec.shortcut:
            item.setShortcut(QKeySequence(spec.shortcut))
        item.triggered.connect(lambda _checked=False, k=kind: window.open_action(k))
        toolbar.addAction(item)
        window.action_items[kind] = item
    window.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    window.table.customContextMenuRequested.connect(window._context_menu)
    window.table.selectionModel().selectionChanged.connect(window._update_action_items)
    window.details_timer = repeating(window, DETAILS_INTERVAL_MS, window._refresh_details)
    window._update_action_items()


def _add_move(window: MainWindow, moves: MovesPort) -> None:
    """The move-node wizard, beside the actions: it drains and resumes through the same runner."""
    item = QAction(action_icon("reassign"), "Move to tenant…", window)
    item.setObjectName("action-move-tenant")
    item.triggered.connect(lambda _checked=False: window.open_move())
    window.actions_toolbar.addAction(item)
    window.move_item = item
    window._update_action_items()


def _chosen(window: MainWindow, nodes: list[str] | None) -> list[str]:
    """The nodes asked for, else the selected ones; none: the status bar says to select some."""
    nodes = nodes or window.selected_nodes()
    if not nodes:
        window.show_notice("Select one or more nodes first", 5000)
    return nodes


def open_move(window: MainWindow, nodes: list[str] | None = None) -> MoveTenantDialog | None:
    if window.moves is None or window.worker is None:
        return None
    nodes = window._chosen(nodes)
    if not nodes:
        return None
    if window.move_dialog is not None and window.move_dialog.handle is not None and window.move_dialog.outcome is None:
        window.move_dialog.show()  # a move runs: show it rather than start a second one
        window.move_dialog.raise_()
        return window.move_dialog
    tenants = [r.tenant for r in window.tenants_view.rows if r.tenant != UNASSIGNED]
    tenants += [s.tenant for s in (window.action_service.inventory.nodes if window.action_service else ()) if s.tenant]
    window.move_dialog = MoveTenantDialog(nodes, window.moves, window.worker, tenants, window)
    window.move_dialog.moved.connect(window._moved)
    window.move_dialog.refused.connect(window._record_refused_move)
    window.move_dialog.show()
    return window.move_dialog


def _record_refused_move(window: MainWindow, plan: MovePlan) -> None:
    """A refused move, recorded off the GUI thread (the Log view and the audit show it)."""
    moves, worker = window.moves, window._shared_worker()
    if moves is not None:
        worker.call(lambda: moves.record_refused(plan), lambda _row: None)


def _moved(window: MainWindow, progress: object) -> None:
    window.refresh_tenants()
    message = str(getattr(progress, "message", ""))
    window.show_notice(message, 30000, critical=getattr(progress, "outcome", "") != "done")


def _update_action_items(window: MainWindow) -> None:
    if window.action_service is None:
        return
    nodes = window.selected_nodes()
    inventory = window.action_service.inventory
    refused = refusal(window.records.incidents.role, Permission.ACT) if window.records is not None else None
    read_only = refused is not None
    for kind, item in window.action_items.items():
        if refused is not None:
            item.setEnabled(False)
            item.setToolTip(plain_tip(refused))
            continue
        if not nodes:
            item.setEnabled(False)
            item.setToolTip("select one or more nodes first")
            continue
        reasons = [why for n in nodes if (why := availability(kind, inventory.node(n), inventory))]
        item.setEnabled(not reasons)
        item.setToolTip(
            plain_tip(reasons[0] if reasons else f"{kind.value} {compress(nodes)}: preview first, then run")
        )
    if window.move_item is not None:
        window.move_item.setEnabled(bool(nodes) and not read_only)
        window.move_item.setToolTip(
            plain_tip(refused or "")
            if read_only
            else plain_tip(f"move {compress(nodes)} to another tenant: preview first")
            if nodes
            else "select one or more nodes first"
        )


def _context_menu(window: MainWindow, position: QPoint) -> None:
    menu = QMenu(window)
    for item in window.action_items.values():
        menu.addAction(item)
    if window.move_item is not None:
        menu.addAction(window.move_item)
    menu.popup(window.table.viewport().mapToGlobal(position))


def open_action(window: MainWindow, kind: ActionKind, nodes: list[str] | None = None) -> ActionDialog | None:
    if window.action_service is None or window.worker is None:
        return None
    nodes = window._chosen(nodes)
    if not nodes:
        return None
    dialog = ActionDialog(kind, nodes, window.action_service, window.worker, window)
    dialog.confirmed.connect(window._submit)
    dialog.refused.connect(window._record_refused)
    dialog.setModal(True)
    dialog.show()
    window.last_dialog = dialog
    return dialog


def _submit(window: MainWindow, plan: ActionPlan, typed: list[str]) -> None:
    assert window.action_service is not None and window.worker is not None
    runner = window.action_service.runner

    def refused(error: Exception) -> None:
        window.show_notice(f"Not run: {error}", 15000)

    # Writing the intent rows touches the disk: off the GUI thread like everything else.
    window.worker.call(lambda: runner.submit(plan, typed), lambda _statuses: None, refused)


def _record_refused(window: MainWindow, plan: ActionPlan) -> None:
    """A refused attempt, recorded off the GUI thread (the Log view and the audit show it)."""
    assert window.action_service is not None and window.worker is not None
    runner = window.action_service.runner
    window.worker.call(lambda: runner.record_refused(plan), lambda _ids: None)


def _cancel_action(window: MainWindow, action_id: int) -> None:
    assert window.action_service is not None and window.worker is not None
    runner = window.action_service.runner
    window.worker.call(lambda: runner.cancel(action_id), lambda _result: None)


def _action_changed(window: MainWindow, status: ActionStatus) -> None:
    # An action on the node in the panel changes what Slurm or the BMC say: ask again now.
    view = window.panel.view
    if view is not None and view.name in status.node.split(","):
        window._refresh_details()
    window._led_changed(status)
    window._say_action(status)


def _leds_from_record(window: MainWindow, lit: dict[str, str]) -> None:
    """The locate LEDs as the record has them: the racks draw exactly those."""
    known = set(lit) & set(window.fleet.names)
    if known != window.leds:
        window.leds = known
        if window.tabs.currentWidget() is window.racks:  # only the racks draw the LEDs
            window.refresh_floor(force=True)


def _led_changed(window: MainWindow, status: ActionStatus) -> None:
    """An action that went through may have lit or put out a locate LED: the record says which (its
    kind's module reads it: console.core.actions.kinds.locate.lit_leds)."""
    if status.state != ActionState.DONE or window.action_service is None or window.worker is None:
        return
    window.worker.call(window.action_service.lit_leds, window._leds_from_record, lambda _error: None)


def _say_action(window: MainWindow, status: ActionStatus) -> None:
    """After Run: the action comes forward in its dock, and the status bar says where it is ("drain
    gpu-006 queued (#8)") until it ends, then its outcome."""
    if window.dock is None or status.id in window.dock.earlier:
        return
    if status.state == ActionState.QUEUED:
        window.dock.show_action(status.id)
    words = f"{status.kind.value} {status.node} {status.state.value} (#{status.id})"
    if status.finished:
        failed = status.state != ActionState.DONE
        window.show_notice(f"{words}: {status.message}", ACTION_OUTCOME_MS, critical=failed)
    elif status.state in (ActionState.RUNNING, ActionState.TRACKING):
        window.show_notice(f"{words}: {status.message}", ACTION_PENDING_MS)
    else:
        window.show_notice(words, ACTION_PENDING_MS)


def _refresh_details(window: MainWindow) -> None:
    view = window.panel.view
    if window.action_service is None or window.worker is None or view is None:
        return
    service = window.action_service
    name = view.name
    window.worker.call(lambda: service.node_details(name), window.panel.show_details, window.panel.details_failed)
