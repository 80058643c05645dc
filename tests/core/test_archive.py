"""The telemetry archive: minute aggregates from the history rings, packed per node; the hourly roll-up;
timelines that fall back to hours; pruning; node states at a time; and its writer thread's behaviour on a
locked or unwritable archive (the live view goes on, nothing is lost while memory holds it)."""

from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from console.core.inventory import Inventory, NodeSpec
from console.core.parsers.nvidia_csv import NvidiaCsvParser
from console.core.records.archive import TelemetryArchive
from console.core.records.rollup import MINUTE_DTYPE, pack_minute, unpack
from console.core.telemetry.fleet import FleetModel, NodeMinute
from console.core.telemetry.history import AcceleratorHistory
from console.core.telemetry.samples import AcceleratorSample, NodeState, Vendor
from console.services.archive import ArchiveService
from tests.helpers.fakes import FakeClock, nvidia_line

T0 = 1_790_000_040 // 3600 * 3600  # on the hour


def _minute(node: str, state: NodeState, util: float, count: int = 8) -> NodeMinute:
    return NodeMinute(
        node, state, tuple((i, (util + i, util + 10, 60.0 + i, 300.0, 1000.0 * i, 60)) for i in range(count))
    )


def test_a_history_ring_tallies_the_aggregates_of_each_minute() -> None:
    history = AcceleratorHistory()
    for second in range(120):
        sample = AcceleratorSample(
            index=0,
            vendor=Vendor.NVIDIA,
            utilization_pct=float(second % 60),
            temperature_c=50.0 + second / 10,
            power_w=100.0,
            memory_used_mib=float(second),
        )
        history.append(1000.0 + second, sample)
    # 1000 is not a whole minute: the readings fall in the minutes that start at 960, 1020 and 1080.
    util_mean, util_max, temp_max, power_mean, mem_max, count = history.minute(1020) or ()
    assert (util_mean, util_max, count) == (29.5, 59.0, 60)
    assert temp_max == pytest.approx(57.9) and power_mean == 100.0 and mem_max == 79.0
    assert (history.minute(960) or ())[5] == 20 and (history.minute(1080) or ())[5] == 40
    assert history.minute(2040) is None
    empty = AcceleratorHistory()
    empty.append(1.0, AcceleratorSample(index=0, vendor=Vendor.NVIDIA))  # every reading "not available"
    util_mean, util_max, temp_max, power_mean, mem_max, count = empty.minute(0) or ()
    assert all(math.isnan(v) for v in (util_mean, util_max, temp_max, power_mean, mem_max)) and count == 1


def test_a_two_hertz_streams_minute_counts_every_reading_not_only_the_ones_the_ring_kept() -> None:
    history = AcceleratorHistory()
    for tick in range(120):  # two readings a second: the ring keeps one slot for each pair
        sample = AcceleratorSample(index=0, vendor=Vendor.NVIDIA, utilization_pct=float(tick % 2 * 100))
        history.append(1200.0 + tick * 0.4, sample)
    util_mean, util_max, *_, count = history.minute(1200) or ()
    assert (util_mean, util_max, count) == (50.0, 100.0, 120)


