"""Who holds which accelerators: the tenant of each node, from the inventory and from Slurm, and per
accelerator whether a job holds it, busy or idle.

The mapping (the README says it too):

- **Inventory**: a node's ``tenant`` key.
- **Slurm**, where a scheduler is configured, strongest first: an active reservation on the node whose
  ``Accounts=`` names one account; the account of the jobs running on the node, when they all share one;
  the partitions holding the node whose ``AllowAccounts=`` (or ``Accounts=``) name one account. Several
  accounts at one level leave the tenant to the next level; none at all leaves Slurm silent.
- Where both speak and disagree, the node counts under **Slurm's** tenant (what the scheduler enforces)
  and is listed as a disagreement with both words; it is never hidden.

Per accelerator, allocated or not: from the GRES indices of the jobs on the node (``scontrol show job -d``
prints ``GRES=gpu:…(IDX:0-3)``) where Slurm has them; where a job on the node names none, all of the node's
accelerators count as allocated while it runs.

Definitions used everywhere: healthy = the node is up and the accelerator has no open warning or critical
alert (a node-wide alert counts for all its accelerators); unhealthy = up with such an alert; unreachable =
the node in any state but up. Busy = utilisation above the threshold (default 10 %).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from console.core.alerts.config import Severity
from console.core.alerts.incidents import duration_words
from console.core.hostlist import HostlistError, expand
from console.core.parsers.slurm import Partition, SlurmParseError, parse_key_values
from console.core.records.archive_types import MinuteTenancy
from console.core.records.rollup import BUSY_PCT
from console.core.telemetry.fleet import NodeView
from console.core.telemetry.samples import LIVE_STATES, NotAvailable

NO_ACCOUNT: Final = frozenset({"", "(null)", "ALL", "(none)"})
_IDX_RE: Final = re.compile(r"\(IDX:([0-9,\-N/A]+)\)")


# --- Slurm's words ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobAllocation:
    """One running job as ``scontrol show job -d -o`` describes it: who, where, and which GPUs per node
    (None for a node where Slurm lists no GRES indices)."""

    job_id: str
    user: str
    account: str
    state: str
    partition: str
    nodes: tuple[str, ...]
    gpus: Mapping[str, tuple[int, ...] | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reservation:
    name: str
    nodes: tuple[str, ...]
    accounts: tuple[str, ...]
    users: tuple[str, ...]
    state: str


def _indices(text: str) -> tuple[int, ...] | None:
    """``0-3,5`` → (0, 1, 2, 3, 5); ``N/A`` → None."""
    if text in ("", "N/A"):
        return None
    out: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            return None
        out.extend(range(int(low), int(high or low) + 1))
        if len(out) > 1024:
            return None
    return tuple(out)


def _user(text: str) -> str:
    """``bob(1001)`` → ``bob``."""
    return text.split("(", 1)[0]


def parse_show_jobs(text: str) -> list[JobAllocation]:
    """``scontrol show job -d -o``: one line per job; with ``-d`` each line also carries, per group of nodes,
    ``Nodes=… CPU_IDs=… Mem=… GRES=gpu:h100:4(IDX:0-3)``. Running jobs only."""
    jobs: list[JobAllocation] = []
    for line in text.splitlines():
        if not line.startswith("JobId="):
            continue
        head, _, detail = line.partition(" Nodes=")
        fields = parse_key_values(head)
        if fields.get("JobState", "").split()[0:1] != ["RUNNING"]:
            continue
        try:
            nodes = tuple(expand(fields.get("NodeList", ""))) if fields.get("NodeList") not in (None, "(null)") else ()
        except HostlistError as exc:
            raise SlurmParseError(f"job {fields.get('JobId')}: {exc}") from None
        gpus: dict[str, tuple[int, ...] | None] = {}
        for group in detail.split(" Nodes=") if detail else ():
            group_fields = parse_key_values("Nodes=" + group)
            try:
                group_nodes = expand(group_fields.get("Nodes", "").split()[0]) if group_fields.get("Nodes") else []
            except HostlistError:
                continue
            gres = group_fields.get("GRES", "")
            found = _IDX_RE.search(gres) if "gpu" in gres else None
            for node in group_nodes:
                gpus[node] = _indices(found.group(1)) if found else None
        jobs.append(
            JobAllocation(
                job_id=fields.get("JobId", "").split()[0],
                user=_user(fields.get("UserId", "")),
                account=fields.get("Account", "").split()[0] if fields.get("Account") else "",
                state="RUNNING",
                partition=fields.get("Partition", "").split()[0] if fields.get("Partition") else "",
                nodes=nodes,
                gpus=gpus,
            )
        )
    return jobs


def _words(value: str) -> tuple[str, ...]:
    return tuple(w for w in value.split(",") if w and w not in NO_ACCOUNT)


def parse_show_reservations(text: str) -> list[Reservation]:
    """``scontrol show reservation -o``; "No reservations in the system" is none."""
    out: list[Reservation] = []
    for line in text.splitlines():
        if not line.startswith("ReservationName="):
            continue
        fields = parse_key_values(line)
        try:
            nodes = tuple(expand(fields["Nodes"])) if fields.get("Nodes") not in (None, "(null)", "") else ()
        except HostlistError as exc:
            raise SlurmParseError(f"reservation {fields.get('ReservationName')}: {exc}") from None

        out.append(
            Reservation(
                name=fields.get("ReservationName", "").split()[0],
                nodes=nodes,
                accounts=_words(fields.get("Accounts", "")),
                users=_words(fields.get("Users", "")),
                state=fields.get("State", "").split()[0] if fields.get("State") else "",
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class SchedulerAllocations:
    """What Slurm says about tenancy, read at one moment (``problem``: why it could not be read)."""

    partitions: Mapping[str, Partition] = field(default_factory=dict)
    reservations: tuple[Reservation, ...] = ()
    jobs: tuple[JobAllocation, ...] = ()
    problem: str | None = None
    # Built on first use: per Slurm node name, its reservations, running jobs and partitions, so a fleet's
    # tenancy is one pass over Slurm's lists rather than one per node.
    _by_node: dict[str, NodeSlurm] = field(default_factory=dict, init=False, repr=False, compare=False)

    def on_node(self, slurm_name: str) -> NodeSlurm:
        if not self._by_node:
            index: dict[str, NodeSlurm] = {}
            for reservation in self.reservations:
                for node in reservation.nodes:
                    index.setdefault(node, NodeSlurm()).reservations.append(reservation)
            for job in self.jobs:
                for node in job.nodes:
                    index.setdefault(node, NodeSlurm()).jobs.append(job)
            for partition in self.partitions.values():
                for node in partition.nodes:
                    index.setdefault(node, NodeSlurm()).partitions.append(partition)
            self._by_node.update(index)
            self._by_node.setdefault("", NodeSlurm())  # built, even for a Slurm that lists nothing
        return self._by_node.get(slurm_name) or NodeSlurm()


@dataclass(slots=True)
class NodeSlurm:
    """What Slurm's lists say of one node."""

    reservations: list[Reservation] = field(default_factory=list)
    jobs: list[JobAllocation] = field(default_factory=list)
    partitions: list[Partition] = field(default_factory=list)


