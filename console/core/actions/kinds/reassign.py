"""Reassign: nodes move into a partition (and out of another) in the running slurmctld; the preview gives
the slurm.conf lines to change too, since the change is lost when slurmctld restarts."""

from __future__ import annotations

from console.core.actions.action_types import ActionKind, ActionPlan, Engine, Step
from console.core.actions.kinds.spec import KindOption, KindSpec, PlanContext
from console.core.actions.kinds.tracking import TrackContext, TrackedAction, Watch
from console.core.hostlist import compress
from console.core.inventory import NodeSpec


def plan(plan: ActionPlan, specs: list[NodeSpec], context: PlanContext) -> None:
    scheduler = context.scheduler
    assert scheduler is not None
    request = plan.request
    if not request.partition:
        plan.refusals.append("reassign needs the partition the nodes go to")
        return
    try:
        partitions = scheduler.partitions()
    except Exception as exc:  # noqa: BLE001
        plan.refusals.append(f"cannot read Slurm's partitions: {exc}")
        return
    target = partitions.get(request.partition)
    if target is None:
        plan.refusals.append(f"Slurm has no partition {request.partition!r} (has: {', '.join(partitions)})")
        return
    names = [s.scheduler_name for s in specs]
    new_target = compress([*target.nodes, *names])
    plan.steps.append(
        Step(
            specs[0].name,
            Engine.SLURM,
            scheduler.host,
            ("scontrol", "update", f"PartitionName={target.name}", f"Nodes={new_target}"),
        )
    )
    conf_lines = [f"PartitionName={target.name} Nodes={new_target} …"]
    if request.from_partition:
        source = partitions.get(request.from_partition)
        if source is None:
            plan.refusals.append(f"Slurm has no partition {request.from_partition!r}")
            return
        left = [n for n in source.nodes if n not in names]
        if len(left) == len(source.nodes):
            plan.warnings.append(f"{', '.join(names)} not in partition {source.name}: nothing to take out")
        if not left:  # an empty partition would take every job it holds into limbo; refuse rather than guess
            plan.refusals.append(f"taking {', '.join(names)} out would leave partition {source.name} empty")
            return
        plan.steps.append(
            Step(
                specs[0].name,
                Engine.SLURM,
                scheduler.host,
                ("scontrol", "update", f"PartitionName={source.name}", f"Nodes={compress(left)}"),
            )
        )
        conf_lines.append(f"PartitionName={source.name} Nodes={compress(left)} …")
    plan.notes.append(
        "this changes the running slurmctld only: it is lost when slurmctld restarts (or reads slurm.conf "
        "again) unless slurm.conf is changed too. The lines to change in slurm.conf:\n    " + "\n    ".join(conf_lines)
    )


def track(context: TrackContext, action: TrackedAction) -> Watch:
    """Until the target partition holds every node (and the source none of them)."""
    scheduler = context.engines.scheduler()
    assert scheduler is not None
    request = action.request
    names = [context.inventory.node(n).scheduler_name for n in request.nodes]

    def check() -> tuple[bool, str]:
        partitions = scheduler.partitions()
        target = partitions[request.partition or ""]
        missing = [n for n in names if n not in target.nodes]
        source = partitions.get(request.from_partition or "")
        still = [n for n in names if source is not None and n in source.nodes]
        if missing or still:
            return False, f"partition {target.name} is {target.nodes_expr}"
        return True, f"partition {target.name} is now {target.nodes_expr}" + (
            f"; {source.name} is {source.nodes_expr}" if source is not None else ""
        )

    return Watch(check, context.timeouts.verify_s, "checking Slurm")


SPEC = KindSpec(
    kind=ActionKind.REASSIGN,
    label="Move to partition…",
    summary="the nodes into a Slurm partition, and out of another",
    needs_reason=False,
    plan=plan,
    track=track,
    options=("partition", "from_partition"),
    choices=(
        KindOption("partition", "Move to partition:", "the partition the nodes join", partitions="join"),
        KindOption("from_partition", "Take out of:", "the partition the nodes leave", partitions="leave"),
    ),
    needs_scheduler=True,
    # A reassign changes partitions, not one node: serialised among themselves, one audit row for all.
    shared_queue="partition-changes",
    one_audit_row=True,
)
