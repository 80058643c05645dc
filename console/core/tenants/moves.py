"""Moving nodes from one tenant to another: the plan and its preview (pure), and the checks after it.

A move is the steps an operator would take by hand, in the order that never leaves a node usable by the
wrong tenant: drain the nodes (running jobs finish; nothing new starts) → wait for their jobs to end →
add them to the target tenant's partition (or reservation) in Slurm, then take them out of the source
tenant's → set their tenant in the inventory → resume → verify that Slurm and the inventory both say the
target tenant. ``console.services.tenant_move`` carries the steps out, each audited.

Which Slurm objects belong to a tenant is read the way the Tenants view reads tenancy
(:mod:`console.core.tenants.allocation`): a partition whose ``AllowAccounts=`` (or ``Accounts=``) names the tenant,
or a reservation whose ``Accounts=`` does. Partitions open to every account are left as they are.
"""

from __future__ import annotations

import enum
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from console.core.hostlist import compress
from console.core.inventory import Inventory
from console.core.names import operator_problem, text_problem
from console.core.parsers.slurm import Partition
from console.core.telemetry.fleet import NodeView
from console.core.tenants.allocation import (
    NO_ACCOUNT,
    UNASSIGNED,
    JobAllocation,
    Reservation,
    SchedulerAllocations,
    slurm_tenant,
    tenancy,
)
from console.core.text import escape_controls

DEFAULT_JOB_WAIT_S: Final = 3600.0
# Slurm account names: what sacctmgr accepts and what a partition's AllowAccounts= can list.
TENANT_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
TENANT_RULE: Final = "1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"


@dataclass(frozen=True, slots=True)
class MoveRequest:
    nodes: tuple[str, ...]
    target: str
    operator: str
    reason: str
    ticket: str | None = None
    job_wait_s: float = DEFAULT_JOB_WAIT_S  # how long to wait for running jobs before asking


@dataclass(frozen=True, slots=True)
class SlurmChange:
    """One partition's or reservation's node list, before and after."""

    kind: str  # partition | reservation
    name: str
    before: tuple[str, ...]
    after: tuple[str, ...]

    @property
    def argv(self) -> tuple[str, ...]:
        key = "PartitionName" if self.kind == "partition" else "ReservationName"
        return ("scontrol", "update", f"{key}={self.name}", f"Nodes={compress(list(self.after))}")

    @property
    def adds(self) -> bool:
        return len(self.after) > len(self.before)


@dataclass(frozen=True, slots=True)
class MovingNode:
    node: str
    slurm_name: str
    source: str | None  # the tenant that holds it now (Slurm's word where Slurm names one)
    inventory_tenant: str | None
    accelerators: int
    jobs: tuple[JobAllocation, ...]


