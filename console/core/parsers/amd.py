"""AMD GPUs: ``amd-smi metric --json`` and ``amd-smi static --json`` (current tools), ``amd-smi monitor`` text,
and ``rocm-smi --json`` (older nodes), all into the same sample model.

amd-smi's JSON puts values in ``{"value": …, "unit": …}`` objects, sometimes ``"N/A"``, and (by version)
either a top-level list or ``{"gpu_data": [...]}``; rocm-smi's is flat strings keyed by sentence-like
names per ``cardN``. Every value is looked up by each name it has been given; anything else is "not
available". Memory in bytes or MB is converted to MiB.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from console.core.parsers.common import FieldError, excerpt, parse_number, parse_text
from console.core.telemetry.samples import NA, AcceleratorSample, NotAvailable, Reading, Text, Vendor

_MIB: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class AmdReading:
    samples: tuple[AcceleratorSample, ...] = ()
    errors: tuple[str, ...] = field(default=())


def _load(text: str) -> tuple[Any, str | None]:
    try:
        return json.loads(text), None
    except ValueError as exc:
        return None, f"not JSON ({exc.__class__.__name__}: {exc}): {excerpt(text.strip()[:200])!r}"


def _gpu_list(data: Any) -> list[Mapping[str, Any]]:
    if isinstance(data, Mapping) and isinstance(data.get("gpu_data"), list):
        data = data["gpu_data"]
    if isinstance(data, list):
        return [g for g in data if isinstance(g, Mapping)]
    return []


def _value(node: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _reading(node: Any, unit_to_mib: bool = False) -> Reading:
    """``{"value": 182, "unit": "W"}``, ``182``, ``"182 W"`` or ``"N/A"`` → a number or not available."""
    if node is None:
        return NA
    unit = ""
    if isinstance(node, Mapping):
        unit = str(node.get("unit", ""))
        node = node.get("value")
    if isinstance(node, bool):
        return NotAvailable(str(node))
    if isinstance(node, int | float):
        try:
            number = float(node)
        except OverflowError:
            return NotAvailable(str(node)[:20])
        if not math.isfinite(number):
            return NotAvailable(str(node))
        value: Reading = number
    else:
        try:
            value = parse_number(str(node), "amd-smi")
        except FieldError:
            return NotAvailable(str(node))
    if unit_to_mib and not isinstance(value, NotAvailable):
        unit = unit.upper()
        if unit in ("B", "BYTES"):
            value = value / _MIB
        elif unit in ("KB", "KIB"):
            value = value / 1024
        elif unit in ("GB", "GIB"):
            value = value * 1024
    return value


def _first(*readings: Reading) -> Reading:
    for reading in readings:
        if not isinstance(reading, NotAvailable):
            return reading
    return readings[0] if readings else NA


def parse_amd_smi_metric(text: str, static: Mapping[int, Mapping[str, Any]] | None = None) -> AmdReading:
    """``amd-smi metric --json`` (optionally with ``amd-smi static --json`` for names and limits)."""
    data, error = _load(text)
    if error:
        return AmdReading(errors=(error,))
    gpus = _gpu_list(data)
    if not gpus:
        return AmdReading(errors=("amd-smi metric: no GPUs in the output",))
    samples = []
    for position, gpu in enumerate(gpus):
        index = gpu.get("gpu", position)
        index = int(index) if isinstance(index, int) else position
        info = (static or {}).get(index, {})
        samples.append(
            AcceleratorSample(
                index=index,
                vendor=Vendor.AMD,
                model=_text(_value(info, "asic", "market_name")),
                uuid=_text(_value(info, "asic", "asic_serial") or _value(gpu, "asic", "asic_serial")),
                pci_bus_id=_text(_value(info, "bus", "bdf") or _value(gpu, "bus", "bdf")),
                utilization_pct=_first(
                    _reading(_value(gpu, "usage", "gfx_activity")), _reading(_value(gpu, "usage", "gfx_usage"))
                ),
                memory_used_mib=_first(
                    _reading(_value(gpu, "mem_usage", "used_vram"), True), _reading(_value(gpu, "vram", "used"), True)
                ),
                memory_total_mib=_first(
                    _reading(_value(gpu, "mem_usage", "total_vram"), True),
                    _reading(_value(gpu, "vram", "total"), True),
                    _reading(_value(info, "vram", "size"), True),
                ),
                temperature_c=_first(
                    _reading(_value(gpu, "temperature", "hotspot")), _reading(_value(gpu, "temperature", "edge"))
                ),
                power_w=_first(
                    _reading(_value(gpu, "power", "socket_power")),
                    _reading(_value(gpu, "power", "average_socket_power")),
                ),
                power_limit_w=_first(
                    _reading(_value(info, "limit", "socket_power")),
                    _reading(_value(info, "limit", "max_power")),
                    _reading(_value(gpu, "power", "power_limit")),
                ),
                sm_clock_mhz=_reading(_value(gpu, "clock", "gfx_0", "clk")),
                fan_pct=_reading(_value(gpu, "fan", "usage")),
            )
        )
    return AmdReading(tuple(samples))


def parse_amd_smi_static(text: str) -> tuple[dict[int, Mapping[str, Any]], str | None]:
    """``amd-smi static --json`` → GPU index → its static record (names, limits, VRAM size)."""
    data, error = _load(text)
    if error:
        return {}, error
    gpus = _gpu_list(data)
    return {int(g.get("gpu", i)) if isinstance(g.get("gpu", i), int) else i: g for i, g in enumerate(gpus)}, None


def _text(node: Any) -> Text:
    if node is None or isinstance(node, Mapping | list):
        return NA
    return parse_text(str(node))


def parse_amd_smi_monitor(text: str) -> AmdReading:
    """``amd-smi monitor`` fixed-width text: columns by header word (GPU POWER GPU_TEMP … VRAM_USED …)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].split() or lines[0].split()[0] != "GPU":
        return AmdReading(errors=(f"amd-smi monitor: no header in {excerpt(text.strip()[:120])!r}",))
    header = lines[0].split()
    samples, errors = [], []
    for line in lines[1:]:
        values = re.split(r"\s{2,}", line.strip())
        if len(values) != len(header):
            errors.append(f"amd-smi monitor: {len(values)} values for {len(header)} columns in {excerpt(line)!r}")
            continue
        row = dict(zip(header, values, strict=True))
        try:
            index = int(row["GPU"])
            samples.append(
                AcceleratorSample(
                    index=index,
                    vendor=Vendor.AMD,
                    power_w=parse_number(row.get("POWER", "N/A"), "POWER"),
                    temperature_c=_first(
                        parse_number(row.get("HOTSPOT_TEMP", "N/A"), "HOTSPOT_TEMP"),
                        parse_number(row.get("GPU_TEMP", "N/A"), "GPU_TEMP"),
                    ),
                    utilization_pct=parse_number(row.get("GFX_UTIL", "N/A"), "GFX_UTIL"),
                    sm_clock_mhz=parse_number(row.get("GFX_CLOCK", "N/A"), "GFX_CLOCK"),
                    memory_used_mib=parse_number(row.get("VRAM_USED", "N/A"), "VRAM_USED"),
                    memory_total_mib=parse_number(row.get("VRAM_TOTAL", "N/A"), "VRAM_TOTAL"),
                )
            )
        except (FieldError, ValueError) as exc:
            errors.append(f"amd-smi monitor row {excerpt(line)!r}: {exc}")
    return AmdReading(tuple(samples), tuple(errors))


