"""Ten minutes of 1 Hz history per accelerator, in ring buffers allocated once, and the running tally of
each whole minute the telemetry archive writes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from console.core.telemetry.samples import AcceleratorSample, NotAvailable

HISTORY_SECONDS: Final = 600
# Samples closer together than this overwrite the previous slot, so a faster stream still spans 10 min.
MIN_SPACING_S: Final = 0.5

METRICS: Final[tuple[str, ...]] = ("utilization_pct", "temperature_c", "power_w", "memory_used_mib")
METRIC_INDEX: Final = {name: i for i, name in enumerate(METRICS)}
_UTIL, _TEMP, _POWER, _MEMORY = (METRIC_INDEX[m] for m in METRICS)
MINUTE_S: Final = 60
CLOSED_MINUTES_KEPT: Final = 10  # as far back as the ring reaches: a writer that fell behind still finds them

# One minute's aggregates: mean and max utilisation, max temperature, mean power, max memory used (NaN where
# the tool gave none), and how many readings.
MinuteStats = tuple[float, float, float, float, float, int]


@dataclass(frozen=True, slots=True)
class Series:
    """Oldest first; NaN where the tool gave no value."""

    times: npt.NDArray[np.float64]
    values: npt.NDArray[np.float32]


class _MinuteTally:
    """The running sums and maxima of one minute's readings, updated as each arrives."""

    __slots__ = ("count", "mem_max", "power_n", "power_sum", "start", "temp_max", "util_max", "util_n", "util_sum")

    def __init__(self, start: int) -> None:
        self.start = start
        self.count = self.util_n = self.power_n = 0
        self.util_sum = self.power_sum = 0.0
        self.util_max = self.temp_max = self.mem_max = math.nan

    def add(self, util: float, temp: float, power: float, memory: float) -> None:
        # NaN (not available) is neither summed nor a maximum; a NaN maximum fails ``>=``, so the first value
        # replaces it.
        self.count += 1
        if not math.isnan(util):
            self.util_sum += util
            self.util_n += 1
            if not self.util_max >= util:
                self.util_max = util
        if not math.isnan(temp) and not self.temp_max >= temp:
            self.temp_max = temp
        if not math.isnan(power):
            self.power_sum += power
            self.power_n += 1
        if not math.isnan(memory) and not self.mem_max >= memory:
            self.mem_max = memory

    def stats(self) -> MinuteStats:
        return (
            self.util_sum / self.util_n if self.util_n else math.nan,
            self.util_max,
            self.temp_max,
            self.power_sum / self.power_n if self.power_n else math.nan,
            self.mem_max,
            self.count,
        )


def _reading(value: float | NotAvailable | None) -> float:
    return math.nan if value is None or isinstance(value, NotAvailable) else float(value)


class AcceleratorHistory:
    """The ring of the last ten minutes (for plots and the panel) and the tally of the minute under way (for
    the archive).

    Why a tally: the archive once worked each accelerator's minute out of the ring when the minute was over,
    8,000 windows at 1,000 nodes in one burst of the interpreter that held the nodes' lines back for seconds
    (issue 21). Tallied as the readings arrive, a few float operations each, the writer's minute is a lookup.
    """

    __slots__ = ("_closed", "_next", "_size", "_tally", "_times", "_values", "capacity")

    def __init__(self, capacity: int = HISTORY_SECONDS) -> None:
        self.capacity = capacity
        self._times = np.full(capacity, np.nan, dtype=np.float64)
        self._values = np.full((len(METRICS), capacity), np.nan, dtype=np.float32)
        self._next = 0
        self._size = 0
        self._tally: _MinuteTally | None = None
        self._closed: list[tuple[int, MinuteStats]] = []  # the last minutes tallied, oldest first

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
        util, temp, power, memory = (
            _reading(sample.utilization_pct),
            _reading(sample.temperature_c),
            _reading(sample.power_w),
            _reading(sample.memory_used_mib),
        )
        self._values[:, slot] = (util, temp, power, memory)
        minute = int(when // MINUTE_S) * MINUTE_S
        tally = self._tally
        if tally is None or tally.start != minute:
            if tally is not None:
                # Closed before the next tally is in place: a reader that finds the tally already moved on
                # finds this minute here (see ``minute``). A clock stepped back closes it too; the newest
                # tally of a minute is the one looked up.
                self._closed = [*self._closed[-(CLOSED_MINUTES_KEPT - 1) :], (tally.start, tally.stats())]
            tally = self._tally = _MinuteTally(minute)
        tally.add(util, temp, power, memory)

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

    def minute(self, start: int) -> MinuteStats | None:
        """The aggregates of the minute starting at ``start`` (a multiple of 60 s): every reading that arrived
        in it, a faster stream's readings included even where the ring kept only one slot for two of them;
        None without any.

        Safe without the fleet's lock: the tally under way is looked at first, then the closed ones, and
        ``append`` puts a minute among the closed ones before it starts the next tally. A reading that
        arrives while the writer looks (a node seconds late) may be in the figure or not."""
        tally = self._tally
        if tally is not None and tally.start == start:
            return tally.stats() if tally.count else None
        for begun, stats in reversed(self._closed):
            if begun == start:
                return stats
        return None

    @property
    def nbytes(self) -> int:
        return int(self._times.nbytes + self._values.nbytes)
