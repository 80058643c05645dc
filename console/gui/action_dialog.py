"""The preview-and-confirm dialog of an action: what will run where, on whose jobs, with the BMC's and
Slurm's answers, before anything is sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from console.core.actions.kinds import build_request
from console.core.actions.planning import (
    SPECS,
    ActionKind,
    ActionPlan,
    ActionRequest,
    check_reason,
)
from console.core.hostlist import compress
from console.core.parsers.slurm import Partition
from console.gui.enter_safe import EnterSafeDialog
from console.gui.ports import ActionsPort
from console.gui.screen_fit import fit_size
from console.gui.text import esc, plain_label, plain_tip, rich_label
from console.gui.worker import Worker

REPLAN_DELAY_MS: Final = 400


# The toolbar and menu entries, from each kind's own module (console.core.actions.kinds).
LABELS: Final = {kind: spec.label for kind, spec in SPECS.items()}


class ActionDialog(EnterSafeDialog):
    """Preview and confirm: the exact commands and where they run, jobs and tenants affected, the node's
    scheduler and BMC state — then Run. Nothing runs until Run, and Run stays greyed while the plan is
    refused, stale or missing a reason or a typed node name."""

    confirmed = Signal(object, list)  # (plan, typed names)
    # Closed without running while the preview was refused for more than what the operator had still to type
    # (Slurm down, a BMC that hung or points elsewhere): the attempt, for the audit log.
    refused = Signal(object)  # the plan

    def __init__(  # noqa: PLR0915 - builds the dialog's widgets, one form row per option of the kind
        self,
        kind: ActionKind,
        nodes: Sequence[str],
        service: ActionsPort,
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
        # Host lists compressed (gpu-[001-008]): a dialog for eight nodes must fit a screen.
        listed = compress(list(nodes))
        self.setWindowTitle(f"{kind.value.capitalize()} {listed} — Fleet Console")
        self.setObjectName("action-dialog")
        fit_size(self, 860, 640)

        heading = rich_label(
            f"<b>{esc(kind.value)}</b> on <b>{esc(listed)}</b> ({len(nodes)} node{'s' if len(nodes) > 1 else ''}) "
            f"as <b>{esc(service.operator)}</b>"
        )
        form = QFormLayout()
        self.reason = QLineEdit()
        self.reason.setObjectName("reason")
        self.reason.setPlaceholderText("what is wrong — for the next shift, the tenant and Slurm's Reason")
        self.ticket = QLineEdit()
        self.ticket.setObjectName("ticket")
        self.ticket.setPlaceholderText("optional, e.g. INC-1234")
        if SPECS[kind].needs_reason:
            form.addRow("Reason (required):", self.reason)
        else:
            form.addRow("Reason:", self.reason)
        form.addRow("Ticket:", self.ticket)
        # The kind's own options, as its module declares them (console.core.actions.kinds): a choice, or yes/no.
        self.options: dict[str, QComboBox | QCheckBox] = {}
        for option in SPECS[kind].choices:
            if not option.in_dialog:
                continue
            widget: QComboBox | QCheckBox
            if option.check_words is not None:
                widget = QCheckBox(option.check_words)
                widget.toggled.connect(self._schedule_plan)
            else:
                widget = QComboBox()
                widget.addItems(option.choices)
                if option.preset is not None:
                    widget.setCurrentText(option.preset)
                widget.currentTextChanged.connect(self._schedule_plan)
            widget.setObjectName(option.field.replace("_", "-"))
            if option.tooltip:
                widget.setToolTip(plain_tip(option.tooltip))
            form.addRow(option.label, widget)
            self.options[option.field] = widget
        if any(option.partitions for option in SPECS[kind].choices):
            worker.call(service.partitions, self._partitions_loaded, self._partitions_failed)

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
        self.run_button.setText("&Run")  # Alt+R; Enter in a text field runs nothing (keyPressEvent)
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

    def option(self, field: str) -> QComboBox | QCheckBox:
        """The widget of one of the kind's options (``led``, ``then_resume`` …)."""
        return self.options[field]

    def request(self) -> ActionRequest:
        values = {
            field: widget.isChecked() if isinstance(widget, QCheckBox) else widget.currentText()
            for field, widget in self.options.items()
        }
        return build_request(
            self.kind,
            self.nodes,
            self.service.operator,
            self.reason.text().strip() or None,
            self.ticket.text().strip() or None,
            values,
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
        service = self.service  # the work holds the service, not the dialog (it runs on a pool thread)
        self.state_label.setText("asking the scheduler and the BMCs…")
        self.worker.call(
            lambda: service.plan(request),
            lambda plan: self._planned(generation, plan),
            lambda error: self._plan_failed(generation, error),
        )

    def _partitions_failed(self, error: Exception) -> None:
        self.state_label.setText(f"cannot read partitions: {error}")

    def _partitions_loaded(self, result: dict[str, Partition]) -> None:
        node = self.service.inventory.node(self.nodes[0]).scheduler_name
        current = [p.name for p in result.values() if node in p.nodes]
        for option in SPECS[self.kind].choices:
            widget = self.options.get(option.field)
            if not isinstance(widget, QComboBox) or option.partitions is None:
                continue
            if option.partitions == "join":
                widget.addItems([n for n in result if n not in current])
            else:  # leave: one they are in, or none
                widget.addItems(["", *current])
                if current:
                    widget.setCurrentText(current[0])

    def _plan_failed(self, generation: int, error: Exception) -> None:
        if generation != self._generation:
            return  # a newer preview is on its way
        self.plan = None
        self.preview.setHtml(f"<p style='color:#b91c1c'><b>Could not prepare the action:</b> {esc(str(error))}</p>")
        self.state_label.setText("")
        self._update_run()

    def _planned(self, generation: int, result: ActionPlan) -> None:
        if generation != self._generation:
            return  # a newer preview is on its way
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

    def reject(self) -> None:
        plan = self.plan
        if plan is not None and not plan.allowed and set(plan.refusals) - set(check_reason(plan.request)):
            self.refused.emit(plan)
        super().reject()

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
