"""Resume: the node back in service in Slurm (UNDRAIN where it is also down, so Slurm keeps it down until
it answers)."""

from __future__ import annotations

from console.core.actions.action_types import ActionKind, ActionPlan, Engine, Step
from console.core.actions.kinds.locate import led_left_on
from console.core.actions.kinds.slurm_steps import known_to_slurm, watch_slurm_node
from console.core.actions.kinds.spec import KindSpec, NodeRecord, PlanContext
from console.core.actions.kinds.tracking import TrackContext, TrackedAction, Watch
from console.core.inventory import NodeSpec
from console.core.parsers.slurm import SlurmNode


def plan(plan: ActionPlan, specs: list[NodeSpec], context: PlanContext) -> None:
    assert context.scheduler is not None
    for spec, _preview, node in known_to_slurm(plan, specs):
        state = "UNDRAIN" if node.down and node.drained else "RESUME"
        if not node.drained and not node.down:
            plan.notes.append(f"{spec.name} is {node.raw_state}: already in service")
        plan.steps.append(
            Step(
                spec.name,
                Engine.SLURM,
                context.scheduler.host,
                ("scontrol", "update", f"NodeName={spec.scheduler_name}", f"State={state}"),
                # Slurm answers so to RESUME on a node that is not drained: nothing to do, not a failure.
                ok_if_stderr="Invalid node state specified",
            )
        )


def before_resume(record: NodeRecord) -> list[str]:
    """What should stop a technician returning the node to tenants' jobs: an incident still open, a live
    critical alert, the locate LED left lit (the box is still marked for someone on the floor)."""
    out = [
        f"{record.node} still has incident #{i.id} {i.state.value} ({i.cause}, {i.severity}): resuming gives "
        "it back to jobs before the incident is resolved"
        for i in record.open_incidents
    ]
    out += [f"{record.node} has a live critical alert: {a.message}" for a in record.critical_alerts]
    led = led_left_on(record.last_locate)
    if led:
        out.append(f"{record.node}: {led}")
    return out


def track(context: TrackContext, action: TrackedAction) -> Watch:
    def holds(node: SlurmNode) -> tuple[bool, str]:
        if node.drained or node.down:
            return False, f"Slurm still shows {node.raw_state}"
        return True, f"Slurm: {node.raw_state}"

    return watch_slurm_node(context, action, holds)


SPEC = KindSpec(
    kind=ActionKind.RESUME,
    label="Resume…",
    summary="the nodes back in service in Slurm",
    needs_reason=False,
    plan=plan,
    track=track,
    shortcut="Ctrl+R",
    needs_scheduler=True,
    record_check=before_resume,
)
