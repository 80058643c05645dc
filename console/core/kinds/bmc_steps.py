"""What the BMC kinds share: each node's BMC is asked first (power, LED, the resets it allows), and its
TLS note goes into the preview and the audit row."""

from __future__ import annotations

from collections.abc import Iterator

from console.core.action_types import ActionPlan, BmcPort, NodePreview
from console.core.inventory import NodeSpec
from console.core.kinds.spec import PlanContext


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
