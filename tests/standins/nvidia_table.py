"""The default ``nvidia-smi`` table → samples and processes: test support, not the console's.

The console streams CSV (console.core.parsers.nvidia_csv). Multi-GPU recordings exist only as tables, so
the replaying stand-ins (tests/standins/replay_nvidia_smi.py) and the bench's nodes (bench/fleet.py) read
them with this to answer the CSV queries the console sends. Cells are found by the ``|`` separators and
by their own shape, not by column offsets, because widths changed across drivers (410 … 595).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from console.core.parsers.common import FieldError, excerpt, parse_number, parse_text
from console.core.telemetry.samples import NA, AcceleratorSample, NotAvailable, Reading, Text, Vendor

_HEADER_RE: Final = re.compile(
    r"NVIDIA-SMI\s+(?P<smi>\S+)\s+Driver Version:\s+(?P<driver>\S+)\s+CUDA Version:\s+(?P<cuda>\S+)"
)
_ROW1_LEFT_RE: Final = re.compile(r"^\s*(?P<index>\d+)\s+(?P<name>.*?)\s+(?P<persistence>On|Off)\s*$")
_ROW1_MID_RE: Final = re.compile(r"^\s*(?P<bus>[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.\d)\s+(?P<disp>\S+)\s*$")
_ROW2_LEFT_RE: Final = re.compile(
    r"^\s*(?P<fan>\S+)\s+(?P<temp>\S+)\s+(?P<perf>\S+)\s+(?P<power>\S+)\s*/\s*(?P<cap>\S+)\s*$"
)
_MEMORY_RE: Final = re.compile(r"^\s*(?P<used>\S+)\s*/\s*(?P<total>\S+)\s*$")
_ROW2_RIGHT_RE: Final = re.compile(r"^\s*(?P<util>\S+)\s+(?P<compute>.+?)\s*$")
_PROCESS_RE: Final = re.compile(
    r"^\s*(?P<gpu>\d+)\s+(?P<gi>\S+)\s+(?P<ci>\S+)\s+(?P<pid>\d+)\s+(?P<type>[CGM+]+)\s+(?P<name>.*?)\s+"
    r"(?P<memory>\S+MiB|N/A)\s*$"
)


@dataclass(frozen=True, slots=True)
class TableGpu:
    sample: AcceleratorSample
    persistence_mode: Text
    ecc_uncorrected_volatile: Reading
    compute_mode: Text
    mig_mode: Text


@dataclass(frozen=True, slots=True)
class TableProcess:
    gpu_index: int
    pid: int
    kind: str
    name: str
    memory_mib: Reading


@dataclass(frozen=True, slots=True)
class NvidiaTable:
    driver_version: Text = NA
    cuda_version: Text = NA
    gpus: tuple[TableGpu, ...] = ()
    processes: tuple[TableProcess, ...] = ()
    errors: tuple[str, ...] = field(default=())


def _cells(line: str) -> list[str]:
    return line.strip().strip("|").split("|")


def parse_table(text: str) -> NvidiaTable:
    """Parse one default table. Lines that fit no known shape are reported in ``errors``, not raised."""
    lines = text.splitlines()
    driver: Text = NA
    cuda: Text = NA
    gpus: list[TableGpu] = []
    processes: list[TableProcess] = []
    errors: list[str] = []

    for line in lines:
        match = _HEADER_RE.search(line)
        if match:
            driver, cuda = match["driver"], match["cuda"]
            break

    section = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if "Processes:" in line:
            section = "processes"
        elif "MIG devices:" in line:
            section = "mig"
        elif line.startswith("|=") and section == "":
            section = "gpus"
        elif section == "gpus" and line.startswith("|") and i + 1 < len(lines):
            row1 = _cells(line)
            row2 = _cells(lines[i + 1])
            row3 = _cells(lines[i + 2]) if i + 2 < len(lines) and lines[i + 2].startswith("|") else []
            try:
                gpus.append(_gpu(row1, row2, row3))
            except (FieldError, IndexError, ValueError) as exc:
                errors.append(f"GPU rows {excerpt(line.strip())!r}: {exc}")
            i += 3 if row3 else 2
            continue
        elif section == "gpus" and not line.strip():
            section = "after-gpus"
        elif section == "processes" and line.startswith("|") and not line.startswith("|="):
            match = _PROCESS_RE.match(_cells(line)[0])
            if match:
                memory = match["memory"]
                processes.append(
                    TableProcess(
                        gpu_index=int(match["gpu"]),
                        pid=int(match["pid"]),
                        kind=match["type"],
                        name=match["name"],
                        memory_mib=NA if memory == "N/A" else parse_number(memory, "process memory"),
                    )
                )
        i += 1
    return NvidiaTable(driver, cuda, tuple(gpus), tuple(processes), tuple(errors))


def _gpu(row1: list[str], row2: list[str], row3: list[str]) -> TableGpu:
    left1 = _ROW1_LEFT_RE.match(row1[0])
    mid1 = _ROW1_MID_RE.match(row1[1])
    left2 = _ROW2_LEFT_RE.match(row2[0])
    memory = _MEMORY_RE.match(row2[1])
    right2 = _ROW2_RIGHT_RE.match(row2[2])
    if not (left1 and mid1 and left2 and memory and right2):
        raise FieldError("the two GPU rows do not have the expected cells")
    index = int(left1["index"])
    ecc_token = row1[2].strip()
    # The ECC cell holds a count, "N/A", or "On"/"Off" when MIG mode hides the count.
    ecc: Reading = NotAvailable(ecc_token) if ecc_token in {"On", "Off"} else parse_number(ecc_token, "ECC")
    sample = AcceleratorSample(
        index=index,
        vendor=Vendor.NVIDIA,
        model=parse_text(left1["name"]),
        pci_bus_id=mid1["bus"],
        fan_pct=parse_number(left2["fan"], "fan"),
        temperature_c=parse_number(left2["temp"], "temperature"),
        pstate=parse_text(left2["perf"]),
        power_w=parse_number(left2["power"], "power"),
        power_limit_w=parse_number(left2["cap"], "power cap"),
        memory_used_mib=parse_number(memory["used"], "memory used"),
        memory_total_mib=parse_number(memory["total"], "memory total"),
        utilization_pct=parse_number(right2["util"], "utilisation"),
    )
    return TableGpu(
        sample=sample,
        persistence_mode=left1["persistence"],
        ecc_uncorrected_volatile=ecc,
        compute_mode=parse_text(right2["compute"]),
        mig_mode=parse_text(row3[2]) if len(row3) > 2 else NA,
    )
