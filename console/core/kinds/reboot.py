"""Reboot: through Slurm where there is a scheduler (``scontrol reboot ASAP``: it drains the node, waits for
its jobs, reboots, and returns it to the next state), else over SSH (``sudo -n systemctl reboot``), which
kills running jobs as a power cut would: those need the node's name typed."""

from __future__ import annotations

from console.core.action_types import ActionKind, ActionPlan, Engine, Step
from console.core.inventory import NodeSpec
from console.core.kinds.slurm_steps import known_to_slurm
from console.core.kinds.spec import KindSpec, PlanContext

SSH_REBOOT = ("sudo", "-n", "systemctl", "reboot")


def goes_through_slurm(plan: ActionPlan, context: PlanContext) -> bool:
    return plan.request.via in (None, Engine.SLURM) and context.scheduler is not None


def plan(plan: ActionPlan, specs: list[NodeSpec], context: PlanContext) -> None:
    request = plan.request
    if request.via == Engine.SLURM and context.scheduler is None:
        plan.refusals.append("reboot goes through Slurm, and the inventory has no [scheduler]")
        return
    if request.via == Engine.REDFISH:
        plan.refusals.append("reboot goes through Slurm or SSH; to restart through the BMC use power ForceRestart")
        return
    if goes_through_slurm(plan, context):
        _through_slurm(plan, specs, context)
    else:
        _over_ssh(plan, specs, context)


def _through_slurm(plan: ActionPlan, specs: list[NodeSpec], context: PlanContext) -> None:
    assert context.scheduler is not None
    request = plan.request
    for spec, preview, _node in known_to_slurm(plan, specs):
        if request.next_state not in {"RESUME", "DOWN"}:
            plan.refusals.append(f"next state {request.next_state!r}: choose RESUME or DOWN")
            continue
        argv = (
            "scontrol",
            "reboot",
            "ASAP",
            f"nextstate={request.next_state}",
            f"reason={request.slurm_reason}",
            spec.scheduler_name,
        )
        plan.steps.append(Step(spec.name, Engine.SLURM, context.scheduler.host, argv))
        if preview.jobs:
            plan.warnings.append(
                f"{spec.name} has {len(preview.jobs)} running job(s): Slurm drains it and reboots when they end"
            )


def _over_ssh(plan: ActionPlan, specs: list[NodeSpec], context: PlanContext) -> None:
    for spec in specs:
        preview = plan.previews[spec.name]
        if preview.jobs:
            # A reboot over SSH does not wait for jobs as Slurm's does: it kills them, as a power cut would.
            plan.type_to_confirm.append(spec.name)
            named = ", ".join(f"{j.job_id} {j.name!r} of {j.user}" for j in preview.jobs[:5])
            more = f" and {len(preview.jobs) - 5} more" if len(preview.jobs) > 5 else ""
            plan.warnings.append(
                f"{spec.name} runs {len(preview.jobs)} job(s): {named}{more}; a reboot over SSH kills them "
                "(through Slurm the reboot would wait for them)"
            )
        elif context.scheduler is not None and preview.scheduler is None:
            plan.type_to_confirm.append(spec.name)
            plan.warnings.append(
                f"{spec.name}: its jobs are unknown ({preview.scheduler_error}); a reboot over SSH kills any"
            )
        plan.steps.append(Step(node=spec.name, engine=Engine.SSH, host=context.engines.ssh_host(spec), argv=SSH_REBOOT))
    if context.scheduler is None:
        plan.warnings.append("no scheduler configured: jobs on these nodes are not known and will be killed")


SPEC = KindSpec(
    kind=ActionKind.REBOOT,
    label="Reboot…",
    summary="through Slurm (waits for jobs) or over SSH (kills them); a reason is required",
    needs_reason=True,
    plan=plan,
    shortcut="Ctrl+Shift+R",
    options=("reason", "ticket", "next_state", "via", "confirm_node"),
)
