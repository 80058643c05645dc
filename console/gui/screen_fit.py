"""Windows and dialogs sized to the screen they open on, title bar and panel included.

Why: a dialog asked for 1100 × 800 on a 1366 × 768 laptop with a window manager opens with its save and
sign-off buttons below the screen's edge, where no one can reach them. The window manager's title bar and
a desktop panel are not in a widget's own size; the screen's *available* geometry leaves the panel out, and
the title bar is allowed for here until the window manager has said how tall it is.
"""

from __future__ import annotations

from typing import Final

from PySide6.QtCore import QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

# A title bar and borders, before the window manager has drawn them (openbox: 24 px and 1-px borders;
# GNOME and KDE: up to 40 px).
FRAME_ALLOWANCE: Final = QSize(16, 48)


def room_for(widget: QWidget) -> QSize:
    """The size a top-level ``widget``'s client area may take on its screen: the available geometry (no
    panel) less its frame — the real one once shown, else ``FRAME_ALLOWANCE``."""
    screen = widget.screen() or QGuiApplication.primaryScreen()
    if screen is None:
        return QSize(1 << 14, 1 << 14)
    room = screen.availableGeometry().size()
    frame = widget.frameGeometry().size() - widget.geometry().size()
    if not widget.isVisible() or frame.height() <= 0:
        frame = FRAME_ALLOWANCE
    return QSize(room.width() - frame.width(), room.height() - frame.height())


def fit_size(widget: QWidget, width: int, height: int) -> None:
    """Resize ``widget`` to ``width`` × ``height``, or what its screen has room for where that is less."""
    room = room_for(widget)
    widget.resize(min(width, room.width()), min(height, room.height()))
