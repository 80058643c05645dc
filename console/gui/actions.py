"""Acting on nodes from the window: the preview/confirm dialog, the Actions panel, and the worker that keeps
every scheduler, BMC and SSH call off the GUI thread (results come back through queued signals)."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, Protocol

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from console.core.action_runner import ActionState, ActionStatus
from console.core.actions import (
    LED_STATES,
    NEEDS_REASON,
    RESET_TYPES,
    ActionKind,
    ActionPlan,
    ActionRequest,
    NodeDetails,
)
from console.core.inventory import Inventory
from console.core.parsers.slurm import Partition
from console.gui.text import esc, plain_label, plain_tip, rich_label

AnyIndex = QModelIndex | QPersistentModelIndex
REPLAN_DELAY_MS: Final = 400


class RunnerPort(Protocol):
    def submit(self, plan: ActionPlan, typed: Sequence[str] = ()) -> list[ActionStatus]: ...

    def cancel(self, action_id: int) -> bool: ...

    def statuses(self) -> list[ActionStatus]: ...

    def add_listener(self, listener: Callable[[ActionStatus], None]) -> None: ...


class ActionsService(Protocol):
    """What the window needs to act (console.app.ActionService): every method may block on the network."""

    operator: str
    inventory: Inventory

    @property
    def runner(self) -> RunnerPort: ...

    def plan(self, request: ActionRequest) -> ActionPlan: ...

    def node_details(self, node: str) -> NodeDetails: ...

    def partitions(self) -> dict[str, Partition]: ...


class Worker(QObject):
    """Runs blocking calls in a small pool; each result reaches its callback on the GUI thread."""

    _done = Signal(int, object)

    def __init__(self, threads: int = 4) -> None:
        super().__init__()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="gui-worker")
        self._callbacks: dict[int, Callable[[Any], None]] = {}
        self._next = 0
        self._done.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def call(self, work: Callable[[], Any], callback: Callable[[Any], None]) -> None:
        """``callback`` gets the result, or the exception ``work`` raised."""
        self._next += 1
        token = self._next
        self._callbacks[token] = callback
        self._pool.submit(self._run, token, work)

    def _run(self, token: int, work: Callable[[], Any]) -> None:
        try:
            result = work()
        except Exception as exc:  # noqa: BLE001 - handed to the callback, which shows it
            result = exc
        self._done.emit(token, result)

    @Slot(int, object)
    def _deliver(self, token: int, result: object) -> None:
        callback = self._callbacks.pop(token, None)
        if callback is not None:
            callback(result)

    def pending(self) -> int:
        return len(self._callbacks)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class StatusRelay(QObject):
    """Carries the runner's status updates (from its threads) to the GUI thread."""

    status = Signal(object)


LABELS: Final = {
    ActionKind.DRAIN: "Drain…",
    ActionKind.RESUME: "Resume…",
    ActionKind.REBOOT: "Reboot…",
    ActionKind.CANCEL_REBOOT: "Cancel reboot…",
    ActionKind.POWER: "Power…",
    ActionKind.LOCATE: "Locate LED…",
    ActionKind.REASSIGN: "Move to partition…",
}


