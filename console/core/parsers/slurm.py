"""Slurm's text outputs: ``scontrol show node`` (one-line and multi-line), ``scontrol show partition -o``,
and the ``squeue`` format the console asks for.

``key=value`` fields are found by known key names followed by ``=`` at a word start; ``Reason`` is cut at
its ``[user@time]`` stamp so a reason holding ``x=y`` or spaces is kept whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from console.core.hostlist import HostlistError, expand
from console.core.parsers.common import excerpt

_KEY_RE: Final = re.compile(r"(?:^|\s)([A-Z][A-Za-z0-9_]*)=")
# One GRES of a node's ``Gres=``: ``gpu:8``, ``gpu:a100:4(S:0-1)``, ``gpu:nvidia-rtx-3090:1``; the count is
# the last field before any socket binding. Several types are listed comma-separated and summed.
_GPU_GRES_RE: Final = re.compile(r"^gpu(?::[^:(]+)*?:(\d+)(?:\(|$)")
_REASON_RE: Final = re.compile(
    r"(?:^|\s)Reason=(?P<text>.*?) \[(?P<who>[^@\]\s]+)@(?P<when>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\]", re.DOTALL
)

# Node state flags that mean "a reboot is pending or under way".
REBOOT_FLAGS: Final = frozenset({"REBOOT_REQUESTED", "REBOOT_ISSUED", "REBOOT"})


class SlurmParseError(ValueError):
    pass


def parse_key_values(text: str) -> dict[str, str]:
    """Generic ``Key=value Key=value …``; a value runs to the next ``Key=`` at a word start."""
    matches = list(_KEY_RE.finditer(text))
    fields: dict[str, str] = {}
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        fields.setdefault(match.group(1), text[match.end() : end].strip())
    return fields


@dataclass(frozen=True, slots=True)
class SlurmNode:
    name: str
    state: str  # base state, e.g. IDLE, MIXED, ALLOCATED, DOWN
    flags: frozenset[str]  # DRAIN, REBOOT_REQUESTED, NOT_RESPONDING, …
    reason: str | None
    reason_by: str | None
    reason_at: str | None
    partitions: tuple[str, ...]
    boot_time: str | None
    raw_state: str
    gpus: int | None = None  # the GPUs Slurm's ``Gres=`` gives the node (None: no GPU GRES configured)

    @property
    def drained(self) -> bool:
        return "DRAIN" in self.flags

    @property
    def draining(self) -> bool:
        return self.drained and self.state in {"ALLOCATED", "MIXED", "COMPLETING"}

    @property
    def down(self) -> bool:
        return self.state == "DOWN"

    @property
    def reboot_pending(self) -> bool:
        return bool(self.flags & REBOOT_FLAGS)

    @property
    def summary(self) -> str:
        words = self.raw_state
        if self.reason:
            words += f" — {self.reason}"
            if self.reason_by:
                words += f" [{self.reason_by}@{self.reason_at}]"
        return words


def _node_from_fields(fields: dict[str, str], text: str) -> SlurmNode:
    name = fields.get("NodeName", "").split()[0] if fields.get("NodeName") else ""
    if not name:
        raise SlurmParseError(f"no NodeName in {excerpt(text)!r}")
    raw_state = fields.get("State", "").split()[0] if fields.get("State") else "UNKNOWN"
    base, *flags = raw_state.split("+")
    # Suffixes such as '*' (not responding) or '~' (powered off) in sinfo-style short states.
    base = base.rstrip("*~#!%$@^-")
    reason = reason_by = reason_at = None
    found = _REASON_RE.search(text)
    if found:
        reason, reason_by, reason_at = found.group("text").strip(), found.group("who"), found.group("when")
    elif fields.get("Reason"):
        reason = fields["Reason"]
    partitions = tuple(p for p in fields.get("Partitions", "").split(",") if p and p != "(null)")
    return SlurmNode(
        name=name,
        state=base,
        flags=frozenset(flags),
        reason=reason,
        reason_by=reason_by,
        reason_at=reason_at,
        partitions=partitions,
        boot_time=fields.get("BootTime") or None,
        raw_state=raw_state,
        gpus=gres_gpus(fields.get("Gres", "")),
    )


def gres_gpus(gres: str) -> int | None:
    """The GPUs in a node's ``Gres=`` value (``gpu:h100:4(S:0),gpu:a100:4`` → 8); None without a GPU GRES."""
    counts = [int(found.group(1)) for item in gres.split(",") if (found := _GPU_GRES_RE.match(item.strip()))]
    return sum(counts) if counts else None


def parse_show_node(text: str) -> dict[str, SlurmNode]:
    """``scontrol show node [-o]`` for one or many nodes → name → node."""
    records: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("NodeName=") and current:
            records.append("\n".join(current))
            current = []
        if line.strip() or current:
            current.append(line)
    if current:
        records.append("\n".join(current))
    nodes: dict[str, SlurmNode] = {}
    for record in records:
        if not record.strip():
            continue
        if not record.lstrip().startswith("NodeName="):
            # scontrol's complaints ("Node x not found") arrive on stdout in some versions.
            raise SlurmParseError(f"not node information: {excerpt(record.strip())!r}")
        node = _node_from_fields(parse_key_values(record), record)
        nodes[node.name] = node
    return nodes


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    nodes_expr: str
    nodes: tuple[str, ...]
    state: str
    default: bool
    fields: dict[str, str] = field(default_factory=dict)


