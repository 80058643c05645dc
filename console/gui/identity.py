"""Who is at the console, asked once at start when the OS account says nobody in particular (``root``, or
an account the inventory's ``[policy] shared_accounts`` lists): every action, note and sign-off records a
person's name, and a shared account's name would lose "by whom"."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication, QDialog, QDialogButtonBox, QLineEdit, QVBoxLayout, QWidget

from console.core.names import operator_problem
from console.gui.style import app_icon
from console.gui.text import plain_label


class OperatorDialog(QDialog):
    """A name, checked as the audit log checks it; OK stays greyed until it is one."""

    def __init__(self, account: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("operator-dialog")
        self.setWindowTitle("Who is at the console? — Fleet Console")
        self.setWindowIcon(app_icon())
        self.name = QLineEdit()
        self.name.setObjectName("operator-name")
        self.name.setPlaceholderText("your name, e.g. dana.k")
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


def ask_operator(account: str) -> str | None:
    """The name typed at start; None when the person cancelled."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    dialog = OperatorDialog(account)
    return dialog.chosen() if dialog.exec() == QDialog.DialogCode.Accepted else None
