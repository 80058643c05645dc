"""Reboot: through Slurm where there is a scheduler (``scontrol reboot ASAP``: it drains the node, waits for
its jobs, reboots, and returns it to the next state), else over SSH (``sudo -n systemctl reboot``), which
kills running jobs as a power cut would: those need the node's name typed."""

from __future__ import annotations

from console.core.actions.action_types import ActionKind, ActionPlan, Engine, Step
from console.core.actions.kinds.slurm_steps import known_to_slurm
from console.core.actions.kinds.spec import KindOption, KindSpec, PlanContext
from console.core.actions.kinds.tracking import Settled, TrackContext, TrackedAction, Watch
from console.core.inventory import NodeSpec
from console.core.telemetry.samples import NodeState

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


def track(context: TrackContext, action: TrackedAction) -> Watch | Settled:
    via_slurm = bool(action.steps) and action.steps[0].engine == Engine.SLURM
    return _track_in_slurm(context, action) if via_slurm else _track_over_ssh(context, action)


def _track_in_slurm(context: TrackContext, action: TrackedAction) -> Watch:
    """Until Slurm saw the reboot (pending, or a new boot time), the node is in its next state, and — where
    the console watches it — it is on SSH with fresh telemetry."""
    scheduler = context.engines.scheduler()
    assert scheduler is not None
    spec = context.inventory.node(action.nodes_label)
    health = context.health
    seen_pending = [False]
    back_at: list[float] = []
    boot_before: list[str | None] = []

    def check() -> tuple[bool, str]:
        node = scheduler.nodes([spec.scheduler_name])[spec.scheduler_name]
        if not boot_before:
            boot_before.append(node.boot_time)
        if node.reboot_pending:
            seen_pending[0] = True
            word = "waiting for its jobs to end" if node.draining else "rebooting"
            return False, f"Slurm: {node.raw_state} ({word})"
        rebooted = seen_pending[0] or (node.boot_time != boot_before[0])
        if not rebooted:
            return False, f"Slurm: {node.raw_state}; waiting for the reboot to start"
        want_down = action.request.next_state == "DOWN"
        if want_down and not node.down:
            return False, f"Slurm: {node.raw_state}; waiting for DOWN"
        if not want_down and (node.down or node.drained):
            return False, f"Slurm: {node.raw_state}; waiting for it to return to service"
        if not back_at:
            back_at.append(context.clock())
        if health is not None:
            state, last_sample = health.health(spec.name)
            if state != NodeState.UP:
                return False, f"back in Slurm ({node.raw_state}); SSH/telemetry: {state.value}"
            if last_sample is None or last_sample < back_at[0]:
                return False, f"back in Slurm ({node.raw_state}); waiting for fresh telemetry"
        return True, f"rebooted: Slurm {node.raw_state}" + (", SSH up, telemetry flowing" if health else "")

    return Watch(check, context.timeouts.reboot_s, "waiting for Slurm")


def _track_over_ssh(context: TrackContext, action: TrackedAction) -> Watch | Settled:
    """Until the node went away and came back with fresh telemetry (where the console watches it)."""
    health = context.health
    if health is None:
        return Settled("reboot command accepted (nothing watches this node's connection)")
    node = action.nodes_label
    seen_down = [False]
    up_at: list[float] = []

    def check() -> tuple[bool, str]:
        state, last_sample = health.health(node)
        if not seen_down[0]:
            if state != NodeState.UP:
                seen_down[0] = True
            return False, f"waiting for the node to go down (now {state.value})"
        if state != NodeState.UP:
            return False, f"node is {state.value}; waiting for it to come back"
        if not up_at:
            up_at.append(context.clock())
        if last_sample is None or last_sample < up_at[0]:
            return False, "SSH is back; waiting for telemetry"
        return True, "rebooted: SSH up, telemetry flowing"

    return Watch(check, context.timeouts.reboot_s, "waiting for the node")


def unwatched(engines: frozenset[Engine], who: str, message: str) -> str | None:
    """A reboot through Slurm that the console stops watching still stands there."""
    if Engine.SLURM not in engines:
        return None
    return (
        f"{who}; the reboot is still pending in Slurm ({message}): Cancel reboot… cancels it there, "
        "or it runs when the node's jobs end"
    )


SPEC = KindSpec(
    kind=ActionKind.REBOOT,
    label="Reboot…",
    summary="through Slurm (waits for jobs) or over SSH (kills them); a reason is required",
    needs_reason=True,
    plan=plan,
    track=track,
    shortcut="Ctrl+Shift+R",
    options=("reason", "ticket", "next_state", "via", "confirm_node"),
    choices=(
        KindOption("next_state", "Afterwards:", "state after", choices=("RESUME", "DOWN"), preset="RESUME"),
        KindOption(
            "via",
            "Through:",
            "force the engine (default Slurm if set)",
            choices=("slurm", "ssh"),
            in_dialog=False,
            to_request=Engine,
        ),
    ),
    exit_may_be_lost=frozenset({Engine.SSH}),  # the node drops the connection as it goes down
    unwatched=unwatched,
)
