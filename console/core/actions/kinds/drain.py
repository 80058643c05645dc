"""Drain: Slurm stops giving the node new jobs (running ones finish); Slurm's Reason carries who and why."""

from __future__ import annotations

from console.core.actions.action_types import ActionKind, ActionPlan, Engine, Step
from console.core.actions.kinds.slurm_steps import known_to_slurm, watch_slurm_node
from console.core.actions.kinds.spec import KindSpec, PlanContext
from console.core.actions.kinds.tracking import TrackContext, TrackedAction, Watch
from console.core.inventory import NodeSpec
from console.core.parsers.slurm import SlurmNode


def plan(plan: ActionPlan, specs: list[NodeSpec], context: PlanContext) -> None:
    assert context.scheduler is not None
    reason = plan.request.slurm_reason
    for spec, _preview, _node in known_to_slurm(plan, specs):
        argv = ("scontrol", "update", f"NodeName={spec.scheduler_name}", "State=DRAIN", f"Reason={reason}")
        plan.steps.append(Step(spec.name, Engine.SLURM, context.scheduler.host, argv))


def track(context: TrackContext, action: TrackedAction) -> Watch:
    """Until Slurm shows the node drained (or draining) with our reason."""
    reason = action.request.slurm_reason

    def holds(node: SlurmNode) -> tuple[bool, str]:
        if not node.drained:
            return False, f"Slurm shows {node.raw_state}, not drained yet"
        if node.reason != reason:
            return False, f"Slurm holds the reason {node.reason!r}"
        return True, f"Slurm: {node.raw_state}, reason {node.reason!r}"

    return watch_slurm_node(context, action, holds)


SPEC = KindSpec(
    kind=ActionKind.DRAIN,
    label="Drain…",
    summary="Slurm gives the nodes no new jobs (running ones finish); a reason is required",
    needs_reason=True,
    plan=plan,
    track=track,
    shortcut="Ctrl+D",
    options=("reason", "ticket"),
    needs_scheduler=True,
)