@dataclass(slots=True)
class MovePlan:
    request: MoveRequest
    nodes: list[MovingNode] = field(default_factory=list)
    changes: list[SlurmChange] = field(default_factory=list)  # additions first, then removals
    # tenant → (nodes, accelerators) before and after the move, for the tenants it touches.
    before: dict[str, tuple[int, int]] = field(default_factory=dict)
    after: dict[str, tuple[int, int]] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    with_scheduler: bool = True
    # The inventory file the move rewrites, in words (where a link leads: the service fills that in).
    inventory_file: str = ""

    @property
    def allowed(self) -> bool:
        return not self.refusals

    @property
    def names(self) -> list[str]:
        return [n.node for n in self.nodes]

    @property
    def jobs(self) -> list[JobAllocation]:
        seen: dict[str, JobAllocation] = {}
        for node in self.nodes:
            for job in node.jobs:
                seen.setdefault(job.job_id, job)
        return list(seen.values())

    @property
    def drain_reason(self) -> str:
        """The reason the drain carries (Slurm's Reason adds the operator and the ticket, as every drain)."""
        return f"move to {self.request.target}: {self.request.reason}"

    def commands(self) -> list[str]:
        """The exact scheduler commands, in order (what the preview shows): the drain and resume of each node
        are the console's ordinary drain and resume actions."""
        if not self.with_scheduler:
            return []
        r = self.request
        reason = f"{r.operator}: {self.drain_reason}" + (f" [{r.ticket}]" if r.ticket else "")
        drains = [
            shlex.join(("scontrol", "update", f"NodeName={n.slurm_name}", "State=DRAIN", f"Reason={reason}"))
            for n in self.nodes
        ]
        resumes = [shlex.join(("scontrol", "update", f"NodeName={n.slurm_name}", "State=RESUME")) for n in self.nodes]
        return [*drains, *(shlex.join(c.argv) for c in self.changes), *resumes]

    def describe(self) -> str:
        """The preview as text (escaped: a job name cannot retitle the terminal)."""
        t = escape_controls
        r = self.request
        lines = [f"Move {len(self.nodes)} node(s) to tenant {t(r.target)}: {t(compress(self.names))}"]
        lines.append(f"Reason: {t(r.reason)}" + (f"  (ticket {t(r.ticket)})" if r.ticket else ""))
        lines.append(f"Operator: {t(r.operator)}")
        lines.append("\nNodes:")
        for node in self.nodes:
            lines.append(
                f"  {t(node.node)}: now {t(node.source or UNASSIGNED)} (inventory: "
                f"{t(node.inventory_tenant or 'none')}), {node.accelerators} accelerators, "
                f"{len(node.jobs)} running job(s)"
            )
        jobs = self.jobs
        lines.append(f"\nJobs that must end first ({len(jobs)}):" if jobs else "\nJobs affected: none")
        for job in jobs:
            lines.append(
                f"  job {t(job.job_id)} user {t(job.user)} account {t(job.account)} partition {t(job.partition)} "
                f"on {t(','.join(job.nodes))}"
            )
        lines.append("\nTenants (nodes / accelerators):")
        for tenant in sorted(set(self.before) | set(self.after)):
            b, a = self.before.get(tenant, (0, 0)), self.after.get(tenant, (0, 0))
            lines.append(f"  {t(tenant)}: {b[0]} / {b[1]} → {a[0]} / {a[1]}")
        commands = self.commands()
        if commands:
            lines.append("\nScheduler commands, in order (the running jobs are waited for after the drain):")
            lines += [f"  {t(c)}" for c in commands]
        lines.append(
            f"\nInventory: {t(self.inventory_file or 'the inventory file')} will be rewritten: tenant = "
            f"{t(r.target)!r} for {t(compress(self.names))} (the original kept beside it as a .bak)"
        )
        for note in self.notes:  # a note may hold the slurm.conf lines, one per line
            first, *more = note.split("\n")
            lines += [f"Note: {t(first)}", *(t(line) for line in more)]
        lines += [f"Warning: {t(w)}" for w in self.warnings]
        lines += [f"REFUSED: {t(x)}" for x in self.refusals]
        return "\n".join(lines)


def _accounts(fields: dict[str, str], *keys: str) -> tuple[str, ...]:
    for key in keys:
        value = fields.get(key) or ""
        words = tuple(w for w in value.split(",") if w and w not in NO_ACCOUNT)
        if words:
            return words
    return ()


def partition_accounts(partition: Partition) -> tuple[str, ...]:
    return _accounts(partition.fields, "AllowAccounts", "Accounts")


def target_holding(target: str, slurm: SchedulerAllocations) -> Partition | Reservation | None:
    """The target tenant's own partition (one that admits its account and no other), else its active
    reservation."""
    own = [p for p in slurm.partitions.values() if partition_accounts(p) == (target,)]
    shared = [p for p in slurm.partitions.values() if target in partition_accounts(p)]
    for candidates in (own, shared):
        if candidates:
            return sorted(candidates, key=lambda p: p.name)[0]
    for reservation in sorted(slurm.reservations, key=lambda r: r.name):
        if target in reservation.accounts and reservation.state == "ACTIVE":
            return reservation
    return None


def request_problems(request: MoveRequest) -> list[str]:
    """Why the words of a move cannot be used (the tenant's name, the reason, the ticket, the operator)."""
    problems = []
    target = request.target.strip()
    if not target:
        problems.append("name the tenant the nodes go to")
    elif not TENANT_RE.fullmatch(target):
        problems.append(f"tenant {escape_controls(target)!r} is not a usable Slurm account name ({TENANT_RULE})")
    if not request.reason.strip():
        problems.append("a move needs a reason (for the audit log and both tenants)")
    for label, text in (("reason", request.reason), ("ticket", request.ticket or "")):
        if problem := text_problem(label, text):
            problems.append(problem)
    if problem := operator_problem(request.operator):
        problems.append(problem)
    return problems


