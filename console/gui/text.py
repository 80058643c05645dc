"""Showing foreign text in Qt: labels, tooltips and cells that can never render a node's HTML.

QLabel and tooltips guess: text that looks like HTML is rendered as HTML, so a GPU model name, a tool's
stderr, a Slurm job name or a BMC's error such as ``<img src='/some/local/file.png'>`` would show an
image from the console's own disk. Every label is made here with its format set once: ``plain_label``
for anything that holds foreign text, ``rich_label`` only where the console composes rich text itself and
escapes every foreign piece with ``esc`` (once: ``html.escape`` on a plain label shows ``&#x27;``).
Tooltips are always rich, so ``plain_tip`` escapes the whole text and says so with ``<qt>``.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget


def esc(text: object) -> str:
    """One foreign piece for console-composed rich text."""
    return html.escape(str(text), quote=True)


def plain_label(text: str = "", parent: QWidget | None = None) -> QLabel:
    """A label that shows ``text`` as the characters it is, whatever it looks like."""
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    return label


def rich_label(text: str = "", parent: QWidget | None = None) -> QLabel:
    """A label for rich text the console composes; every foreign piece in it goes through ``esc``."""
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setText(text)
    return label


def plain_tip(text: str) -> str:
    """A tooltip that shows ``text`` literally (tooltips have no plain-text switch; this is the escape)."""
    if not text:
        return ""
    return "<qt>" + esc(text).replace("\n", "<br>") + "</qt>"


class LabelTexts:
    """Sets a label's text, or hides it (``None``), only when that differs from what this last set.

    Why: the status bar's labels are set at every snapshot, four times a second, mostly to what they
    already say; each call into Qt lets go of the GIL, and taking it back can wait behind the telemetry
    threads for the interpreter's switch interval. The labels must be set through this alone."""

    def __init__(self) -> None:
        self._said: dict[int, str | None] = {}

    def say(self, label: QLabel, text: str | None) -> None:
        key = id(label)
        if key in self._said and self._said[key] == text:
            return
        self._said[key] = text
        if text is None:
            label.hide()
        else:
            label.setText(text)
            label.show()
