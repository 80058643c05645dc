"""The slow path: every 30 s (configurable) one command per node, on its existing connection, that reports
what does not change every second — NVIDIA's ``nvidia-smi -q -x`` (ECC, retired pages, remapped rows,
throttle reasons, PCIe, driver), new kernel-log lines (XID events), and the node's own health (load,
memory, root disk, uptime → boot time).

The script is a file shipped with the console (resources/scripts/details.sh); its text is constant, the
epoch of the last look and the parts to read are its arguments, quoted by ``shlex.join`` like every other.
Kernel log: ``journalctl -k`` where it exists, else ``dmesg``; an account that may not read it gets a "no
permission" state, not an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Final

from console.core.parsers.common import output_summary
from console.core.parsers.node_health import NodeHealth, parse_df, parse_proc
from console.core.parsers.nvidia_health import HEALTH_FIELDS_OLDER, HEALTH_FIELDS_RECENT, parse_health_csv
from console.core.parsers.nvidia_xml import GpuDetail, parse_nvidia_xml
from console.core.parsers.xid import XidEvent, parse_kernel_log
from console.core.resources import read_resource
from console.core.telemetry.samples import NA, NotAvailable, Text, Vendor
from console.core.telemetry.sources import FRAME
from console.core.vendors import source_for

DETAIL_INTERVAL_S: Final = 30.0


# A journalctl that finds no journal (no journald on the node) or may read only the user's own journal
# says so on stderr and still exits 0 with "-- No entries --": the node-side scripts look for these words
# (resources/scripts/details.sh, kernel-follow.sh), and so does the parser.
JOURNAL_EMPTY_WORDS: Final = ("No journal files were", "not seeing messages from other users")
# The slow path's look (resources/scripts/details.sh): its parts are arguments.
DETAILS_SCRIPT: Final = read_resource("scripts/details.sh")
# The kernel log followed live on the node's connection (resources/scripts/kernel-follow.sh): an idle
# channel read by the hub's selector, no thread; journalctl from ``$1`` (the epoch of the last line seen)
# where the system journal can be read, else ``dmesg -w`` (the whole ring buffer first; repeats are dropped
# by the fleet model). The first line names the tool.
KERNEL_FOLLOW_SCRIPT: Final = read_resource("scripts/kernel-follow.sh")
FOLLOW_TOOL_PREFIX: Final = f"{FRAME} follow "
# How far back the first follow of a node reads (later ones start where the last one stopped).
KERNEL_LOOKBACK_S: Final = 3600.0


def kernel_follow_argv(since_epoch: float) -> list[str]:
    return ["sh", "-c", KERNEL_FOLLOW_SCRIPT, "fleet-console", str(int(since_epoch))]


NO_PERMISSION_WORDS: Final = (
    "operation not permitted",
    "permission denied",
    "not seeing messages",
    "no journal files were found",
)


def detail_parts(vendor: Vendor, kernel_log: bool = True, full: bool = True) -> list[str]:
    """What a look reads, as the vendor's module says (NVIDIA: its details, the kernel log, the node; others:
    the node), without the kernel log where it is followed live. ``full=False``: NVIDIA's health fields
    alone (``nvidia-health``) instead of the whole ``-q -x`` (see console.core.parsers.nvidia_health)."""
    parts = source_for(vendor).detail_parts
    out = [part for part in parts if kernel_log or part != "kernel"]
    return out if full else ["nvidia-health" if part == "nvidia" else part for part in out]


def detail_argv(vendor: Vendor, since_epoch: float, kernel_log: bool = True, full: bool = True) -> list[str]:
    """The slow path's command; ``kernel_log=False`` where the kernel log is followed live instead."""
    parts = detail_parts(vendor, kernel_log, full)
    argv = ["sh", "-c", DETAILS_SCRIPT, "fleet-console", str(int(since_epoch)), " ".join(parts)]
    if "nvidia-health" in parts:
        argv += [",".join(HEALTH_FIELDS_RECENT), ",".join(HEALTH_FIELDS_OLDER)]
    return argv


@dataclass(frozen=True, slots=True)
class HealthReport:
    """One slow-path look at a node."""

    taken_at: float
    driver_version: Text = NA
    cuda_version: Text = NA
    gpus: tuple[GpuDetail, ...] = ()
    xids: tuple[XidEvent, ...] = ()
    kernel_log: str = "not read"  # "read", "no permission: …", "unavailable: …"
    node: NodeHealth = field(default_factory=NodeHealth)
    errors: tuple[str, ...] = ()
    # Where the GPU details came from: "-q -x", "--query-gpu" (the health fields alone) or "" (none read);
    # and whether the node's driver refused the health query (it then answered with -q -x).
    details_from: str = ""
    health_query_refused: bool = False

    def with_earlier(self, earlier: HealthReport | None) -> HealthReport:
        """The health query does not say the CUDA version: the last full look's, while the driver is the
        same."""
        if (
            earlier is None
            or self.details_from != "--query-gpu"
            or not isinstance(self.cuda_version, NotAvailable)
            or earlier.driver_version != self.driver_version
        ):
            return self
        return replace(self, cuda_version=earlier.cuda_version)