def _single(accounts: Iterable[str]) -> str | None:
    distinct = {a for a in accounts if a and a not in NO_ACCOUNT}
    return next(iter(distinct)) if len(distinct) == 1 else None


def slurm_tenant(slurm_name: str, slurm: SchedulerAllocations) -> tuple[str | None, str]:
    """The tenant Slurm gives a node, and the words that say where it comes from."""
    mine = slurm.on_node(slurm_name)
    for reservation in mine.reservations:
        if reservation.state == "ACTIVE":
            account = _single(reservation.accounts)
            if account:
                return account, f"reservation {reservation.name}"
    account = _single(j.account for j in mine.jobs)
    if account:
        return account, "running jobs"
    partition_accounts: list[str] = []
    names = []
    for partition in mine.partitions:
        allowed = partition.fields.get("AllowAccounts") or partition.fields.get("Accounts") or ""
        words = [w for w in allowed.split(",") if w and w not in NO_ACCOUNT]
        if words:
            partition_accounts.extend(words)
            names.append(partition.name)
    account = _single(partition_accounts)
    if account:
        return account, f"partition {', '.join(sorted(names))}"
    return None, ""


# --- the model ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeTenancy:
    node: str
    tenant: str | None
    source: str  # inventory, slurm, both, none
    inventory_tenant: str | None
    slurm_tenant: str | None
    slurm_why: str
    # Per accelerator index: the job holding it (None: not allocated).
    holders: Mapping[int, JobAllocation | None]

    @property
    def disagreement(self) -> bool:
        return (
            self.inventory_tenant is not None
            and self.slurm_tenant is not None
            and self.inventory_tenant != self.slurm_tenant
        )


