"""The move-node wizard: pick the tenant the chosen nodes go to → the preview (the jobs that must end first,
both tenants' counts before and after, the exact scheduler commands, the inventory change) → Start → each
step's progress as it runs, with Stop between steps and a question when the jobs outlast the wait."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.core.hostlist import compress
from console.core.tenants.moves import (
    STEPS,
    JobsDecision,
    MovePlan,
    MoveProgress,
    MoveRequest,
    MoveStep,
    request_problems,
)
from console.gui.enter_safe import EnterSafeDialog
from console.gui.ports import MoveHandle, MovesPort
from console.gui.screen_fit import fit_size
from console.gui.text import plain_label, plain_tip
from console.gui.worker import Worker

REPLAN_DELAY_MS: Final = 400
MARKS: Final = {"running": "…", "done": "✓", "skipped": "–", "failed": "✗", "ask": "?", "stopped": "■"}


def _button(text: str, name: str, slot: Callable[..., object]) -> QPushButton:
    """A button that Enter in a text field never presses (no auto-default): Start must be clicked."""
    button = QPushButton(text)
    button.setObjectName(name)
    button.setAutoDefault(False)
    button.clicked.connect(slot)
    return button


def _right_aligned(*buttons: QPushButton) -> QHBoxLayout:
    row = QHBoxLayout()
    row.addStretch(1)
    for button in buttons:
        row.addWidget(button)
    return row


class MoveTenantDialog(EnterSafeDialog):
    """Nothing changes until Start, and Start stays greyed while the plan is refused or stale. Closing the
    dialog while the move runs only hides it: the move goes on and its steps show in the Actions dock."""

    progressed = Signal(object)  # MoveProgress, from the move's thread
    moved = Signal(object)  # the final MoveProgress
    planned = Signal()  # a preview is shown (or why there is none)
    # Closed without starting while the preview was refused for more than the words still to type: the attempt.
    refused = Signal(object)  # the MovePlan

    def __init__(  # noqa: PLR0915 - builds both pages of the wizard, one widget per line
        self,
        nodes: Sequence[str],
        service: MovesPort,
        worker: Worker,
        tenants: Sequence[str] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.nodes = tuple(nodes)
        self.service = service
        self.worker = worker
        self.plan: MovePlan | None = None
        self.handle: MoveHandle | None = None  # the running move (not QWidget.move)
        self.outcome: MoveProgress | None = None
        self._generation = 0
        self.setObjectName("move-dialog")
        self.setWindowTitle(f"Move {compress(list(nodes))} to another tenant — Fleet Console")
        fit_size(self, 900, 680)

        self.target = QComboBox()
        self.target.setObjectName("move-target")
        self.target.setEditable(True)
        self.target.addItems(sorted(set(tenants)))
        self.target.setCurrentText("")
        editor = self.target.lineEdit()
        if editor is not None:
            editor.setPlaceholderText("the tenant (Slurm account) the nodes go to")
        self.reason = QLineEdit()
        self.reason.setObjectName("move-reason")
        self.reason.setPlaceholderText("why: for the audit log, Slurm's drain reason and both tenants")
        self.ticket = QLineEdit()
        self.ticket.setObjectName("move-ticket")
        self.ticket.setPlaceholderText("optional, e.g. CHG-1234")
        self.wait = QSpinBox()
        self.wait.setObjectName("move-wait")
        self.wait.setRange(1, 7 * 24 * 60)
        self.wait.setValue(60)
        self.wait.setSuffix(" min")
        self.wait.setToolTip("How long to wait for the running jobs to end before asking what to do")
        form = QFormLayout()
        form.addRow("&Nodes:", plain_label(compress(list(nodes))))
        form.addRow("&To tenant:", self.target)
        form.addRow("&Reason (required):", self.reason)
        form.addRow("T&icket:", self.ticket)
        form.addRow("&Wait for jobs up to:", self.wait)
        self.preview = QPlainTextEdit()
        self.preview.setObjectName("move-preview")
        self.preview.setReadOnly(True)
        self.preview.setPlainText("Name the tenant and the reason for the preview.")
        self.start_button = _button("&Start the move", "move-start", self._start)
        self.start_button.setEnabled(False)
        buttons = _right_aligned(self.start_button, _button("Close", "move-close", self.close))
        choose = QWidget()
        choose_layout = QVBoxLayout(choose)
        choose_layout.addLayout(form)
        choose_layout.addWidget(plain_label("Preview — nothing changes until Start:"))
        choose_layout.addWidget(self.preview, 1)
        choose_layout.addLayout(buttons)

        self.steps = QTreeWidget()
        self.steps.setObjectName("move-steps")
        self.steps.setHeaderLabels(["", "Step", "What happened"])
        self.steps.setRootIsDecorated(False)
        self.steps.header().resizeSection(0, 30)
        self.steps.header().resizeSection(1, 170)
        self._step_items: dict[MoveStep, QTreeWidgetItem] = {}
        for step in STEPS:
            item = QTreeWidgetItem(self.steps, ["", step.value[0].upper() + step.value[1:], "waiting"])
            self._step_items[step] = item
        self.state_label = plain_label("")
        self.state_label.setObjectName("move-state")
        self.state_label.setWordWrap(True)
        self.question = QWidget()
        self.question.setObjectName("move-question")
        ask = QHBoxLayout(self.question)
        self.question_label = plain_label("")
        self.question_label.setWordWrap(True)
        ask.addWidget(self.question_label, 1)
        for text, decision in (
            ("Wait as long &again", JobsDecision.WAIT),
            ("Stop: nodes stay &drained", JobsDecision.STOP),
            ("&Resume them and stop", JobsDecision.RESUME),
        ):
            ask.addWidget(_button(text, f"move-{decision.value}", lambda _c=False, d=decision: self._answer(d)))
        self.question.hide()
        self.stop_button = _button("Sto&p after this step", "move-stop", self._stop)
        run_buttons = _right_aligned(self.stop_button, _button("Close", "move-done", self.close))
        running = QWidget()
        run_layout = QVBoxLayout(running)
        self.heading = plain_label("")
        self.heading.setObjectName("move-heading")
        run_layout.addWidget(self.heading)
        run_layout.addWidget(self.steps, 1)
        run_layout.addWidget(self.question)
        run_layout.addWidget(self.state_label)
        run_layout.addLayout(run_buttons)

        self.pages = QStackedWidget()
        self.pages.addWidget(choose)
        self.pages.addWidget(running)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)

        self._replan = QTimer(self)
        self._replan.setSingleShot(True)
        self._replan.setInterval(REPLAN_DELAY_MS)
        self._replan.timeout.connect(self.replan)
        self.target.currentTextChanged.connect(self._changed)
        for field in (self.reason, self.ticket):
            field.textChanged.connect(self._changed)
        self.wait.valueChanged.connect(self._changed)
        self.progressed.connect(self._progress, Qt.ConnectionType.QueuedConnection)

    # --- the preview -----------------------------------------------------------------------------------------

    def request(self) -> MoveRequest:
        return MoveRequest(
            nodes=self.nodes,
            target=self.target.currentText().strip(),
            operator=self.service.operator,
            reason=self.reason.text().strip(),
            ticket=self.ticket.text().strip() or None,
            job_wait_s=self.wait.value() * 60.0,
        )

    def _changed(self) -> None:
        self.start_button.setEnabled(False)  # stale until the new plan is back
        self._generation += 1
        self._replan.start()

    def replan(self) -> None:
        """Ask for the plan again (Slurm is read: through the worker); only the newest answer is shown."""
        self._generation += 1
        generation = self._generation
        request = self.request()
        service = self.service

        def shown(plan: MovePlan) -> None:
            if generation != self._generation:
                return
            self.plan = plan
            self.preview.setPlainText(plan.describe())
            self.start_button.setEnabled(plan.allowed)
            self.planned.emit()

        def failed(error: Exception) -> None:
            if generation == self._generation:
                self.preview.setPlainText(f"No preview: {error}")
                self.planned.emit()

        self.preview.setPlainText("Reading Slurm for the preview…")
        self.worker.call(lambda: service.plan_move(request), shown, failed, owner=self)

    # --- the move --------------------------------------------------------------------------------------------

    def _start(self) -> None:
        plan = self.plan
        if plan is None or not plan.allowed:
            return
        try:
            move = self.service.start_move(plan)
        except RuntimeError as exc:
            self.preview.setPlainText(f"Not started: {exc}")
            self.start_button.setEnabled(False)
            return
        self.handle = move
        move.add_listener(self.progressed.emit)
        self.pages.setCurrentIndex(1)
        self.heading.setText(
            f"Moving {compress(plan.names)} to {plan.request.target} — {plan.request.reason}"
            + (f" ({plan.request.ticket})" if plan.request.ticket else "")
        )
        self.state_label.setText("Running; Stop ends the move before its next step.")
        move.start()

    def _progress(self, progress: MoveProgress) -> None:
        if progress.step is not None:
            item = self._step_items[progress.step]
            item.setText(0, MARKS.get(progress.state, ""))
            item.setText(2, progress.message)
            item.setToolTip(2, plain_tip(progress.message))
        if progress.state == "ask":
            self.question_label.setText(progress.message)
            self.question.show()
        if progress.finished:
            self.outcome = progress
            self.question.hide()
            self.stop_button.setEnabled(False)
            self.state_label.setText(f"{(progress.outcome or '').capitalize()}: {progress.message}")
            self.moved.emit(progress)

    def reject(self) -> None:
        plan = self.plan
        if (
            self.handle is None
            and plan is not None
            and not plan.allowed
            and set(plan.refusals) - set(request_problems(plan.request))
        ):
            self.refused.emit(plan)
        super().reject()

    def _answer(self, decision: JobsDecision) -> None:
        self.question.hide()
        if self.handle is not None:
            self.handle.answer(decision)

    def _stop(self) -> None:
        if self.handle is not None:
            self.handle.stop()
            self.stop_button.setEnabled(False)
            self.state_label.setText("Stopping before the next step…")

    def step_text(self, step: MoveStep) -> tuple[str, str]:
        """The mark and the words shown for a step (for tests and the screenshot)."""
        item = self._step_items[step]
        return item.text(0), item.text(2)

    @property
    def question_shown(self) -> bool:
        return not self.question.isHidden()
