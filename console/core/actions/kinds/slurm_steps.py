"""What the Slurm kinds share: each node must be known to Slurm before a step is written for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from console.core.actions.action_types import ActionPlan, NodePreview
from console.core.actions.kinds.tracking import TrackContext, TrackedAction, Watch
from console.core.inventory import NodeSpec
from console.core.parsers.slurm import SlurmNode


def known_to_slurm(plan: ActionPlan, specs: list[NodeSpec]) -> Iterator[tuple[NodeSpec, NodePreview, SlurmNode]]:
    """The nodes Slurm knows, with their previews; a refusal for each it does not."""
    for spec in specs:
        preview = plan.previews[spec.name]
        if preview.scheduler is None:
            plan.refusals.append(f"{spec.name}: {preview.scheduler_error or 'unknown to Slurm'}")
            continue
        yield spec, preview, preview.scheduler


def watch_slurm_node(
    context: TrackContext, action: TrackedAction, holds: Callable[[SlurmNode], tuple[bool, str]]
) -> Watch:
    """Ask Slurm for the action's node until ``holds`` says the outcome shows."""
    scheduler = context.engines.scheduler()
    assert scheduler is not None
    name = context.inventory.node(action.nodes_label).scheduler_name
    return Watch(lambda: holds(scheduler.nodes([name])[name]), context.timeouts.verify_s, "checking Slurm")