@dataclass(slots=True)
class TenantFigures:
    """One tenant's accelerators (``nodes`` counts nodes)."""

    tenant: str
    nodes: int = 0
    accelerators: int = 0
    healthy: int = 0
    unhealthy: int = 0
    unreachable: int = 0
    allocated: int = 0
    busy: int = 0
    idle_allocated: int = 0
    idle_unallocated: int = 0
    sources: set[str] = field(default_factory=set)
    disagreements: list[dict[str, str | None]] = field(default_factory=list)
    node_names: list[str] = field(default_factory=list)

    def add(self, other: TenantFigures) -> None:
        """Count another row (a node's) into this one."""
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.sources |= other.sources
        self.disagreements.extend(other.disagreements)
        self.node_names.extend(other.node_names)

    @property
    def source(self) -> str:
        """inventory, slurm, or both (nodes of the tenant came from either)."""
        named = self.sources - {"none"}
        if named == {"inventory"}:
            return "inventory"
        if named == {"slurm"}:
            return "slurm"
        return "both" if named else "none"

    def as_json(self) -> dict[str, Any]:
        """The ``tenants --json`` object (fields are only ever added)."""
        return {
            "tenant": None if self.tenant == UNASSIGNED else self.tenant,  # nodes nobody holds
            "nodes": self.nodes,
            "accelerators": self.accelerators,
            "healthy": self.healthy,
            "unhealthy": self.unhealthy,
            "unreachable": self.unreachable,
            "allocated": self.allocated,
            "busy": self.busy,
            "idle_allocated": self.idle_allocated,
            "idle_unallocated": self.idle_unallocated,
            "source": self.source,
            "disagreements": list(self.disagreements),
        }


UNASSIGNED: Final = "(no tenant)"
COUNTS: Final = (
    "nodes",
    "accelerators",
    "healthy",
    "unhealthy",
    "unreachable",
    "allocated",
    "busy",
    "idle_allocated",
    "idle_unallocated",
)


@dataclass(frozen=True, slots=True)
class KnownAccelerators:
    """The accelerators a node had when it was last heard of, for a node that does not answer now: its
    indices and where they are known from, in words ("Slurm's GRES", "the archive, 2026-12-07 03:12 UTC")."""

    indices: tuple[int, ...]
    source: str


def tenancy(view: NodeView, slurm: SchedulerAllocations | None, known: KnownAccelerators | None = None) -> NodeTenancy:
    """Who holds the node and which job each accelerator (``known``: a silent node's last known ones)."""
    inventory_tenant = view.spec.tenant
    slurm_tenant_name, why = (None, "")
    indices_seen = [a.sample.index for a in view.accelerators] or (list(known.indices) if known else [])
    holders: dict[int, JobAllocation | None] = dict.fromkeys(indices_seen)
    if slurm is not None:
        name = view.spec.scheduler_name
        slurm_tenant_name, why = slurm_tenant(name, slurm)
        for job in slurm.on_node(name).jobs:
            indices = job.gpus.get(name)
            for index in holders if indices is None else indices:
                if index in holders:
                    holders[index] = job
    tenant = slurm_tenant_name or inventory_tenant
    if inventory_tenant and slurm_tenant_name:
        source = "both"
    elif slurm_tenant_name:
        source = "slurm"
    elif inventory_tenant:
        source = "inventory"
    else:
        source = "none"
    return NodeTenancy(view.name, tenant, source, inventory_tenant, slurm_tenant_name, why, holders)


def unhealthy(view: NodeView) -> frozenset[int]:
    """The node's accelerators with an open warning or critical alert (a node-wide one marks them all)."""
    serious = [a for a in view.alerts if a.severity >= Severity.WARNING]
    if any(a.accelerator is None for a in serious):
        return frozenset(a.sample.index for a in view.accelerators)
    return frozenset(a.accelerator for a in serious if a.accelerator is not None)


