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

from dataclasses import dataclass, field
from typing import Final

from console.core.parsers.common import output_summary
from console.core.parsers.node_health import NodeHealth, parse_df, parse_proc
from console.core.parsers.nvidia_xml import GpuDetail, parse_nvidia_xml
from console.core.parsers.xid import XidEvent, parse_kernel_log
from console.core.resources import read_resource
from console.core.samples import NA, Text, Vendor
from console.core.telemetry import FRAME
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


def detail_parts(vendor: Vendor, kernel_log: bool = True) -> list[str]:
    """What a look reads, as the vendor's module says (NVIDIA: its details, the kernel log, the node; others:
    the node), without the kernel log where it is followed live."""
    parts = source_for(vendor).detail_parts
    return [part for part in parts if kernel_log or part != "kernel"]


def detail_argv(vendor: Vendor, since_epoch: float, kernel_log: bool = True) -> list[str]:
    """The slow path's command; ``kernel_log=False`` where the kernel log is followed live instead."""
    parts = " ".join(detail_parts(vendor, kernel_log))
    return ["sh", "-c", DETAILS_SCRIPT, "fleet-console", str(int(since_epoch)), parts]


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


def parse_detail_output(text: str, taken_at: float) -> HealthReport:
    """Split the detail script's output at its frame lines and read each part."""
    parts: dict[str, tuple[str, str]] = {}
    buffer: list[str] = []
    for line in text.splitlines():
        if line.startswith(FRAME):
            words = line.split()
            tool = words[1] if len(words) > 1 else "?"
            status = words[2] if len(words) > 2 else "?"
            parts[tool] = ("\n".join(buffer), status)
            buffer = []
        else:
            buffer.append(line)
    errors: list[str] = []
    driver: Text = NA
    cuda: Text = NA
    gpus: tuple[GpuDetail, ...] = ()
    if "nvidia-xml" in parts:
        xml, status = parts["nvidia-xml"]
        query = parse_nvidia_xml(xml)
        if query.error:
            errors.append(f"nvidia-smi -q -x (exit status {status}): {query.error}")
        driver, cuda, gpus = query.driver_version, query.cuda_version, query.gpus
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
    return HealthReport(taken_at, driver, cuda, gpus, tuple(xids), kernel_log, node, tuple(errors))
