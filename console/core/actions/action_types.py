"""The words of actions on nodes: kinds, requests, steps, plans, previews, and the ports through which
planning reads the real systems (``console.engines`` implements them). Planning itself is
:mod:`console.core.actions.planning` (common checks) and :mod:`console.core.actions.kinds` (one module per kind)."""

from __future__ import annotations

import enum
import json
import math
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from console.core.hostlist import compress
from console.core.inventory import Inventory, NodeSpec
from console.core.parsers.slurm import Job, Partition, SlurmNode
from console.core.telemetry.samples import NodeState
from console.core.text import escape_controls, escape_lines

if TYPE_CHECKING:
    from console.core.tenants.accounting import SlurmGpuHours
    from console.core.tenants.allocation import SchedulerAllocations


class ActionKind(enum.StrEnum):
    DRAIN = "drain"
    RESUME = "resume"
    REBOOT = "reboot"
    CANCEL_REBOOT = "cancel-reboot"
    POWER = "power"
    LOCATE = "locate"
    REASSIGN = "reassign"


# Redfish ResetType values that take the running OS (and its jobs) down.
DISRUPTIVE_RESETS: Final = frozenset(
    {"ForceOff", "GracefulShutdown", "PowerCycle", "ForceRestart", "GracefulRestart", "Nmi", "PushPowerButton"}
)
RESET_TYPES: Final = (
    "On",
    "ForceOn",
    "ForceOff",
    "GracefulShutdown",
    "GracefulRestart",
    "ForceRestart",
    "PowerCycle",
    "Nmi",
    "PushPowerButton",
)
LED_STATES: Final = ("on", "off", "blink")
MAX_REASON: Final = 400
DEFAULT_MAX_NODES: Final = 8
DEFAULT_MAX_FRACTION: Final = 0.10


class Engine(enum.StrEnum):
    SLURM = "slurm"
    REDFISH = "redfish"
    SSH = "ssh"


@dataclass(frozen=True, slots=True)
class ActionRequest:
    kind: ActionKind
    nodes: tuple[str, ...]
    operator: str
    reason: str | None = None
    ticket: str | None = None
    reset_type: str | None = None  # power
    led: str | None = None  # locate: on | off | blink
    partition: str | None = None  # reassign: the partition the nodes go to
    from_partition: str | None = None  # reassign: the partition they leave (optional)
    next_state: str = "RESUME"  # reboot: RESUME | DOWN
    via: Engine | None = None  # reboot: force an engine (default: Slurm if configured, else SSH)
    then_resume: bool = False  # cancel-reboot: resume the node afterwards (it may stay drained otherwise)

    @property
    def slurm_reason(self) -> str:
        """What goes into Slurm's Reason: the operator, the reason, the ticket."""
        text = f"{self.operator}: {self.reason or ''}".strip()
        return f"{text} [{self.ticket}]" if self.ticket else text


@dataclass(frozen=True, slots=True)
class HttpCall:
    method: str
    url: str
    body: dict[str, Any] | None = None

    def display(self) -> str:
        body = f" {json.dumps(self.body)}" if self.body is not None else ""
        return f"{self.method} {self.url}{body}"


@dataclass(frozen=True, slots=True)
class Step:
    """One command of a plan: an argv run over SSH on ``host``, or an HTTP call to a BMC."""

    node: str
    engine: Engine
    host: str
    argv: tuple[str, ...] | None = None
    http: HttpCall | None = None
    # Slurm answers "Invalid node state specified" to RESUME on a node that is not drained.
    ok_if_stderr: str | None = None

    def display(self) -> str:
        if self.argv is not None:
            return shlex.join(self.argv)
        assert self.http is not None
        return self.http.display()

    def audit_command(self) -> list[Any]:
        if self.argv is not None:
            return list(self.argv)
        assert self.http is not None
        return [self.http.method, self.http.url, self.http.body]


def command_text(command: object) -> str:
    """One step of an audit row's ``command`` (what :meth:`Step.audit_command` wrote) as a person reads it:
    an argv quoted as a shell would take it, anything else (an HTTP call) as JSON."""
    if isinstance(command, list) and command and all(isinstance(c, str) for c in command):
        return shlex.join(command)
    return json.dumps(command)


@dataclass(slots=True)
class NodePreview:
    node: str
    tenant: str | None
    scheduler: SlurmNode | None = None
    scheduler_error: str | None = None
    jobs: list[Job] = field(default_factory=list)
    power_state: str | None = None
    led: str | None = None
    bmc_error: str | None = None
    allowed_resets: tuple[str, ...] = ()


