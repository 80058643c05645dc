"""The handover report of a shift in the window: the report as it will be exported (the same HTML), saved
as HTML, PDF or CSV, and signed off by a supervisor with a note; a signed shift shows the frozen report
and its amendments, and a supervisor can add one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from console.core.actions.roles import Permission, allowed
from console.core.alerts.incidents import ShiftName
from console.core.records.exports import OutputError, OutputTarget
from console.core.records.handover import freeze_words, render_csv, render_html
from console.core.records.incident_types import SignOff
from console.gui.ports import RecordsPort
from console.gui.printing import pdf_bytes
from console.gui.screen_fit import fit_size
from console.gui.text import plain_label, plain_tip
from console.gui.worker import Worker


class HandoverDialog(QDialog):
    """``loaded`` fires once the report is shown (tests wait on it); ``signed`` after a sign-off or amendment."""

    loaded = Signal()
    signed = Signal()

    def __init__(
        self, records: RecordsPort, worker: Worker, date: dt.date, shift: ShiftName, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.records = records
        self.worker = worker
        self.date = date
        self.shift = shift
        self.report: dict[str, Any] | None = None
        self.signoff: SignOff | None = None
        self.confirm_box: QMessageBox | None = None
        self.setWindowTitle(f"Handover: {shift.value} shift of {date.isoformat()}")
        fit_size(self, 1100, 800)
        self.browser = QTextBrowser()
        self.browser.setObjectName("handover-html")
        self.browser.setOpenLinks(False)
        self.browser.setOpenExternalLinks(False)
        self.note = QLineEdit()
        self.note.setObjectName("handover-note")
        self.note.setPlaceholderText("Sign-off note or amendment (supervisors)")
        self.sign_button = QPushButton("&Sign off")
        self.sign_button.setObjectName("handover-sign")
        self.sign_button.clicked.connect(self.sign)
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        for fmt in ("html", "pdf", "csv"):
            button = QPushButton(f"Save {fmt.upper()}…")
            button.setObjectName(f"handover-save-{fmt}")
            button.clicked.connect(lambda _checked=False, f=fmt: self._choose_and_save(f))
            self.buttons[fmt] = button
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(self.note, 2)
        row.addWidget(self.sign_button)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        row.addWidget(close)
        self.message = plain_label("")
        self.message.setObjectName("handover-message")
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser, 1)
        layout.addWidget(self.message)
        layout.addLayout(row)
        self.may_sign = allowed(records.incidents.role, Permission.SIGN_OFF)
        if not self.may_sign:
            self.sign_button.setEnabled(False)
            self.note.setEnabled(False)
            self.sign_button.setToolTip(plain_tip(f"the {records.incidents.role.value} role may not sign off a shift"))
        self.load()

    def load(self) -> None:
        self.message.setText("building the report…")
        operator = self.records.incidents.operator
        self.worker.call(
            lambda: self.records.log.report(self.date, self.shift, operator), self._show, self._failed, owner=self
        )

    def _show(self, result: tuple[dict[str, Any], SignOff | None]) -> None:
        self.report, self.signoff = result
        self.browser.setHtml(self.html())
        signed = self.signoff is not None
        self.sign_button.setText("&Amend" if signed else "&Sign off")
        self.message.setText(
            f"signed off by {self.signoff.signed_by}; later changes are amendments"
            if self.signoff
            else "not signed off"
        )
        self.loaded.emit()

    def _failed(self, error: Exception) -> None:
        self.message.setText(f"the report could not be built: {error}")
        self.loaded.emit()

    def html(self) -> str:
        assert self.report is not None
        return render_html(self.report, self.signoff)

    def _choose_and_save(self, fmt: str) -> None:
        default = f"handover-{self.date.isoformat()}-{self.shift.value}.{fmt}"
        path, _ = QFileDialog.getSaveFileName(self, f"Save the report as {fmt.upper()}", default)
        if path:
            self.save(fmt, Path(path))

    def save(self, fmt: str, path: Path) -> None:
        """Write the report shown; PDF is printed by Qt here (the GUI thread owns the text document)."""
        if self.report is None:
            return
        try:
            # The file dialog asked before replacing a file; a link or a directory is still refused.
            target = OutputTarget.check(path, force=True)
            if fmt == "pdf":
                data = pdf_bytes(self.html())
            else:
                data = (render_csv(self.report, self.signoff) if fmt == "csv" else self.html()).encode("utf-8")
            target.write(data)
        except (OutputError, RuntimeError) as exc:
            self.message.setText(f"{path} could not be written: {exc}")
            return
        self.message.setText(f"saved {path}")

    def sign(self) -> None:
        """Amend at once; a sign-off first says what it freezes and asks (``confirm_box``, not modal)."""
        note = self.note.text().strip()
        if not note:
            self.message.setText("type a note for the sign-off (or the amendment) first")
            self.note.setFocus()
            return
        if self.signoff is not None or self.report is None:
            self._sign(note)
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Sign off the shift?",
            freeze_words(self.report),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.button(QMessageBox.StandardButton.Yes).setText("&Sign off and freeze")

        def answered(_result: int) -> None:
            if box.clickedButton() is box.button(QMessageBox.StandardButton.Yes):
                self._sign(note)
            else:
                self.message.setText("not signed off")

        box.finished.connect(answered)
        self.confirm_box = box
        box.open()

    def _sign(self, note: str) -> None:
        incidents, log = self.records.incidents, self.records.log
        operator = incidents.operator
        date, shift, signoff = self.date, self.shift, self.signoff

        def work() -> object:
            if signoff is not None:
                incidents.amend(signoff.id, note)
                return None
            return incidents.sign_off(note=note, **log.sign_off_data(date, shift, operator))

        def done(_result: object) -> None:
            self.note.clear()
            self.signed.emit()
            self.load()

        def failed(error: Exception) -> None:
            self.message.setText(f"not signed: {error}")

        self.worker.call(work, done, failed, owner=self)

    def keyPressEvent(self, event: Any) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.close()
            return
        super().keyPressEvent(event)
