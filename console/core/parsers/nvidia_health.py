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

from typing import Any, Final

from console.core.parsers.common import FieldError, excerpt, parse_number, parse_text
from console.core.parsers.nvidia_xml import GpuDetail, NvidiaQuery
from console.core.telemetry.samples import NA, NotAvailable, Reading, Text

# Each health field the console reads, as the query names it → the GpuDetail attribute it fills (the test
# stand-in answers from the same table).
TEXT_FIELDS: Final = {
    "uuid": "uuid",
    "serial": "serial",
    "name": "product_name",
    "pci.bus_id": "pci_bus_id",
    "vbios_version": "vbios_version",
    "persistence_mode": "persistence_mode",
    "ecc.mode.current": "ecc_mode",
    "retired_pages.pending": "retired_pages_pending",
    "remapped_rows.pending": "remapped_rows_pending",
    "remapped_rows.failure": "remapped_rows_failure",
    "mig.mode.current": "mig_mode",
}
NUMBER_FIELDS: Final = {
    "pcie.link.gen.current": "pcie_gen_current",
    "pcie.link.gen.max": "pcie_gen_max",
    "pcie.link.width.current": "pcie_width_current",
    "pcie.link.width.max": "pcie_width_max",
    "ecc.errors.corrected.volatile.total": "ecc_corrected_volatile",
    "ecc.errors.uncorrected.volatile.total": "ecc_uncorrected_volatile",
    "ecc.errors.corrected.aggregate.total": "ecc_corrected_aggregate",
    "ecc.errors.uncorrected.aggregate.total": "ecc_uncorrected_aggregate",
    "retired_pages.single_bit_ecc.count": "retired_pages_single",
    "retired_pages.double_bit.count": "retired_pages_double",
    "remapped_rows.correctable": "remapped_rows_correctable",
    "remapped_rows.uncorrectable": "remapped_rows_uncorrectable",
    "power.limit": "power_limit_w",
}
MODULE_FIELD: Final = "platform.module_id"
_COMMON: Final = ("index", "driver_version", *TEXT_FIELDS, *NUMBER_FIELDS)
# Asked first: the names of drivers from R535 on (recorded: 590, 595).
HEALTH_FIELDS_RECENT: Final = (*_COMMON, "clocks_event_reasons.active", MODULE_FIELD)
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
        fields: dict[str, Any] = {attribute: _text(row, name) for name, attribute in TEXT_FIELDS.items()}
        fields |= {attribute: _number(row, name) for name, attribute in NUMBER_FIELDS.items()}
        gpus.append(
            GpuDetail(
                index=int(index),
                throttle_reasons=throttle_names(reasons),
                module_id=_number(row, MODULE_FIELD),
                **fields,
            )
        )
    return NvidiaQuery(driver_version=driver, gpus=tuple(gpus), error="; ".join(errors) or None)
