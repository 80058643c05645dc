"""The action runner's deadlines: an action's timeout bounds its remote steps and its tracking, and a
cancel ends a step that is waiting on a host (fake executor, fake clock, the real SQLite store)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.core.actions.planning import ActionKind, ActionPlan, ActionRequest, Engine, Step
from console.core.actions.runs import ActionState, ActionStatus, RunnerSettings, StepError, StepResult
from console.core.inventory import parse_inventory
from console.core.records.store import Store
from console.core.telemetry.samples import NodeState
from console.services.action_runner import ActionRunner
from tests.helpers.fakes import FakeClock

REBOOT = Step("n1", Engine.SSH, "root@n1", ("sudo", "-n", "systemctl", "reboot"))


class HangingHost:
    """A host whose command never finishes: each run uses its whole budget (the clock moves by it) and then
    fails as exec_once does, or ends at once when cancelled."""

    def __init__(self, clock: FakeClock, wait_for_cancel: bool = False) -> None:
        self.clock = clock
        self.wait_for_cancel = wait_for_cancel
        self.budgets: list[float] = []
        self.started = threading.Event()

    def run(self, step: Step, timeout_s: float, cancel: threading.Event | None = None) -> StepResult:
        self.budgets.append(timeout_s)
        self.started.set()
        if self.wait_for_cancel:
            assert cancel is not None
            cancel.wait(30)
            raise StepError(f"{step.argv[0] if step.argv else '?'} was stopped before it finished")
        self.clock.advance(timeout_s)
        raise StepError(f"gave no complete answer within {timeout_s:g} s")


class NeverBack:
    """A node that went down and never comes back; each look costs a second of the fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def health(self, node: str) -> tuple[NodeState, float | None]:
        self.clock.advance(1.0)
        return NodeState.UNREACHABLE, None


class QuickHost:
    def run(self, step: Step, timeout_s: float, cancel: threading.Event | None = None) -> StepResult:
        return StepResult(None, "", "")  # a reboot over SSH: the connection drops, no exit status


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "console.sqlite3")
    yield store
    store.close()


def _runner(store: Store, executor: object, clock: FakeClock, health: object | None = None) -> ActionRunner:
    inventory = parse_inventory('[[node]]\nname = "n1"\nhost = "10.0.0.1"\n', Path("fleet.toml"))
    return ActionRunner(
        store,
        executor,  # type: ignore[arg-type]
        engines=None,  # type: ignore[arg-type]
        inventory=inventory,
        health=health,  # type: ignore[arg-type]
        settings=RunnerSettings(step_timeout_s=60.0, reboot_timeout_s=900.0, poll_s=0.001),
        clock=clock,
    )


def _outcome(runner: ActionRunner, timeout_s: float | None) -> tuple[int, ActionStatus]:
    """Submit an SSH reboot of n1, wait for its end, shut the runner down; its id and final status."""
    try:
        (status,) = runner.submit(_reboot_plan(), timeout_s=timeout_s)
        assert runner.wait([status.id], timeout=10)
        return status.id, runner.status(status.id)
    finally:
        runner.shutdown()


def _reboot_plan() -> ActionPlan:
    request = ActionRequest(ActionKind.REBOOT, ("n1",), "dave", reason="hung", via=Engine.SSH)
    return ActionPlan(request=request, steps=[REBOOT])


def test_a_hanging_remote_step_gets_the_actions_timeout_not_the_step_default(store: Store) -> None:
    clock = FakeClock()
    host = HangingHost(clock)
    action_id, final = _outcome(_runner(store, host, clock), timeout_s=20)
    assert host.budgets == [20.0]
    assert final.state == ActionState.TIMED_OUT
    assert "timed out after 20 s" in final.message and "may still take effect" in final.message
    assert store.row(action_id).state == "timed out"


def test_without_a_timeout_a_step_keeps_the_default_step_limit_and_fails(store: Store) -> None:
    clock = FakeClock()
    host = HangingHost(clock)
    _, final = _outcome(_runner(store, host, clock), timeout_s=None)
    assert host.budgets == [60.0]
    assert final.state == ActionState.FAILED


def test_tracking_ends_at_the_actions_timeout(store: Store) -> None:
    clock = FakeClock()
    _, final = _outcome(_runner(store, QuickHost(), clock, health=NeverBack(clock)), timeout_s=20)
    assert final.state == ActionState.TIMED_OUT
    assert final.message.startswith("timed out after 20 s:")
    assert clock() <= 1000.0 + 22  # the 900 s reboot limit did not apply


def test_a_cancel_ends_a_step_that_waits_on_its_host_and_says_it_may_still_take_effect(store: Store) -> None:
    clock = FakeClock()
    host = HangingHost(clock, wait_for_cancel=True)
    runner = _runner(store, host, clock)
    try:
        (status,) = runner.submit(_reboot_plan(), timeout_s=600)
        assert host.started.wait(10)
        runner.cancel(status.id)
        assert runner.wait([status.id], timeout=10)
        final = runner.status(status.id)
    finally:
        runner.shutdown()
    assert final.state == ActionState.CANCELLED
    assert "may still take effect" in final.message
    assert store.row(status.id).state == "cancelled"


def test_an_action_whose_timeout_passed_in_the_queue_sends_nothing(store: Store) -> None:
    clock = FakeClock()
    host = HangingHost(clock, wait_for_cancel=True)
    runner = _runner(store, host, clock)
    try:
        (first,) = runner.submit(_reboot_plan(), timeout_s=600)
        assert host.started.wait(10)
        (second,) = runner.submit(_reboot_plan(), timeout_s=5)  # queued behind the first (same node)
        clock.advance(10)
        runner.cancel(first.id)
        assert runner.wait([first.id, second.id], timeout=10)
        final = runner.status(second.id)
    finally:
        runner.shutdown()
    assert final.state == ActionState.TIMED_OUT
    assert "nothing was sent" in final.message
    assert len(host.budgets) == 1


def test_a_timeout_that_is_not_a_positive_number_is_refused(store: Store) -> None:
    from console.core.actions.planning import ActionRefused

    runner = _runner(store, QuickHost(), FakeClock())
    try:
        for bad in (0.0, -1.0, float("nan")):
            with pytest.raises(ActionRefused, match="positive number"):
                runner.submit(_reboot_plan(), timeout_s=bad)
    finally:
        runner.shutdown()
