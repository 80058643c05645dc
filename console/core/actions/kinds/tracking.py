"""How a kind's outcome is watched after its steps were sent: a check the runner repeats until it holds or
the time runs out (a drained node shows DRAIN with our reason; a rebooted node is back in Slurm, on SSH and
streaming), or an outcome settled at once where nothing can be watched. The runner does the repeating,
the cancelling and the deadlines, one way for every kind."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from console.core.actions.action_types import ActionRequest, EnginesPort, NodeLiveness, Step
from console.core.inventory import Inventory

# A look at the system: (whether the outcome holds, what was seen, in words).
Check = Callable[[], tuple[bool, str]]


@dataclass(frozen=True, slots=True)
class Watch:
    """Repeat ``check`` (about once a second) for at most ``timeout_s``; ``what`` names it until it answers."""

    check: Check
    timeout_s: float
    what: str


@dataclass(frozen=True, slots=True)
class Settled:
    """Nothing to watch: the outcome is known now (done, with these words)."""

    message: str


@dataclass(frozen=True, slots=True)
class TrackTimeouts:
    verify_s: float  # Slurm and BMC answers that follow at once (drain, resume, LED …)
    reboot_s: float  # a node that goes away and comes back
    power_s: float  # a BMC that switches power


@dataclass(frozen=True, slots=True)
class TrackContext:
    engines: EnginesPort
    inventory: Inventory
    health: NodeLiveness | None  # the node's connection and telemetry, where the console watches them
    clock: Callable[[], float]
    timeouts: TrackTimeouts


class TrackedAction(Protocol):
    """The action being tracked, as a kind sees it: its request, its steps and the node(s) it is for."""

    @property
    def request(self) -> ActionRequest: ...

    @property
    def steps(self) -> Sequence[Step]: ...

    @property
    def nodes_label(self) -> str: ...


TrackOutcome = Callable[[TrackContext, TrackedAction], Watch | Settled]
