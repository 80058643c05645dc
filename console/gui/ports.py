"""What the window needs of the services, as Protocols: app wires the real ones in, the GUI never imports
them (the layers contract in pyproject.toml keeps it so)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from console.core.action_runner import ActionStatus
from console.core.actions import ActionPlan, ActionRequest, NodeDetails
from console.core.inventory import Inventory
from console.core.parsers.slurm import Partition


class RunnerPort(Protocol):
    def submit(self, plan: ActionPlan, typed: Sequence[str] = ()) -> list[ActionStatus]: ...

    def cancel(self, action_id: int) -> bool: ...

    def statuses(self) -> list[ActionStatus]: ...

    def add_listener(self, listener: Callable[[ActionStatus], None]) -> None: ...


class ActionsPort(Protocol):
    """What the window needs to act (console.services.actions.ActionService): every method may block on the
    network, so the window calls them through the Worker."""

    operator: str
    inventory: Inventory

    @property
    def runner(self) -> RunnerPort: ...

    def plan(self, request: ActionRequest) -> ActionPlan: ...

    def node_details(self, node: str) -> NodeDetails: ...

    def partitions(self) -> dict[str, Partition]: ...
