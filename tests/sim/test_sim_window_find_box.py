"""The whole floor against the simulator, end to end (pytest-qt, offscreen, Qt warnings fail): a GPU UUID the
simulated fleet streams is searched with Ctrl+K, its rack and unit are shown, and the locate action it
offers goes through the guarded pipeline to the node's simulated BMC (Redfish), whose LED then shows in the
rack view."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from console.app import LiveFleet, WindowServices
from console.core.actions.runs import ActionState, RunnerSettings
from console.core.inventory import load_inventory
from console.gui.session import ConsoleSession
from console.services.actions import ActionService
from tests.helpers.live import FAST, NO_USER_CONFIG
from tests.sim.test_simulated_fleet import running_sim

SHOTS = os.environ.get("FLEET_SCREENSHOTS")


def test_a_simulated_gpus_uuid_finds_its_box_and_its_blinking_led_shows_in_the_racks(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_sim(tmp_path, 12) as (inventory_path, ready):
        assert "their BMCs" in ready
        monkeypatch.setenv("FLEET_DEMO_BMC_PASSWORD", (tmp_path / "data" / "sim" / "bmc-password").read_text().strip())
        inventory = load_inventory(inventory_path)
        live = LiveFleet(inventory, NO_USER_CONFIG, FAST)
        actions = ActionService(
            inventory,
            tmp_path / "console",
            NO_USER_CONFIG,
            live=live,
            operator="sim-tester",
            settings=RunnerSettings(poll_s=0.3, verify_timeout_s=20),
        )
        services = WindowServices(live, actions)
        services.start()
        session = ConsoleSession(live, interval_ms=100, actions=actions)
        window = session.window
        qtbot.addWidget(window)
        session.start()
        window.show()
        try:
            qtbot.waitUntil(lambda: any(a.sample.uuid for a in live.fleet.view("gpu-007").accelerators), timeout=30_000)

            def shown() -> bool:  # the window's own copy, which the search reads
                row = window.model.row_of("gpu-007")
                return row is not None and any(a.sample.uuid for a in window.model.view_at(row).accelerators)

            qtbot.waitUntil(shown, timeout=10_000)
            accelerator = next(a.sample for a in live.fleet.view("gpu-007").accelerators if a.sample.uuid)
            uuid = str(accelerator.uuid)
            spec = inventory.node("gpu-007")
            finder = window.open_find()
            qtbot.keyClicks(finder.query, uuid.lower())  # whole values, any case
            qtbot.keyClick(finder.query, Qt.Key.Key_Return)
            match = finder.selected()
            assert match is not None and (match.node, match.accelerator) == ("gpu-007", accelerator.index)
            assert window.tabs.currentWidget() is window.racks
            assert window.racks.canvas.highlighted == "gpu-007"
            answer = window.racks.answer.text()
            assert f"rack {spec.rack}" in answer and f"unit {spec.slot}" in answer, answer
            assert finder.locate.isEnabled()
            qtbot.mouseClick(finder.locate, Qt.MouseButton.LeftButton)
            dialog = window.last_dialog
            assert dialog is not None and dialog.option("led").currentText() == "blink"
            qtbot.waitUntil(dialog.run_button.isEnabled, timeout=20_000)
            qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
            dock = window.dock
            assert dock is not None
            qtbot.waitUntil(lambda: dock.model.rowCount() == 1 and dock.model.status_at(0).finished, timeout=30_000)
            status = dock.model.status_at(0)
            assert status.state == ActionState.DONE, status.message
            assert "Blinking" in status.message
            # Done means the BMC read back the LED as asked; the rack view shows the lamp lit.
            qtbot.waitUntil(lambda: "gpu-007" in window.racks.canvas.leds, timeout=10_000)
            box = next(b for b in window.racks.canvas.boxes if b.node == "gpu-007")
            assert "locate LED on" in window.racks.canvas.describe(box)
            if SHOTS:
                Path(SHOTS).mkdir(parents=True, exist_ok=True)
                window.grab().save(str(Path(SHOTS) / "sim-find-locate-racks.png"))
        finally:
            session.stop()
            services.close()
