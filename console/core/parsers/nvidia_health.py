"""``nvidia-smi --query-gpu=<health fields> --format=csv,nounits`` → per-GPU health details.

Why: the slow path used to read each node's whole ``nvidia-smi -q -x`` every look (56 KB for four K80s,
over 100 KB for eight H100s): at 1,000 nodes that XML was the biggest single cost of the console, and on
the node ``-q -x`` asks NVML for everything. The fields below are what the console reads from it (ECC,
retired pages, remapped rows, throttle reasons, PCIe link, power limit, identity, the module id), a few
hundred bytes a GPU, parsed by column name from the header line. Two lists: the names of recent drivers
(``clocks_event_reasons``, ``platform.module_id``) and of older ones (``clocks_throttle_reasons``); a
driver that knows neither (one without remapped rows, before R460) refuses the query, and the node-side
script then reads ``-q -x`` (resources/scripts/details.sh).
"""

from __future__ import annotations

from typing import Final

from console.core.parsers.common import FieldError, excerpt, parse_number, parse_text
from console.core.parsers.nvidia_xml import GpuDetail, NvidiaQuery
from console.core.samples import NA, NotAvailable, Reading, Text

_COMMON: Final = (
    "index",
    "uuid",
    "serial",
    "name",
    "pci.bus_id",
    "driver_version",
    "vbios_version",
    "persistence_mode",
    "pcie.link.gen.current",
    "pcie.link.gen.max",
    "pcie.link.width.current",
    "pcie.link.width.max",
    "ecc.mode.current",
    "ecc.errors.corrected.volatile.total",
    "ecc.errors.uncorrected.volatile.total",
    "ecc.errors.corrected.aggregate.total",
    "ecc.errors.uncorrected.aggregate.total",
    "retired_pages.single_bit_ecc.count",
    "retired_pages.double_bit.count",
    "retired_pages.pending",
    "remapped_rows.correctable",
    "remapped_rows.uncorrectable",
    "remapped_rows.pending",
    "remapped_rows.failure",
    "power.limit",
    "mig.mode.current",
)
# Asked first: the names of drivers from R535 on (recorded: 590, 595).
HEALTH_FIELDS_RECENT: Final = (*_COMMON, "clocks_event_reasons.active", "platform.module_id")
# Asked when the first list is refused: R460-R530 drivers.
HEALTH_FIELDS_OLDER: Final = (*_COMMON, "clocks_throttle_reasons.active")

# nvmlClocksEventReason* bits (nvml.h), named as the -q -x elements name them, so both paths agree.
THROTTLE_BITS: Final = (
    (0x1, "gpu_idle"),
    (0x2, "applications_clocks_setting"),
    (0x4, "sw_power_cap"),
    (0x8, "hw_slowdown"),
    (0x10, "sync_boost"),
    (0x20, "sw_thermal_slowdown"),
    (0x40, "hw_thermal_slowdown"),
    (0x80, "hw_power_brake_slowdown"),
    (0x100, "display_clock_setting"),
)
# A node answers for its own GPUs: more rows than this is not a node's answer.
MAX_GPUS: Final = 64
MAX_LINE: Final = 4096


def throttle_names(mask: str) -> tuple[str, ...]:
    """The active reasons of a ``clocks_event_reasons.active`` bitmask (``0x…``), idle left out as -q -x's
    reader leaves it out; unknown bits are named by their value rather than dropped."""
    try:
        value = int(mask.strip(), 16)
    except ValueError:
        return ()
    names = [name for bit, name in THROTTLE_BITS if value & bit and name != "gpu_idle"]
    known = 0
    for bit, _ in THROTTLE_BITS:
        known |= bit
    if value & ~known:
        names.append(f"other (0x{value & ~known:x})")
    return tuple(names)


def _column(header: str) -> str:
    """``power.limit [W]`` → ``power.limit``."""
    return header.split(" [", 1)[0].strip()


def _number(row: dict[str, str], name: str) -> Reading:
    token = row.get(name)
    if token is None:
        return NA
    try:
        return parse_number(token, name)
    except FieldError:
        return NotAvailable(excerpt(token.strip(), 40))


def _text(row: dict[str, str], name: str) -> Text:
    token = row.get(name)
    return NA if token is None else parse_text(excerpt(token, 200))


def parse_health_csv(text: str) -> NvidiaQuery:
    """The query's answer; a row that cannot be read is an error in words, the others are kept."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return NvidiaQuery(error="nvidia-smi --query-gpu printed nothing")
    header = [_column(name) for name in lines[0].split(",")]
    if "index" not in header or "uuid" not in header:
        return NvidiaQuery(error=f"not a --query-gpu answer: {excerpt(lines[0].strip())!r}")
    if len(lines) - 1 > MAX_GPUS:
        return NvidiaQuery(error=f"{len(lines) - 1} GPUs in one answer (at most {MAX_GPUS} are read)")
    gpus: list[GpuDetail] = []
    errors: list[str] = []
    driver: Text = NA
    for number, line in enumerate(lines[1:], start=1):
        values = line.split(",")
        if len(line) > MAX_LINE or len(values) != len(header):
            errors.append(f"row {number}: {len(values)} values for {len(header)} fields: {excerpt(line.strip())!r}")
            continue
        row = dict(zip(header, (value.strip() for value in values), strict=True))
        index = _number(row, "index")
        if isinstance(index, NotAvailable) or index != int(index) or not 0 <= index < MAX_GPUS:
            errors.append(f"row {number}: no GPU index: {excerpt(row['index'])!r}")
            continue
        driver = _text(row, "driver_version")
        reasons = row.get("clocks_event_reasons.active", row.get("clocks_throttle_reasons.active", ""))
        gpus.append(
            GpuDetail(
                index=int(index),
                uuid=_text(row, "uuid"),
                serial=_text(row, "serial"),
                product_name=_text(row, "name"),
                pci_bus_id=_text(row, "pci.bus_id"),
                vbios_version=_text(row, "vbios_version"),
                persistence_mode=_text(row, "persistence_mode"),
                pcie_gen_current=_number(row, "pcie.link.gen.current"),
                pcie_gen_max=_number(row, "pcie.link.gen.max"),
                pcie_width_current=_number(row, "pcie.link.width.current"),
                pcie_width_max=_number(row, "pcie.link.width.max"),
                throttle_reasons=throttle_names(reasons),
                ecc_mode=_text(row, "ecc.mode.current"),
                ecc_corrected_volatile=_number(row, "ecc.errors.corrected.volatile.total"),
                ecc_uncorrected_volatile=_number(row, "ecc.errors.uncorrected.volatile.total"),
                ecc_corrected_aggregate=_number(row, "ecc.errors.corrected.aggregate.total"),
                ecc_uncorrected_aggregate=_number(row, "ecc.errors.uncorrected.aggregate.total"),
                retired_pages_single=_number(row, "retired_pages.single_bit_ecc.count"),
                retired_pages_double=_number(row, "retired_pages.double_bit.count"),
                retired_pages_pending=_text(row, "retired_pages.pending"),
                remapped_rows_correctable=_number(row, "remapped_rows.correctable"),
                remapped_rows_uncorrectable=_number(row, "remapped_rows.uncorrectable"),
                remapped_rows_pending=_text(row, "remapped_rows.pending"),
                remapped_rows_failure=_text(row, "remapped_rows.failure"),
                power_limit_w=_number(row, "power.limit"),
                mig_mode=_text(row, "mig.mode.current"),
                module_id=_number(row, "platform.module_id"),
            )
        )
    return NvidiaQuery(driver_version=driver, gpus=tuple(gpus), error="; ".join(errors) or None)
