"""Cancel reboot: Slurm forgets a reboot it was asked for (one that waits for jobs to end, say).

What the node is afterwards depends on why it was drained (verified on Slurm 22.05): a node that
``scontrol reboot ASAP`` drained is undrained by ``cancel_reboot`` and returns to service; a node that was
drained before the reboot stays drained, with the reboot's reason. The preview says both, and the
operator may resume the node afterwards in the same action (``then_resume``)."""

from __future__ import annotations

from console.core.actions.action_types import ActionKind, ActionPlan, Engine, Step
from console.core.actions.kinds.slurm_steps import known_to_slurm, watch_slurm_node
from console.core.actions.kinds.spec import KindOption, KindSpec, PlanContext
from console.core.actions.kinds.tracking import TrackContext, TrackedAction, Watch
from console.core.inventory import NodeSpec
from console.core.parsers.slurm import SlurmNode


def plan(plan: ActionPlan, specs: list[NodeSpec], context: PlanContext) -> None:
    assert context.scheduler is not None
    then_resume = plan.request.then_resume
    for spec, _preview, node in known_to_slurm(plan, specs):
        if not node.reboot_pending:
            plan.notes.append(f"{spec.name} has no pending reboot ({node.raw_state})")
        argv = ("scontrol", "cancel_reboot", spec.scheduler_name)
        plan.steps.append(Step(spec.name, Engine.SLURM, context.scheduler.host, argv))
        if then_resume:
            plan.steps.append(
                Step(
                    spec.name,
                    Engine.SLURM,
                    context.scheduler.host,
                    ("scontrol", "update", f"NodeName={spec.scheduler_name}", "State=RESUME"),
                    ok_if_stderr="Invalid node state specified",  # already back in service
                )
            )
        plan.notes.append(_afterwards(spec.name, node, then_resume))


def _afterwards(name: str, node: SlurmNode, then_resume: bool) -> str:
    """The node's state after the cancel, in words (the preview's promise, checked by the tracking)."""
    if not node.drained:
        return f"afterwards: {name} stays {node.state} and in service"
    if then_resume:
        return f"afterwards: {name} is resumed: {node.state}, in service, running new jobs"
    return (
        f"afterwards: if the reboot ASAP drained {name}, Slurm undrains it ({node.state}, in service); if it was "
        f"drained before the reboot, it stays {node.state}+DRAIN, out of service — tick Resume afterwards to "
        "return it to service either way"
    )


def track(context: TrackContext, action: TrackedAction) -> Watch:
    then_resume = action.request.then_resume

    def holds(node: SlurmNode) -> tuple[bool, str]:
        if node.reboot_pending:
            return False, f"Slurm still shows {node.raw_state}"
        if then_resume and node.drained:
            return False, f"no reboot pending; Slurm still shows {node.raw_state}, waiting for the resume"
        if node.drained or node.down:
            return True, f"no reboot pending; still out of service ({node.raw_state}): Resume returns it to service"
        return True, f"no reboot pending; in service: {node.raw_state}"

    return watch_slurm_node(context, action, holds)


SPEC = KindSpec(
    kind=ActionKind.CANCEL_REBOOT,
    label="Cancel reboot…",
    summary="Slurm forgets a pending reboot of the nodes",
    needs_reason=False,
    plan=plan,
    track=track,
    options=("then_resume",),
    choices=(
        KindOption(
            "then_resume",
            "Afterwards:",
            "resume the node afterwards (a node drained before the reboot stays drained otherwise)",
            check_words="&Resume afterwards (return the node to service)",
            tooltip="Slurm undrains a node that reboot ASAP drained; one drained before the reboot stays drained "
            "unless resumed",
        ),
    ),
    needs_scheduler=True,
    # The node's reboot action may be watching a reboot that waits for jobs: it stops watching, so the
    # cancel runs now (one action at a time per node) instead of after the jobs end.
    supersedes=ActionKind.REBOOT,
)