def _gpu_details(
    parts: dict[str, tuple[str, str]], health_answers: list[tuple[str, str]], errors: list[str]
) -> tuple[Text, Text, tuple[GpuDetail, ...], str]:
    """(driver, CUDA, GPUs, where they came from) of a look: its -q -x where the script read it (asked, or
    the health query refused), else its last answered health query."""
    if "nvidia-xml" in parts:
        xml, status = parts["nvidia-xml"]
        query = parse_nvidia_xml(xml)
        if query.error:
            errors.append(f"nvidia-smi -q -x (exit status {status}): {query.error}")
        return query.driver_version, query.cuda_version, query.gpus, "-q -x"
    answered = [answer for answer, status in health_answers if status == "0"]
    if not answered:
        return NA, NA, (), ""
    query = parse_health_csv(answered[-1])
    if query.error:
        errors.append(f"nvidia-smi --query-gpu: {query.error}")
    return query.driver_version, NA, query.gpus, "--query-gpu"


def parse_detail_output(text: str, taken_at: float) -> HealthReport:
    """Split the detail script's output at its frame lines and read each part."""
    parts: dict[str, tuple[str, str]] = {}
    health_answers: list[tuple[str, str]] = []  # the health query may be asked twice (two drivers' names)
    buffer: list[str] = []
    for line in text.splitlines():
        if line.startswith(FRAME):
            words = line.split()
            tool = words[1] if len(words) > 1 else "?"
            status = words[2] if len(words) > 2 else "?"
            parts[tool] = ("\n".join(buffer), status)
            if tool == "nvidia-health":
                health_answers.append(parts[tool])
            buffer = []
        else:
            buffer.append(line)
    errors: list[str] = []
    driver, cuda, gpus, details_from = _gpu_details(parts, health_answers, errors)
    refused = bool(health_answers) and all(status != "0" for _, status in health_answers)
    xids: list[XidEvent] = []
    kernel_log = "not read"
    problems: list[str] = []
    for tool in ("journalctl", "dmesg"):
        if tool not in parts:
            continue
        log, status = parts[tool]
        if tool == "journalctl" and status == "0" and any(words in log for words in JOURNAL_EMPTY_WORDS):
            status = "2"  # exit 0, yet it read no system journal (see _KERNEL_LOG)
        if status in ("0", "?"):
            kernel_log = "read"
            xids += parse_kernel_log(log.splitlines())
            break
        lowered = log.lower()
        if any(words in lowered for words in NO_PERMISSION_WORDS):
            problems.append(f"no permission: {tool}: {output_summary(log, 120)}")
        else:
            problems.append(f"unavailable: {tool} exited with status {status}: {output_summary(log, 120)}")
    if kernel_log != "read" and problems:
        permission = [p for p in problems if p.startswith("no permission")]
        kernel_log = permission[-1] if permission else problems[-1]
    node = parse_proc(parts["proc"][0]) if "proc" in parts else NodeHealth()
    if "df" in parts:
        node = NodeHealth(
            node.load1,
            node.load5,
            node.cpus,
            node.memory_used_pct,
            parse_df(parts["df"][0]),
            node.uptime_s,
            node.errors,
        )
    if not parts:
        errors.append(f"no readable output: {output_summary(text, 200) or 'nothing'}")
    return HealthReport(
        taken_at, driver, cuda, gpus, tuple(xids), kernel_log, node, tuple(errors), details_from, refused
    )


# How often a node's slow-path look reads the whole ``nvidia-smi -q -x`` when the health fields alone
# would do: what the query cannot say (the CUDA version, anything a driver reports only there) stays at
# most this old.
FULL_LOOK_EVERY_S: Final = 600.0


class FullLooks:
    """Which of a node's looks read the whole ``-q -x`` and which the health fields alone.

    Full: the first look, one every FULL_LOOK_EVERY_S, the look after the node's GPUs changed (a UUID the
    last full look did not list), and every look while the node's driver refuses the health query (it
    would answer with -q -x anyway, after two refused queries); the query is tried again after
    FULL_LOOK_EVERY_S. Not thread-safe: one caller per node at a time (the slow path's busy set)."""

    def __init__(self, every_s: float = FULL_LOOK_EVERY_S) -> None:
        self.every_s = every_s
        self._full_at: dict[str, float] = {}
        self._refused_at: dict[str, float] = {}
        self._uuids: dict[str, frozenset[str]] = {}
        self._changed: set[str] = set()
        self._earlier: dict[str, HealthReport] = {}

    def wants_full(self, node: str, now: float) -> bool:
        if node in self._changed or now - self._full_at.get(node, -math.inf) >= self.every_s:
            return True
        return now - self._refused_at.get(node, -math.inf) < self.every_s

    def record(self, node: str, report: HealthReport) -> HealthReport:
        """Note what a look read; returns the report with what the health query cannot say carried over."""
        uuids = frozenset(g.uuid for g in report.gpus if isinstance(g.uuid, str))
        if report.details_from == "-q -x":
            self._full_at[node] = report.taken_at
            self._uuids[node] = uuids
            self._changed.discard(node)
        elif report.details_from == "--query-gpu" and not uuids <= self._uuids.get(node, frozenset()):
            self._changed.add(node)
        if report.health_query_refused:
            self._refused_at[node] = report.taken_at
        report = report.with_earlier(self._earlier.get(node))
        if report.details_from:
            self._earlier[node] = report
        return report