class ActionDialog(QDialog):
    """Preview and confirm: the exact commands and where they run, jobs and tenants affected, the node's
    scheduler and BMC state — then Run. Nothing runs until Run, and Run stays greyed while the plan is
    refused, stale or missing a reason or a typed node name."""

    confirmed = Signal(object, list)  # (plan, typed names)

    def __init__(
        self,
        kind: ActionKind,
        nodes: Sequence[str],
        service: ActionsService,
        worker: Worker,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.kind = kind
        self.nodes = tuple(nodes)
        self.service = service
        self.worker = worker
        self.plan: ActionPlan | None = None
        self._generation = 0
        self.setWindowTitle(f"{kind.value.capitalize()} {', '.join(nodes)} — Fleet Console")
        self.setObjectName("action-dialog")
        self.resize(860, 640)

        heading = rich_label(
            f"<b>{esc(kind.value)}</b> on <b>{esc(', '.join(nodes))}</b> as <b>{esc(service.operator)}</b>"
        )
        form = QFormLayout()
        self.reason = QLineEdit()
        self.reason.setObjectName("reason")
        self.reason.setPlaceholderText("what is wrong — for the next shift, the tenant and Slurm's Reason")
        self.ticket = QLineEdit()
        self.ticket.setObjectName("ticket")
        self.ticket.setPlaceholderText("optional, e.g. INC-1234")
        if kind in NEEDS_REASON or kind in (ActionKind.DRAIN,):
            form.addRow("Reason (required):", self.reason)
        else:
            form.addRow("Reason:", self.reason)
        form.addRow("Ticket:", self.ticket)
        self.reset_type = QComboBox()
        self.reset_type.setObjectName("reset-type")
        self.led = QComboBox()
        self.led.setObjectName("led")
        self.partition = QComboBox()
        self.partition.setObjectName("partition")
        self.from_partition = QComboBox()
        self.from_partition.setObjectName("from-partition")
        self.next_state = QComboBox()
        if kind == ActionKind.POWER:
            self.reset_type.addItems(RESET_TYPES)
            self.reset_type.setCurrentText("PowerCycle")
            form.addRow("Reset type:", self.reset_type)
            self.reset_type.currentTextChanged.connect(self._schedule_plan)
        elif kind == ActionKind.LOCATE:
            self.led.addItems(LED_STATES)
            self.led.setCurrentText("blink")
            form.addRow("Locate LED:", self.led)
            self.led.currentTextChanged.connect(self._schedule_plan)
        elif kind == ActionKind.REASSIGN:
            form.addRow("Move to partition:", self.partition)
            form.addRow("Take out of:", self.from_partition)
            self.partition.currentTextChanged.connect(self._schedule_plan)
            self.from_partition.currentTextChanged.connect(self._schedule_plan)
            worker.call(service.partitions, self._partitions_loaded)
        elif kind == ActionKind.REBOOT:
            self.next_state.addItems(["RESUME", "DOWN"])
            form.addRow("Afterwards:", self.next_state)
            self.next_state.currentTextChanged.connect(self._schedule_plan)

        self.preview = QTextBrowser()
        self.preview.setObjectName("preview")
        self.preview.setOpenLinks(False)
        self.preview.setHtml("<i>Asking the scheduler and the BMCs…</i>")
        self.typed_box = QWidget()
        self.typed_layout = QFormLayout(self.typed_box)
        self.typed: dict[str, QLineEdit] = {}
        self.buttons = QDialogButtonBox()
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("run")
        self.run_button.setEnabled(False)
        self.buttons.addButton(self.run_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._run)
        self.buttons.rejected.connect(self.reject)
        self.state_label = plain_label("")

        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addLayout(form)
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.typed_box)
        bottom = QHBoxLayout()
        bottom.addWidget(self.state_label, 1)
        bottom.addWidget(self.buttons)
        layout.addLayout(bottom)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REPLAN_DELAY_MS)
        self._timer.timeout.connect(self._start_plan)
        self.reason.textChanged.connect(self._schedule_plan)
        self.ticket.textChanged.connect(self._schedule_plan)
        self._start_plan()

    def request(self) -> ActionRequest:
        return ActionRequest(
            kind=self.kind,
            nodes=self.nodes,
            operator=self.service.operator,
            reason=self.reason.text().strip() or None,
            ticket=self.ticket.text().strip() or None,
            reset_type=self.reset_type.currentText() if self.kind == ActionKind.POWER else None,
            led=self.led.currentText() if self.kind == ActionKind.LOCATE else None,
            partition=self.partition.currentText() or None if self.kind == ActionKind.REASSIGN else None,
            from_partition=(self.from_partition.currentText() or None) if self.kind == ActionKind.REASSIGN else None,
            next_state=self.next_state.currentText() or "RESUME",
        )

    def _schedule_plan(self) -> None:
        self.plan = None
        self._update_run()
        self.state_label.setText("updating preview…")
        self._timer.start()

    def _start_plan(self) -> None:
        self._generation += 1
        generation = self._generation
        request = self.request()
        self.state_label.setText("asking the scheduler and the BMCs…")
        self.worker.call(lambda: self.service.plan(request), lambda result: self._planned(generation, result))

    def _partitions_loaded(self, result: object) -> None:
        if isinstance(result, Exception):
            self.state_label.setText(f"cannot read partitions: {result}")
            return
        assert isinstance(result, dict)
        names = list(result)
        node = self.service.inventory.node(self.nodes[0]).scheduler_name
        current = [p.name for p in result.values() if node in p.nodes]
        self.partition.addItems([n for n in names if n not in current])
        self.from_partition.addItems(["", *current])
        if current:
            self.from_partition.setCurrentText(current[0])

    def _planned(self, generation: int, result: object) -> None:
        if generation != self._generation:
            return  # a newer preview is on its way
        if isinstance(result, Exception):
            self.plan = None
            self.preview.setHtml(
                f"<p style='color:#b91c1c'><b>Could not prepare the action:</b> {esc(str(result))}</p>"
            )
            self.state_label.setText("")
            self._update_run()
            return
        assert isinstance(result, ActionPlan)
        self.plan = result
        self.preview.setHtml(plan_html(result))
        self._sync_typed(result.type_to_confirm)
        self.state_label.setText("")
        self._update_run()

    def _sync_typed(self, names: list[str]) -> None:
        for name in list(self.typed):
            if name not in names:
                self.typed_layout.removeRow(self.typed.pop(name))
        for name in names:
            if name not in self.typed:
                edit = QLineEdit()
                edit.setObjectName(f"type-{name}")
                edit.setPlaceholderText(name)
                edit.textChanged.connect(self._update_run)
                self.typed[name] = edit
                self.typed_layout.addRow(
                    plain_label(f"{name} has running (or unknown) jobs. Type its name to confirm:"), edit
                )

    def _update_run(self) -> None:
        ok = (
            self.plan is not None
            and self.plan.allowed
            and all(edit.text().strip() == name for name, edit in self.typed.items())
        )
        self.run_button.setEnabled(ok)
        if self.plan is not None and not self.plan.allowed:
            self.run_button.setToolTip(plain_tip("; ".join(self.plan.refusals)))
        else:
            self.run_button.setToolTip("")

    def _run(self) -> None:
        if self.plan is None or not self.run_button.isEnabled():
            return
        self.confirmed.emit(self.plan, [edit.text().strip() for edit in self.typed.values()])
        self.accept()


