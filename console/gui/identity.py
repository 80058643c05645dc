"""Who is at the console, asked once at start when the OS account says nobody in particular (``root``, or
an account the inventory's ``[policy] shared_accounts`` lists): every action, note and sign-off records a
person's name, and a shared account's name would lose "by whom"."""

from __future__ import annotations

import logging
import sys
import threading
from typing import Final

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from console.core.actions.roles import DEFAULT_ROLE, Role
from console.core.names import operator_problem
from console.gui.style import app_icon
from console.gui.text import plain_label

log = logging.getLogger(__name__)
SIGNAL_TICK_MS: Final = 100
MIN_WIDTH: Final = 460


class OperatorDialog(QDialog):
    """A name, checked as the audit log checks it (OK stays greyed until it is one), and the role to work in."""

    def __init__(self, account: str, parent: QWidget | None = None, role: Role = DEFAULT_ROLE) -> None:
        super().__init__(parent)
        self.setObjectName("operator-dialog")
        self.setWindowTitle("Who is at the console?")
        self.setMinimumWidth(MIN_WIDTH)  # the title is never cut to "Who is at the…"
        self.setWindowIcon(app_icon())
        self.name = QLineEdit()
        self.name.setObjectName("operator-name")
        self.name.setPlaceholderText("your name, e.g. dana.k")
        self.role = QComboBox()
        self.role.setObjectName("operator-role")
        self.role.addItems([r.value for r in Role])
        self.role.setCurrentText(role.value)
        self.problem = plain_label("")
        self.problem.setStyleSheet("color:#b91c1c")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        text = plain_label(
            f"This console runs as the OS account {account!r}, which several people use. Your name goes into "
            "the audit log, Slurm's drain reasons and the incident notes for everything you do this session."
        )
        text.setWordWrap(True)
        layout.addWidget(text)
        layout.addWidget(self.name)
        row = QHBoxLayout()
        row.addWidget(plain_label("Role:"))
        row.addWidget(self.role, 1)
        layout.addLayout(row)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.name.textChanged.connect(self._check)
        self._check()

    def _check(self) -> None:
        name = self.name.text().strip()
        problem = operator_problem(name) if name else "type your name"
        self.problem.setText((problem or "") if name else "")
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        if ok is not None:
            ok.setEnabled(problem is None)

    def chosen(self) -> str:
        return self.name.text().strip()

    def chosen_role(self) -> Role:
        return Role(self.role.currentText())


def ask_operator(
    account: str, stop: threading.Event | None = None, role: Role = DEFAULT_ROLE
) -> tuple[str, Role] | None:
    """The name typed at start and the role chosen; None when the person cancelled, or when ``stop`` was set
    (SIGINT or SIGTERM).

    Why the timer: while the dialog's own event loop runs, no Python code runs, so Python's signal handlers
    never would either — SIGTERM and Ctrl+C were ignored at this prompt. A tick every 100 ms lets them run;
    the handler sets ``stop`` and the dialog closes."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    dialog = OperatorDialog(account, role=role)
    tick = QTimer(dialog)
    tick.setInterval(SIGNAL_TICK_MS)
    tick.timeout.connect(lambda: dialog.reject() if stop is not None and stop.is_set() else None)
    tick.start()
    log.info("asking who is at the console (the OS account %r is shared)", account)
    accepted = dialog.exec() == QDialog.DialogCode.Accepted
    tick.stop()
    if stop is not None and stop.is_set():
        return None
    return (dialog.chosen(), dialog.chosen_role()) if accepted else None
