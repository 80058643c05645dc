"""The archive's hour and tenant tallies (console.core.records.rollup): the grid formula against the per-item one it
replaced, on any mix of rows the archive can hold (accelerators coming and going, silent minutes, a tenant
changing mid-hour, hostile blobs), the grid's rows read back unchanged, and a generator's imported hour
equal to the same minutes written and rolled up."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.core.records.archive import TelemetryArchive
from console.core.records.rollup import (
    ALLOCATED_BIT,
    BUSY_PCT,
    HOUR_DTYPE,
    LIVE_CODES,
    MINUTE_DTYPE,
    NA_U1,
    NA_U2,
    NA_U4,
    STATE_CODE,
    UNHEALTHY_BIT,
    MinuteGrid,
    MinuteRow,
    pack_minute,
    pack_values,
    roll_hour,
    unpack,
)
from console.core.telemetry.samples import NodeState

T0 = 1_790_002_800  # on the hour
UP = STATE_CODE[NodeState.UP]
DOWN = STATE_CODE[NodeState.UNREACHABLE]


HourReference = dict[int, tuple[int, int, list[tuple[int, ...]]]]


def _reference(rows: list[MinuteRow]) -> tuple[HourReference, dict[Any, list[float]]]:
    """The roll-up as first written, one item at a time (busy: above BUSY_PCT, as the tenancy counts it)."""
    per_node: dict[int, list[tuple[int, bytes]]] = {}
    usage: dict[tuple[int, int], list[float]] = {}
    for node, _t, state, data, tenant, flags in rows:
        per_node.setdefault(node, []).append((state, data))
        into = usage.setdefault((tenant or 0, node), [0.0] * 8)
        accelerators = unpack(data, MINUTE_DTYPE)
        live = state in LIVE_CODES
        if not len(accelerators) and flags:
            for mark in flags:
                into[0] += 1
                into[2] += bool(mark & ALLOCATED_BIT)
                into[5] += 1
            continue
        marks = flags if flags is not None and len(flags) == len(accelerators) else bytes(len(accelerators))
        for item, mark in zip(accelerators, marks, strict=True):
            into[0] += 1
            allocated = bool(mark & ALLOCATED_BIT)
            into[2] += allocated
            if not live:
                into[5] += 1
                continue
            healthy = not mark & UNHEALTHY_BIT
            into[1] += healthy
            into[5] += not healthy
            util = item["util_mean"]
            if util != NA_U2:
                busy = util > BUSY_PCT * 100
                into[3] += busy
                into[4] += allocated and not busy
                into[6] += util / 100.0
                into[7] += 1
            else:
                into[4] += allocated
    hours: HourReference = {}
    for node, minutes in per_node.items():
        live_count = sum(1 for state, _ in minutes if state == UP)
        arrays = [unpack(data, MINUTE_DTYPE) for _, data in minutes]
        every = np.concatenate(arrays) if arrays else np.zeros(0, MINUTE_DTYPE)
        out = []
        for index in np.unique(every["index"]):
            picks = every[every["index"] == index]
            util = picks["util_mean"][picks["util_mean"] != NA_U2].astype(np.float64)
            util_max = picks["util_max"][picks["util_max"] != NA_U1]
            temp = picks["temp_max"][picks["temp_max"] != NA_U1]
            power = picks["power_mean"][picks["power_mean"] != NA_U2].astype(np.float64)
            memory = picks["mem_max"][picks["mem_max"] != NA_U4]
            out.append(
                (
                    int(index),
                    round(float(util.mean())) if util.size else NA_U2,
                    int(util_max.max()) if util_max.size else NA_U1,
                    int(temp.max()) if temp.size else NA_U1,
                    round(float(power.mean())) if power.size else NA_U2,
                    int(memory.max()) if memory.size else NA_U4,
                    int(np.count_nonzero(util > BUSY_PCT * 100)),
                    len(picks),
                )
            )
        hours[node] = (live_count, len(minutes), out)
    return hours, usage


def _figures(draw: st.DrawFn) -> tuple[float, float, float, float, float, int]:
    maybe = st.one_of(st.just(math.nan), st.floats(0, 100))
    util = draw(maybe)
    return (util, draw(maybe), draw(st.one_of(st.just(math.nan), st.floats(20, 110))), 350.0, 4096.0, 60)


@st.composite
def _rows(draw: st.DrawFn) -> list[MinuteRow]:
    rows: list[MinuteRow] = []
    for node in range(1, draw(st.integers(1, 4)) + 1):
        usual = draw(st.lists(st.integers(0, 9), min_size=0, max_size=4, unique=True))
        for minute in sorted(draw(st.sets(st.integers(0, 59), max_size=8))):
            kind = draw(st.sampled_from(["usual", "usual", "other", "silent", "hostile"]))
            indices = usual if kind == "usual" else draw(st.lists(st.integers(0, 9), max_size=4, unique=True))
            if kind == "usual" and draw(st.booleans()):
                indices = list(reversed(indices))  # the tool listed them in another order
            data = b"" if kind == "silent" else pack_minute([(i, _figures(draw)) for i in indices])
            if kind == "hostile":
                data += b"\x01"  # not a whole number of accelerators: read as none
            width = len(indices) if kind != "silent" else draw(st.integers(0, 4))
            flags = draw(
                st.one_of(st.none(), st.binary(min_size=width, max_size=width), st.binary(min_size=1, max_size=3))
            )
            state = draw(st.sampled_from([UP, UP, DOWN, STATE_CODE[NodeState.PARSE_ERROR], 200]))
            tenant = draw(st.sampled_from([None, 0, 1, 2]))
            rows.append((node, T0 + 60 * minute, state, data, tenant, flags))
    return rows


@given(_rows())
def test_the_grid_rolls_any_mix_of_minutes_as_the_per_item_formula_did(rows: list[MinuteRow]) -> None:
    rolled = roll_hour(MinuteGrid.from_rows(T0, rows))
    hours, usage = _reference(rows)
    assert {node: (live, seen) for node, live, seen, _ in rolled.hours} == {n: h[:2] for n, h in hours.items()}
    for node, _live, _seen, data in rolled.hours:
        assert [tuple(int(x) for x in item) for item in unpack(data, HOUR_DTYPE)] == hours[node][2]
    got = {(tenant, node): tally for tenant, node, tally in rolled.usage}
    assert got.keys() == usage.keys()
    for key, tally in usage.items():
        assert got[key] == pytest.approx(tally)


def test_a_busy_minute_is_one_above_the_threshold_in_the_hour_as_in_the_tenants_day() -> None:
    at_threshold = pack_minute([(0, (BUSY_PCT, BUSY_PCT, 50.0, 300.0, 10.0, 60))])
    above = pack_minute([(0, (BUSY_PCT + 0.01, BUSY_PCT, 50.0, 300.0, 10.0, 60))])
    rows: list[MinuteRow] = [(1, T0, UP, at_threshold, 1, b"\x01"), (1, T0 + 60, UP, above, 1, b"\x01")]
    rolled = roll_hour(MinuteGrid.from_rows(T0, rows))
    assert unpack(rolled.hours[0][3], HOUR_DTYPE)["busy_minutes"][0] == 1
    ((_, _, tally),) = rolled.usage
    assert (tally[3], tally[4]) == (1, 1)  # one busy, one idle while allocated


def test_minutes_outside_the_hour_are_not_counted_in_it() -> None:
    data = pack_minute([(0, (50.0, 60.0, 50.0, 300.0, 10.0, 60))])
    rows: list[MinuteRow] = [(1, T0 - 60, UP, data, None, None), (1, T0 + 3600, UP, data, None, None)]
    assert roll_hour(MinuteGrid.from_rows(T0, rows)).hours == []


@given(_rows())
def test_a_grids_rows_read_back_into_the_same_hour(rows: list[MinuteRow]) -> None:
    grid = MinuteGrid.from_rows(T0, rows)
    again = MinuteGrid.from_rows(T0, grid.rows(T0))
    assert roll_hour(again) == roll_hour(grid)


def test_packing_rounds_clips_and_keeps_not_available() -> None:
    packed = pack_values(
        [3, 300], [12.345, math.nan], [101.0, -5.0], [math.nan, 300.0], [700.4, 1e9], [1e12, 0], [60, 999]
    )
    assert packed["index"].tolist() == [3, 254]
    assert packed["util_mean"].tolist() == [1234, NA_U2]  # hundredths, rounded half to even
    assert packed["util_max"].tolist() == [101, 0]
    assert packed["temp_max"].tolist() == [NA_U1, NA_U1 - 1]
    assert packed["power_mean"].tolist() == [700, NA_U2 - 1]
    assert packed["mem_max"].tolist() == [NA_U4 - 1, 0]
    assert packed["samples"].tolist() == [60, 254]
    assert pack_minute([]) == b""


def _generated(archive: TelemetryArchive) -> MinuteGrid:
    """Two nodes: one busy and allocated all hour, one that stops answering after 40 minutes."""
    nodes = archive.node_ids(["gpu-001", "gpu-002"])
    tenants = archive.tenant_ids(["acme-ai", None])
    grid = MinuteGrid.empty(nodes, 60, 4)
    minute = np.arange(60)[None, :, None]
    grid.indices[:] = np.arange(4)
    grid.values[:] = pack_values(np.arange(4), 40 + minute % 50, 95, 60 + minute % 7, 400, 30000, 60)
    grid.present[:] = True
    grid.state[:] = UP
    grid.state[1, 40:] = DOWN
    grid.tenant[0], grid.tenant[1] = tenants
    grid.reported[:] = True
    grid.reported[1, 40:] = False
    grid.held[:] = True
    grid.marks[0] = ALLOCATED_BIT
    grid.marks[0, 10:20, 2] |= UNHEALTHY_BIT
    return grid


def test_an_imported_hour_is_the_hour_its_minutes_would_have_rolled_up_to(tmp_path: Path) -> None:
    streamed = TelemetryArchive(tmp_path / "streamed.sqlite3")
    streamed.write_grid(T0, _generated(streamed))
    assert streamed.roll_up(T0) == 2
    imported = TelemetryArchive(tmp_path / "imported.sqlite3")
    assert imported.import_hours([(T0, _generated(imported))]) == 1
    for archive in (streamed, imported):
        usage = {(u.tenant, u.node): u for u in archive.usage("2026-01-01", "2027-01-01")}
        acme = usage[("acme-ai", "gpu-001")]
        assert (acme.held, acme.allocated, acme.out_of_service) == (4.0, 4.0, pytest.approx(10 / 60))
        silent = usage[(None, "gpu-002")]
        assert silent.out_of_service == pytest.approx(4 * 20 / 60)  # the 20 minutes it did not answer
        (row,) = [h for h in archive.hours(T0, T0 + 3600) if h.node == "gpu-002"]
        assert (row.live_minutes, row.seen_minutes, int(row.accelerators["live_minutes"][0])) == (40, 60, 40)
        assert archive.rolled_up_to() == T0 + 3600
    assert list(streamed.hours(T0, T0 + 3600)) and [
        (h.node, h.accelerators.tobytes()) for h in streamed.hours(T0, T0 + 3600)
    ] == [(h.node, h.accelerators.tobytes()) for h in imported.hours(T0, T0 + 3600)]
    streamed.close()
    imported.close()


def test_an_older_hour_imported_leaves_the_writers_place_where_it_was(tmp_path: Path) -> None:
    archive = TelemetryArchive(tmp_path / "a.sqlite3")
    archive.import_hours([(T0, _generated(archive))])
    archive.import_hours([(T0 - 7200, _generated(archive))])
    assert archive.rolled_up_to() == T0 + 3600
    archive.close()


def test_an_hour_rolled_in_chunks_counts_a_node_at_a_chunks_edge_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer rolls an hour a few thousand minute rows at a time, whole nodes per chunk: a node whose rows
    cross a chunk's edge is rolled once, with all its minutes, never again from its tail."""
    from console.core.records import archive as archive_module

    whole = TelemetryArchive(tmp_path / "whole.sqlite3")
    chunked = TelemetryArchive(tmp_path / "chunked.sqlite3")
    for archive in (whole, chunked):
        archive.write_grid(T0, _generated(archive))  # two nodes, 60 minute rows each
    assert whole.roll_up(T0) == 2
    monkeypatch.setattr(archive_module, "ROLL_UP_ROWS", 50)  # the first node's rows cross the first edge
    assert chunked.roll_up(T0) == 2
    for a, b in zip(whole.usage("2026-01-01", "2027-01-01"), chunked.usage("2026-01-01", "2027-01-01"), strict=True):
        assert a == b
    assert [(h.node, h.live_minutes, h.seen_minutes, h.accelerators.tobytes()) for h in whole.hours(T0, T0 + 3600)] == [
        (h.node, h.live_minutes, h.seen_minutes, h.accelerators.tobytes()) for h in chunked.hours(T0, T0 + 3600)
    ]
    whole.close()
    chunked.close()
