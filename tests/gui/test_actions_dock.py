"""The Actions panel says what its button does to the selected action (pytest-qt, offscreen, Qt warnings
fail): cancel one still queued, stop watching one that was sent; a Slurm reboot offers its cancel in
Slurm; what earlier consoles left unfinished is listed from the start."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from console.core.actions.planning import ActionKind
from console.core.actions.runs import ActionState, ActionStatus
from console.gui.actions_dock import ActionsDock

SHOTS = os.environ.get("FLEET_SCREENSHOTS")
REBOOT = "ctl: scontrol reboot ASAP nextstate=RESUME 'reason=tina: ECC storm' gpu-006"


def _status(action_id: int, kind: ActionKind, state: ActionState, message: str, *commands: str) -> ActionStatus:
    return ActionStatus(action_id, "gpu-006", kind, state, message, commands, time.time() - 60, time.time() - 59)


def _dock(qtbot: Any) -> ActionsDock:
    dock = ActionsDock()
    qtbot.addWidget(dock)
    dock.resize(1200, 260)
    dock.show()
    return dock


def test_the_button_names_what_it_does_and_a_slurm_reboot_offers_its_cancel_in_slurm(qtbot: Any) -> None:
    dock = _dock(qtbot)
    dock.update_status(
        _status(7, ActionKind.REBOOT, ActionState.TRACKING, "Slurm: MIXED+DRAIN+REBOOT_REQUESTED", REBOOT)
    )
    dock.update_status(_status(8, ActionKind.DRAIN, ActionState.QUEUED, "queued"))
    assert not dock.cancel_button.isEnabled()  # nothing selected
    from console.core.when import zone_name

    started = dock.model.headerData(5, Qt.Orientation.Horizontal)
    assert started == f"Started ({zone_name()})"  # local times, their zone named
    dock.table.setCurrentIndex(dock.model.index(0, 0))  # the drain, newest first
    assert dock.cancel_button.text() == "Cancel (not sent yet)" and dock.cancel_button.isEnabled()
    assert not dock.cancel_reboot_button.isVisibleTo(dock)
    with qtbot.waitSignal(dock.cancel_requested) as cancelled:
        dock.cancel_button.click()
    assert cancelled.args == [8]
    dock.table.setCurrentIndex(dock.model.index(1, 0))  # the reboot Slurm holds
    assert dock.cancel_button.text() == "Stop watching"
    assert dock.cancel_reboot_button.isVisibleTo(dock)
    with qtbot.waitSignal(dock.cancel_reboot_requested) as asked:
        dock.cancel_reboot_button.click()
    assert asked.args == ["gpu-006"]


def test_actions_earlier_consoles_left_unfinished_are_shown_and_cannot_be_stopped_from_here(qtbot: Any) -> None:
    dock = _dock(qtbot)
    dock.load_earlier(
        [
            _status(
                3,
                ActionKind.REBOOT,
                ActionState.UNWATCHED,
                "earlier console: the console closed; the reboot is still pending in Slurm (Slurm: MIXED+DRAIN+"
                "REBOOT_REQUESTED (waiting for its jobs to end))",
                REBOOT,
            )
        ]
    )
    assert dock.model.rowCount() == 1 and "1 from earlier consoles" in dock.summary.text()
    assert "1 not watched" in dock.summary.text()
    dock.table.setCurrentIndex(dock.model.index(0, 0))
    assert not dock.cancel_button.isEnabled() and dock.cancel_reboot_button.isVisibleTo(dock)
    if SHOTS:
        dock.grab().save(str(Path(SHOTS) / "actions-earlier-reboot.png"))