def plan_html(plan: ActionPlan) -> str:
    """The preview, as the dialog shows it."""
    e = esc
    parts = []
    for message in plan.refusals:
        parts.append(f"<p style='color:#b91c1c'><b>Refused:</b> {e(message)}</p>")
    for message in plan.warnings:
        parts.append(f"<p style='color:#92400e'><b>Warning:</b> {e(message)}</p>")
    for node, preview in plan.previews.items():
        parts.append(f"<h3 style='margin-bottom:2px'>{e(node)}</h3>")
        rows = [("Tenant", preview.tenant or "(none)")]
        if preview.scheduler is not None:
            rows.append(("Slurm", preview.scheduler.summary))
        elif preview.scheduler_error:
            rows.append(("Slurm", f"unknown: {preview.scheduler_error}"))
        if preview.power_state or preview.bmc_error:
            rows.append(
                (
                    "BMC",
                    f"power {preview.power_state or '?'}, LED {preview.led or '?'}"
                    + (f" — {preview.bmc_error}" if preview.bmc_error else ""),
                )
            )
        parts.append(
            "<table cellspacing=2>"
            + "".join(f"<tr><td style='color:#555'>{e(k)}:</td><td>{e(v)}</td></tr>" for k, v in rows)
            + "</table>"
        )
        if preview.jobs:
            parts.append(
                f"<p><b>{len(preview.jobs)} running job(s):</b></p><table border=1 cellspacing=0 "
                "cellpadding=3><tr><th>Job</th><th>Name</th><th>User</th><th>Account</th><th>State</th>"
                "<th>Time</th></tr>"
                + "".join(
                    f"<tr><td>{e(j.job_id)}</td><td>{e(j.name)}</td><td>{e(j.user)}</td>"
                    f"<td>{e(j.account)}</td><td>{e(j.state)}</td><td>{e(j.elapsed)}</td></tr>"
                    for j in preview.jobs
                )
                + "</table>"
            )
        else:
            parts.append("<p style='color:#555'>No running jobs.</p>")
        steps = plan.steps_for(node)
        if steps:
            parts.append("<p><b>Will run:</b></p>")
            parts += [
                f"<pre style='background:#f3f4f6; padding:4px'>on {e(s.host)}:\n{e(s.display())}</pre>" for s in steps
            ]
    for message in plan.notes:
        parts.append(f"<p style='color:#1e3a8a'><b>Note:</b> {e(message).replace(chr(10), '<br>')}</p>")
    return "".join(parts)


