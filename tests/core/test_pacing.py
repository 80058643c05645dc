"""Pacing (issue 21.15): the archive writer's once-a-minute work lets go of the interpreter every couple of
milliseconds, so the nodes' lines do not wait behind it; and its quicker window gives what numpy's
NaN-aware mean and max give."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from console.core.inventory import Inventory, NodeSpec
from console.core.pacing import Pacer
from console.core.telemetry.fleet import FleetModel
from console.core.telemetry.history import METRICS, AcceleratorHistory
from console.core.telemetry.samples import AcceleratorSample, NodeState, NotAvailable, ParsedLine, Vendor


class _Time:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_pacer_pauses_once_per_slice_of_work_and_not_between() -> None:
    time = _Time()
    pace = Pacer(slice_s=0.5, pause_s=0.25, clock=time.clock, sleep=time.sleep)  # exact binary fractions
    for _ in range(100):  # 100 items of 0.125 s of work: a pause after every fourth
        time.now += 0.125
        pace()
    assert pace.pauses == 25 and time.slept == [0.25] * 25


def test_the_archives_minute_of_every_node_is_paced_node_by_node() -> None:
    specs = tuple(NodeSpec(name=f"n{i}", host="h", vendor=Vendor.NVIDIA) for i in range(30))
    fleet = FleetModel(Inventory(Path("f.toml"), specs), clock=lambda: 1030.0)
    for spec in specs:
        fleet.set_state(spec.name, NodeState.UP)
        sample = AcceleratorSample(index=0, vendor=Vendor.NVIDIA, utilization_pct=50.0)
        fleet.ingest(spec.name, [ParsedLine(sample=sample)], 1030.0)
    calls: list[None] = []
    minutes = fleet.minutes(1020, pace=lambda: calls.append(None))
    assert len(calls) == 30 and [m.accelerators[0][1][0] for m in minutes] == [50.0] * 30


VALUE = st.one_of(st.none(), st.floats(min_value=0, max_value=1e6, allow_nan=False))


@given(st.lists(st.tuples(VALUE, VALUE, VALUE, VALUE), min_size=1, max_size=60))
def test_the_minutes_tally_gives_what_numpys_nan_aware_mean_and_max_give(rows: list[tuple[float | None, ...]]) -> None:
    history = AcceleratorHistory()
    for second, row in enumerate(rows):
        fields = {name: NotAvailable("[N/A]") if v is None else v for name, v in zip(METRICS, row, strict=True)}
        history.append(1020.0 + second, AcceleratorSample(index=0, vendor=Vendor.NVIDIA, **fields))  # type: ignore[arg-type]
    got = history.minute(1020)
    assert got is not None
    table = np.array([[math.nan if v is None else v for v in row] for row in rows], dtype=np.float32).T

    def mean(row: np.ndarray) -> float:
        kept = row[~np.isnan(row)]
        return float(kept.mean(dtype=np.float64)) if len(kept) else math.nan

    def top(row: np.ndarray) -> float:
        kept = row[~np.isnan(row)]
        return float(kept.max()) if len(kept) else math.nan

    want = (mean(table[0]), top(table[0]), top(table[1]), mean(table[2]), top(table[3]), len(rows))
    for a, b in zip(got, want, strict=True):
        assert (math.isnan(a) and math.isnan(b)) or a == np.float32(b) or math.isclose(a, b, rel_tol=1e-5), (got, want)
