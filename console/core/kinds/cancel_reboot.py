"""Cancel reboot: Slurm forgets a reboot it was asked for (one that waits for jobs to end, say)."""

from __future__ import annotations

from console.core.action_types import ActionKind, ActionPlan, Engine, Step
from console.core.inventory import NodeSpec
from console.core.kinds.slurm_steps import known_to_slurm, watch_slurm_node
from console.core.kinds.spec import KindSpec, PlanContext
from console.core.kinds.tracking import TrackContext, TrackedAction, Watch
from console.core.parsers.slurm import SlurmNode


def plan(plan: ActionPlan, specs: list[NodeSpec], context: PlanContext) -> None:
    assert context.scheduler is not None
    for spec, _preview, node in known_to_slurm(plan, specs):
        if not node.reboot_pending:
            plan.notes.append(f"{spec.name} has no pending reboot ({node.raw_state})")
        argv = ("scontrol", "cancel_reboot", spec.scheduler_name)
        plan.steps.append(Step(spec.name, Engine.SLURM, context.scheduler.host, argv))


def track(context: TrackContext, action: TrackedAction) -> Watch:
    def holds(node: SlurmNode) -> tuple[bool, str]:
        if node.reboot_pending:
            return False, f"Slurm still shows {node.raw_state}"
        return True, f"no reboot pending: {node.raw_state}"

    return watch_slurm_node(context, action, holds)


SPEC = KindSpec(
    kind=ActionKind.CANCEL_REBOOT,
    label="Cancel reboot…",
    summary="Slurm forgets a pending reboot of the nodes",
    needs_reason=False,
    plan=plan,
    track=track,
    needs_scheduler=True,
)
