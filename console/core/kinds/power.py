"""Power: a Redfish ComputerSystem.Reset of a type the BMC lists as allowed; resets that take the OS down
on a node with running jobs need the node's name typed."""

from __future__ import annotations

from console.core.action_types import DISRUPTIVE_RESETS, RESET_TYPES, ActionKind, ActionPlan, Engine, Step
from console.core.inventory import NodeSpec
from console.core.kinds.bmc_steps import asked_bmcs
from console.core.kinds.spec import KindSpec, PlanContext


def plan(plan: ActionPlan, specs: list[NodeSpec], context: PlanContext) -> None:
    reset = plan.request.reset_type
    if reset not in RESET_TYPES:
        plan.refusals.append(f"power needs a reset type, one of: {', '.join(RESET_TYPES)}")
        return
    for spec, preview, bmc in asked_bmcs(plan, specs, context):
        if reset not in preview.allowed_resets:
            allowed = ", ".join(preview.allowed_resets) or "nothing"
            plan.refusals.append(f"{spec.name}: the BMC does not allow {reset}; it allows {allowed}")
            continue
        if reset in DISRUPTIVE_RESETS and preview.jobs:
            plan.type_to_confirm.append(spec.name)
            plan.warnings.append(
                f"{spec.name} runs {len(preview.jobs)} job(s) of "
                f"{', '.join(sorted({j.user for j in preview.jobs}))}: {reset} kills them"
            )
        plan.steps.append(Step(spec.name, Engine.REDFISH, bmc.url, http=bmc.reset_call(reset)))


SPEC = KindSpec(
    kind=ActionKind.POWER,
    label="Power…",
    summary="a Redfish reset the BMC allows (On, ForceOff, PowerCycle …); a reason is required",
    needs_reason=True,
    plan=plan,
    options=("reason", "ticket", "reset_type", "confirm_node"),
    needs_bmc=True,
)
