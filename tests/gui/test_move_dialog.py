"""The move-node wizard (pytest-qt, offscreen, Qt warnings fail), on the real move service over the
simulator's Slurm: the preview names the jobs, both tenants' counts and the exact commands; Start stays
greyed while the plan is refused; the steps show as they run; the question when jobs outlast the wait."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from console.core.inventory import load_inventory
from console.core.tenants.moves import JobsDecision, MoveProgress, MoveStep
from console.gui.move_dialog import MoveTenantDialog
from console.gui.worker import Worker
from console.services.tenant_move import TenantMoves
from tests.helpers.moves import World, busy_node, idle_node, other_tenant

SHOTS = os.environ.get("FLEET_SCREENSHOTS")


def _dialog(qtbot: Any, world: World, node: str) -> tuple[MoveTenantDialog, Worker]:
    fleet = world.fleet()
    moves = TenantMoves(world.service, fleet)
    worker = Worker()
    tenants = sorted({n.tenant for n in world.nodes if n.tenant})
    dialog = MoveTenantDialog([node], moves, worker, tenants)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog, worker


def _shoot(widget: Any, name: str) -> None:
    if SHOTS:
        widget.grab().save(str(Path(SHOTS) / name))


def test_the_wizard_previews_then_moves_an_idle_node_and_shows_each_step(qtbot: Any, world: World) -> None:
    node = idle_node(world)
    target = other_tenant(world, node.tenant)
    dialog, worker = _dialog(qtbot, world, node.name)
    try:
        with qtbot.waitSignal(dialog.planned, timeout=10000):
            dialog.target.setCurrentText(target)
        assert not dialog.start_button.isEnabled()  # no reason yet
        assert "a move needs a reason" in dialog.preview.toPlainText()
        with qtbot.waitSignal(dialog.planned, timeout=10000):
            dialog.reason.setText("borealis grows (order 31)")
        text = dialog.preview.toPlainText()
        assert dialog.start_button.isEnabled(), text
        assert f"scontrol update PartitionName={target}" in text and f"tenant = '{target}'" in text
        assert f"{node.tenant}: " in text and f"{target}: " in text
        _shoot(dialog, "move-wizard-preview.png")
        with qtbot.waitSignal(dialog.moved, timeout=30000) as finished:
            dialog.start_button.click()
        assert finished.args[0].outcome == "done", finished.args[0].message
        assert [dialog.step_text(step)[0] for step in MoveStep] == ["✓"] * 6
        assert "now belongs to" in dialog.state_label.text()
        assert load_inventory(world.inventory_path).node(node.name).tenant == target
        _shoot(dialog, "move-wizard-done.png")
    finally:
        worker.shutdown()


def test_a_refused_move_keeps_start_greyed_with_the_reason_in_the_preview(qtbot: Any, world: World) -> None:
    node = idle_node(world)
    dialog, worker = _dialog(qtbot, world, node.name)
    try:
        with qtbot.waitSignal(dialog.planned, timeout=10000):
            dialog.target.setCurrentText("initech")
            dialog.reason.setText("a tenant Slurm does not know")
        assert not dialog.start_button.isEnabled()
        assert "no partition or active reservation that admits account initech" in dialog.preview.toPlainText()
    finally:
        worker.shutdown()


class RecordingHandle:
    def __init__(self) -> None:
        self.answers: list[JobsDecision] = []
        self.stopped = False

    def answer(self, decision: JobsDecision) -> None:
        self.answers.append(decision)

    def stop(self) -> None:
        self.stopped = True


def test_jobs_that_outlast_the_wait_ask_with_three_answers(qtbot: Any, world: World) -> None:
    busy = busy_node(world)
    dialog, worker = _dialog(qtbot, world, busy.name)
    try:
        handle = RecordingHandle()
        dialog.handle = handle  # type: ignore[assignment]
        dialog.pages.setCurrentIndex(1)
        dialog.progressed.emit(
            MoveProgress(1, MoveStep.WAIT_JOBS, "ask", "the jobs outlasted the wait (1 job(s) still running: 41003)")
        )
        qtbot.waitUntil(lambda: dialog.question_shown, timeout=5000)
        assert "41003" in dialog.question_label.text()
        assert dialog.step_text(MoveStep.WAIT_JOBS)[0] == "?"
        _shoot(dialog, "move-wizard-ask.png")
        dialog.findChild(type(dialog.stop_button), "move-stop").click()
        assert handle.stopped
        dialog.findChild(type(dialog.stop_button), "move-resume").click()
        assert handle.answers == [JobsDecision.RESUME] and not dialog.question_shown
    finally:
        worker.shutdown()


def test_the_window_offers_the_move_for_the_selected_nodes_and_refreshes_the_tenants_after_it(
    qtbot: Any, world: World
) -> None:
    from console.gui.main_window import MainWindow

    node = idle_node(world)
    fleet = world.fleet()
    window = MainWindow(fleet, actions=world.service, moves=TenantMoves(world.service, fleet))
    qtbot.addWidget(window)
    window.show()
    assert window.move_item is not None and not window.move_item.isEnabled()
    assert window.select_node(node.name)
    assert window.move_item.isEnabled()
    assert window.move_item in window.actions_toolbar.actions()
    dialog = window.open_move()
    assert dialog is not None and dialog.nodes == (node.name,)
    assert dialog.target.findText(other_tenant(world, node.tenant)) >= 0
    dialog.close()
    if window.worker is not None:
        window.worker.shutdown()
