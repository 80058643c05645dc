"""What an action's run is, as everyone sees it: its state, its status (the window's Actions panel, the command
line's progress, the audit), a step's result or error, and the runner's settings. The runner itself (a
thread pool and its queues) is console.services.action_runner; these are the words it speaks in."""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass
from typing import Final, Protocol

from console.core.actions.action_types import ActionKind, Step


class ActionState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    TRACKING = "tracking"
    DONE = "done"
    FAILED = "failed"
    TIMED_OUT = "timed out"
    CANCELLED = "cancelled"  # nothing was sent (or a step was stopped while it ran)
    # The command was sent and stands; the console stopped watching for its outcome (the operator asked, a
    # cancel-reboot took over, or the console closed). The message says where the system was then.
    UNWATCHED = "stopped watching"
    UNKNOWN = "outcome unknown"  # an earlier console stopped mid-action (loaded from the store)


FINISHED: Final = frozenset(
    {
        ActionState.DONE,
        ActionState.FAILED,
        ActionState.TIMED_OUT,
        ActionState.CANCELLED,
        ActionState.UNWATCHED,
        ActionState.UNKNOWN,
    }
)


@dataclass(frozen=True, slots=True)
class StepResult:
    exit_status: int | None
    stdout: str
    stderr: str


class StepError(Exception):
    """A step could not be carried out (host down, BMC refused, command timed out …), in words."""


class StepExecutor(Protocol):
    def run(self, step: Step, timeout_s: float, cancel: threading.Event | None = None) -> StepResult:
        """Carry out one step within ``timeout_s`` for the whole call; setting ``cancel`` ends the wait
        early (StepError either way)."""
        ...


@dataclass(frozen=True, slots=True)
class ActionStatus:
    id: int
    node: str
    kind: ActionKind
    state: ActionState
    message: str
    commands: tuple[str, ...]
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    progress: float | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


@dataclass(slots=True)
class RunnerSettings:
    step_timeout_s: float = 60.0
    verify_timeout_s: float = 30.0
    reboot_timeout_s: float = 900.0
    power_timeout_s: float = 300.0
    poll_s: float = 1.0
    workers: int = 8
