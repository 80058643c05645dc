"""Actions on nodes: one guarded path for all of them — plan → preview → confirm → run → track → record.

This module is the plan and the checks (pure): what will run where, who and what is affected, and whether
the operator may go ahead. It talks to the real systems only through the ports below, which
``console.engines`` implements; :mod:`console.core.action_runner` runs a confirmed plan.
"""

from __future__ import annotations

import enum
import json
import math
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from console.core.hostlist import compress
from console.core.inventory import Inventory, NodeSpec
from console.core.names import operator_problem, text_problem
from console.core.parsers.slurm import Job, Partition, SlurmNode
from console.core.text import escape_controls, escape_lines


class ActionKind(enum.StrEnum):
    DRAIN = "drain"
    RESUME = "resume"
    REBOOT = "reboot"
    CANCEL_REBOOT = "cancel-reboot"
    POWER = "power"
    LOCATE = "locate"
    REASSIGN = "reassign"


NEEDS_REASON: Final = frozenset({ActionKind.DRAIN, ActionKind.REBOOT, ActionKind.POWER})
SCHEDULER_ACTIONS: Final = frozenset(
    {ActionKind.DRAIN, ActionKind.RESUME, ActionKind.CANCEL_REBOOT, ActionKind.REASSIGN}
)
BMC_ACTIONS: Final = frozenset({ActionKind.POWER, ActionKind.LOCATE})
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

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("reset_type", "led", "partition", "from_partition"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.kind == ActionKind.REBOOT:
            out["next_state"] = self.next_state
        if self.via is not None:
            out["via"] = self.via.value
        return out

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
        lines = [f"Action: {r.kind.value} on {len(r.nodes)} node(s): {t(', '.join(r.nodes))}"]
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


class SchedulerPort(Protocol):
    @property
    def host(self) -> str: ...

    def nodes(self, names: Sequence[str]) -> dict[str, SlurmNode]: ...

    def jobs(self, names: Sequence[str]) -> list[Job]: ...

    def partitions(self) -> dict[str, Partition]: ...


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


def check_reason(request: ActionRequest) -> list[str]:
    problems = []
    reason = request.reason or ""
    if request.kind in NEEDS_REASON and not reason.strip():
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
    cap = (
        max_nodes
        if max_nodes is not None
        else blast_radius(len(inventory.nodes), policy.max_nodes_per_action, policy.max_fraction_per_action)
    )
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
    kind = request.kind
    if kind in SCHEDULER_ACTIONS or (kind == ActionKind.REBOOT and request.via in (None, Engine.SLURM) and scheduler):
        if scheduler is None:
            plan.refusals.append(f"{kind.value} goes through Slurm, and the inventory has no [scheduler]")
            return plan
        _plan_slurm(plan, specs, scheduler)
    elif kind == ActionKind.REBOOT:
        if request.via == Engine.REDFISH:
            plan.refusals.append("reboot goes through Slurm or SSH; to restart through the BMC use power ForceRestart")
            return plan
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
            elif scheduler is not None and preview.scheduler is None:
                plan.type_to_confirm.append(spec.name)
                plan.warnings.append(
                    f"{spec.name}: its jobs are unknown ({preview.scheduler_error}); a reboot over SSH kills any"
                )
            plan.steps.append(
                Step(
                    node=spec.name,
                    engine=Engine.SSH,
                    host=engines.ssh_host(spec),
                    argv=("sudo", "-n", "systemctl", "reboot"),
                )
            )
        if scheduler is None:
            plan.warnings.append("no scheduler configured: jobs on these nodes are not known and will be killed")
    elif kind in BMC_ACTIONS:
        _plan_bmc(plan, specs, engines)

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


def _plan_slurm(plan: ActionPlan, specs: list[NodeSpec], scheduler: SchedulerPort) -> None:
    request = plan.request
    host = scheduler.host
    for spec in specs:
        preview = plan.previews[spec.name]
        name = spec.scheduler_name
        if preview.scheduler is None:
            plan.refusals.append(f"{spec.name}: {preview.scheduler_error or 'unknown to Slurm'}")
            continue
        if request.kind == ActionKind.DRAIN:
            plan.steps.append(
                Step(
                    spec.name,
                    Engine.SLURM,
                    host,
                    ("scontrol", "update", f"NodeName={name}", "State=DRAIN", f"Reason={request.slurm_reason}"),
                )
            )
        elif request.kind == ActionKind.RESUME:
            state = "UNDRAIN" if preview.scheduler.down and preview.scheduler.drained else "RESUME"
            if not preview.scheduler.drained and not preview.scheduler.down:
                plan.notes.append(f"{spec.name} is {preview.scheduler.raw_state}: already in service")
            plan.steps.append(
                Step(
                    spec.name,
                    Engine.SLURM,
                    host,
                    ("scontrol", "update", f"NodeName={name}", f"State={state}"),
                    ok_if_stderr="Invalid node state specified",
                )
            )
        elif request.kind == ActionKind.REBOOT:
            if request.next_state not in {"RESUME", "DOWN"}:
                plan.refusals.append(f"next state {request.next_state!r}: choose RESUME or DOWN")
                continue
            plan.steps.append(
                Step(
                    spec.name,
                    Engine.SLURM,
                    host,
                    (
                        "scontrol",
                        "reboot",
                        "ASAP",
                        f"nextstate={request.next_state}",
                        f"reason={request.slurm_reason}",
                        name,
                    ),
                )
            )
            if preview.jobs:
                plan.warnings.append(
                    f"{spec.name} has {len(preview.jobs)} running job(s): Slurm drains it and reboots when they end"
                )
        elif request.kind == ActionKind.CANCEL_REBOOT:
            if not preview.scheduler.reboot_pending:
                plan.notes.append(f"{spec.name} has no pending reboot ({preview.scheduler.raw_state})")
            plan.steps.append(Step(spec.name, Engine.SLURM, host, ("scontrol", "cancel_reboot", name)))
    if request.kind == ActionKind.REASSIGN:
        _plan_reassign(plan, specs, scheduler)


def _plan_reassign(plan: ActionPlan, specs: list[NodeSpec], scheduler: SchedulerPort) -> None:
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


def _plan_bmc(plan: ActionPlan, specs: list[NodeSpec], engines: EnginesPort) -> None:
    request = plan.request
    if request.kind == ActionKind.POWER and request.reset_type not in RESET_TYPES:
        plan.refusals.append(f"power needs a reset type, one of: {', '.join(RESET_TYPES)}")
        return
    if request.kind == ActionKind.LOCATE and request.led not in LED_STATES:
        plan.refusals.append(f"locate needs on, off or blink, not {request.led!r}")
        return
    for spec in specs:
        preview = plan.previews[spec.name]
        bmc = engines.bmc(spec)
        if bmc is None:
            plan.refusals.append(f"{spec.name} has no BMC in the inventory (bmc = {{ url = … }})")
            continue
        if bmc.tls_note:
            plan.warnings.append(f"{spec.name}: {bmc.tls_note}")
            plan.audit_notes.setdefault(spec.name, {})["bmc_security"] = bmc.tls_note
        try:
            preview.power_state = bmc.power_state()
            preview.led = bmc.led_state()
            preview.allowed_resets = bmc.allowed_resets()
        except Exception as exc:  # noqa: BLE001 - the preview shows what the BMC said and refuses
            preview.bmc_error = str(exc)
            plan.refusals.append(f"{spec.name}: BMC {bmc.url}: {exc}")
            continue
        if request.kind == ActionKind.POWER:
            assert request.reset_type is not None
            if request.reset_type not in preview.allowed_resets:
                plan.refusals.append(
                    f"{spec.name}: the BMC does not allow {request.reset_type}; it allows "
                    f"{', '.join(preview.allowed_resets) or 'nothing'}"
                )
                continue
            if request.reset_type in DISRUPTIVE_RESETS and preview.jobs:
                plan.type_to_confirm.append(spec.name)
                plan.warnings.append(
                    f"{spec.name} runs {len(preview.jobs)} job(s) of "
                    f"{', '.join(sorted({j.user for j in preview.jobs}))}: {request.reset_type} kills them"
                )
            plan.steps.append(Step(spec.name, Engine.REDFISH, bmc.url, http=bmc.reset_call(request.reset_type)))
        else:
            assert request.led is not None
            plan.steps.append(Step(spec.name, Engine.REDFISH, bmc.url, http=bmc.led_call(request.led)))


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
    if kind in SCHEDULER_ACTIONS and inventory.scheduler is None:
        return "no [scheduler] in the inventory: drain, resume, cancel-reboot and reassign go through Slurm"
    if kind in BMC_ACTIONS and spec.bmc is None:
        return f"{spec.name} has no BMC in the inventory (bmc = {{ url = … }})"
    return None
