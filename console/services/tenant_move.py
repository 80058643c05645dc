"""Carries out a move of nodes between tenants (:mod:`console.core.tenants.moves` plans it), step by step on a
thread of its own, on the guarded action pipeline: the drain and the resume are ordinary actions of the
runner (one at a time per node, tracked until Slurm shows them); the partition or reservation changes run
through the same engines and executor; every step is a row of the audit log (``move-tenant:<step>``)
pointing at the move's own row (``move-tenant``), and each is linked to the nodes' open incidents as every
action is.

The operator may stop between steps (and while the move waits for jobs); the move then ends at once and
says in words what state it left the nodes in. Nothing is undone behind the operator's back: a stop after
the drain leaves the nodes drained (safe: no job starts there) and says how to give them back.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from console.core.actions.action_types import policy_cap
from console.core.actions.planning import ActionKind, ActionRequest, Engine, Step, plan_action
from console.core.actions.runs import ActionState, StepError
from console.core.hostlist import compress
from console.core.inventory import Inventory
from console.core.inventory_edit import (
    InventoryEditError,
    describe_rewrite,
    read_digest,
    remove_stale_temps,
    rewrite_problem,
    set_tenants,
)
from console.core.parsers.common import output_summary
from console.core.records.store_error import StoreError
from console.core.telemetry.fleet import FleetModel
from console.core.tenants.allocation import JobAllocation, SchedulerAllocations
from console.core.tenants.moves import (
    JobsDecision,
    MovePlan,
    MoveProgress,
    MoveRequest,
    MoveStep,
    plan_move,
    verify_move,
)
from console.services.actions import ActionService

log = logging.getLogger(__name__)

KIND: Final = "move-tenant"
STEP_TIMEOUT_S: Final = 60.0
VERIFY_TIMEOUT_S: Final = 30.0


class MoveStopped(Exception):
    """The operator stopped the move (between steps)."""


class MoveFailed(Exception):
    """A step failed; the message says which and why."""


class TenantMove:
    """One move, run once. When the jobs outlast the wait, ``decide(jobs)`` is asked on the move's thread;
    without one, the listeners get an ``ask`` progress and the move waits for :meth:`answer` (a window's
    buttons). ``apply_inventory(inventory)`` hands the rewritten inventory to the live console."""

    def __init__(
        self,
        plan: MovePlan,
        service: ActionService,
        apply_inventory: Callable[[Inventory], None] | None = None,
        decide: Callable[[list[JobAllocation]], JobsDecision] | None = None,
        inventory_digest: str | None = None,
        poll_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not plan.allowed:
            raise ValueError("a refused plan cannot run: " + "; ".join(plan.refusals))
        self.plan = plan
        self.service = service
        self.apply_inventory = apply_inventory
        self.decide = decide
        self.inventory_digest = inventory_digest
        self.poll_s = poll_s
        self.clock = clock
        self.move_id: int | None = None
        self.progress: list[MoveProgress] = []
        self.outcome: MoveProgress | None = None
        self._stop = threading.Event()
        self._answered = threading.Event()
        self._answer = JobsDecision.STOP
        self._listeners: list[Callable[[MoveProgress], None]] = []
        self._thread: threading.Thread | None = None
        self._drained = False
        self._slurm_changed = False
        self._inventory_changed = False

    # --- public ---------------------------------------------------------------------------------------------

    def add_listener(self, listener: Callable[[MoveProgress], None]) -> None:
        self._listeners.append(listener)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="tenant-move", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop before the next step (a running step finishes: a half-sent Slurm change is worse)."""
        self._stop.set()
        self._answered.set()

    def answer(self, decision: JobsDecision) -> None:
        """The operator's answer to an ``ask`` progress (the jobs outlasted the wait)."""
        self._answer = decision
        self._answered.set()

    def _ask(self, jobs: list[JobAllocation], what: str) -> JobsDecision:
        if self.decide is not None:
            return self.decide(jobs)
        self._answered.clear()
        self._emit(MoveStep.WAIT_JOBS, "ask", f"the jobs outlasted the wait ({what}): wait longer, stop, or resume?")
        self._answered.wait()
        return JobsDecision.STOP if self._stop.is_set() else self._answer

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def run(self) -> MoveProgress:
        plan = self.plan
        try:
            self.move_id = self._record(
                KIND,
                params={
                    "to": plan.request.target,
                    "from": {n.node: n.source for n in plan.nodes},
                    "changes": [{"kind": c.kind, "name": c.name, "nodes": list(c.after)} for c in plan.changes],
                },
                command=[list(c.argv) for c in plan.changes],
            )
        except StoreError as exc:
            return self._end("failed", f"not started, nothing was changed: {exc}")
        self.service.store.mark_running(self.move_id)
        if problem := rewrite_problem(self.service.inventory.path, self.inventory_digest):
            # Checked before the drain too: found only at the inventory step, the nodes would already be drained
            # and moved in Slurm.
            return self._end("failed", f"not started, nothing was changed: {problem}")
        steps: list[tuple[MoveStep, Callable[[], str]]] = [
            (MoveStep.DRAIN, self._drain),
            (MoveStep.WAIT_JOBS, self._wait_jobs),
            (MoveStep.SLURM, self._change_slurm),
            (MoveStep.INVENTORY, self._change_inventory),
            (MoveStep.RESUME, self._resume),
            (MoveStep.VERIFY, self._verify),
        ]
        for step, work in steps:
            if self._stop.is_set():
                return self._end("stopped", f"stopped before {step.value}: {self.safe_state()}")
            self._emit(step, "running", f"{step.value}…")
            try:
                said = work()
            except MoveStopped as exc:
                return self._end("stopped", f"{exc}: {self.safe_state()}")
            except (MoveFailed, StepError, StoreError) as exc:
                self._emit(step, "failed", str(exc))
                return self._end("failed", f"{step.value} failed: {exc}. {self.safe_state()}")
            except Exception as exc:  # noqa: BLE001 - a bug must end the move in words, never wedge it
                self._emit(step, "failed", f"internal error: {type(exc).__name__}: {exc}")
                return self._end("failed", f"{step.value}: internal error {exc}. {self.safe_state()}")
            self._emit(step, "done" if said else "skipped", said or "nothing to do")
        target = plan.request.target
        verb = "belongs" if len(plan.names) == 1 else "belong"
        return self._end("done", f"{compress(plan.names)} now {verb} to {target} in Slurm and in the inventory")

    def safe_state(self) -> str:
        """Where the nodes are now, in words (what a stop or a failure leaves)."""
        names = compress(self.plan.names)
        target = self.plan.request.target
        sources = ", ".join(sorted({n.source or "no tenant" for n in self.plan.nodes}))
        if not self._drained:
            return f"{names} were not touched"
        if not self._slurm_changed:
            return (
                f"{names} are drained and still belong to {sources} (no job starts there); resume them to give them "
                "back, or plan the move again"
            )
        if not self._inventory_changed:
            return (
                f"{names} are drained and in {target}'s Slurm partition, but the inventory still says {sources}: "
                "the Tenants view lists the disagreement; plan the move again to finish it"
            )
        return f"{names} belong to {target} in Slurm and in the inventory; resume them when ready"

    # --- steps ----------------------------------------------------------------------------------------------

    def _run_action(self, kind: ActionKind, reason: str | None) -> str:
        plan = self.plan
        request = ActionRequest(
            kind=kind,
            nodes=tuple(plan.names),
            operator=plan.request.operator,
            reason=reason,
            ticket=plan.request.ticket,
        )
        action_plan = plan_action(request, self.service.inventory, self.service.engines, max_nodes=len(plan.names))
        if not action_plan.allowed:
            raise MoveFailed("; ".join(action_plan.refusals))
        statuses = self.service.runner.submit(action_plan)
        ids = [s.id for s in statuses]
        while not self.service.runner.wait(ids, timeout=self.poll_s):
            if self._stop.is_set():
                for action_id in ids:
                    self.service.runner.cancel(action_id)
        ends = [self.service.runner.status(i) for i in ids]
        bad = [s for s in ends if s.state != ActionState.DONE]
        if bad:
            raise MoveFailed("; ".join(f"{s.node}: {s.state.value}: {s.message}" for s in bad))
        return "; ".join(f"#{s.id} {s.node}: {s.message}" for s in ends)

    def _drain(self) -> str:
        if not self.plan.with_scheduler:
            return ""
        self._drained = True  # from the moment the command may have been sent
        return self._run_action(ActionKind.DRAIN, self.plan.drain_reason)

    def _wait_jobs(self) -> str:
        if not self.plan.with_scheduler:
            return ""
        scheduler = self.service.engines.scheduler()
        assert scheduler is not None
        names = [n.slurm_name for n in self.plan.nodes]
        row = self._record(f"{KIND}:wait-jobs", params={"wait_s": self.plan.request.job_wait_s})
        started = self.clock()
        deadline = started + self.plan.request.job_wait_s
        while True:
            try:
                allocations = scheduler.allocations()
            except Exception as exc:  # noqa: BLE001 - retried until the deadline
                allocations = SchedulerAllocations(problem=str(exc))
            jobs = [] if allocations.problem else _jobs_on(allocations, names)
            if not allocations.problem and not jobs:
                message = f"no job runs on the nodes (waited {self.clock() - started:.0f} s)"
                self.service.store.record_outcome(row, state="done", message=message)
                return message
            what = allocations.problem or f"{len(jobs)} job(s) still running: {', '.join(j.job_id for j in jobs)}"
            self._emit(MoveStep.WAIT_JOBS, "running", what)
            if self.clock() >= deadline:
                decision = self._ask(jobs, what)
                if decision == JobsDecision.WAIT:
                    deadline = self.clock() + self.plan.request.job_wait_s
                    continue
                if decision == JobsDecision.RESUME:
                    self.service.store.record_outcome(row, state="cancelled", message=f"{what}; resuming the nodes")
                    self._run_action(ActionKind.RESUME, None)
                    self._drained = False
                    raise MoveStopped(f"the jobs outlasted the wait ({what}); the nodes were resumed")
                self.service.store.record_outcome(row, state="cancelled", message=f"{what}; stopped by the operator")
                raise MoveStopped(f"the jobs outlasted the wait ({what})")
            if self._stop.wait(self.poll_s):
                self.service.store.record_outcome(row, state="cancelled", message=f"stopped while {what}")
                raise MoveStopped(f"stopped while waiting for jobs ({what})")

    def _change_slurm(self) -> str:
        if not self.plan.with_scheduler or not self.plan.changes:
            return ""
        scheduler = self.service.engines.scheduler()
        assert scheduler is not None
        said = []
        for change in self.plan.changes:
            step = Step(self.plan.names[0], Engine.SLURM, scheduler.host, change.argv)
            row = self._record(
                f"{KIND}:slurm",
                params={"kind": change.kind, "name": change.name, "before": list(change.before)},
                command=[list(change.argv)],
                engine=Engine.SLURM.value,
                host=scheduler.host,
            )
            self._slurm_changed = True
            try:
                result = self.service.runner.executor.run(step, STEP_TIMEOUT_S)
            except StepError as exc:
                self.service.store.record_outcome(row, state="failed", message=str(exc))
                raise
            if result.exit_status != 0:
                words = output_summary(result.stderr or result.stdout) or "no output"
                message = f"{step.display()} exited with status {result.exit_status}: {words}"
                self.service.store.record_outcome(
                    row, state="failed", message=message, exit_status=result.exit_status, stderr=result.stderr
                )
                raise MoveFailed(message)
            self.service.store.record_outcome(row, state="done", message=step.display(), exit_status=0)
            said.append(f"{change.kind} {change.name}: Nodes={compress(list(change.after))}")
        return "; ".join(said)

    def _change_inventory(self) -> str:
        target = self.plan.request.target
        path = self.service.inventory.path
        tenants: dict[str, str | None] = dict.fromkeys(self.plan.names, target)
        row = self._record(f"{KIND}:inventory", params={"file": str(path), "tenant": target})
        try:
            edit = set_tenants(path, tenants, self.inventory_digest)
        except InventoryEditError as exc:
            self.service.store.record_outcome(row, state="failed", message=str(exc))
            raise MoveFailed(str(exc)) from None
        self._inventory_changed = True
        message = (
            f"{path}: tenant = {target!r} for {compress(self.plan.names)} (the original kept as {edit.backup.name})"
        )
        self.service.store.record_outcome(row, state="done", message=message)
        self.service.use_inventory(edit.inventory)
        if self.apply_inventory is not None:
            self.apply_inventory(edit.inventory)
        return message

    def _resume(self) -> str:
        if not self.plan.with_scheduler:
            return ""
        said = self._run_action(ActionKind.RESUME, None)
        self._drained = False
        return said

    def _verify(self) -> str:
        scheduler = self.service.engines.scheduler() if self.plan.with_scheduler else None
        row = self._record(f"{KIND}:verify", params={})
        deadline = self.clock() + VERIFY_TIMEOUT_S
        while True:
            allocations = scheduler.allocations() if scheduler is not None else None
            problems = verify_move(self.plan, allocations, self.service.inventory)
            if allocations is not None and allocations.problem:
                problems.append(f"Slurm could not be read: {allocations.problem}")
            if not problems:
                message = "Slurm and the inventory both give the nodes to " + self.plan.request.target
                self.service.store.record_outcome(row, state="done", message=message)
                return message
            if self.clock() >= deadline or self._stop.is_set():
                self.service.store.record_outcome(row, state="failed", message="; ".join(problems))
                raise MoveFailed("; ".join(problems))
            self._stop.wait(min(self.poll_s, 2.0))

    # --- records --------------------------------------------------------------------------------------------

    def _record(
        self,
        kind: str,
        params: dict[str, Any],
        command: list[Any] | None = None,
        engine: str | None = None,
        host: str | None = None,
    ) -> int:
        if self.move_id is not None:
            params = {**params, "move": self.move_id}
        return _record_row(self.service, self.plan.request, self.plan.names, kind, params, command, engine, host)

    def _emit(self, step: MoveStep | None, state: str, message: str, **extra: Any) -> None:
        progress = MoveProgress(self.move_id, step, state, message, **extra)
        self.progress.append(progress)
        for listener in list(self._listeners):
            with contextlib.suppress(Exception):  # a listener's bug must not stop the move
                listener(progress)

    def _end(self, outcome: str, message: str) -> MoveProgress:
        state = {"done": "done", "failed": "failed", "stopped": "cancelled"}[outcome]
        if self.move_id is not None:
            with contextlib.suppress(StoreError):
                self.service.store.record_outcome(self.move_id, state=state, message=message)
        self._emit(None, outcome, message, finished=True, outcome=outcome)
        self.outcome = self.progress[-1]
        return self.outcome


