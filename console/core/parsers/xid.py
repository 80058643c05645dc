"""NVIDIA XID events from the kernel log (``journalctl -k``, ``dmesg``), mapped to the GPU by PCI bus id.

Besides ``NVRM: Xid (PCI:…): 79, …`` lines, drivers report a GPU lost from the bus without any Xid code:
the probe/init path prints one message over three lines (``NVRM: The NVIDIA GPU 0000:b3:00.0`` /
``NVRM: (PCI ID: 10de:26b5) installed in this system has`` / ``NVRM: fallen off the bus and is not
responding to commands.``; journalctl and dmesg show the last two as indented continuation lines, older
drivers print it on one line), and per-device messages read ``NVRM: GPU 0000:3b:00.0: GPU has fallen off
the bus.`` Both become the same event as XID 79, so the same critical alert is raised.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

_XID_RE: Final = re.compile(
    r"NVRM: Xid \(PCI:(?P<bus>[0-9A-Fa-f]{1,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2})(?:\.\d)?\): "
    r"(?P<code>\d{1,4})\b,?\s*(?P<detail>.*)$"
)
_BUS: Final = r"(?P<bus>[0-9A-Fa-f]{1,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}(?:\.[0-7])?)"
_FALLEN_START_RE: Final = re.compile(rf"NVRM: The NVIDIA GPU {_BUS}\b")
_FALLEN_DEVICE_RE: Final = re.compile(rf"NVRM: GPU (?:at PCI:)?{_BUS}:? .*fallen off the bus", re.IGNORECASE)
_FALLEN_WORDS: Final = "fallen off the bus"
FALLEN_OFF_CODE: Final = 79
# How many lines after "The NVIDIA GPU <bus>" may still carry "fallen off the bus" (continuation lines).
_CONTINUATION_LINES: Final = 3
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


def _fallen(bus_text: str, stamp_from: str) -> list[XidEvent]:
    """The XID-79 event for a "fallen off the bus" message naming ``bus_text`` (none if the bus is bad);
    the timestamp comes from the text before the message on its first line."""
    key = bus_key(bus_text)
    if key is None:
        return []
    stamp = _ISO_RE.search(stamp_from)
    detail = "GPU has fallen off the bus (a kernel message without an Xid code)"
    return [XidEvent(key, FALLEN_OFF_CODE, detail, stamp.group("stamp") if stamp else None)]


class KernelLogReader:
    """Reads kernel-log lines as they come, a few at a time (a followed ``journalctl -k -f``): a "fallen off
    the bus" message whose continuation lines arrive in a later batch is still caught."""

    def __init__(self) -> None:
        self._pending: tuple[str, str, int] | None = None  # (bus text, the line that named it, lines left)

    def feed(self, lines: Iterable[str]) -> list[XidEvent]:
        """Every XID event in ``lines``, and every "fallen off the bus" message without an Xid."""
        events: list[XidEvent] = []
        pending = self._pending
        for line in lines:
            event = parse_xid_line(line)
            if event is not None:
                events.append(event)
                pending = None
                continue
            start = _FALLEN_START_RE.search(line)
            if start is not None:
                if _FALLEN_WORDS in line[start.end() :].lower():
                    events += _fallen(start.group("bus"), line[: start.start()])
                    pending = None
                else:
                    pending = (start.group("bus"), line[: start.start()], _CONTINUATION_LINES)
                continue
            device = _FALLEN_DEVICE_RE.search(line)
            if device is not None:
                events += _fallen(device.group("bus"), line[: device.start()])
                pending = None
                continue
            if pending is not None:
                bus_text, first_line, left = pending
                if _FALLEN_WORDS in line.lower():
                    events += _fallen(bus_text, first_line)
                    pending = None
                else:
                    pending = (bus_text, first_line, left - 1) if left > 1 else None
        self._pending = pending
        return events


def parse_kernel_log(lines: Iterable[str]) -> list[XidEvent]:
    """Every XID event in kernel-log lines, and every "fallen off the bus" message without an Xid."""
    return KernelLogReader().feed(lines)
