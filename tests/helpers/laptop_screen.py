"""Run by tests/gui/test_laptop_screen.py in a child process on a real X server (Xvfb at 1366 × 768) under a
real window manager (openbox, with a 32-px panel's margin): the main window and every dialog are shown as a
person opens them, the window manager places and frames them, and each one's frame and buttons are printed
as JSON lines (one per window), with a screenshot of the whole screen per window in OUT.

``python -m tests.helpers.laptop_screen OUT``
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRect
from PySide6.QtWidgets import QAbstractButton, QApplication, QDialog, QWidget


def _wait_framed(app: QApplication, widget: QWidget, timeout_s: float = 10.0) -> None:
    """Until the window manager has framed and placed the window (its frame is larger than its client)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app.processEvents()
        frame, client = widget.frameGeometry(), widget.geometry()
        if widget.isVisible() and frame.height() > client.height():
            break
        time.sleep(0.05)
    for _ in range(20):  # the window manager's move and resize settle
        app.processEvents()
        time.sleep(0.02)


def _rect(r: QRect) -> list[int]:
    return [r.x(), r.y(), r.width(), r.height()]


def report(app: QApplication, name: str, widget: QWidget, out: Path) -> dict[str, Any]:
    widget.show()
    widget.raise_()
    _wait_framed(app, widget)
    screen = widget.screen()
    room = screen.availableGeometry()
    buttons = []
    for button in widget.findChildren(QAbstractButton):
        if button.isVisible() and button.text():
            corner = button.mapToGlobal(button.rect().topLeft())
            # Whole: no part of it scrolled out of sight or cut by its parent.
            whole = button.visibleRegion().boundingRect() == button.rect()
            rect = [corner.x(), corner.y(), button.width(), button.height()]
            buttons.append({"text": button.text(), "rect": rect, "whole": whole})
    screen.grabWindow(0).save(str(out / f"{name}.png"))
    return {
        "name": name,
        "frame": _rect(widget.frameGeometry()),
        "available": _rect(room),
        "screen": _rect(screen.geometry()),
        "buttons": buttons,
    }


def main() -> int:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    from console.core.actions.planning import ActionKind
    from console.core.actions.roles import Role
    from console.core.inventory import parse_inventory
    from console.core.telemetry.fleet import FleetModel
    from console.gui.action_dialog import ActionDialog
    from console.gui.find_dialog import FindBoxDialog
    from console.gui.handover_dialog import HandoverDialog
    from console.gui.identity import OperatorDialog
    from console.gui.main_window import MainWindow
    from console.gui.worker import Worker
    from tests.gui.test_log_view import INVENTORY, _records
    from tests.gui.test_walkthrough import PlansEverything

    tmp = Path(tempfile.mkdtemp(prefix="laptop-screen-"))
    inventory = parse_inventory(INVENTORY, tmp / "fleet.toml")
    fleet = FleetModel(inventory)
    records = _records(tmp, Role.SUPERVISOR, fleet)
    worker = Worker()
    actions = PlansEverything(fleet)
    results = []
    window = MainWindow(fleet, " — fleet.toml", actions=actions, records=records)  # type: ignore[arg-type]
    results.append(report(app, "main-window", window, out))
    for tab in range(window.tabs.count()):  # every tab fits the window it is in
        window.tabs.setCurrentIndex(tab)
        results.append(report(app, f"main-window-tab-{tab}", window, out))
    dialogs: list[tuple[str, QDialog]] = [
        ("handover", HandoverDialog(records, worker, dt.date.today(), records.log.current_shift()[1], window)),  # type: ignore[arg-type]
        ("action-drain", ActionDialog(ActionKind.DRAIN, ["gpu-001"], actions, worker, window)),  # type: ignore[arg-type]
        ("find-box", FindBoxDialog(lambda _text: [], window)),
        ("operator", OperatorDialog("root", window)),
    ]
    for name, dialog in dialogs:
        results.append(report(app, name, dialog, out))
        dialog.close()
    for result in results:
        print(json.dumps(result))
    window.close()
    worker.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