def test_a_minute_is_found_after_the_next_one_began_and_as_far_back_as_the_ring_reaches() -> None:
    history = AcceleratorHistory()
    for second in range(0, 12 * 60, 10):  # twelve minutes: the one under way and ten closed ones are kept
        history.append(float(second), AcceleratorSample(index=0, vendor=Vendor.NVIDIA, power_w=float(second // 60)))
    found = [history.minute(m * 60) for m in range(12)]
    assert found[0] is None
    assert [stats[3] for stats in found[1:] if stats] == [float(m) for m in range(1, 12)]


def test_a_clock_stepped_back_keeps_the_minute_it_left_and_tallies_the_earlier_one_anew() -> None:
    history = AcceleratorHistory()
    history.append(130.0, AcceleratorSample(index=0, vendor=Vendor.NVIDIA, temperature_c=70.0))
    history.append(65.0, AcceleratorSample(index=0, vendor=Vendor.NVIDIA, temperature_c=40.0))
    assert (history.minute(120) or ())[2] == 70.0 and (history.minute(60) or ())[2] == 40.0


def test_a_minute_packs_into_twelve_bytes_per_accelerator_and_keeps_not_available() -> None:
    blob = pack_minute(
        [(0, (55.55, 90.0, 71.0, 300.4, 81000.0, 60)), (1, (math.nan, math.nan, math.nan, math.nan, math.nan, 3))]
    )
    assert len(blob) == 2 * MINUTE_DTYPE.itemsize == 24
    rows = unpack(blob, MINUTE_DTYPE)
    assert rows[0]["util_mean"] == 5555 and rows[0]["mem_max"] == 81000 and rows[0]["power_mean"] == 300
    assert rows[1]["util_mean"] == 65535 and rows[1]["temp_max"] == 255
    assert len(unpack(b"\x00" * 7, MINUTE_DTYPE)) == 0  # a torn blob reads as nothing, not garbage


def test_minutes_roll_up_into_hours_and_a_timeline_reads_minutes_then_hours(tmp_path: Path) -> None:
    archive = TelemetryArchive(tmp_path / "telemetry.sqlite3", minute_keep_s=3 * 3600)
    for minute in range(180):
        state = NodeState.UP if minute % 60 < 50 else NodeState.UNREACHABLE
        nodes = (
            [_minute("n1", state, 50.0 if minute % 2 else 5.0)]
            if state == NodeState.UP
            else [NodeMinute("n1", state, ())]
        )
        archive.write(
            [(T0 + minute * 60, nodes)],
            [("n1", T0 + minute * 60 + 1.0, "state", state.value)] if minute % 60 in (0, 50) else [],
        )
    for hour in range(3):
        assert archive.roll_up(T0 + hour * 3600) == 1
    hours = list(archive.hours(T0, T0 + 3 * 3600))
    assert [h.live_minutes for h in hours] == [50, 50, 50] and hours[0].seen_minutes == 60
    first = hours[0].accelerators
    assert first["util_mean"][0] == 2750 and first["busy_minutes"][0] == 25 and first["live_minutes"][0] == 50
    timeline = archive.timeline("n1", T0 + 3600, T0 + 7200)
    assert timeline.resolution_s == 60 and timeline.util.shape == (60, 8) and timeline.indices == tuple(range(8))
    assert np.isnan(timeline.util[55]).all() and timeline.states[55] == "unreachable"
    assert [e[2] for e in timeline.events] == ["up", "unreachable"]
    archive.prune(T0 + 3 * 3600 + 3600)  # minutes older than 3 h go; hours stay
    old = archive.timeline("n1", T0, T0 + 3 * 3600)
    assert old.resolution_s == 3600 and len(old.times) >= 1
    assert archive.states_at(T0 + 3000) == {"n1": ("up", None)}
    assert archive.states_at(T0 + 3100) == {"n1": ("unreachable", None)}
    assert archive.accelerator_count("n1") == 8 and archive.accelerator_count("nope") == 0
    assert archive.timeline("nope", T0, T0 + 60).util.shape == (0, 0)
    archive.close()


def _fleet(clock: FakeClock, names: tuple[str, ...] = ("n1", "n2")) -> FleetModel:
    inventory = Inventory(
        Path("x.toml"), tuple(NodeSpec(name=n, host="127.0.0.1", vendor=Vendor.NVIDIA) for n in names)
    )
    return FleetModel(inventory, clock=clock)


def _feed(fleet: FleetModel, clock: FakeClock, seconds: int, util: str = "87") -> None:
    parser = NvidiaCsvParser()
    for _ in range(seconds):
        for name in fleet.names:
            fleet.set_state(name, NodeState.UP)
            fleet.ingest(
                name, [parser.parse_line(nvidia_line(index=str(i), utilization_gpu=util)) for i in range(2)], clock()
            )
        clock.advance(1)


def test_the_writer_takes_each_minute_from_the_rings_with_state_and_slurm_changes(tmp_path: Path) -> None:
    clock = FakeClock(T0 - 5)
    fleet = _fleet(clock)
    service = ArchiveService(fleet, tmp_path, clock=clock)
    service.step()  # initial states: connecting
    _feed(fleet, clock, 70)
    fleet.set_scheduler_states({"n1": "ALLOCATED"})
    service.step()  # T0 + 65: the minute from T0 is written (2 s after it ended)
    assert service.minutes_written == 1 and service.problem is None
    _feed(fleet, clock, 60, util="10")
    service.step()
    assert service.minutes_written == 2
    assert service.archive is not None
    timeline = service.archive.timeline("n1", T0, T0 + 120)
    assert timeline.util.shape == (2, 2) and timeline.util[0, 0] == 87.0
    assert timeline.util[1, 0] == pytest.approx((5 * 87 + 55 * 10) / 60, abs=0.01)  # the ring's own seconds
    kinds = [(kind, value) for _, kind, value in timeline.events]
    assert ("state", "up") in kinds and ("slurm", "ALLOCATED") in kinds
    service.stop()


def _locked_archive(tmp_path: Path) -> tuple[FakeClock, FleetModel, ArchiveService, sqlite3.Connection]:
    """A writer on one node whose archive another connection holds locked (BEGIN EXCLUSIVE)."""
    clock = FakeClock(T0 - 5)
    fleet = _fleet(clock, ("n1",))
    service = ArchiveService(fleet, tmp_path, clock=clock)
    assert service.archive is not None
    service.archive._conn.execute("PRAGMA busy_timeout = 50")
    blocker = sqlite3.connect(tmp_path / "telemetry.sqlite3", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    return clock, fleet, service, blocker


def test_a_locked_archive_keeps_minutes_in_memory_says_why_and_writes_them_later(tmp_path: Path) -> None:
    clock, fleet, service, blocker = _locked_archive(tmp_path)
    _feed(fleet, clock, 130)
    service.step()
    assert service.problem is not None and "telemetry.sqlite3" in service.problem and "locked" in service.problem
    assert "kept in memory" in service.problem and service.minutes_written == 0
    blocker.execute("ROLLBACK")
    blocker.close()
    _feed(fleet, clock, 60)
    service.step()
    assert service.problem is None and service.minutes_written == 2
    service.stop()


def test_an_archive_that_cannot_be_opened_is_off_with_a_reason_and_nothing_else_stops(tmp_path: Path) -> None:
    (tmp_path / "telemetry.sqlite3").write_bytes(b"this is not a database at all, it is " * 100)
    clock = FakeClock(T0)
    service = ArchiveService(_fleet(clock), tmp_path, clock=clock)
    assert service.archive is None
    assert service.problem is not None and "archive is off" in service.problem and "damaged" in service.problem
    service.start()
    service.step()  # does nothing, raises nothing
    service.stop()


def test_state_changes_reach_the_archive_within_seconds_not_at_the_minute(tmp_path: Path) -> None:
    clock = FakeClock(T0 + 5)
    fleet = _fleet(clock, ("n1",))
    service = ArchiveService(fleet, tmp_path, clock=clock)
    assert service.archive is not None
    service.step()
    fleet.set_scheduler_states({"n1": "IDLE+DRAIN"})
    clock.advance(2)
    service.step()
    assert service.archive.timeline("n1", T0, T0 + 60).events == ()  # not yet: batched
    clock.advance(10)
    service.step()  # still inside the first minute
    assert [e[1:] for e in service.archive.timeline("n1", T0, T0 + 60).events] == [
        ("state", "connecting"),
        ("slurm", "IDLE+DRAIN"),
    ]
    service.stop()


def test_a_node_whose_accelerators_changed_reads_each_in_its_own_column(tmp_path: Path) -> None:
    archive = TelemetryArchive(tmp_path / "telemetry.sqlite3")
    archive.write([(T0, [_minute("n1", NodeState.UP, 10.0, count=8)])], [])
    archive.write([(T0 + 60, [_minute("n1", NodeState.UP, 20.0, count=7)])], [])  # GPU 7 fell off the bus
    archive.write([(T0 + 120, [NodeMinute("n1", NodeState.UNREACHABLE, ())])], [])
    timeline = archive.timeline("n1", T0, T0 + 180)
    assert timeline.indices == tuple(range(8)) and timeline.util.shape == (3, 8)
    assert timeline.util[0, 7] == 17.0 and np.isnan(timeline.util[1, 7]) and timeline.util[1, 6] == 26.0
    assert np.isnan(timeline.util[2]).all() and timeline.states == ("up", "up", "unreachable")
    archive.close()


def test_the_writer_keeps_idle_streaks_and_a_new_writer_reads_them_back_from_the_archive(tmp_path: Path) -> None:
    clock = FakeClock(T0 - 5)
    fleet = _fleet(clock, ("n1",))
    service = ArchiveService(fleet, tmp_path, clock=clock)
    service.step()
    _feed(fleet, clock, 130, util="0")
    service.step()
    assert service.idle.snapshot() == {("n1", 0): T0, ("n1", 1): T0}
    service.stop()
    again = ArchiveService(_fleet(clock, ("n1",)), tmp_path, clock=clock)
    again.step()  # the first round reads the streaks back
    assert again.idle.snapshot() == {("n1", 0): T0, ("n1", 1): T0}
    again.stop()


def test_each_minute_keeps_its_tenancy_and_the_hour_adds_it_to_the_tenants_day(tmp_path: Path) -> None:
    from console.core.records.archive_types import MinuteTenancy
    from console.core.records.tenant_report import build_tenant_report, render_tenant_csv, render_tenant_html

    archive = TelemetryArchive(tmp_path / "telemetry.sqlite3")
    busy = tuple((i, (90.0, 95.0, 70.0, 500.0, 1000.0, 60)) for i in range(4))
    idle = tuple((i, (0.0, 0.0, 30.0, 90.0, 10.0, 60)) for i in range(4))
    for minute in range(60):
        start = T0 + minute * 60
        if minute < 30:  # acme: GPUs 0-1 held by a job and busy, 2-3 free and idle; GPU 3 unhealthy
            nodes = [NodeMinute("n1", NodeState.UP, busy[:2] + idle[2:])]
            tenancy = {"n1": MinuteTenancy("acme", frozenset({0, 1}), frozenset({3}), (0, 1, 2, 3))}
        elif minute < 50:  # globex (Slurm moved it): all four held, idle
            nodes = [NodeMinute("n1", NodeState.UP, idle)]
            tenancy = {"n1": MinuteTenancy("globex", frozenset({0, 1, 2, 3}), frozenset(), (0, 1, 2, 3))}
        else:  # globex, the node down: its four GPUs out of service
            nodes = [NodeMinute("n1", NodeState.UNREACHABLE, ())]
            tenancy = {"n1": MinuteTenancy("globex", frozenset(), frozenset(), (0, 1, 2, 3))}
        archive.write([(start, nodes)], [], {start: tenancy})
    archive.roll_up(T0)
    day = time.strftime("%Y-%m-%d", time.gmtime(T0))
    rows = {u.tenant: u for u in archive.usage(day, "9999-12-31")}
    acme, globex = rows["acme"], rows["globex"]
    assert (acme.held, acme.allocated, acme.busy, acme.idle_allocated) == (2.0, 1.0, 1.0, 0.0)
    assert (acme.healthy, acme.out_of_service) == (1.5, 0.5)  # GPU 3 had an open alert
    assert acme.util_mean == pytest.approx(45.0)
    # globex: 20 minutes up (all held, idle) and 10 down, four GPUs each.
    assert (globex.held, globex.allocated, globex.busy) == (2.0, pytest.approx(4 / 3), 0.0)
    assert globex.idle_allocated == pytest.approx(4 / 3)
    assert globex.out_of_service == pytest.approx(40 / 60) and globex.healthy == pytest.approx(80 / 60)
    assert archive.usage(day, "9999-12-31", tenant="nobody") == []
    ((when, held, busy, idle_allocated, out),) = archive.usage_by_day(day, "9999-12-31", "globex")
    assert when == day and held == 2.0 and busy == 0.0 and out == pytest.approx(2 / 3)
    assert idle_allocated == pytest.approx(4 / 3) and archive.usage_by_day(day, "9999-12-31", "nobody") == []
    report = build_tenant_report("acme", day, "9999-12-31", list(rows.values()), "now", "lia")
    assert report["totals"]["held"] == 2.0 and [n["node"] for n in report["nodes"]] == ["n1"]
    assert "Idle while allocated" in render_tenant_html(report) and "<script" not in render_tenant_html(report)
    assert render_tenant_csv(report).splitlines()[1].startswith(f"acme,{day},9999-12-31,(all),2.0,")
    archive.close()


def test_an_archive_of_schema_1_is_migrated_and_its_old_minutes_count_for_no_tenant(tmp_path: Path) -> None:
    from console.core.records.archive_schema import _v1

    path = tmp_path / "telemetry.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    _v1(conn)
    conn.execute("INSERT INTO nodes (id, name) VALUES (1, 'n1')")
    conn.execute(
        "INSERT INTO minute (node, t, state, data) VALUES (1, ?, 0, ?)",
        (T0, pack_minute([(0, (50.0, 60.0, 70.0, 300.0, 1000.0, 60))])),
    )
    conn.execute("PRAGMA user_version = 1")
    conn.execute("COMMIT")
    conn.close()
    archive = TelemetryArchive(path)
    archive.roll_up(T0)
    (usage,) = archive.usage("2000-01-01", "9999-12-31")
    assert (usage.tenant, usage.node, usage.held, usage.allocated) == (None, "n1", 1 / 60, 0.0)
    archive.close()


def test_the_writer_archives_each_nodes_tenancy_from_its_source(tmp_path: Path) -> None:
    from console.core.records.archive_types import MinuteTenancy

    clock = FakeClock(T0 - 5)
    fleet = _fleet(clock, ("n1",))
    service = ArchiveService(
        fleet, tmp_path, clock=clock, tenancy=lambda: {"n1": MinuteTenancy("acme", frozenset({1}), frozenset(), (0, 1))}
    )
    service.step()
    _feed(fleet, clock, 70)
    service.step()
    assert service.archive is not None
    rows = service.archive._conn.execute("SELECT tenant, flags FROM minute").fetchall()
    tenant = service.archive._conn.execute("SELECT name FROM tenants WHERE id = ?", (rows[0][0],)).fetchone()[0]
    assert tenant == "acme" and rows[0][1] == bytes([0, 1])
    service.stop()


def test_minutes_let_go_past_the_backlog_are_said_with_their_span_and_kept_as_a_gap_that_reports_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import console.services.archive as archive_service
    from console.core.records.tenant_report import build_tenant_report, render_tenant_csv, render_tenant_html

    monkeypatch.setattr(archive_service, "MAX_PENDING_MINUTES", 3)
    clock, fleet, service, blocker = _locked_archive(tmp_path)
    for _ in range(7):  # minutes T0 .. T0+5 end while the archive is locked: 3 kept, 3 let go
        _feed(fleet, clock, 60)
        service.step()
    assert service.dropped_minutes == 3
    assert (
        service.problem is not None and "3 minute(s) kept in memory" in service.problem and "3 lost" in service.problem
    )
    span = time.strftime("%Y-%m-%d %H:%M", time.gmtime(T0)) + " to " + time.strftime("%H:%M", time.gmtime(T0 + 180))
    assert service.loss is not None and f"3 archive minute(s) lost, from {span} UTC (3 min)" in service.loss
    blocker.execute("ROLLBACK")
    blocker.close()
    assert service.flush()
    assert service.problem is None and service.minutes_written == 3
    assert service.loss is not None and "lost" in service.loss  # still said after the archive recovered
    assert service.archive is not None
    (gap,) = service.archive.gaps(T0 - 3600, T0 + 3600)
    assert (gap.start, gap.end, gap.minutes) == (T0, T0 + 180, 3) and "locked" in gap.reason
    events = service.archive.timeline("n1", T0 - 60, T0 + 600).events
    assert [e for e in events if e[1] == "gap"] == [(float(T0), "gap", gap.words())]
    report = build_tenant_report("acme", "2026-12-07", "2026-12-08", [], "now", "sue", gaps=[gap])
    assert gap.words() in render_tenant_html(report)
    assert "(no data: 3 min from " in render_tenant_csv(report)
    service.stop()


def test_a_nodes_last_known_accelerators_come_from_its_last_minute_else_its_last_hour(tmp_path: Path) -> None:
    archive = TelemetryArchive(tmp_path / "t.sqlite3", minute_keep_s=3600)
    hour = 1_800_000_000 // 3600 * 3600
    stats = (10.0, 20.0, 50.0, 100.0, 1.0, 60)
    rows = [(hour + m * 60, [NodeMinute("n1", NodeState.UP, ((0, stats), (3, stats)))]) for m in range(60)]
    rows += [(hour + 3600 + m * 60, [NodeMinute("n1", NodeState.UNREACHABLE, ())]) for m in range(5)]  # down since
    archive.write(rows, [])
    assert archive.last_accelerators(["n1", "nobody"]) == {"n1": (float(hour + 59 * 60), (0, 3))}
    archive.roll_up(hour)
    archive.prune(hour + 3 * 3600)  # the minutes are gone: the hour still knows them
    assert archive.last_accelerators(["n1"]) == {"n1": (float(hour), (0, 3))}
    archive.close()
