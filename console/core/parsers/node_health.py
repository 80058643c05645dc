"""Node health from /proc and df: load, memory, root disk, uptime and boot time."""

from __future__ import annotations

from dataclasses import dataclass

from console.core.parsers.common import excerpt
from console.core.telemetry.samples import NA, NotAvailable, Reading


@dataclass(frozen=True, slots=True)
class NodeHealth:
    load1: Reading = NA
    load5: Reading = NA
    cpus: int | None = None
    memory_used_pct: Reading = NA
    root_disk_used_pct: Reading = NA
    uptime_s: Reading = NA
    errors: tuple[str, ...] = ()

    def boot_time(self, now: float) -> float | None:
        return None if isinstance(self.uptime_s, NotAvailable) else now - self.uptime_s


def parse_proc(text: str) -> NodeHealth:
    """``cat /proc/loadavg /proc/uptime /proc/meminfo; nproc`` in one go; lines are told apart by shape."""
    load1: Reading = NA
    load5: Reading = NA
    uptime: Reading = NA
    total = available = None
    cpus = None
    errors: list[str] = []
    lines = [line for line in text.splitlines() if line.strip()]
    for line in lines:
        words = line.split()
        try:
            if len(words) == 5 and "/" in words[3]:  # loadavg: "0.52 0.58 0.59 2/789 12345"
                load1, load5 = float(words[0]), float(words[1])
            elif len(words) == 2 and all(_is_number(w) for w in words):  # uptime: "350735.47 1396659.17"
                uptime = float(words[0])
            elif words[0] == "MemTotal:":
                total = float(words[1])
            elif words[0] == "MemAvailable:":
                available = float(words[1])
            elif len(words) == 1 and words[0].isdigit():  # nproc
                cpus = int(words[0])
        except (ValueError, IndexError):
            errors.append(f"unreadable line {excerpt(line)!r}")
    memory: Reading = NA
    if total and available is not None and total > 0:
        memory = round(100.0 * (total - available) / total, 1)
    return NodeHealth(load1, load5, cpus, memory, NA, uptime, tuple(errors))


def parse_df(text: str) -> Reading:
    """``df -P /`` → the root filesystem's use in %."""
    for line in text.splitlines()[1:]:
        words = line.split()
        if len(words) >= 6 and words[4].endswith("%") and words[5] == "/":
            try:
                return float(words[4].rstrip("%"))
            except ValueError:
                return NotAvailable(words[4])
    return NA


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True