def parse_rocm_smi_json(text: str) -> AmdReading:
    """``rocm-smi --showmeminfo all -a --json`` (and other rocm-smi --json): one sample per ``cardN``."""
    data, error = _load(text)
    if error:
        return AmdReading(errors=(error,))
    if not isinstance(data, Mapping):
        return AmdReading(errors=("rocm-smi: expected an object of cards",))
    cards = sorted(((int(k[4:]), v) for k, v in data.items() if re.fullmatch(r"card\d+", k) and isinstance(v, Mapping)))
    if not cards:
        return AmdReading(errors=("rocm-smi: no cards in the output",))
    samples = []
    for position, (_card, fields) in enumerate(cards):

        def get(*names: str, card: Mapping[str, Any] = fields) -> str:
            for name in names:
                if name in card:
                    return str(card[name])
            return "N/A"

        used = parse_number(get("vram Total Used Memory (B)"), "vram used")
        total = parse_number(get("vram Total Memory (B)"), "vram total")
        samples.append(
            AcceleratorSample(
                index=position,
                vendor=Vendor.AMD,
                model=parse_text(get("Card series", "Card model", "Device Name")),
                uuid=parse_text(get("Unique ID")),
                pci_bus_id=parse_text(get("PCI Bus")),
                utilization_pct=parse_number(get("GPU use (%)"), "GPU use"),
                memory_used_mib=used / _MIB if not isinstance(used, NotAvailable) else used,
                memory_total_mib=total / _MIB if not isinstance(total, NotAvailable) else total,
                temperature_c=_first(
                    parse_number(get("Temperature (Sensor junction) (C)"), "junction"),
                    parse_number(get("Temperature (Sensor edge) (C)"), "edge"),
                ),
                power_w=_first(
                    parse_number(get("Average Graphics Package Power (W)"), "power"),
                    parse_number(get("Current Socket Graphics Package Power (W)"), "power"),
                ),
                power_limit_w=parse_number(get("Max Graphics Package Power (W)"), "power cap"),
                sm_clock_mhz=parse_number(get("sclk clock speed").strip("()"), "sclk"),
                fan_pct=parse_number(get("Fan Speed (%)"), "fan"),
            )
        )
    return AmdReading(tuple(samples))