def parse_show_partitions(text: str) -> dict[str, Partition]:
    """``scontrol show partition -o`` (or the multi-line form) → name → partition."""
    blocks: list[str] = []
    for line in text.splitlines():
        if line.startswith("PartitionName="):
            blocks.append(line)
        elif blocks and line.strip():
            blocks[-1] += " " + line.strip()
    partitions: dict[str, Partition] = {}
    for block in blocks:
        fields = parse_key_values(block)
        name = fields.get("PartitionName", "").split()[0]
        nodes_expr = fields.get("Nodes", "")
        try:
            members = tuple(expand(nodes_expr)) if nodes_expr and nodes_expr != "(null)" else ()
        except HostlistError as exc:
            raise SlurmParseError(f"partition {name}: {exc}") from None
        partitions[name] = Partition(
            name=name,
            nodes_expr=nodes_expr,
            nodes=members,
            state=fields.get("State", ""),
            default=fields.get("Default", "NO") == "YES",
            fields=fields,
        )
    return partitions


# squeue -h -o with the job name last, so a '|' in a job name cannot shift the other columns.
SQUEUE_FORMAT: Final = "%i|%u|%a|%T|%M|%P|%N|%j"


@dataclass(frozen=True, slots=True)
class Job:
    job_id: str
    user: str
    account: str
    state: str
    elapsed: str
    partition: str
    nodes: tuple[str, ...]
    name: str


def parse_squeue(text: str) -> list[Job]:
    jobs = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split("|", 7)
        if len(parts) != 8:
            raise SlurmParseError(f"unexpected squeue line {excerpt(line)!r}")
        job_id, user, account, state, elapsed, partition, nodes_expr, name = parts
        try:
            nodes = tuple(expand(nodes_expr)) if nodes_expr and nodes_expr != "(null)" else ()
        except HostlistError:
            nodes = (nodes_expr,)
        jobs.append(Job(job_id, user, account, state, elapsed, partition, nodes, name))
    return jobs


# --- Slurm's node state in short, distinct words (the fleet table's Slurm column) ----------------------------

_BASE_WORDS: Final = {
    "IDLE": "idle",
    "ALLOCATED": "allocated",
    "ALLOC": "allocated",
    "MIXED": "mixed",
    "DOWN": "down",
    "COMPLETING": "completing",
    "FUTURE": "future",
    "UNKNOWN": "unknown",
}
_FLAG_WORDS: Final = {
    "REBOOT_REQUESTED": "reboot pending",
    "REBOOT_ISSUED": "rebooting",
    "NOT_RESPONDING": "not responding",
    "FAIL": "failing",
    "MAINT": "maint",
    "RESERVED": "reserved",
    "POWERED_DOWN": "powered down",
    "POWERING_DOWN": "powering down",
    "POWERING_UP": "powering up",
    "POWER_DOWN": "power down asked",
    "PLANNED": "planned",
    "INVALID_REG": "invalid registration",
    "CLOUD": "cloud",
    "COMPLETING": "completing",
}
# Flags that take a node out of service, or say it is about to be (what "Problems only" shows).
_OUT_OF_SERVICE_FLAGS: Final = frozenset(
    {"DRAIN", "REBOOT_REQUESTED", "REBOOT_ISSUED", "NOT_RESPONDING", "FAIL", "POWERED_DOWN", "POWERING_DOWN"}
)


@dataclass(frozen=True, slots=True)
class SlurmStateWords:
    """``ALLOCATED+DRAIN`` → "draining"; ``IDLE+DRAIN`` → "drained"; each flag a word of its own."""

    words: str
    out_of_service: bool  # drained, draining, down, failing, not responding, rebooting or about to
    drained: bool  # DRAIN: no new job starts there (draining or drained)


def state_words(raw: str) -> SlurmStateWords:
    """Slurm's state word (``MIXED+DRAIN+REBOOT_REQUESTED``) in short words that tell the states apart
    (``draining · reboot pending``); an unknown flag is kept, lower-cased."""
    text = (raw or "").strip().rstrip("*~#!%$@^-")
    if not text:
        return SlurmStateWords("", False, False)
    base, *flags = text.split("+")
    drain = "DRAIN" in flags
    if drain and base in {"ALLOCATED", "ALLOC", "MIXED", "COMPLETING"}:
        words = ["draining"]
    elif drain and base == "IDLE":
        words = ["drained"]
    elif drain:
        words = [_BASE_WORDS.get(base, base.lower()), "drained"]
    else:
        words = [_BASE_WORDS.get(base, base.lower().replace("_", " "))]
    for flag in flags:
        if flag == "DRAIN":
            continue
        word = _FLAG_WORDS.get(flag, flag.lower().replace("_", " "))
        if word not in words:
            words.append(word)
    out = base == "DOWN" or bool(set(flags) & _OUT_OF_SERVICE_FLAGS)
    return SlurmStateWords(" · ".join(words), out, drain)
