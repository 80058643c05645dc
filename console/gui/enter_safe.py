"""A dialog in which Enter in a text field presses nothing (QDialog would press its default button): an
action runs only from its button — clicked, or reached with Tab or its Alt shortcut. Enter on a focused
button still presses that button, and a field's own ``returnPressed`` (a search) still fires."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QDialog, QPushButton


class EnterSafeDialog(QDialog):
    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not isinstance(self.focusWidget(), QPushButton):
            event.accept()
            return
        super().keyPressEvent(event)
