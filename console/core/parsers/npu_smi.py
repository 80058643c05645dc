"""Huawei Ascend ``npu-smi info`` → one sample per chip, plus the process table.

Layouts differ by model and npu-smi version (910B: NPU and Chip rows; Atlas A3: two chips per NPU with a
``Chip  Phy-ID`` header and ``-`` for the second chip's power; 310P: no HBM column, non-contiguous NPU ids),
so columns are found by the words of the two header rows and their positions inside each ``|`` cell, never
by fixed offsets. ``NA`` and ``-`` are "not available". Memory is HBM used/total where the table has an HBM
column with a non-zero total, else Memory-Usage; the table's MB are taken as MiB.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from console.core.parsers.common import FieldError, excerpt, not_available, parse_number, parse_text
from console.core.telemetry.samples import NA, AcceleratorSample, NotAvailable, Reading, Text, Vendor

_VERSION_RE: Final = re.compile(r"npu-smi\s+(?P<version>\S+)")
_WORD_RE: Final = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class NpuProcess:
    npu_id: int
    chip_id: int
    pid: int
    name: str
    memory_mib: Reading


@dataclass(frozen=True, slots=True)
class NpuTable:
    version: Text = NA
    chips: tuple[AcceleratorSample, ...] = ()
    processes: tuple[NpuProcess, ...] = ()
    errors: tuple[str, ...] = field(default=())


def _cells(line: str) -> list[str]:
    body = line.rstrip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|"):
        body = body[:-1]
    return body.split("|")


def _columns(cell: str) -> list[tuple[str, int]]:
    """Header words of one cell with their start positions."""
    return [(m.group(0), m.start()) for m in _WORD_RE.finditer(cell)]


def _slice(cell: str, columns: list[tuple[str, int]]) -> dict[str, str]:
    """The values under each header word: from its start to the next word's start."""
    values: dict[str, str] = {}
    for i, (word, start) in enumerate(columns):
        end = columns[i + 1][1] if i + 1 < len(columns) else len(cell)
        values[word] = cell[start:end].strip()
    return values


def _header_key(word: str) -> str:
    """``Power(W)`` → ``power``; ``HBM-Usage(MB)`` → ``hbm-usage``."""
    return word.split("(", 1)[0].strip().lower()


def _usage(text: str, field_name: str) -> tuple[Reading, Reading]:
    """``52675/ 65536`` or ``0    / 0`` → (used, total)."""
    missing = not_available(text)
    if missing is not None:
        return missing, missing
    if "/" not in text:
        raise FieldError(f"{field_name}: {excerpt(text)!r} is not used/total")
    used, total = text.split("/", 1)
    return parse_number(used, field_name), parse_number(total, field_name)


def _int(text: str, field_name: str) -> int:
    value = parse_number(text, field_name)
    if isinstance(value, NotAvailable) or value != int(value) or value < 0:
        raise FieldError(f"{field_name}: {excerpt(text)!r} is not an id")
    return int(value)


def parse_npu_smi(text: str) -> NpuTable:
    """Parse one ``npu-smi info`` output. Unreadable rows are reported in ``errors``; never raises."""
    lines = text.splitlines()
    version: Text = NA
    for line in lines[:5]:
        match = _VERSION_RE.search(line)
        if match:
            version = match.group("version")
            break

    header1: list[list[tuple[str, int]]] | None = None
    header2: list[list[tuple[str, int]]] | None = None
    chips: list[AcceleratorSample] = []
    processes: list[NpuProcess] = []
    errors: list[str] = []
    process_columns: list[str] | None = None
    pending: list[str] | None = None  # first row of a chip, waiting for its second

    for line in lines:
        if not line.startswith("|"):
            continue
        cells = _cells(line)
        first = cells[0].strip()
        words = first.split()
        if words[:2] == ["NPU", "Name"]:
            header1 = [_columns(c) for c in cells]
            continue
        if words[:1] == ["Chip"] and header1 is not None and header2 is None:
            header2 = [_columns(c) for c in cells]
            continue
        if words[:2] == ["NPU", "Chip"] and len(cells) >= 3:
            process_columns = [c.strip().lower() for c in cells]
            pending = None
            continue
        if first.startswith("No running processes"):
            continue
        if process_columns is not None:
            try:
                processes.append(_process(cells))
            except (FieldError, IndexError, ValueError) as exc:
                errors.append(f"process row {excerpt(line.strip())!r}: {exc}")
            continue
        if header1 is None or header2 is None:
            continue
        if pending is None:
            pending = cells
            continue
        try:
            chips.append(_chip(pending, cells, header1, header2, len(chips)))
        except (FieldError, IndexError, ValueError) as exc:
            errors.append(f"NPU rows {excerpt(' '.join(c.strip() for c in pending))!r}: {exc}")
        pending = None
    if pending is not None:
        errors.append(f"NPU row {excerpt(' '.join(c.strip() for c in pending))!r} has no second row (cut output?)")
    if header1 is None and not errors:
        errors.append("no npu-smi table header found")
    elif not chips and not errors:
        # A table whose chip rows could not be told apart (a damaged header or separator): say so, never
        # report a node with no NPUs in silence.
        errors.append("no NPU rows found under the npu-smi table header")
    return NpuTable(version, tuple(chips), tuple(processes), tuple(errors))


def _chip(
    row1: list[str],
    row2: list[str],
    header1: list[list[tuple[str, int]]],
    header2: list[list[tuple[str, int]]],
    position: int,
) -> AcceleratorSample:
    values: dict[str, str] = {}
    for cells, header in ((row1, header1), (row2, header2)):
        if len(cells) < len(header):
            raise FieldError(f"expected {len(header)} cells, got {len(cells)}")
        for cell, columns in zip(cells, header, strict=False):
            for word, value in _slice(cell, columns).items():
                values[_header_key(word)] = value
    npu_id = _int(values.get("npu", ""), "NPU")
    chip_id = _int(values.get("chip", ""), "Chip")
    health = parse_text(values.get("health", ""))
    memory_used, memory_total = _usage(values.get("memory-usage", "NA"), "Memory-Usage")
    if "hbm-usage" in values:
        hbm_used, hbm_total = _usage(values["hbm-usage"], "HBM-Usage")
        if not isinstance(hbm_total, NotAvailable) and hbm_total > 0:
            memory_used, memory_total = hbm_used, hbm_total
    return AcceleratorSample(
        index=position,
        vendor=Vendor.ASCEND,
        model=parse_text(values.get("name", "")),
        pci_bus_id=parse_text(values.get("bus-id", "")),
        utilization_pct=parse_number(values.get("aicore", "NA"), "AICore(%)"),
        memory_used_mib=memory_used,
        memory_total_mib=memory_total,
        temperature_c=parse_number(values.get("temp", "NA"), "Temp(C)"),
        power_w=parse_number(values.get("power", "NA"), "Power(W)"),
        health=health,
        npu_id=npu_id,
        chip_id=chip_id,
    )


def _process(cells: list[str]) -> NpuProcess:
    ids = cells[0].split()
    if len(ids) < 2:
        raise FieldError("no NPU and chip id")
    memory = parse_number(cells[3].strip() if len(cells) > 3 else "NA", "Process memory(MB)")
    return NpuProcess(
        npu_id=int(ids[0]),
        chip_id=int(ids[1]),
        pid=int(cells[1].strip()),
        name=cells[2].strip(),
        memory_mib=memory,
    )
