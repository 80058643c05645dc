"""Locate: the chassis' locate LED on, off or blinking (IndicatorLED, or LocationIndicatorActive on newer
BMCs), so a technician finds the box."""

from __future__ import annotations

from console.core.action_types import LED_STATES, ActionKind, ActionPlan, Engine, Step
from console.core.inventory import NodeSpec
from console.core.kinds.bmc_steps import asked_bmcs
from console.core.kinds.spec import KindSpec, PlanContext


def plan(plan: ActionPlan, specs: list[NodeSpec], context: PlanContext) -> None:
    led = plan.request.led
    if led not in LED_STATES:
        plan.refusals.append(f"locate needs on, off or blink, not {led!r}")
        return
    for spec, _preview, bmc in asked_bmcs(plan, specs, context):
        plan.steps.append(Step(spec.name, Engine.REDFISH, bmc.url, http=bmc.led_call(led)))


SPEC = KindSpec(
    kind=ActionKind.LOCATE,
    label="Locate LED…",
    summary="the chassis' locate LED on, off or blinking",
    needs_reason=False,
    plan=plan,
    options=("led",),
    needs_bmc=True,
)