def node_figures(
    view: NodeView, held: NodeTenancy, busy_pct: float = BUSY_PCT, known: KnownAccelerators | None = None
) -> TenantFigures:
    """One node's figures, as a one-node row of its tenant. A node that is not up and never reported its
    accelerators to this console counts ``known`` ones unreachable: its tenant still holds them."""
    row = TenantFigures(held.tenant or UNASSIGNED, nodes=1, node_names=[view.name], sources={held.source})
    if held.disagreement:
        row.disagreements.append(
            {
                "node": view.name,
                "inventory": held.inventory_tenant,
                "slurm": held.slurm_tenant,
                "slurm_why": held.slurm_why,
            }
        )
    up = view.state in LIVE_STATES
    if not up and not view.accelerators and known is not None:
        for index in known.indices:
            row.accelerators += 1
            row.unreachable += 1
            row.allocated += held.holders.get(index) is not None
        return row
    sick = unhealthy(view)
    for accelerator in view.accelerators:
        index = accelerator.sample.index
        row.accelerators += 1
        allocated = held.holders.get(index) is not None
        row.allocated += allocated
        if not up:
            row.unreachable += 1
            continue
        if index in sick:
            row.unhealthy += 1
        else:
            row.healthy += 1
        utilisation = accelerator.sample.utilization_pct
        busy = not isinstance(utilisation, NotAvailable) and utilisation > busy_pct
        row.busy += busy
        if not busy:
            row.idle_allocated += allocated
            row.idle_unallocated += not allocated
    return row


def figures_by_node(
    views: Sequence[NodeView],
    slurm: SchedulerAllocations | None,
    busy_pct: float = BUSY_PCT,
    known: Mapping[str, KnownAccelerators] | None = None,
) -> list[tuple[NodeTenancy, TenantFigures]]:
    """Each node's tenancy and figures (the Tenants view's node rows; ``by_tenant`` sums them); ``known``:
    the last known accelerators of nodes that do not answer, by node name."""
    out = []
    for view in views:
        last = (known or {}).get(view.name)
        held = tenancy(view, slurm, last)
        out.append((held, node_figures(view, held, busy_pct, last)))
    return out


def by_tenant(nodes: Iterable[tuple[NodeTenancy, TenantFigures]]) -> list[TenantFigures]:
    """One row per tenant (and one for nodes nobody holds, last), by tenant name."""
    rows: dict[str, TenantFigures] = {}
    for _, node in nodes:
        row = rows.setdefault(node.tenant, TenantFigures(node.tenant))
        row.add(node)
    return [rows[name] for name in sorted(rows, key=lambda n: (n == UNASSIGNED, n))]


def tenant_figures(
    views: Sequence[NodeView],
    slurm: SchedulerAllocations | None,
    busy_pct: float = BUSY_PCT,
    known: Mapping[str, KnownAccelerators] | None = None,
) -> list[TenantFigures]:
    """One row per tenant (and one for nodes nobody holds), by tenant name."""
    return by_tenant(figures_by_node(views, slurm, busy_pct, known))


def known_accelerators(
    silent: Sequence[str],
    gres: Mapping[str, int | None],
    archived: Mapping[str, tuple[float, tuple[int, ...]]],
) -> dict[str, KnownAccelerators]:
    """For nodes that did not answer (``silent``): their accelerators as this console's archive last saw them
    (their real indices), else as many as Slurm's GRES gives the node (indices 0…n-1, as Slurm numbers them).
    A node in neither is left out: the caller says it is not counted."""
    out = {}
    for name in silent:
        if name in archived:
            when, indices = archived[name]
            stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(when))
            out[name] = KnownAccelerators(indices, f"the telemetry archive (last reported {stamp})")
        elif gres.get(name):
            out[name] = KnownAccelerators(tuple(range(gres[name] or 0)), "Slurm's GRES for the node")
    return out


def idle_capacity(rows: Sequence[TenantFigures]) -> tuple[int, int]:
    """Accelerators idle (up, under the threshold) across the fleet, and all accelerators."""
    idle = sum(r.idle_allocated + r.idle_unallocated for r in rows)
    return idle, sum(r.accelerators for r in rows)


# --- idle capacity ----------------------------------------------------------------------------------------


