"""Acting from the window (pytest-qt, offscreen, Qt warnings fail): preview dialog, Run, the Actions panel,
against real Slurm, a real Redfish emulator and a real sshd (nodes' nvidia-smi is the replaying stand-in)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from console.app import LiveFleet, WindowServices
from console.core.actions.planning import ActionKind
from console.core.actions.runs import ActionState, RunnerSettings
from console.core.inventory import load_inventory
from console.gui.session import ConsoleSession
from console.services.actions import ActionService
from tests.helpers.live import FAST, NO_USER_CONFIG
from tests.helpers.world import SCHEDULER, world_sshd, write_inventory

SHOTS = os.environ.get("FLEET_SCREENSHOTS")  # a folder: tests save what they show, for a person to look at

pytestmark = pytest.mark.sshd


@pytest.fixture(scope="module")
def fleet_setup(slurm: Any, bmc: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any, Any]]:
    with world_sshd(slurm, bmc, tmp_path_factory.mktemp("sshd")) as sshd:
        yield write_inventory(tmp_path_factory.mktemp("gui") / "fleet.toml", sshd, bmc), slurm, bmc


@pytest.fixture
def session(qtbot: Any, fleet_setup: tuple[Path, Any, Any], tmp_path: Path) -> Iterator[ConsoleSession]:
    inventory = load_inventory(fleet_setup[0])
    live = LiveFleet(inventory, NO_USER_CONFIG, FAST)
    actions = ActionService(
        inventory,
        tmp_path / "data",
        NO_USER_CONFIG,
        live=live,
        operator="dana",
        settings=RunnerSettings(poll_s=0.3, verify_timeout_s=20, reboot_timeout_s=60),
    )
    services = WindowServices(live, actions)  # the scheduler watch, as the window's command wires it
    services.start()
    console = ConsoleSession(live, interval_ms=100, actions=actions)
    qtbot.addWidget(console.window)
    console.start()
    console.window.show()
    yield console
    console.stop()
    services.close()


def _shot(widget: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        widget.grab().save(str(Path(SHOTS) / name))


def _select(qtbot: Any, window: Any, node: str) -> None:
    qtbot.waitUntil(lambda: window.fleet.view(node).lines_parsed > 0, timeout=20_000)
    assert window.select_node(node)


def test_drain_from_the_window_previews_runs_and_shows_in_the_actions_panel(
    qtbot: Any, session: ConsoleSession, fleet_setup: tuple[Path, Any, Any]
) -> None:
    window = session.window
    slurm = fleet_setup[1]
    _select(qtbot, window, "node1")
    qtbot.waitUntil(lambda: window.panel._fields["Slurm"].text().startswith("IDLE"), timeout=20_000)
    assert "power On" in window.panel._fields["BMC"].text()

    assert window.action_items[ActionKind.DRAIN].isEnabled()
    dialog = window.open_action(ActionKind.DRAIN)
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=20_000)
    assert not dialog.run_button.isEnabled()  # no reason yet: refused
    qtbot.keyClicks(dialog.reason, "GPU 3 at 96 °C, fan replaced")
    qtbot.keyClicks(dialog.ticket, "INC-7")
    qtbot.waitUntil(dialog.run_button.isEnabled, timeout=20_000)
    preview = dialog.preview.toPlainText()
    assert "scontrol update NodeName=node1 State=DRAIN 'Reason=dana: GPU 3 at 96 °C, fan replaced [INC-7]'" in preview
    assert f"on {fleet_setup[0].read_text().split('user = ')[1].split()[0].strip(chr(34))}@{SCHEDULER}" in preview
    assert "tenant-1" in preview and "No running jobs." in preview
    _shot(dialog, "action-preview-drain.png")
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)

    dock = window.dock
    assert dock is not None
    qtbot.waitUntil(
        lambda: dock.model.rowCount() == 1 and dock.model.status_at(0).state == ActionState.DONE, timeout=30_000
    )
    assert "DRAIN" in slurm.node_state("node1")
    qtbot.waitUntil(lambda: "DRAIN" in window.panel._fields["Slurm"].text(), timeout=20_000)
    qtbot.waitUntil(lambda: window.model.scheduler_state("node1") == "IDLE+DRAIN", timeout=20_000)
    window.filter.setText("drain")  # the filter finds nodes by their Slurm state too
    assert window.proxy.rowCount() == 1
    window.filter.clear()
    _shot(window, "window-after-drain.png")

    resume = window.open_action(ActionKind.RESUME)
    assert resume is not None
    qtbot.waitUntil(resume.run_button.isEnabled, timeout=20_000)
    qtbot.mouseClick(resume.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: dock.model.rowCount() == 2 and dock.model.status_at(0).state == ActionState.DONE, timeout=30_000
    )
    assert "DRAIN" not in slurm.node_state("node1")


def test_queued_action_is_shown_and_cancelled_from_the_panel_before_it_runs(
    qtbot: Any, session: ConsoleSession, fleet_setup: tuple[Path, Any, Any]
) -> None:
    window = session.window
    slurm = fleet_setup[1]
    _select(qtbot, window, "node2")
    job = slurm.run("sbatch", "-w", "node2", "-J", "long-train", "--wrap", "sleep 600").stdout.split()[-1]
    dock = window.dock
    assert dock is not None
    try:
        qtbot.waitUntil(lambda: "RUNNING" in slurm.run("squeue", "-h", "-j", job, "-o", "%T").stdout, timeout=20_000)
        reboot = window.open_action(ActionKind.REBOOT)
        assert reboot is not None
        qtbot.keyClicks(reboot.reason, "ECC storm")
        qtbot.waitUntil(
            lambda: reboot.run_button.isEnabled() and "long-train" in reboot.preview.toPlainText(), timeout=20_000
        )
        _shot(reboot, "action-preview-reboot-with-job.png")
        qtbot.mouseClick(reboot.run_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(
            lambda: dock.model.rowCount() == 1 and "waiting for its jobs" in dock.model.status_at(0).message,
            timeout=30_000,
        )

        drain = window.open_action(ActionKind.DRAIN)
        assert drain is not None
        qtbot.keyClicks(drain.reason, "queued behind the reboot")
        qtbot.waitUntil(drain.run_button.isEnabled, timeout=20_000)
        qtbot.mouseClick(drain.run_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(
            lambda: dock.model.rowCount() == 2 and dock.model.status_at(0).state == ActionState.QUEUED, timeout=20_000
        )
        _shot(window, "actions-panel-queued.png")
        dock.table.setCurrentIndex(dock.model.index(0, 0))
        qtbot.mouseClick(dock.cancel_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dock.model.status_at(0).state == ActionState.CANCELLED, timeout=20_000)
        assert "nothing was sent" in dock.model.status_at(0).message
        dock.table.setCurrentIndex(dock.model.index(1, 0))
        assert dock.cancel_button.text() == "Stop watching" and dock.cancel_reboot_button.isVisibleTo(dock)
        qtbot.mouseClick(dock.cancel_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dock.model.status_at(1).state == ActionState.UNWATCHED, timeout=20_000)
        # Stopping the watch does not cancel the reboot: Slurm still holds it, and the outcome says so.
        assert "still pending in Slurm" in dock.model.status_at(1).message
        assert "REBOOT_REQUESTED" in slurm.run("scontrol", "show", "node", "-o", "node2").stdout
    finally:
        slurm.run("scancel", job, check=False)
        slurm.run("scontrol", "cancel_reboot", "node2", check=False)
        slurm.run("scontrol", "update", "NodeName=node2", "State=RESUME", check=False)


def test_actions_a_node_cannot_take_are_greyed_with_the_reason(qtbot: Any, session: ConsoleSession) -> None:
    window = session.window
    _select(qtbot, window, "node5")  # node5 has no BMC in the inventory
    power = window.action_items[ActionKind.POWER]
    assert not power.isEnabled()
    assert "has no BMC" in power.toolTip()
    assert window.action_items[ActionKind.DRAIN].isEnabled()
