"""Actions on nodes: one guarded path for all of them — plan → preview → confirm → run → track → record.

This module is the planning every kind shares (pure): the blast radius, the reason rules, the scheduler's
view of the chosen nodes; each kind's own steps come from its module in :mod:`console.core.actions.kinds`. It talks
to the real systems only through the ports of :mod:`console.core.actions.action_types`, which ``console.engines``
implements; :mod:`console.services.action_runner` runs a confirmed plan.
"""

from __future__ import annotations

from console.core.actions.action_types import (
    DEFAULT_MAX_FRACTION,
    DEFAULT_MAX_NODES,
    DISRUPTIVE_RESETS,
    LED_STATES,
    MAX_REASON,
    RESET_TYPES,
    ActionKind,
    ActionPlan,
    ActionRefused,
    ActionRequest,
    BmcPort,
    Engine,
    EnginesPort,
    HttpCall,
    NodeDetails,
    NodeLiveness,
    NodePreview,
    SchedulerPort,
    Step,
    blast_radius,
    policy_cap,
)
from console.core.actions.kinds import SPECS, PlanContext
from console.core.inventory import Inventory, NodeSpec
from console.core.names import operator_problem, text_problem
from console.core.parsers.slurm import Job, SlurmNode

__all__ = [
    "DEFAULT_MAX_FRACTION",
    "DEFAULT_MAX_NODES",
    "DISRUPTIVE_RESETS",
    "LED_STATES",
    "MAX_REASON",
    "RESET_TYPES",
    "SPECS",
    "ActionKind",
    "ActionPlan",
    "ActionRefused",
    "ActionRequest",
    "BmcPort",
    "Engine",
    "EnginesPort",
    "HttpCall",
    "NodeDetails",
    "NodeLiveness",
    "NodePreview",
    "SchedulerPort",
    "Step",
    "availability",
    "blast_radius",
    "check_reason",
    "plan_action",
    "read_node_details",
]


def check_reason(request: ActionRequest) -> list[str]:
    problems = []
    reason = request.reason or ""
    if SPECS[request.kind].needs_reason and not reason.strip():
        problems.append(f"{request.kind.value} needs a reason (what is wrong, for the next shift and the tenant)")
    if problem := operator_problem(request.operator):
        problems.append(problem)
    for label, text in (("reason", reason), ("ticket", request.ticket or "")):
        if problem := text_problem(label, text):
            problems.append(problem)
    if len(request.slurm_reason) > MAX_REASON:
        problems.append(f"reason and ticket are {len(request.slurm_reason)} characters; keep them under {MAX_REASON}")
    return problems


def plan_action(
    request: ActionRequest,
    inventory: Inventory,
    engines: EnginesPort,
    max_nodes: int | None = None,
) -> ActionPlan:
    """Gather what the preview must show and the exact steps; never runs anything that changes a node."""
    plan = ActionPlan(request=request)
    policy = inventory.policy
    cap = max_nodes if max_nodes is not None else policy_cap(inventory)
    if not request.nodes:
        plan.refusals.append("no nodes chosen")
        return plan
    unknown = [n for n in request.nodes if n not in {s.name for s in inventory.nodes}]
    if unknown:
        plan.refusals.append(f"not in the inventory: {', '.join(unknown)}")
        return plan
    if len(set(request.nodes)) > cap:
        plan.refusals.append(
            f"{len(set(request.nodes))} nodes in one action; the limit per confirmation is {cap} "
            f"(at most {policy.max_nodes_per_action} nodes or {policy.max_fraction_per_action:.0%} of the "
            f"{len(inventory.nodes)}-node fleet, whichever is smaller; [policy] in the inventory sets them)"
        )
    plan.refusals += check_reason(request)
    specs = [inventory.node(n) for n in dict.fromkeys(request.nodes)]
    for spec in specs:
        plan.previews[spec.name] = NodePreview(node=spec.name, tenant=spec.tenant)

    scheduler = engines.scheduler()
    _gather_scheduler(plan, specs, scheduler)
    kind = SPECS[request.kind]
    if kind.needs_scheduler and scheduler is None:
        plan.refusals.append(f"{request.kind.value} goes through Slurm, and the inventory has no [scheduler]")
        return plan
    try:
        kind.plan(plan, specs, PlanContext(scheduler, engines))
    except Exception as exc:  # noqa: BLE001 - whatever an engine answered, planning ends in a refusal, not a traceback
        plan.refusals.append(f"{request.kind.value} could not be planned: {type(exc).__name__}: {exc}")

    tenants = sorted({p.tenant for p in plan.previews.values() if p.tenant})
    if tenants:
        plan.notes.append(f"tenants affected: {', '.join(tenants)}")
    return plan


def _gather_scheduler(plan: ActionPlan, specs: list[NodeSpec], scheduler: SchedulerPort | None) -> None:
    if scheduler is None:
        return
    names = [s.scheduler_name for s in specs]
    try:
        states = scheduler.nodes(names)
        jobs = scheduler.jobs(names)
    except Exception as exc:  # noqa: BLE001 - a failing scheduler is reported in the preview, not raised
        for spec in specs:
            plan.previews[spec.name].scheduler_error = str(exc)
        plan.warnings.append(f"the scheduler could not be read: {exc}")
        return
    for spec in specs:
        preview = plan.previews[spec.name]
        preview.scheduler = states.get(spec.scheduler_name)
        if preview.scheduler is None:
            preview.scheduler_error = f"Slurm does not know a node named {spec.scheduler_name!r}"
        preview.jobs = [
            j
            for j in jobs
            if spec.scheduler_name in j.nodes and j.state in {"RUNNING", "COMPLETING", "SUSPENDED", "CONFIGURING"}
        ]


def read_node_details(spec: NodeSpec, engines: EnginesPort) -> NodeDetails:
    """Ask the scheduler and the BMC about one node (network: call from a worker)."""
    scheduler_state: SlurmNode | None = None
    scheduler_error: str | None = None
    jobs: tuple[Job, ...] = ()
    scheduler = engines.scheduler()
    if scheduler is not None:
        try:
            scheduler_state = scheduler.nodes([spec.scheduler_name]).get(spec.scheduler_name)
            if scheduler_state is None:
                scheduler_error = f"Slurm does not know a node named {spec.scheduler_name!r}"
            jobs = tuple(scheduler.jobs([spec.scheduler_name])) if scheduler_state is not None else ()
        except Exception as exc:  # noqa: BLE001 - shown in the panel, never raised into the window
            scheduler_error = str(exc)
    power = led = bmc_error = note = None
    bmc = engines.bmc(spec)
    if bmc is not None:
        note = bmc.tls_note
        try:
            power = bmc.power_state()
            led = bmc.led_state()
        except Exception as exc:  # noqa: BLE001
            bmc_error = str(exc)
    return NodeDetails(spec.name, scheduler_state, scheduler_error, jobs, power, led, bmc_error, note)


def availability(kind: ActionKind, spec: NodeSpec, inventory: Inventory) -> str | None:
    """Why ``kind`` cannot be offered for ``spec`` (a tooltip for a greyed menu entry), or None if it can."""
    declared = SPECS[kind]
    if declared.needs_scheduler and inventory.scheduler is None:
        slurm_kinds = ", ".join(k.value for k, s in SPECS.items() if s.needs_scheduler)
        return f"no [scheduler] in the inventory: {slurm_kinds} go through Slurm"
    if declared.needs_bmc and spec.bmc is None:
        return f"{spec.name} has no BMC in the inventory (bmc = {{ url = … }})"
    return None