def _record_row(
    service: ActionService,
    request: MoveRequest,
    names: list[str],
    kind: str,
    params: dict[str, Any],
    command: list[Any] | None = None,
    engine: str | None = None,
    host: str | None = None,
) -> int:
    """One audit row of a move (its own, a step's, or a refused attempt's), in the operator's name."""
    return service.store.record_intent(
        operator=request.operator,
        kind=kind,
        node=",".join(names),
        params=params,
        reason=request.reason,
        ticket=request.ticket,
        engine=engine,
        host=host,
        command=command,
        session=service.runner.session,
    )


def _jobs_on(allocations: SchedulerAllocations, names: list[str]) -> list[JobAllocation]:
    seen: dict[str, JobAllocation] = {}
    for name in names:
        for job in allocations.on_node(name).jobs:
            seen.setdefault(job.job_id, job)
    return list(seen.values())


class TenantMoves:
    """The window's moves (through its MovesPort): a plan reads Slurm and the live fleet; one move runs at a
    time (each rewrites the inventory, and the next must start from what the last one wrote); a rewritten
    inventory reaches the fleet model at once and Slurm is read again."""

    def __init__(
        self,
        actions: ActionService,
        fleet: FleetModel,
        refresh: Callable[[], None] | None = None,
    ) -> None:
        self.actions = actions
        self.fleet = fleet
        self.refresh = refresh or (lambda: None)
        self._lock = threading.Lock()
        self.current: TenantMove | None = None
        # The file as the inventory was read from it: a file changed before the rewrite is not rewritten.
        self.digest: str | None = actions.inventory.digest
        self.problem: str | None = None
        if self.digest is None:  # an inventory not read from its file: the file as it is now
            try:
                self.digest = read_digest(actions.inventory.path)
            except InventoryEditError as exc:
                self.problem = str(exc)
        # A console killed mid-rewrite left its temporary file beside the inventory: gone at the next start.
        self.removed_temps = remove_stale_temps(actions.inventory.path)
        for temp in self.removed_temps:
            log.warning("removed %s, left by a console stopped while rewriting the inventory", temp)

    @property
    def operator(self) -> str:
        return self.actions.operator

    def plan_move(self, request: MoveRequest) -> MovePlan:
        """Reads Slurm (network: call it from a worker)."""
        inventory = self.actions.inventory
        scheduler = self.actions.engines.scheduler()
        allocations = scheduler.allocations() if scheduler is not None else None
        plan = plan_move(request, inventory, self.fleet.views(), allocations, max_nodes=policy_cap(inventory))
        if self.actions.runner.refusal is not None:
            plan.refusals.append(self.actions.runner.refusal)
        plan.inventory_file = describe_rewrite(inventory.path)
        problem = self.problem or rewrite_problem(inventory.path, self.digest)
        if problem is not None:
            plan.refusals.append(f"the inventory cannot be rewritten: {problem}")
        with self._lock:
            running = self.current is not None and self.current.outcome is None
        if running:
            plan.refusals.append("another move is running: one move at a time")
        return plan

    def record_refused(self, plan: MovePlan) -> int | None:
        """A move refused at its preview, as a ``move-tenant`` row in state ``refused`` with the refusals'
        words (None when the store would not take it: logged, the refusal stands)."""
        request = plan.request
        try:
            row = _record_row(self.actions, request, list(dict.fromkeys(request.nodes)), KIND, {"to": request.target})
            self.actions.store.record_outcome(row, state="refused", message="not run: " + "; ".join(plan.refusals))
        except StoreError as exc:
            log.warning("the refused move of %s could not be recorded: %s", ",".join(request.nodes), exc)
            return None
        return row

    def start_move(
        self, plan: MovePlan, decide: Callable[[list[JobAllocation]], JobsDecision] | None = None
    ) -> TenantMove:
        """The move, not started yet: the caller adds its listeners, then calls ``start()`` (or ``run()`` on its
        own thread: the terminal). ``decide``: see :class:`TenantMove` (without it, the listeners are asked)."""
        with self._lock:
            if self.current is not None and self.current.outcome is None:
                raise RuntimeError("another move is running: one move at a time")
            move = TenantMove(
                plan, self.actions, apply_inventory=self._applied, decide=decide, inventory_digest=self.digest
            )
            self.current = move
        return move

    def _applied(self, inventory: Inventory) -> None:
        self.fleet.use_specs(inventory)
        self.digest = inventory.digest  # what the console wrote: a later edit by someone else is not adopted
        self.refresh()