class IdleTracker:
    """Since when each accelerator has been idle (every archived minute under the threshold), kept by the
    archive's writer from the minutes it writes; seeded from the archive at start, so a restart does not
    forget a streak. Thread-safe enough: one writer replaces whole entries, readers copy the dict."""

    def __init__(self, busy_pct: float = BUSY_PCT) -> None:
        self.busy_pct = busy_pct
        self.since: dict[tuple[str, int], float] = {}
        # The first minute it has seen (seeded from the archive or live): no streak can be older.
        self.watching_since: float | None = None

    def minute(self, node: str, start: float, utilisation: Mapping[int, float], up: bool) -> None:
        """One node's minute: mean utilisation per accelerator (NaN: not reported)."""
        if self.watching_since is None or start < self.watching_since:
            self.watching_since = start
        for index, value in utilisation.items():
            key = (node, index)
            if up and not math.isnan(value) and value <= self.busy_pct:
                self.since.setdefault(key, start)
            else:
                self.since.pop(key, None)
        if not up:
            for key in [k for k in self.since if k[0] == node]:
                del self.since[key]

    def snapshot(self) -> dict[tuple[str, int], float]:
        return dict(self.since)


def watch_words(watching_since: float | None, now: float, longer_than_s: float) -> str:
    """How long the idle finder has been watching, and so which streaks it can show yet: "watching for 12 min:
    idle streaks of 30 min show from 12:43" — an empty list right after a start is not an idle-free fleet."""
    wanted = duration_words(longer_than_s)
    if watching_since is None:
        return f"not watching yet: the first minute is taken a minute after the start; streaks of {wanted} follow"
    watched = max(0.0, now - watching_since)
    if watched < longer_than_s:
        shows = time.strftime("%H:%M", time.localtime(watching_since + longer_than_s))
        return f"watching for {duration_words(watched)}: idle streaks of {wanted} show from {shows}"
    return f"watching for {duration_words(watched)}"


def job_words(job: JobAllocation | None, slurm_known: bool) -> str:
    """The finder's job cell: the job, or why there is none (no Slurm to ask, or no job holds the GPU)."""
    if job is not None:
        return job.job_id
    return "no job holds it" if slurm_known else "no Slurm configured"


@dataclass(frozen=True, slots=True)
class IdleAccelerator:
    node: str
    index: int
    tenant: str | None
    idle_since: float
    idle_s: float
    job: JobAllocation | None

    @property
    def wasted_hours(self) -> float:
        """Accelerator-hours idle so far (one accelerator)."""
        return self.idle_s / 3600.0

    def as_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "accelerator": self.index,
            "tenant": self.tenant,
            "idle_minutes": round(self.idle_s / 60),
            "wasted_accelerator_hours": round(self.wasted_hours, 2),
            "job": self.job.job_id if self.job else None,
            "user": self.job.user if self.job else None,
            "account": self.job.account if self.job else None,
        }


def idle_accelerators(
    views: Sequence[NodeView],
    slurm: SchedulerAllocations | None,
    since: Mapping[tuple[str, int], float],
    now: float,
    longer_than_s: float = 1800.0,
    allocated_only: bool = False,
) -> list[IdleAccelerator]:
    """Accelerators idle for longer than ``longer_than_s`` while held by a tenant (or, with
    ``allocated_only``, while a job holds them), the most accelerator-hours wasted first."""
    out = []
    for view in views:
        held = tenancy(view, slurm)
        if held.tenant is None and not allocated_only:
            continue
        for accelerator in view.accelerators:
            index = accelerator.sample.index
            started = since.get((view.name, index))
            if started is None or now - started < longer_than_s:
                continue
            job = held.holders.get(index)
            if allocated_only and job is None:
                continue
            out.append(IdleAccelerator(view.name, index, held.tenant, started, now - started, job))
    return sorted(out, key=lambda a: (-a.idle_s, a.node, a.index))


def minute_tenancy(views: Sequence[NodeView], slurm: SchedulerAllocations | None) -> dict[str, MinuteTenancy]:
    """Each node's tenancy now, for the archive's minute: its tenant, the GPUs a job holds, the GPUs with an
    open warning or critical alert (a node-wide one marks them all), and its accelerators as known."""
    out = {}
    for view in views:
        held = tenancy(view, slurm)
        indices = tuple(a.sample.index for a in view.accelerators)
        out[view.name] = MinuteTenancy(
            tenant=held.tenant,
            allocated=frozenset(i for i, job in held.holders.items() if job is not None),
            unhealthy=unhealthy(view),
            indices=indices,
        )
    return out
