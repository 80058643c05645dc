"""A reboot Slurm holds until the node's jobs end: stopping the watch (the operator, a cancel-reboot, the
console closing) never calls it cancelled — it says the reboot is still pending in Slurm, with Slurm's state
then; and the cancel-reboot preview says what the node is afterwards, with Resume offered in the same action.
(Fake Slurm behind its port, the real SQLite store.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.core.actions.kinds import request_params
from console.core.actions.planning import ActionKind, ActionRequest, Step, plan_action
from console.core.actions.runs import ActionState, RunnerSettings, StepResult
from console.core.inventory import parse_inventory
from console.core.records.store import Store
from console.services.action_runner import ActionRunner
from tests.core.test_planning import FakeEngines
from tests.helpers.fakes import FakeSlurm

INVENTORY = '[scheduler]\nhost = "ctl"\n[[node]]\nname = "n1"\nhost = "10.0.0.1"\n'


class SlurmAnswers:
    """Every scontrol step succeeds; ``sent`` keeps what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, ...]] = []
        self.started = threading.Event()

    def run(self, step: Step, timeout_s: float, cancel: threading.Event | None = None) -> StepResult:
        assert step.argv is not None
        self.sent.append(step.argv)
        self.started.set()
        return StepResult(0, "", "")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "console.sqlite3")
    yield store
    store.close()


def _runner(store: Store, slurm: FakeSlurm, executor: SlurmAnswers) -> ActionRunner:
    inventory = parse_inventory(INVENTORY, Path("fleet.toml"))
    return ActionRunner(
        store,
        executor,
        FakeEngines(slurm),  # type: ignore[arg-type]
        inventory,
        settings=RunnerSettings(poll_s=0.01, reboot_timeout_s=60.0),
    )


def _tracked_reboot(runner: ActionRunner, slurm: FakeSlurm) -> int:
    inventory = runner.inventory
    request = ActionRequest(ActionKind.REBOOT, ("n1",), "tina", reason="ECC storm")
    (status,) = runner.submit(plan_action(request, inventory, FakeEngines(slurm)))  # type: ignore[arg-type]
    deadline = time.monotonic() + 10
    while "waiting for its jobs" not in runner.status(status.id).message:
        assert time.monotonic() < deadline, runner.status(status.id)
        time.sleep(0.01)
    return status.id


def test_stopping_the_watch_of_a_slurm_reboot_says_it_is_still_pending_there(store: Store) -> None:
    slurm = FakeSlurm(states={"n1": "MIXED+DRAIN+REBOOT_REQUESTED"})
    runner = _runner(store, slurm, SlurmAnswers())
    try:
        action_id = _tracked_reboot(runner, slurm)
        assert runner.cancel(action_id)
        assert runner.wait([action_id], timeout=10)
        final = runner.status(action_id)
    finally:
        runner.shutdown()
    assert final.state == ActionState.UNWATCHED
    assert final.message.startswith("the operator stopped watching; the reboot is still pending in Slurm")
    assert "MIXED+DRAIN+REBOOT_REQUESTED" in final.message and "Cancel reboot" in final.message
    assert store.row(action_id).state == "stopped watching"


def test_closing_the_console_while_a_reboot_waits_records_it_as_pending_not_cancelled(store: Store) -> None:
    slurm = FakeSlurm(states={"n1": "MIXED+DRAIN+REBOOT_REQUESTED"})
    runner = _runner(store, slurm, SlurmAnswers())
    action_id = _tracked_reboot(runner, slurm)
    runner.shutdown()
    row = store.row(action_id)
    assert row.state == "stopped watching"
    assert row.message is not None and row.message.startswith("the console closed; the reboot is still pending")


def test_a_cancel_reboot_preview_says_what_the_node_is_afterwards_and_can_resume_it() -> None:
    inventory = parse_inventory(INVENTORY, Path("fleet.toml"))
    engines = FakeEngines(FakeSlurm(states={"n1": "MIXED+DRAIN+REBOOT_REQUESTED"}))
    plain = plan_action(ActionRequest(ActionKind.CANCEL_REBOOT, ("n1",), "tina"), inventory, engines)  # type: ignore[arg-type]
    assert [s.argv for s in plain.steps] == [("scontrol", "cancel_reboot", "n1")]
    (afterwards,) = [n for n in plain.notes if n.startswith("afterwards")]
    assert "Slurm undrains it (MIXED, in service)" in afterwards and "stays MIXED+DRAIN" in afterwards
    resumed = plan_action(
        ActionRequest(ActionKind.CANCEL_REBOOT, ("n1",), "tina", then_resume=True),
        inventory,
        engines,  # type: ignore[arg-type]
    )
    assert [s.argv for s in resumed.steps] == [
        ("scontrol", "cancel_reboot", "n1"),
        ("scontrol", "update", "NodeName=n1", "State=RESUME"),
    ]
    assert any("is resumed: MIXED, in service" in n for n in resumed.notes)
    assert request_params(resumed.request)["then_resume"] is True


def test_a_cancelled_reboot_that_leaves_the_node_drained_says_resume_returns_it(store: Store) -> None:
    slurm = FakeSlurm(states={"n1": "MIXED+DRAIN"})  # drained before the reboot: Slurm keeps the drain
    runner = _runner(store, slurm, SlurmAnswers())
    try:
        plan = plan_action(
            ActionRequest(ActionKind.CANCEL_REBOOT, ("n1",), "tina"), runner.inventory, FakeEngines(slurm)
        )  # type: ignore[arg-type]
        (status,) = runner.submit(plan)
        assert runner.wait([status.id], timeout=10)
        final = runner.status(status.id)
    finally:
        runner.shutdown()
    assert final.state == ActionState.DONE
    assert final.message == "no reboot pending; still out of service (MIXED+DRAIN): Resume returns it to service"
