"""Ten minutes of 1 Hz history per accelerator, in ring buffers allocated once."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from console.core.samples import AcceleratorSample, NotAvailable

HISTORY_SECONDS: Final = 600
# Samples closer together than this overwrite the previous slot, so a faster stream still spans 10 min.
MIN_SPACING_S: Final = 0.5

METRICS: Final[tuple[str, ...]] = ("utilization_pct", "temperature_c", "power_w", "memory_used_mib")
METRIC_INDEX: Final = {name: i for i, name in enumerate(METRICS)}


@dataclass(frozen=True, slots=True)
class Series:
    """Oldest first; NaN where the tool gave no value."""

    times: npt.NDArray[np.float64]
    values: npt.NDArray[np.float32]


class AcceleratorHistory:
    __slots__ = ("_next", "_size", "_times", "_values", "capacity")

    def __init__(self, capacity: int = HISTORY_SECONDS) -> None:
        self.capacity = capacity
        self._times = np.full(capacity, np.nan, dtype=np.float64)
        self._values = np.full((len(METRICS), capacity), np.nan, dtype=np.float32)
        self._next = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, when: float, sample: AcceleratorSample) -> None:
        last = (self._next - 1) % self.capacity
        if self._size and when - self._times[last] < MIN_SPACING_S:
            slot = last
        else:
            slot = self._next
            self._next = (self._next + 1) % self.capacity
            self._size = min(self._size + 1, self.capacity)
        self._times[slot] = when
        column = self._values[:, slot]
        for i, name in enumerate(METRICS):
            value = getattr(sample, name)
            column[i] = np.nan if isinstance(value, NotAvailable) else value

    def series(self, metric: str, since: float | None = None) -> Series:
        row = METRIC_INDEX[metric]
        if self._size < self.capacity:
            times = self._times[: self._size].copy()
            values = self._values[row, : self._size].copy()
        else:
            order = np.r_[self._next : self.capacity, 0 : self._next]
            times = self._times[order]
            values = self._values[row, order]
        if since is not None:
            keep = times >= since
            times, values = times[keep], values[keep]
        return Series(times, values)

    def window(self, start: float, end: float) -> tuple[float, float, float, float, float, int] | None:
        """Aggregates of the samples taken in [start, end): mean and max utilisation, max temperature, mean
        power, max memory used (NaN where the tool gave none), and how many samples; None without any."""
        times = self._times if self._size == self.capacity else self._times[: self._size]
        keep = (times >= start) & (times < end)
        count = int(np.count_nonzero(keep))
        if not count:
            return None
        values = self._values[:, : len(times)][:, keep]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: the tool gave none of that metric
            means = np.nanmean(values, axis=1)
            maxes = np.nanmax(values, axis=1)
        util, temp, power, memory = (METRIC_INDEX[m] for m in METRICS)
        return (
            float(means[util]),
            float(maxes[util]),
            float(maxes[temp]),
            float(means[power]),
            float(maxes[memory]),
            count,
        )

    @property
    def nbytes(self) -> int:
        return int(self._times.nbytes + self._values.nbytes)
