from __future__ import annotations

import math

import numpy as np

from console.core.telemetry.history import HISTORY_SECONDS, AcceleratorHistory
from console.core.telemetry.samples import NA, AcceleratorSample, Vendor


def _sample(util: float) -> AcceleratorSample:
    return AcceleratorSample(index=0, vendor=Vendor.NVIDIA, utilization_pct=util, temperature_c=NA)


def test_ring_holds_ten_minutes_oldest_first_and_wraps() -> None:
    history = AcceleratorHistory()
    for t in range(HISTORY_SECONDS + 50):
        history.append(1000.0 + t, _sample(float(t % 100)))
    series = history.series("utilization_pct")
    assert len(history) == HISTORY_SECONDS == len(series.times)
    assert series.times[0] == 1050.0 and series.times[-1] == 1000.0 + HISTORY_SECONDS + 49
    assert np.all(np.diff(series.times) > 0)
    assert series.values[-1] == (HISTORY_SECONDS + 49) % 100


def test_not_available_is_nan_in_history_not_zero() -> None:
    history = AcceleratorHistory()
    history.append(1.0, _sample(5.0))
    assert math.isnan(history.series("temperature_c").values[0])


def test_samples_closer_than_half_a_second_overwrite_so_ten_minutes_still_fit() -> None:
    history = AcceleratorHistory()
    history.append(10.0, _sample(1.0))
    history.append(10.2, _sample(2.0))
    history.append(11.0, _sample(3.0))
    assert list(history.series("utilization_pct").values) == [2.0, 3.0]


def test_buffers_are_allocated_once() -> None:
    history = AcceleratorHistory()
    before = history.nbytes
    for t in range(2000):
        history.append(float(t), _sample(1.0))
    assert history.nbytes == before


def test_series_since_cuts_old_points() -> None:
    history = AcceleratorHistory()
    for t in range(10):
        history.append(float(t), _sample(float(t)))
    assert list(history.series("utilization_pct", since=7.0).values) == [7.0, 8.0, 9.0]
