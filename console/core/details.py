"""The slow path: every 30 s (configurable) one command per node, on its existing connection, that reports
what does not change every second — NVIDIA's ``nvidia-smi -q -x`` (ECC, retired pages, remapped rows,
throttle reasons, PCIe, driver), new kernel-log lines (XID events), and the node's own health (load,
memory, root disk, uptime → boot time).

The script is constant text; the only value passed is the epoch of the last look, as ``$1``, an argument
quoted by ``shlex.join`` like every other. Kernel log: ``journalctl -k`` where it exists, else ``dmesg``;
an account that may not read it gets a "no permission" state, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from console.core.parsers.common import output_summary
from console.core.parsers.node_health import NodeHealth, parse_df, parse_proc
from console.core.parsers.nvidia_xml import GpuDetail, parse_nvidia_xml
from console.core.parsers.xid import XidEvent, parse_kernel_log
from console.core.samples import NA, Text, Vendor
from console.core.telemetry import FRAME, frame_command

DETAIL_INTERVAL_S: Final = 30.0


# journalctl where it works (only lines since the last look); else dmesg (the whole ring buffer, which the
# console de-duplicates). A journalctl that finds no journal (no journald on the node) or may read only the
# user's own journal says so on stderr and still exits 0 with "-- No entries --": those words are looked
# for, and dmesg is read instead, so such a node is not reported as read while nothing was seen.
JOURNAL_EMPTY_WORDS: Final = ("No journal files were", "not seeing messages from other users")
_KERNEL_LOG: Final = (
    "s=127; if command -v journalctl >/dev/null 2>&1; then "
    'out=$(journalctl -k -o short-iso --no-pager --since "@$1" 2>&1); s=$?; '
    + "".join(f'case "$out" in *"{words}"*) [ "$s" = 0 ] && s=2;; esac; ' for words in JOURNAL_EMPTY_WORDS)
    + "printf '%s' \"$out\"; "
    f"printf '\\n{FRAME} journalctl %s\\n' \"$s\"; fi; "
    f'if [ "$s" != 0 ]; then dmesg --decode --time-format=iso 2>&1; {frame_command("dmesg")}; fi'
)
_NODE: Final = (
    f"cat /proc/loadavg /proc/uptime /proc/meminfo 2>&1; nproc 2>&1; {frame_command('proc')}; "
    f"df -P / 2>&1; {frame_command('df')}"
)
NVIDIA_DETAIL_SCRIPT: Final = f"nvidia-smi -q -x 2>&1; {frame_command('nvidia-xml')}; {_KERNEL_LOG}; {_NODE}"
# Where the kernel log is followed live (below), the slow path leaves it out.
NVIDIA_DETAIL_SCRIPT_FOLLOWED: Final = f"nvidia-smi -q -x 2>&1; {frame_command('nvidia-xml')}; {_NODE}"
NODE_DETAIL_SCRIPT: Final = _NODE

# Followed on the node's streaming connection, beside its telemetry: kernel messages as the kernel writes
# them (an idle channel, read by the hub's selector; no thread). journalctl where the system journal can be
# read, from ``$1`` (the epoch of the last line seen, so nothing is missed across reconnects); else ``dmesg
# -w``, which prints the whole ring buffer first (repeats are dropped by the fleet model). The first line
# names the tool; a tool that ends (no permission, no dmesg) ends the channel with its words on stderr.
FOLLOW_TOOL_PREFIX: Final = f"{FRAME} follow "
KERNEL_FOLLOW_SCRIPT: Final = (
    "if command -v journalctl >/dev/null 2>&1; then "
    "probe=$(journalctl -k -n 1 --no-pager 2>&1); ok=$?; "
    'case "$probe" in ' + "|".join(f'*"{words}"*' for words in JOURNAL_EMPTY_WORDS) + ") ok=1;; esac; "
    f"if [ \"$ok\" = 0 ]; then printf '{FOLLOW_TOOL_PREFIX}journalctl\\n'; "
    'exec journalctl -k -f -o short-iso --no-pager --since "@$1"; fi; fi; '
    f"printf '{FOLLOW_TOOL_PREFIX}dmesg\\n'; exec dmesg -w --decode --time-format=iso"
)
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


def detail_argv(vendor: Vendor, since_epoch: float, kernel_log: bool = True) -> list[str]:
    """The slow path's command; ``kernel_log=False`` where the kernel log is followed live instead."""
    if vendor not in (Vendor.NVIDIA, Vendor.AUTO):
        script = NODE_DETAIL_SCRIPT
    else:
        script = NVIDIA_DETAIL_SCRIPT if kernel_log else NVIDIA_DETAIL_SCRIPT_FOLLOWED
    return ["sh", "-c", script, "fleet-console", str(int(since_epoch))]


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
