"""Fakes shared by the fast tests: a clock the test moves, and nvidia-smi stream lines built field by field
(in the console's own field order, ``noheader,nounits`` as it asks for them)."""

from __future__ import annotations

import threading

from console.core.parsers.nvidia_csv import STREAM_FIELDS

NVIDIA_LINE_DEFAULTS = {
    "timestamp": "2024/11/14 07:00:14.123",
    "count": "8",
    "index": "3",
    "uuid": "GPU-1b2c",
    "name": "NVIDIA H100 80GB HBM3",
    "pci.bus_id": "00000000:5D:00.0",
    "utilization.gpu": "87",
    "memory.used": "1234",
    "memory.total": "81559",
    "temperature.gpu": "61",
    "power.draw": "312.50",
    "power.limit": "700.00",
    "clocks.sm": "1980",
    "fan.speed": "[N/A]",
    "pstate": "P0",
}


def nvidia_line(**fields: str) -> str:
    """One stream line; keyword names are the fields, with dots as underscores (``temperature_gpu="97"``) or
    as they are (``**{"temperature.gpu": "97"}``)."""
    values = dict(NVIDIA_LINE_DEFAULTS)
    names = {field.replace(".", "_"): field for field in values} | {field: field for field in values}
    for key, value in fields.items():
        if key not in names:
            raise KeyError(f"{key}: not a stream field ({', '.join(names)})")
        values[names[key]] = value
    return ", ".join(values[f] for f in STREAM_FIELDS)


class FakeClock:
    """Time that moves only when the test says (thread-safe: the code under test may read it anywhere)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
