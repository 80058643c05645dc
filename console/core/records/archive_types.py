"""What the telemetry archive gives back and takes: a node's tenancy at a minute, a tenant's
accelerator-hours, a node's timeline, the gaps it has no data for, a node's decoded hour."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class MinuteTenancy:
    """A node at a minute's end: its tenant, the accelerators a job held, those with an open warning or
    critical alert."""

    tenant: str | None
    allocated: frozenset[int] = frozenset()
    unhealthy: frozenset[int] = frozenset()
    # The node's accelerators as last known: a minute the node was down still counts them, out of service.
    indices: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Usage:
    """Accelerator-hours of one tenant on one node over a range (``util_mean`` in %)."""

    tenant: str | None
    node: str
    held: float
    healthy: float
    allocated: float
    busy: float
    idle_allocated: float
    out_of_service: float
    util_mean: float | None


@dataclass(frozen=True, slots=True)
class Timeline:
    """One node over a time range, oldest first: ``times`` are the starts of minutes (or hours, for ranges
    older than the minute data), ``util``/``temp`` are [time, accelerator] with NaN where nothing was
    reported; ``states`` the node's state per row; ``events`` (time, kind, value) node and Slurm states."""

    node: str
    resolution_s: int
    times: npt.NDArray[np.float64]
    indices: tuple[int, ...]
    util: npt.NDArray[np.float32]
    temp: npt.NDArray[np.float32]
    states: tuple[str, ...]
    events: tuple[tuple[float, str, str], ...]


@dataclass(frozen=True, slots=True)
class ArchiveGap:
    """Minutes [start, end) the archive has no data for, and why."""

    start: int
    end: int
    reason: str

    @property
    def minutes(self) -> int:
        return (self.end - self.start) // 60

    def span(self) -> str:
        """``from 2026-12-07 14:02 to 16:02 UTC (120 min)``"""
        start = time.strftime("%Y-%m-%d %H:%M", time.gmtime(self.start))
        end = time.strftime("%H:%M" if self.end - self.start < 86400 else "%Y-%m-%d %H:%M", time.gmtime(self.end))
        return f"from {start} to {end} UTC ({self.minutes} min)"

    def words(self) -> str:
        return f"no data {self.span()}: {self.reason}"


@dataclass(frozen=True, slots=True)
class HourRow:
    """One node's hour, decoded (for reports over days and weeks)."""

    node: str
    t: int
    live_minutes: int
    seen_minutes: int
    accelerators: npt.NDArray[Any]