def plan_move(
    request: MoveRequest,
    inventory: Inventory,
    views: Sequence[NodeView],
    slurm: SchedulerAllocations | None,
    max_nodes: int,
) -> MovePlan:
    """Everything the preview shows and the exact changes; reads nothing, changes nothing."""
    plan = MovePlan(request=request, with_scheduler=inventory.scheduler is not None, inventory_file=str(inventory.path))
    target = request.target.strip()
    plan.refusals += request_problems(request)
    chosen = list(dict.fromkeys(request.nodes))
    if not chosen:
        plan.refusals.append("no nodes chosen")
        return plan
    unknown = [n for n in chosen if n not in inventory.names]
    if unknown:
        plan.refusals.append(f"not in the inventory: {', '.join(unknown)}")
        return plan
    if len(chosen) > max_nodes:
        plan.refusals.append(
            f"{len(chosen)} nodes in one move; the limit per confirmation is {max_nodes} ([policy] in the inventory)"
        )
    by_name = {v.name: v for v in views}
    held_by: dict[str, str] = {}
    counts: dict[str, tuple[int, int]] = {}
    for view in views:
        holder = tenancy(view, slurm).tenant or UNASSIGNED
        held_by[view.name] = holder
        nodes, accelerators = counts.get(holder, (0, 0))
        counts[holder] = (nodes + 1, accelerators + len(view.accelerators))
    for name in chosen:
        spec = inventory.node(name)
        found = by_name.get(name)
        source = held_by.get(name)
        jobs = tuple(slurm.on_node(spec.scheduler_name).jobs) if slurm is not None else ()
        plan.nodes.append(
            MovingNode(
                node=name,
                slurm_name=spec.scheduler_name,
                source=None if source in (None, UNASSIGNED) else source,
                inventory_tenant=spec.tenant,
                accelerators=len(found.accelerators) if found is not None else 0,
                jobs=jobs,
            )
        )
    already = [n.node for n in plan.nodes if n.source == target and n.inventory_tenant == target]
    if target and already and len(already) == len(plan.nodes):
        plan.refusals.append(f"{', '.join(already)} already belong to {target} in Slurm and in the inventory")
    elif already:
        plan.warnings.append(f"{', '.join(already)} already belong to {target}; they are drained and resumed too")
    _tenant_counts(plan, counts, target or "?")
    if inventory.scheduler is None:
        plan.notes.append("no [scheduler] in the inventory: only the inventory's tenant changes (nothing is drained)")
        return plan
    if slurm is None or slurm.problem:
        plan.refusals.append(
            f"Slurm's partitions and reservations could not be read: {slurm.problem if slurm else 'no answer yet'}"
        )
        return plan
    if target:
        _slurm_changes(plan, target, slurm)
    if plan.jobs:
        plan.notes.append(
            f"{len(plan.jobs)} running job(s) keep running on the drained nodes; the move waits up to "
            f"{request.job_wait_s / 60:g} min for them to end, then asks"
        )
    return plan


def _tenant_counts(plan: MovePlan, counts: dict[str, tuple[int, int]], target: str) -> None:
    touched = {n.source or UNASSIGNED for n in plan.nodes} | {target}
    after = dict(counts)
    for node in plan.nodes:
        source = node.source or UNASSIGNED
        n, a = after.get(source, (0, 0))
        after[source] = (n - 1, a - node.accelerators)
        n, a = after.get(target, (0, 0))
        after[target] = (n + 1, a + node.accelerators)
    plan.before = {t: counts.get(t, (0, 0)) for t in touched}
    plan.after = {t: after.get(t, (0, 0)) for t in touched}


