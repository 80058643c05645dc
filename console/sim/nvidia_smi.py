"""The simulated node's ``nvidia-smi``: the same arguments, the same output formats as the real tool.

Formats follow the recordings in ../shared/fixtures/nvidia/ (driver 565-595): ``", "`` between values,
units after a space (``100 %``, ``19818 MiB``, ``631.95 W``, ``1980 MHz``) unless ``nounits``, headers
``utilization.gpu [%]``, ``[N/A]`` where a board has no such sensor, timestamps ``YYYY/MM/DD HH:MM:SS.mmm``
in the node's local time, and the real error for an unknown field.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from console.sim.model import DRIVER_VERSION, GPUS_PER_NODE, GpuReading, SimNode, ecc_counts

NA: Final = "[N/A]"


def _fmt_w(value: float) -> str:
    return f"{value:.2f}"


def _fmt_int(value: float) -> str:
    return f"{value:.0f}"


def _event_mask(reading: GpuReading) -> str:
    """nvmlClocksEventReason bits as -q -x shows them: idle (0x1); thermal throttling sets both the HW
    slowdown (0x8) and the HW thermal slowdown (0x40)."""
    mask = (0x1 if reading.utilization_pct < 2 else 0) | (0x48 if reading.throttled else 0)
    return f"0x{mask:016x}"


Field = tuple[str, Callable[[SimNode, GpuReading, float], str]]

# field name → (unit shown in the header and after values, value)
FIELDS: Final[dict[str, Field]] = {
    "timestamp": ("", lambda n, g, t: _timestamp(t)),
    "driver_version": ("", lambda n, g, t: DRIVER_VERSION),
    "count": ("", lambda n, g, t: str(GPUS_PER_NODE)),
    "name": ("", lambda n, g, t: n.model.name),
    "serial": ("", lambda n, g, t: f"{1650923000000 + n.index * 8 + g.index:013d}"),
    "uuid": ("", lambda n, g, t: _uuid(n, g.index)),
    "pci.bus_id": ("", lambda n, g, t: _bus_id(g.index)),
    "pci.device_id": ("", lambda n, g, t: n.model.pci_device_id),
    "index": ("", lambda n, g, t: str(g.index)),
    "persistence_mode": ("", lambda n, g, t: "Enabled"),
    "compute_mode": ("", lambda n, g, t: "Default"),
    "pstate": ("", lambda n, g, t: g.pstate),
    "fan.speed": ("%", lambda n, g, t: NA if g.fan_pct is None else _fmt_int(g.fan_pct)),
    "utilization.gpu": ("%", lambda n, g, t: _fmt_int(g.utilization_pct)),
    "utilization.memory": ("%", lambda n, g, t: _fmt_int(g.utilization_pct * 0.6)),
    "memory.total": ("MiB", lambda n, g, t: str(n.model.memory_total_mib)),
    "memory.used": ("MiB", lambda n, g, t: _fmt_int(g.memory_used_mib)),
    "memory.free": ("MiB", lambda n, g, t: _fmt_int(n.model.memory_total_mib - g.memory_used_mib)),
    "temperature.gpu": ("", lambda n, g, t: _fmt_int(g.temperature_c)),
    "temperature.memory": ("", lambda n, g, t: _fmt_int(g.temperature_c + 6)),
    "power.draw": ("W", lambda n, g, t: _fmt_w(g.power_w)),
    "power.limit": ("W", lambda n, g, t: _fmt_w(n.model.power_limit_w)),
    "enforced.power.limit": ("W", lambda n, g, t: _fmt_w(n.model.power_limit_w)),
    "power.default_limit": ("W", lambda n, g, t: _fmt_w(n.model.power_limit_w)),
    "clocks.current.sm": ("MHz", lambda n, g, t: _fmt_int(g.sm_clock_mhz)),
    "clocks.current.graphics": ("MHz", lambda n, g, t: _fmt_int(g.sm_clock_mhz)),
    "clocks.max.sm": ("MHz", lambda n, g, t: str(n.model.max_sm_clock_mhz)),
    "clocks_event_reasons.active": ("", lambda n, g, t: _event_mask(g)),
    "clocks_event_reasons.hw_thermal_slowdown": ("", lambda n, g, t: "Active" if g.throttled else "Not Active"),
    # The slow path's health fields: the same counters and faults as the simulated -q -x (sim.details).
    "vbios_version": ("", lambda n, g, t: "96.00.89.00.01"),
    "pcie.link.gen.current": ("", lambda n, g, t: "5"),
    "pcie.link.gen.max": ("", lambda n, g, t: "5"),
    "pcie.link.width.current": ("", lambda n, g, t: "16"),
    "pcie.link.width.max": ("", lambda n, g, t: "16"),
    "ecc.mode.current": ("", lambda n, g, t: "Enabled"),
    "ecc.errors.corrected.volatile.total": ("", lambda n, g, t: str(ecc_counts(n, g.index, t).corrected_volatile)),
    "ecc.errors.uncorrected.volatile.total": ("", lambda n, g, t: str(ecc_counts(n, g.index, t).uncorrected)),
    "ecc.errors.corrected.aggregate.total": ("", lambda n, g, t: str(ecc_counts(n, g.index, t).corrected_aggregate)),
    "ecc.errors.uncorrected.aggregate.total": ("", lambda n, g, t: str(ecc_counts(n, g.index, t).uncorrected)),
    "retired_pages.single_bit_ecc.count": ("", lambda n, g, t: NA),
    "retired_pages.double_bit.count": ("", lambda n, g, t: NA),
    "retired_pages.pending": ("", lambda n, g, t: NA),
    "remapped_rows.correctable": ("", lambda n, g, t: "0"),
    "remapped_rows.uncorrectable": ("", lambda n, g, t: str(ecc_counts(n, g.index, t).remapped_uncorrectable)),
    "remapped_rows.pending": ("", lambda n, g, t: "Yes" if ecc_counts(n, g.index, t).pending else "No"),
    "remapped_rows.failure": ("", lambda n, g, t: "No"),
    "platform.module_id": ("", lambda n, g, t: str(g.index + 1)),
    "mig.mode.current": ("", lambda n, g, t: "Disabled"),
}

# Names nvidia-smi accepts for the same field (the header shows the first form above).
ALIASES: Final = {
    "clocks.sm": "clocks.current.sm",
    "clocks.gr": "clocks.current.graphics",
    "gpu_name": "name",
    "gpu_uuid": "uuid",
    "gpu_bus_id": "pci.bus_id",
    "clocks_throttle_reasons.active": "clocks_event_reasons.active",
    "clocks_throttle_reasons.hw_thermal_slowdown": "clocks_event_reasons.hw_thermal_slowdown",
}


def _timestamp(t: float) -> str:
    return time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1000):03d}"


def _uuid(node: SimNode, gpu: int) -> str:
    raw = hashlib.blake2b(f"{node.seed}/{gpu}".encode(), digest_size=16).hexdigest()
    return f"GPU-{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:32]}"


def _bus_id(gpu: int) -> str:
    bus = (0x18, 0x2A, 0x3A, 0x5D, 0x9A, 0xAB, 0xBA, 0xDB)[gpu % 8]
    return f"00000000:{bus:02X}:00.0"


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed ``nvidia-smi --query-gpu`` invocation."""

    fields: tuple[str, ...]
    header: bool
    units: bool
    interval_s: float | None