class ActionColumn(enum.IntEnum):
    ID = 0
    NODE = 1
    ACTION = 2
    STATE = 3
    MESSAGE = 4
    STARTED = 5
    DURATION = 6


ACTION_HEADERS: Final = ["#", "Node", "Action", "State", "Progress", "Started", "Took"]
STATE_COLOURS: Final = {
    ActionState.QUEUED: "#6b7280",
    ActionState.RUNNING: "#1d4ed8",
    ActionState.TRACKING: "#1d4ed8",
    ActionState.DONE: "#15803d",
    ActionState.FAILED: "#b91c1c",
    ActionState.TIMED_OUT: "#b45309",
    ActionState.CANCELLED: "#6b7280",
}


class ActionsTableModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self._rows: list[ActionStatus] = []
        self._row_of: dict[int, int] = {}
        self._bold = QFont()
        self._bold.setBold(True)

    def update(self, status: ActionStatus) -> None:
        row = self._row_of.get(status.id)
        if row is None:
            self.beginInsertRows(QModelIndex(), 0, 0)
            self._rows.insert(0, status)
            self._row_of = {s.id: i for i, s in enumerate(self._rows)}
            self.endInsertRows()
        else:
            self._rows[row] = status
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(ActionColumn) - 1))

    def status_at(self, row: int) -> ActionStatus:
        return self._rows[row]

    def statuses(self) -> list[ActionStatus]:
        return list(self._rows)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(ActionColumn)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return ACTION_HEADERS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        status = self._rows[index.row()]
        column = ActionColumn(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            match column:
                case ActionColumn.ID:
                    return str(status.id)
                case ActionColumn.NODE:
                    return status.node
                case ActionColumn.ACTION:
                    return status.kind.value
                case ActionColumn.STATE:
                    return status.state.value
                case ActionColumn.MESSAGE:
                    return status.message
                case ActionColumn.STARTED:
                    when = status.started_at or status.created_at
                    return time.strftime("%H:%M:%S", time.localtime(when))
                case ActionColumn.DURATION:
                    if status.started_at is None:
                        return ""
                    end = status.finished_at or time.time()
                    return f"{end - status.started_at:.0f} s"
        if role == Qt.ItemDataRole.ForegroundRole and column == ActionColumn.STATE:
            return QColor(STATE_COLOURS[status.state])
        if role == Qt.ItemDataRole.FontRole and column == ActionColumn.STATE:
            return self._bold
        if role == Qt.ItemDataRole.ToolTipRole:
            return plain_tip("\n".join([status.message, *status.commands]))
        return None


class ActionsDock(QDockWidget):
    """Queued, running and finished actions; cancel the selected one."""

    cancel_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Actions", parent)
        self.setObjectName("actions-dock")
        self.model = ActionsTableModel()
        self.table = QTableView()
        self.table.setObjectName("actions-table")
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        for column, width in {
            ActionColumn.ID: 40,
            ActionColumn.NODE: 100,
            ActionColumn.ACTION: 100,
            ActionColumn.STATE: 80,
            ActionColumn.MESSAGE: 520,
            ActionColumn.STARTED: 70,
        }.items():
            header.resizeSection(column, width)
        header.setSectionResizeMode(ActionColumn.MESSAGE, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.cancel_button = QPushButton("Cancel selected")
        self.cancel_button.setObjectName("cancel-action")
        self.cancel_button.setToolTip("Cancel a queued action (nothing is sent), or stop watching a running one")
        self.cancel_button.clicked.connect(self._cancel)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        self.summary = plain_label("No actions yet.")
        row.addWidget(self.summary, 1)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        layout.addWidget(self.table)
        self.setWidget(body)

    @Slot(object)
    def update_status(self, status: ActionStatus) -> None:
        self.model.update(status)
        statuses = self.model.statuses()
        active = sum(1 for s in statuses if not s.finished)
        failed = sum(1 for s in statuses if s.state in (ActionState.FAILED, ActionState.TIMED_OUT))
        self.summary.setText(f"{active} in progress · {failed} failed · {len(statuses)} this session")

    def _cancel(self) -> None:
        index = self.table.currentIndex()
        if index.isValid():
            self.cancel_requested.emit(self.model.status_at(index.row()).id)
