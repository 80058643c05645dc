"""Refused attempts leave a trace (issue 21.13): a drain refused because Slurm cannot be reached, or a power
action whose node name was not typed, is one audit row in state ``refused`` with the refusal's words —
who tried what on which node, when, and why not — and nothing is sent."""

from __future__ import annotations

import pytest

from console.core.actions.planning import ActionKind, ActionRefused, ActionRequest, Engine
from tests.helpers.moves import World, busy_node, idle_node


def test_a_drain_refused_while_slurm_is_down_is_recorded_with_the_refusals_words(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = idle_node(world)
    monkeypatch.setattr(
        world.sim,
        "run",
        lambda _argv: ("", "slurm_load_node: Unable to contact slurm controller (connect failure)\n", 1),
    )
    plan = world.service.plan(
        ActionRequest(ActionKind.DRAIN, (node.name,), operator="tina", reason="fan 3", ticket="OPS-4")
    )
    assert not plan.allowed
    ids = world.service.runner.record_refused(plan)
    [row] = world.rows()
    assert ids == [row.id]
    assert (row.kind, row.node, row.operator, row.state, row.reason, row.ticket) == (
        "drain",
        node.name,
        "tina",
        "refused",
        "fan 3",
        "OPS-4",
    )
    assert row.message is not None and row.message.startswith("not run: ") and "slurm controller" in row.message
    assert row.finished_at is not None


def test_a_submit_without_the_typed_node_name_is_refused_and_recorded(world: World) -> None:
    busy = busy_node(world)
    request = ActionRequest(ActionKind.REBOOT, (busy.name,), operator="tina", reason="hung GPU", via=Engine.SSH)
    plan = world.service.plan(request)
    assert plan.allowed and plan.type_to_confirm == [busy.name], plan.refusals
    with pytest.raises(ActionRefused, match="type the node name to confirm"):
        world.service.runner.submit(plan, typed=["wrong-node"])
    [row] = world.rows()
    assert (row.kind, row.node, row.state) == ("reboot", busy.name, "refused")
    assert row.message is not None and "type the node name to confirm" in row.message
    assert "DRAIN" not in world.sim.nodes[busy.name].flags  # nothing was sent