@dataclass(slots=True)
class ActionPlan:
    request: ActionRequest
    steps: list[Step] = field(default_factory=list)
    previews: dict[str, NodePreview] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)  # any refusal: the plan cannot be confirmed
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    type_to_confirm: list[str] = field(default_factory=list)  # node names the operator must type
    # Facts the audit row of a node's action must carry beside the request (e.g. the BMC's TLS is off).
    audit_notes: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return not self.refusals

    def steps_for(self, node: str) -> list[Step]:
        return [step for step in self.steps if step.node == node]

    def confirm(self, typed: Sequence[str] = ()) -> None:
        """Raise :class:`ActionRefused` unless the plan may run (with the typed node names, if asked for)."""
        if self.refusals:
            raise ActionRefused("; ".join(self.refusals))
        missing = [name for name in self.type_to_confirm if name not in typed]
        if missing:
            raise ActionRefused(
                f"type the node name to confirm ({', '.join(missing)}): it has running (or unknown) jobs that this "
                "will kill"
            )

    def describe(self) -> str:
        """The preview as text, for the terminal (the window shows the same facts). Every piece that came
        from a node, Slurm, a BMC or the operator is escaped: a job name cannot retitle the terminal."""
        r = self.request
        t = escape_controls
        lines = [f"Action: {r.kind.value} on {len(r.nodes)} node(s): {t(compress(list(r.nodes)))}"]
        if r.reason:
            lines.append(f"Reason: {t(r.reason)}" + (f"  (ticket {t(r.ticket)})" if r.ticket else ""))
        lines.append(f"Operator: {t(r.operator)}")
        for node, preview in self.previews.items():
            lines.append(f"\n[{t(node)}] tenant: {t(preview.tenant or '(none)')}")
            if preview.scheduler is not None:
                lines.append(f"  scheduler: {t(preview.scheduler.summary)}")
            elif preview.scheduler_error:
                lines.append(f"  scheduler: unknown ({t(preview.scheduler_error)})")
            if preview.power_state or preview.bmc_error:
                lines.append(
                    f"  BMC: power {t(preview.power_state or '?')}, LED {t(preview.led or '?')}"
                    + (f" ({t(preview.bmc_error)})" if preview.bmc_error else "")
                )
            if preview.jobs:
                lines.append(f"  running jobs ({len(preview.jobs)}):")
                lines += [
                    f"    {t(j.job_id)} {t(repr(j.name))} user {t(j.user)} account {t(j.account)} {t(j.state)} "
                    f"{t(j.elapsed)}"
                    for j in preview.jobs
                ]
            else:
                lines.append("  jobs: none")
            for step in self.steps_for(node):
                lines.append(f"  will run on {t(step.host)}: {t(step.display())}")
        lines += [f"\nWARNING: {t(w)}" for w in self.warnings]
        lines += [f"\nNOTE: {escape_lines(n)}" for n in self.notes]
        lines += [f"\nREFUSED: {t(r)}" for r in self.refusals]
        return "\n".join(lines)


class ActionRefused(Exception):
    pass


# --- ports: how the planner and runner reach the real systems (implemented in console.engines) -----------


class NodeLiveness(Protocol):
    def health(self, node: str) -> tuple[NodeState, float | None]:
        """Connection state and the time of the node's last telemetry sample."""
        ...


class SchedulerPort(Protocol):
    @property
    def host(self) -> str: ...

    def nodes(self, names: Sequence[str]) -> dict[str, SlurmNode]: ...

    def jobs(self, names: Sequence[str]) -> list[Job]: ...

    def partitions(self) -> dict[str, Partition]: ...

    def allocations(self) -> SchedulerAllocations: ...

    def gpu_hours(self, since: float, until: float, now: float) -> SlurmGpuHours:
        """Slurm's own GPU-hours per account (sacct); raises, in words, where Slurm keeps no accounting."""
        ...


class BmcPort(Protocol):
    @property
    def url(self) -> str: ...

    @property
    def tls_note(self) -> str | None:
        """Why the password is exposed on the way to this BMC (plain HTTP, TLS not verified), or None."""
        ...

    def power_state(self) -> str: ...

    def allowed_resets(self) -> tuple[str, ...]: ...

    def led_state(self) -> str: ...

    def reset_call(self, reset_type: str) -> HttpCall: ...

    def led_call(self, state: str) -> HttpCall: ...


class EnginesPort(Protocol):
    def scheduler(self) -> SchedulerPort | None: ...

    def bmc(self, node: NodeSpec) -> BmcPort | None: ...

    def ssh_host(self, node: NodeSpec) -> str: ...


# --- planning ------------------------------------------------------------------------------------------------


def blast_radius(
    fleet_size: int, max_nodes: int = DEFAULT_MAX_NODES, max_fraction: float = DEFAULT_MAX_FRACTION
) -> int:
    """How many nodes one confirmation may touch: the smaller of ``max_nodes`` and the fraction, at least 1."""
    return max(1, min(max_nodes, math.floor(fleet_size * max_fraction)))


def policy_cap(inventory: Inventory) -> int:
    """The blast radius of one confirmation for this inventory (its ``[policy]``): actions and moves alike."""
    policy = inventory.policy
    return blast_radius(len(inventory.nodes), policy.max_nodes_per_action, policy.max_fraction_per_action)


@dataclass(frozen=True, slots=True)
class NodeDetails:
    """What the node panel shows beside telemetry: the scheduler's and the BMC's view of a node."""

    node: str
    scheduler: SlurmNode | None = None
    scheduler_error: str | None = None
    jobs: tuple[Job, ...] = ()
    power_state: str | None = None
    led: str | None = None
    bmc_error: str | None = None
    bmc_note: str | None = None
    led_left_on: str | None = None  # from the record: "locate LED still on since … (locate #41 by dana)"
