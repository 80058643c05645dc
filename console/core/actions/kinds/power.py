"""Power: a Redfish ComputerSystem.Reset of a type the BMC lists as allowed; resets that take the OS down
on a node with running jobs need the node's name typed."""

from __future__ import annotations

from functools import partial
from typing import Final

from console.core.actions.action_types import DISRUPTIVE_RESETS, RESET_TYPES, ActionKind, ActionPlan
from console.core.actions.kinds.bmc_steps import asked_bmcs, bmc_step
from console.core.actions.kinds.spec import KindOption, KindSpec, PlanContext
from console.core.actions.kinds.tracking import Settled, TrackContext, TrackedAction, Watch
from console.core.inventory import NodeSpec
from console.core.telemetry.samples import NodeState


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
        bmc_step(plan, spec, bmc, partial(bmc.reset_call, reset), f"the {reset} reset")


# The power state each reset ends in (resets not listed end in no state the BMC reports).
RESET_TARGET: Final = {
    "On": "On",
    "ForceOn": "On",
    "ForceRestart": "On",
    "GracefulRestart": "On",
    "PowerCycle": "On",
    "ForceOff": "Off",
    "GracefulShutdown": "Off",
}


def track(context: TrackContext, action: TrackedAction) -> Watch | Settled:
    """Off/On: until the BMC reports it. A power cycle: until the BMC reported Off and then On again.
    Restarts: then, where the node's telemetry is watched, until it went away and came back."""
    spec = context.inventory.node(action.nodes_label)
    bmc = context.engines.bmc(spec)
    assert bmc is not None
    reset = action.request.reset_type or ""
    target = RESET_TARGET.get(reset)
    if target is None:
        return Settled(f"BMC accepted {reset}")
    cycle = reset == "PowerCycle"
    health = context.health if reset in {"PowerCycle", "ForceRestart", "GracefulRestart"} else None
    seen_off = [False]
    seen_down = [False]
    back_at: list[float] = []

    def check() -> tuple[bool, str]:
        state = bmc.power_state()
        if state == "Off":
            seen_off[0] = True
        if cycle and not seen_off[0]:
            return False, f"BMC reports power {state}; waiting for the cycle to switch it off"
        if state != target:
            return False, f"BMC reports power {state}; waiting for {target}"
        if health is None:
            return True, f"BMC reports power {state}"
        node_state, last_sample = health.health(spec.name)
        if node_state != NodeState.UP:
            seen_down[0] = True
            return False, f"power {state}; the node is {node_state.value}, waiting for it to come back"
        if not (seen_down[0] or seen_off[0]):
            return False, f"power {state}; waiting for the node to restart"
        if not back_at:
            back_at.append(context.clock())
        if last_sample is None or last_sample < back_at[0]:
            return False, f"power {state}; SSH is back, waiting for telemetry"
        return True, f"power {state}; restarted: SSH up, telemetry flowing"

    return Watch(check, context.timeouts.power_s, "asking the BMC")


SPEC = KindSpec(
    kind=ActionKind.POWER,
    label="Power…",
    summary="a Redfish reset the BMC allows (On, ForceOff, PowerCycle …); a reason is required",
    needs_reason=True,
    plan=plan,
    track=track,
    options=("reason", "ticket", "reset_type", "confirm_node"),
    choices=(
        KindOption(
            "reset_type",
            "Reset type:",
            "a Redfish ResetType the BMC allows (On, ForceOff, PowerCycle …)",
            choices=RESET_TYPES,
            preset="PowerCycle",
            strict=False,
        ),
    ),
    needs_bmc=True,
)