def _slurm_changes(plan: MovePlan, target: str, slurm: SchedulerAllocations) -> None:
    names = [n.slurm_name for n in plan.nodes]
    holding = target_holding(target, slurm)
    if holding is None:
        plan.refusals.append(
            f"Slurm has no partition or active reservation that admits account {target}: create one (for example "
            f"`scontrol create PartitionName={target} AllowAccounts={target} Nodes=…` and the same line in "
            "slurm.conf), then plan the move again"
        )
        return
    kind = "partition" if isinstance(holding, Partition) else "reservation"
    added = tuple(dict.fromkeys([*holding.nodes, *names]))
    if added != tuple(holding.nodes):
        plan.changes.append(SlurmChange(kind, holding.name, tuple(holding.nodes), added))
    removals: list[SlurmChange] = []
    for partition in sorted(slurm.partitions.values(), key=lambda p: p.name):
        accounts = partition_accounts(partition)
        if partition.name == holding.name and kind == "partition":
            continue
        if not accounts or target in accounts:
            continue  # open to every account, or admits the target too: the node may stay
        left = tuple(n for n in partition.nodes if n not in names)
        if len(left) != len(partition.nodes):
            removals.append(SlurmChange("partition", partition.name, tuple(partition.nodes), left))
    for reservation in sorted(slurm.reservations, key=lambda r: r.name):
        if reservation.name == holding.name and kind == "reservation":
            continue
        if target in reservation.accounts:
            continue
        left = tuple(n for n in reservation.nodes if n not in names)
        if len(left) != len(reservation.nodes):
            removals.append(SlurmChange("reservation", reservation.name, tuple(reservation.nodes), left))
    for change in removals:
        if not change.after:
            plan.refusals.append(
                f"taking the nodes out would leave {change.kind} {change.name} with no node; Slurm refuses that for a "
                f"reservation and strands the jobs of a partition: delete it by hand, or keep a node in it"
            )
    plan.changes.extend(removals)
    open_partitions = sorted(
        p.name for p in slurm.partitions.values() if not partition_accounts(p) and any(n in p.nodes for n in names)
    )
    if open_partitions:
        plan.notes.append(
            f"partition(s) {', '.join(open_partitions)} admit every account and keep the nodes: jobs of any tenant "
            "may still land there"
        )
    plan.notes.append(
        "partition changes made with scontrol are lost when slurmctld restarts with -c or reads slurm.conf again: "
        "change the Nodes= lines in slurm.conf to match:\n    "
        + "\n    ".join(f"{c.kind} {c.name}: Nodes={compress(list(c.after))}" for c in plan.changes)
    )


def verify_move(plan: MovePlan, slurm: SchedulerAllocations | None, inventory: Inventory) -> list[str]:
    """What still disagrees with the move after it ran (empty: Slurm and the inventory both say the target)."""
    problems: list[str] = []
    target = plan.request.target
    for node in plan.nodes:
        spec_tenant = inventory.node(node.node).tenant if node.node in inventory.names else None
        if spec_tenant != target:
            problems.append(f"{node.node}: the inventory says {spec_tenant or 'no tenant'}, not {target}")
        if slurm is None or not plan.with_scheduler:
            continue
        tenant, why = slurm_tenant(node.slurm_name, slurm)
        if tenant != target:
            problems.append(
                f"{node.node}: Slurm gives it to {tenant or 'no tenant'} ({why or 'no partition names one'})"
            )
        for change in plan.changes:
            holds = change.kind == "partition" and change.name in slurm.partitions
            members = (
                slurm.partitions[change.name].nodes
                if holds
                else next((r.nodes for r in slurm.reservations if r.name == change.name), ())
            )
            if (node.slurm_name in change.after) != (node.slurm_name in members):
                where = "is not in" if node.slurm_name in change.after else "is still in"
                problems.append(f"{node.node} {where} {change.kind} {change.name}")
    return problems


# --- a move as it runs (console.services.tenant_move carries it out) ------------------------------------------


class MoveStep(enum.StrEnum):
    DRAIN = "drain"
    WAIT_JOBS = "wait for jobs"
    SLURM = "change Slurm"
    INVENTORY = "change the inventory"
    RESUME = "resume"
    VERIFY = "verify"


STEPS: Final = tuple(MoveStep)


class JobsDecision(enum.StrEnum):
    """What to do when the jobs did not end in time (the operator is asked)."""

    WAIT = "wait"  # wait as long again
    STOP = "stop"  # stop here: the nodes stay drained
    RESUME = "resume"  # stop and resume the nodes: they stay with their tenant


@dataclass(frozen=True, slots=True)
class MoveProgress:
    move_id: int | None
    step: MoveStep | None
    state: str  # running | done | failed | stopped | skipped
    message: str
    finished: bool = False
    outcome: str | None = None  # done | failed | stopped (when finished)
