"""NVIDIA XID events from the kernel log (``journalctl -k``, ``dmesg``), mapped to the GPU by PCI bus id."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

_XID_RE: Final = re.compile(
    r"NVRM: Xid \(PCI:(?P<bus>[0-9A-Fa-f]{1,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2})(?:\.\d)?\): "
    r"(?P<code>\d{1,4})\b,?\s*(?P<detail>.*)$"
)
_ISO_RE: Final = re.compile(r"(?P<stamp>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)")

# Short meanings for the codes operators meet most (NVIDIA's XID catalogue).
MEANINGS: Final = {
    13: "graphics engine exception (often an application fault)",
    31: "GPU memory page fault",
    43: "GPU stopped processing (application fault)",
    45: "preemptive cleanup after earlier errors",
    48: "double-bit ECC error",
    61: "internal micro-controller breakpoint/warning",
    62: "internal micro-controller halt",
    63: "ECC page retirement or row-remap recording event",
    64: "ECC page retirement or row-remap recording failure",
    74: "NVLink error",
    79: "GPU has fallen off the bus",
    92: "high single-bit ECC error rate",
    94: "contained ECC error",
    95: "uncontained ECC error",
    119: "GSP RPC timeout",
    120: "GSP error",
}
# Codes that mean the GPU (not the application) needs attention.
CRITICAL: Final = frozenset({48, 62, 63, 64, 74, 79, 92, 94, 95, 119, 120})


@dataclass(frozen=True, slots=True)
class XidEvent:
    bus: tuple[int, int, int]  # (domain, bus, device)
    code: int
    detail: str
    when: str | None  # the log's own timestamp text, where the line has one

    @property
    def meaning(self) -> str:
        return MEANINGS.get(self.code, "see NVIDIA's XID catalogue")

    @property
    def critical(self) -> bool:
        return self.code in CRITICAL


def bus_key(text: str) -> tuple[int, int, int] | None:
    """``00000000:38:00.0`` or ``0000:38:00`` → ``(0, 0x38, 0)``, to match nvidia-smi and the kernel."""
    parts = text.strip().split(":")
    if len(parts) != 3:
        return None
    try:
        return int(parts[0], 16), int(parts[1], 16), int(parts[2].split(".")[0], 16)
    except ValueError:
        return None


def parse_xid_line(line: str) -> XidEvent | None:
    match = _XID_RE.search(line)
    if not match:
        return None
    key = bus_key(match.group("bus"))
    if key is None:
        return None
    stamp = _ISO_RE.search(line[: match.start()])
    return XidEvent(
        key, int(match.group("code")), match.group("detail").strip(), stamp.group("stamp") if stamp else None
    )
