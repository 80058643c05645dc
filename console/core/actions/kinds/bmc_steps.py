"""What the BMC kinds share: each node's BMC is asked first (power, LED, the resets it allows), and its
TLS note goes into the preview and the audit row."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from console.core.actions.action_types import ActionPlan, BmcPort, Engine, HttpCall, NodePreview, Step
from console.core.actions.kinds.spec import PlanContext
from console.core.inventory import NodeSpec


def asked_bmcs(
    plan: ActionPlan, specs: list[NodeSpec], context: PlanContext
) -> Iterator[tuple[NodeSpec, NodePreview, BmcPort]]:
    """The nodes whose BMC answered, with their previews filled in; a refusal for each other."""
    for spec in specs:
        preview = plan.previews[spec.name]
        bmc = context.engines.bmc(spec)
        if bmc is None:
            plan.refusals.append(f"{spec.name} has no BMC in the inventory (bmc = {{ url = … }})")
            continue
        if bmc.tls_note:
            plan.warnings.append(f"{spec.name}: {bmc.tls_note}")
            plan.audit_notes.setdefault(spec.name, {})["bmc_security"] = bmc.tls_note
        try:
            preview.power_state = bmc.power_state()
            preview.led = bmc.led_state()
            preview.allowed_resets = bmc.allowed_resets()
        except Exception as exc:  # noqa: BLE001 - the preview shows what the BMC said and refuses
            preview.bmc_error = str(exc)
            plan.refusals.append(f"{spec.name}: BMC {bmc.url}: {exc}")
            continue
        yield spec, preview, bmc


def bmc_step(plan: ActionPlan, spec: NodeSpec, bmc: BmcPort, call: Callable[[], HttpCall], what: str) -> None:
    """The node's Redfish step, or a refusal in words where the BMC's own answer makes one impossible: a
    reset target or system link on another origin (the password goes only to the BMC's own), a system that
    went away between the preview's reads. ``what``: the call in words ("the reset")."""
    try:
        http = call()
    except Exception as exc:  # noqa: BLE001 - a hostile or broken BMC is a refusal in the preview, never a traceback
        plan.refusals.append(f"{spec.name}: {what} cannot be sent to BMC {bmc.url}: {exc}")
        return
    plan.steps.append(Step(spec.name, Engine.REDFISH, bmc.url, http=http))
