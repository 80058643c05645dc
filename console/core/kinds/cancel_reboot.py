"""Cancel reboot: Slurm forgets a reboot it was asked for (one that waits for jobs to end, say)."""

from __future__ import annotations

from console.core.action_types import ActionKind, ActionPlan, Engine, Step
from console.core.inventory import NodeSpec
from console.core.kinds.slurm_steps import known_to_slurm
from console.core.kinds.spec import KindSpec, PlanContext


def plan(plan: ActionPlan, specs: list[NodeSpec], context: PlanContext) -> None:
    assert context.scheduler is not None
    for spec, _preview, node in known_to_slurm(plan, specs):
        if not node.reboot_pending:
            plan.notes.append(f"{spec.name} has no pending reboot ({node.raw_state})")
        argv = ("scontrol", "cancel_reboot", spec.scheduler_name)
        plan.steps.append(Step(spec.name, Engine.SLURM, context.scheduler.host, argv))


SPEC = KindSpec(
    kind=ActionKind.CANCEL_REBOOT,
    label="Cancel reboot…",
    summary="Slurm forgets a pending reboot of the nodes",
    needs_reason=False,
    plan=plan,
    needs_scheduler=True,
)