class UsageError(Exception):
    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def parse_argv(argv: list[str]) -> Query:
    fields: list[str] | None = None
    fmt: list[str] = []
    interval: float | None = None
    args = iter(argv[1:])
    for arg in args:
        if arg.startswith("--query-gpu="):
            fields = [f.strip() for f in arg.split("=", 1)[1].split(",")]
        elif arg.startswith("--format="):
            fmt = arg.split("=", 1)[1].split(",")
        elif arg in ("-lms", "--loop-ms"):
            interval = int(next(args, "0")) / 1000
        elif arg.startswith("--loop-ms="):
            interval = int(arg.split("=", 1)[1]) / 1000
        elif arg in ("-l", "--loop"):
            interval = float(next(args, "5"))
        else:
            raise UsageError('Invalid combination of input arguments. Please run "nvidia-smi -h" for help.\n')
    if fields is None:
        raise UsageError("This simulated nvidia-smi answers --query-gpu=… --format=csv only.\n", 2)
    if "csv" not in fmt:
        raise UsageError('"--format" is missing or does not contain csv.\n')
    for field in fields:
        if ALIASES.get(field, field) not in FIELDS:
            raise UsageError(f'Field "{field}" is not a valid field to query.\n\n')
    return Query(tuple(fields), header="noheader" not in fmt, units="nounits" not in fmt, interval_s=interval)


def header_line(query: Query) -> str:
    names = []
    for field in query.fields:
        canonical = ALIASES.get(field, field)
        unit = FIELDS[canonical][0]
        names.append(f"{canonical} [{unit}]" if unit else canonical)
    return ", ".join(names)


def rows(node: SimNode, query: Query, t: float) -> list[str]:
    out = []
    for gpu in range(GPUS_PER_NODE):
        reading = node.gpu(gpu, t)
        values = []
        for field in query.fields:
            unit, value_of = FIELDS[ALIASES.get(field, field)]
            value = value_of(node, reading, t)
            values.append(f"{value} {unit}" if query.units and unit and not value.startswith("[") else value)
        out.append(", ".join(values))
    return out
