"""Colours and words for states, chosen to read at a glance on a night shift (and in grey-scale)."""

from __future__ import annotations

from typing import Final

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap

from console.core.resources import resource
from console.core.telemetry.samples import NodeState

# (dot colour, row background or None, text colour or None)
STATE_COLOURS: Final[dict[NodeState, tuple[str, str | None, str | None]]] = {
    NodeState.UP: ("#2e9d4f", None, None),
    NodeState.CONNECTING: ("#7a8aa0", None, "#55606e"),
    NodeState.STALE: ("#e0a100", "#fff3cd", None),
    NodeState.PARSE_ERROR: ("#d97706", "#ffe8cc", None),
    NodeState.COMMAND_FAILED: ("#c2410c", "#fde2d2", None),
    NodeState.UNREACHABLE: ("#6b7280", "#e5e7eb", "#4b5563"),
    NodeState.AUTH_FAILED: ("#b91c1c", "#f8d7da", None),
    NodeState.HOST_KEY_UNKNOWN: ("#b91c1c", "#f8d7da", None),
    NodeState.HOST_KEY_CHANGED: ("#7f1d1d", "#f1aeb5", "#5c0a0a"),
}
# Hot is orange, critical is red: told apart at a glance (the walkthrough found two pinks).
HOT_BACKGROUND: Final = "#ffd8a8"
CRITICAL_BACKGROUND: Final = "#f5a3a3"
WARNING_BACKGROUND: Final = "#fff3bf"
SEVERITY_COLOURS: Final = {0: "#2563eb", 1: "#b45309", 2: "#b91c1c"}
HOT_TEXT: Final = "#9a3412"
# The Slurm cell of a node out of service (background, text): drained or draining in lavender; down,
# rebooting or not responding in slate.
SLURM_DRAIN_COLOURS: Final = ("#e9d5ff", "#581c87")
SLURM_OUT_COLOURS: Final = ("#cbd5e1", "#1e293b")

# One colour per accelerator in plots (colour-blind-friendly Okabe-Ito order, then two greys).
SERIES_COLOURS: Final = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#000000",
    "#999999",
    "#666666",
)

_icons: dict[str, QIcon] = {}


def dot_icon(colour: str, size: int = 12) -> QIcon:
    icon = _icons.get(colour)
    if icon is None:
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(QColor(colour))
        painter.setPen(QColor(colour).darker(130))
        painter.drawEllipse(1, 1, size - 2, size - 2)
        painter.end()
        icon = _icons[colour] = QIcon(pixmap)
    return icon


def svg_icon(name: str) -> QIcon:
    """An icon shipped in resources/icons/ (SVG, one style), rendered once and kept."""
    icon = _icons.get(name)
    if icon is None:
        # PySide6 takes the format as text at run time; its stubs say bytes.
        image = QImage.fromData(resource(f"icons/{name}.svg").read_bytes(), "SVG")  # type: ignore[arg-type]
        icon = _icons[name] = QIcon(QPixmap.fromImage(image))
    return icon


def app_icon() -> QIcon:
    """The console's own icon, for the window, the task bar and the tray."""
    return svg_icon("fleet-console")


def state_icon(state: NodeState) -> QIcon:
    """A node state's icon: its colour and a shape of its own (a dot, a ring, a triangle, a diamond …), so
    states are told apart without colour too."""
    return svg_icon("state-" + state.name.lower().replace("_", "-"))


def action_icon(kind_value: str) -> QIcon:
    """The toolbar icon of an action kind (resources/icons/action-<kind>.svg)."""
    return svg_icon(f"action-{kind_value}")


def row_background(state: NodeState, hot: bool) -> QColor | None:
    if hot:
        return QColor(HOT_BACKGROUND)
    colour = STATE_COLOURS[state][1]
    return QColor(colour) if colour else None


def row_foreground(state: NodeState, hot: bool) -> QColor | None:
    if hot:
        return QColor(HOT_TEXT)
    colour = STATE_COLOURS[state][2]
    return QColor(colour) if colour else None
