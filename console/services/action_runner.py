"""Runs confirmed action plans: one action at a time per node, queued otherwise; each written to the audit
log before it runs and again with its outcome; tracked until the system shows the result (a drained node
shows DRAIN with our reason; a rebooted node is back in Slurm, on SSH and streaming telemetry); every
action can be cancelled while queued (and while tracked), and ends as done, failed, timed out or cancelled.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from console.core.actions.kinds import request_params
from console.core.actions.kinds.tracking import Settled, TrackContext, TrackTimeouts
from console.core.actions.planning import (
    SPECS,
    ActionPlan,
    ActionRefused,
    ActionRequest,
    Engine,
    EnginesPort,
    NodeLiveness,
    Step,
)
from console.core.actions.runs import (
    ActionState,
    ActionStatus,
    RunnerSettings,
    StepError,
    StepExecutor,
    StepResult,
)
from console.core.inventory import Inventory
from console.core.parsers.common import output_summary
from console.core.records.store import Store
from console.core.records.store_error import StoreError

log = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class _Action:
    status: ActionStatus
    request: ActionRequest
    steps: list[Step]
    nodes_label: str
    cancel: threading.Event = field(default_factory=threading.Event)
    # Why the console stopped watching (said in the outcome), when it was not the operator's own Stop.
    unwatched_because: str | None = None
    deadline: float | None = None  # clock time by which the action ends (the operator's --timeout)
    timeout_s: float | None = None

    def left(self, now: float) -> float | None:
        return None if self.deadline is None else self.deadline - now


class ActionRunner:
    def __init__(
        self,
        store: Store,
        executor: StepExecutor,
        engines: EnginesPort,
        inventory: Inventory,
        health: NodeLiveness | None = None,
        settings: RunnerSettings | None = None,
        session: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.executor = executor
        self.engines = engines
        self.inventory = inventory
        self.health = health
        self.settings = settings or RunnerSettings()
        self.session = session or uuid.uuid4().hex
        self.clock = clock
        timeouts = TrackTimeouts(
            self.settings.verify_timeout_s, self.settings.reboot_timeout_s, self.settings.power_timeout_s
        )
        self._track_context = TrackContext(engines, inventory, health, clock, timeouts)
        self._lock = threading.Lock()
        self._actions: dict[int, _Action] = {}
        self._queues: dict[str, deque[_Action]] = {}
        self._busy: set[str] = set()
        self._pool = ThreadPoolExecutor(max_workers=self.settings.workers, thread_name_prefix="action")
        self._listeners: list[Callable[[ActionStatus], None]] = []
        self._changed = threading.Condition(self._lock)
        # Why this console may not act at all (a liaison's role), in words; None: it may.
        self.refusal: str | None = None

    # --- public ------------------------------------------------------------------------------------------

    def add_listener(self, listener: Callable[[ActionStatus], None]) -> None:
        self._listeners.append(listener)

    def use_inventory(self, inventory: Inventory) -> None:
        """The same nodes with changed words (a node's tenant after a move): later plans and tracking read it."""
        self.inventory = inventory
        self._track_context = replace(self._track_context, inventory=inventory)

    def submit(self, plan: ActionPlan, typed: Sequence[str] = (), timeout_s: float | None = None) -> list[ActionStatus]:
        """Confirm (raises ActionRefused), record intent for every node, queue. Returns at once.

        ``timeout_s`` bounds each action from now to its outcome, queue, remote steps and tracking included:
        past it, the action ends as timed out (a step already sent may still take effect, and says so)."""
        if self.refusal is not None:
            raise ActionRefused(f"not run, nothing was sent: {self.refusal}")
        if timeout_s is not None and not timeout_s > 0:
            raise ActionRefused(f"the timeout must be a positive number of seconds, not {timeout_s!r}")
        try:
            plan.confirm(typed)
        except ActionRefused as exc:
            self.record_refused(plan, str(exc))
            raise
        request = plan.request
        superseded = SPECS[request.kind].supersedes
        if superseded is not None:  # its kind's module says why (cancel-reboot: the reboot it cancels)
            with self._lock:
                watching = [
                    a.status.id
                    for a in self._actions.values()
                    if a.request.kind == superseded and a.nodes_label in request.nodes and not a.status.finished
                ]
            for action_id in watching:
                self.cancel(action_id, because=f"a {request.kind.value} of the node took over")
        # Every intent is written before anything is queued: nothing runs unaudited.
        recorded: list[tuple[int, str, list[Step]]] = []
        for label, steps in _audit_groups(plan):
            try:
                action_id = self._record_intent(plan, label, steps)
            except StoreError as exc:
                for earlier, _, _ in recorded:
                    with contextlib.suppress(StoreError):
                        self.store.record_outcome(earlier, state="refused", message=f"not run: {exc}")
                raise ActionRefused(f"not run, nothing was sent: {exc}") from None
            recorded.append((action_id, label, steps))
        created = []
        for action_id, label, steps in recorded:
            status = ActionStatus(
                id=action_id,
                node=label,
                kind=request.kind,
                state=ActionState.QUEUED,
                message="queued",
                commands=tuple(f"{s.host}: {s.display()}" for s in steps),
                created_at=self.clock(),
            )
            action = _Action(
                status=status,
                request=request,
                steps=steps,
                nodes_label=label,
                deadline=None if timeout_s is None else self.clock() + timeout_s,
                timeout_s=timeout_s,
            )
            with self._lock:
                self._actions[action_id] = action
                self._queues.setdefault(self._queue_key(action), deque()).append(action)
            created.append(status)
            self._notify(status)
        self._pump()
        return created

    def record_refused(self, plan: ActionPlan, why: str | None = None) -> list[int]:
        """An attempt the console refused (the preview's refusals, a node name not typed): one audit row per
        node in state ``refused`` with the refusal's words, so whoever reviews the shift sees every attempt —
        who tried what on which node, when, and why not. Nothing runs. A store that cannot be written is
        logged: the refusal itself stands."""
        message = why or "; ".join(plan.refusals) or "refused"
        ids = []
        for label, steps in _audit_groups(plan):
            try:
                action_id = self._record_intent(plan, label, steps, carries_ticket=False)
                self.store.record_outcome(action_id, state="refused", message=f"not run: {message}")
            except StoreError as exc:
                log.warning("the refused %s on %s could not be recorded: %s", plan.request.kind.value, label, exc)
                continue
            ids.append(action_id)
        return ids

    def _record_intent(self, plan: ActionPlan, label: str, steps: list[Step], carries_ticket: bool = True) -> int:
        request = plan.request
        first = steps[0] if steps else None
        return self.store.record_intent(
            operator=request.operator,
            kind=request.kind.value,
            node=label,
            params={**request_params(request), **plan.audit_notes.get(label, {})},
            reason=request.reason,
            ticket=request.ticket,
            engine=first.engine.value if first else None,
            host=first.host if first else None,
            command=[s.audit_command() for s in steps],
            session=self.session,
            carries_ticket=carries_ticket,
        )

    def cancel(self, action_id: int, because: str | None = None) -> bool:
        """Cancel a queued action (it never runs), or stop watching one whose command was sent (it ends as
        ``stopped watching``, with where the system stands). False if already over."""
        with self._lock:
            action = self._actions.get(action_id)
            if action is None or action.status.finished:
                return False
            action.unwatched_because = because
            queue = self._queues.get(self._queue_key(action))
            queued = queue is not None and action in queue
            if queued:
                assert queue is not None
                queue.remove(action)
            action.cancel.set()
        if queued:
            self._finish(action, ActionState.CANCELLED, "cancelled before it ran; nothing was sent")
        return True

    def statuses(self) -> list[ActionStatus]:
        with self._lock:
            return [a.status for a in self._actions.values()]

    def status(self, action_id: int) -> ActionStatus:
        with self._lock:
            return self._actions[action_id].status

    def wait(self, ids: Sequence[int], timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while not all(self._actions[i].status.finished for i in ids):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    def shutdown(self) -> None:
        with self._lock:
            pending = [a for q in self._queues.values() for a in q]
            for queue in self._queues.values():
                queue.clear()
            for action in self._actions.values():
                action.unwatched_because = "the console closed"
                action.cancel.set()
        for action in pending:
            self._finish(action, ActionState.CANCELLED, "the console closed before it ran; nothing was sent")
        self._pool.shutdown(wait=True, cancel_futures=False)

    # --- scheduling ----------------------------------------------------------------------------------------

    @staticmethod
    def _queue_key(action: _Action) -> str:
        """One action at a time per node, or per the kind's shared queue (reassign: partition changes)."""
        return SPECS[action.request.kind].shared_queue or action.nodes_label

    def _pump(self) -> None:
        with self._lock:
            ready = []
            for key, queue in self._queues.items():
                if queue and key not in self._busy:
                    self._busy.add(key)
                    ready.append(queue.popleft())
        for action in ready:
            self._pool.submit(self._execute, action)

    def _execute(self, action: _Action) -> None:
        try:
            self._run(action)
        except Exception as exc:  # noqa: BLE001 - a bug in one action must not wedge the node's queue
            self._finish(action, ActionState.FAILED, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._busy.discard(self._queue_key(action))
            self._pump()

    def _update(self, action: _Action, **changes: object) -> None:
        with self._lock:
            action.status = replace(action.status, **changes)  # type: ignore[arg-type]
            status = action.status
            self._changed.notify_all()
        self._notify(status)

    def _notify(self, status: ActionStatus) -> None:
        for listener in list(self._listeners):
            # A listener's bug must not stop actions.
            with contextlib.suppress(Exception):
                listener(status)

    def _finish(self, action: _Action, state: ActionState, message: str, result: StepResult | None = None) -> None:
        started = action.status.started_at
        duration = None if started is None else self.clock() - started
        self.store.record_outcome(
            action.status.id,
            state=state.value,
            message=message,
            exit_status=result.exit_status if result else None,
            stdout=result.stdout if result else None,
            stderr=result.stderr if result else None,
            duration_s=duration,
        )
        self._update(action, state=state, message=message, finished_at=self.clock(), progress=1.0)

    # --- running -------------------------------------------------------------------------------------------

    def _run(self, action: _Action) -> None:
        if action.cancel.is_set():
            self._finish(action, ActionState.CANCELLED, "cancelled before it ran; nothing was sent")
            return
        self.store.mark_running(action.status.id)
        self._update(action, state=ActionState.RUNNING, message="running", started_at=self.clock(), progress=0.1)
        last: StepResult | None = None
        outputs: list[StepResult] = []
        for step in action.steps:
            left = action.left(self.clock())
            if left is not None and left <= 0:
                sent = "earlier steps were sent" if outputs else "nothing was sent"
                self._finish(
                    action, ActionState.TIMED_OUT, f"timed out after {action.timeout_s:g} s: {sent}", _join(outputs)
                )
                return
            budget = self.settings.step_timeout_s if left is None else min(self.settings.step_timeout_s, left)
            try:
                last = self.executor.run(step, budget, action.cancel)
            except StepError as exc:
                if action.cancel.is_set():
                    state, why = ActionState.CANCELLED, "stopped while it ran"
                elif (after := action.left(self.clock())) is not None and after <= 0:
                    state, why = ActionState.TIMED_OUT, f"timed out after {action.timeout_s:g} s"
                else:
                    state, why = ActionState.FAILED, ""
                if why:
                    message = f"{why}: {step.display()} on {step.host} had been sent and may still take effect ({exc})"
                else:
                    message = f"{step.host}: {exc}"
                self._finish(action, state, message, _join(outputs))
                return
            outputs.append(last)
            expected_failure = step.ok_if_stderr is not None and step.ok_if_stderr in last.stderr
            drops_connection = step.engine in SPECS[action.request.kind].exit_may_be_lost
            if last.exit_status not in (0, None) and not expected_failure:
                words = output_summary(last.stderr or last.stdout) or "no output"
                self._finish(action, ActionState.FAILED, _failure(step, last, words), _join(outputs))
                return
            if last.exit_status is None and not drops_connection:
                self._finish(
                    action, ActionState.FAILED, f"{step.display()}: no exit status (connection lost?)", _join(outputs)
                )
                return
        self._update(action, state=ActionState.TRACKING, message="sent; checking the result", progress=0.4)
        state, message = self._track(action)
        self._finish(action, state, message, _join(outputs))

    def _track(self, action: _Action) -> tuple[ActionState, str]:
        """Watch the outcome the way the action's kind says (console.core.actions.kinds), until it holds, the time
        runs out, or the operator stops watching."""
        outcome = SPECS[action.request.kind].track(self._track_context, action)
        if isinstance(outcome, Settled):
            return ActionState.DONE, outcome.message
        return self._poll(action, self.clock() + outcome.timeout_s, outcome.check, outcome.what)

    def _poll(
        self, action: _Action, deadline: float, check: Callable[[], tuple[bool, str]], what: str
    ) -> tuple[ActionState, str]:
        message = what
        limit = ""
        if action.deadline is not None and action.deadline < deadline:
            deadline, limit = action.deadline, f" after {action.timeout_s:g} s"
        while True:
            if action.cancel.is_set():
                return ActionState.UNWATCHED, self._unwatched(action, check, message)
            try:
                done, message = check()
            except Exception as exc:  # noqa: BLE001 - a failed look is retried until the deadline
                done, message = False, f"{what}: {exc}"
            if done:
                return ActionState.DONE, message
            if self.clock() >= deadline:
                return ActionState.TIMED_OUT, f"timed out{limit}: {message}"
            self._update(action, message=message)
            action.cancel.wait(self.settings.poll_s)

    @staticmethod
    def _unwatched(action: _Action, check: Callable[[], tuple[bool, str]], message: str) -> str:
        """Where the system stands as the console stops watching: one last look, in words."""
        with contextlib.suppress(Exception):  # the last look is best effort: the earlier words stand
            _done, message = check()
        who = action.unwatched_because or "the operator stopped watching"
        words = SPECS[action.request.kind].unwatched
        said = words(frozenset(s.engine for s in action.steps), who, message) if words is not None else None
        return said or f"{who}; the command was sent and still stands ({message})"


def _audit_groups(plan: ActionPlan) -> list[tuple[str, list[Step]]]:
    """The audit rows of a plan: one per node, each with its steps; a reassign's one partition update covers
    all its nodes, so it is one row naming them all."""
    request = plan.request
    if SPECS[request.kind].one_audit_row:
        return [(",".join(request.nodes), plan.steps)]
    return [(node, plan.steps_for(node)) for node in dict.fromkeys(request.nodes)]


def _join(results: list[StepResult]) -> StepResult | None:
    if not results:
        return None
    return StepResult(
        exit_status=results[-1].exit_status,
        stdout="\n".join(r.stdout for r in results if r.stdout),
        stderr="\n".join(r.stderr for r in results if r.stderr),
    )


def _failure(step: Step, result: StepResult, words: str) -> str:
    if step.engine == Engine.SSH and "password is required" in words:
        return (
            f"sudo on {step.host} needs a password: allow `systemctl reboot` without one for this account "
            f"(sudoers NOPASSWD), or reboot through Slurm or the BMC ({words})"
        )
    return f"{step.display()} exited with status {result.exit_status}: {words}"
