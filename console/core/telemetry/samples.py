"""The vendor-neutral sample model.

A reading a tool could not give (``[N/A]``, ``[Not Supported]``, ``[Unknown Error]``, a GPU that fell off
the bus …) is a :class:`NotAvailable` carrying the tool's own words, never 0 and never a guess.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, TypeGuard


@dataclass(frozen=True, slots=True)
class NotAvailable:
    """A value the tool did not provide; ``reason`` is what it printed instead (e.g. ``[Unknown Error]``)."""

    reason: str = "not available"

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return "N/A"


NA: Final = NotAvailable()

Reading = float | NotAvailable
Text = str | NotAvailable


def available(value: float | str | NotAvailable) -> TypeGuard[float | str]:
    return not isinstance(value, NotAvailable)


def as_json(value: float | str | NotAvailable) -> float | str | None:
    """``null`` in JSON for anything not available."""
    return None if isinstance(value, NotAvailable) else value


class Vendor(enum.StrEnum):
    NVIDIA = "nvidia"
    ASCEND = "ascend"
    AMD = "amd"
    AUTO = "auto"


class NodeState(enum.StrEnum):
    """Per-node connection and telemetry state. The values are a public contract (``poll --json``)."""

    CONNECTING = "connecting"
    UP = "up"
    STALE = "stale"
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth failed"
    HOST_KEY_UNKNOWN = "host key unknown"
    HOST_KEY_CHANGED = "host key changed"
    COMMAND_FAILED = "command failed"
    # Added after the first eight: the node answers, but its tool printed something we cannot read.
    PARSE_ERROR = "parse error"


# States in which the node's figures are current.
LIVE_STATES: Final = frozenset({NodeState.UP, NodeState.PARSE_ERROR})


@dataclass(frozen=True, slots=True)
class AcceleratorSample:
    """One accelerator at one moment. Units are fixed: %, MiB, °C, W, MHz."""

    index: int
    vendor: Vendor
    uuid: Text = NA
    model: Text = NA
    pci_bus_id: Text = NA
    utilization_pct: Reading = NA
    memory_used_mib: Reading = NA
    memory_total_mib: Reading = NA
    temperature_c: Reading = NA
    power_w: Reading = NA
    power_limit_w: Reading = NA
    sm_clock_mhz: Reading = NA
    fan_pct: Reading = NA
    pstate: Text = NA
    # When the node's tool took the reading (epoch seconds, the node's clock) where it says so.
    node_time: Reading = NA
    # The GPU count the tool reported alongside this line, used to know when a tick is complete.
    count: int | None = None
    # The vendor's own health word where the tool gives one (Ascend: OK, Warning, Alarm, Critical …).
    health: Text = NA
    # Ascend: the NPU and chip ids as npu-smi prints them (one sample per chip).
    npu_id: int | None = None
    chip_id: int | None = None
    # NVML probe only: throttle reasons each second (the slow path gives them every 30 s otherwise), energy.
    throttle_reasons: tuple[str, ...] | None = None
    energy_j: Reading = NA


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """What a stream parser makes of one line: a sample, or an error in words, never an exception."""

    sample: AcceleratorSample | None = None
    error: str | None = None
    # The stream announced which tool and vendor it found on the node (auto-detection).
    detected: tuple[str, Vendor] | None = None
    # Fields of a readable line that could not be read (now "not available" in the sample), in words.
    field_errors: tuple[str, ...] = ()
