"""The archive writer: one thread that, every minute, takes the last minute's aggregates of every
accelerator from the fleet model's history rings (tallied as the readings arrived) and writes them to the
telemetry archive in one transaction, with the node and Slurm state changes it saw (looked at every two
seconds); every hour it rolls the past hour up and drops what is past its keep time.

A full disk or a locked archive costs nothing but the archive: the batch is kept in memory (up to two
hours of it) and written at the next chance, ``problem`` says why in words for the status bar, and the
telemetry goes on streaming. Past two hours the oldest minutes are let go: ``loss`` says how many and
from when to when (it stays said after the archive recovers), and the gap is written into the archive
with the next batch, so reports say "no data" for those minutes instead of reading them as a quiet fleet.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

from console.core.pacing import Pacer
from console.core.records.archive import ARCHIVE_FILE, HOUR_KEEP_S, MINUTE_KEEP_S, TelemetryArchive
from console.core.records.archive_types import ArchiveGap, MinuteTenancy
from console.core.records.sqlite_files import explain
from console.core.records.store_error import StoreError
from console.core.telemetry.fleet import FleetModel, NodeMinute
from console.core.telemetry.samples import LIVE_STATES, NodeState
from console.core.tenants.allocation import IdleTracker

STATE_LOOK_S: Final = 2.0
MINUTE_SETTLE_S: Final = 2.0  # a minute is taken this long after it ends (its last lines have arrived)
EVENT_FLUSH_S: Final = 10.0  # state changes reach the archive (and a timeline) within this, not at the minute
MAX_PENDING_MINUTES: Final = 120
ROLLUP_BACK_HOURS: Final = 48
IDLE_SEED_S: Final = 6 * 3600.0  # idle streaks read back from the archive at start
log = logging.getLogger(__name__)


class ArchiveService:
    def __init__(
        self,
        fleet: FleetModel,
        data_dir: Path,
        *,
        clock: Callable[[], float] = time.time,
        minute_keep_s: float | None = None,
        hour_keep_s: float | None = None,
        tenancy: Callable[[], Mapping[str, MinuteTenancy]] | None = None,
    ) -> None:
        self.fleet = fleet
        self.tenancy = tenancy
        self._tenancy: dict[int, Mapping[str, MinuteTenancy]] = {}
        self.path = data_dir / ARCHIVE_FILE
        self.clock = clock
        self.problem: str | None = None
        self.dropped_minutes = 0
        self.loss: str | None = None  # the minutes let go, in words; stays after the archive recovers
        self._lost: list[ArchiveGap] = []  # every span let go since the start (for ``loss``)
        self._pending_gaps: list[ArchiveGap] = []  # spans let go, not yet written into the archive
        self._why: str | None = None  # why the last write failed
        self.minutes_written = 0
        self.archive: TelemetryArchive | None = None
        try:
            self.archive = TelemetryArchive(
                self.path,
                minute_keep_s=MINUTE_KEEP_S if minute_keep_s is None else minute_keep_s,
                hour_keep_s=HOUR_KEEP_S if hour_keep_s is None else hour_keep_s,
            )
        except StoreError as exc:
            self.problem = f"the telemetry archive is off: {exc}"
        self._pending_minutes: list[tuple[int, list[NodeMinute]]] = []
        self._pending_events: list[tuple[str, float, str, str | None]] = []
        self._last: dict[str, tuple[NodeState, str | None]] = {}
        self._alerts: dict[str, dict[tuple[str, int | None], str]] = {}
        self._xids: dict[str, set[tuple[str | None, int, tuple[int, int, int], str]]] = {}
        now = clock()
        self._next_minute = int(now) // 60 * 60 + 60  # the first whole minute starts here
        self._flushed_at = now
        # Since when each accelerator has been idle: the idle-capacity finder reads it.
        self.idle = IdleTracker()
        self._seeded = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="archive-writer", daemon=True)

    def start(self) -> None:
        if self.archive is not None and not self._thread.is_alive():
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        if self.archive is not None:
            self.flush()
            self.archive.close()

    def _run(self) -> None:
        while not self._stop.wait(STATE_LOOK_S):
            try:
                self.step()
            except Exception:
                log.exception("the archive writer failed a round")

    def seed_idle(self, now: float, lookback_s: float = IDLE_SEED_S) -> None:
        """Idle streaks from the archive's last minutes, so a restarted console does not forget them."""
        self._seeded = True
        if self.archive is None:
            return
        try:
            for name in self.fleet.names:
                timeline = self.archive.timeline(name, now - lookback_s, now)
                if timeline.resolution_s != 60:
                    continue
                for row, start in enumerate(timeline.times):
                    self.idle.minute(
                        name,
                        float(start),
                        {index: float(timeline.util[row, col]) for col, index in enumerate(timeline.indices)},
                        timeline.states[row] in ("up", "parse error"),
                    )
        except (sqlite3.Error, OSError) as exc:
            self.problem = f"idle streaks could not be read from the archive ({explain(self.path, exc)})"

    def step(self) -> None:
        """One round: state changes; the minute that ended (and its write); the hour's roll-up."""
        now = self.clock()
        if not self._seeded:
            self.seed_idle(now)
        self.look_at_states(now)
        end = self._next_minute + 60
        if now >= end + MINUTE_SETTLE_S:
            minute_start = self._next_minute
            # A stalled writer (a suspended laptop) skips ahead instead of writing empty minutes.
            self._next_minute = max(end, int(now) // 60 * 60)
            # Paced: the tallies are lookups, but 8,000 of them and the idle streaks below are still a loop.
            pace = Pacer()
            minutes = self.fleet.minutes(minute_start, pace)
            self._pending_minutes.append((minute_start, minutes))
            if self.tenancy is not None:
                try:
                    self._tenancy[minute_start] = self.tenancy()
                except Exception:
                    log.exception("the nodes' tenancy could not be taken for the archive")
            for node_minute in minutes:
                self.idle.minute(
                    node_minute.node,
                    minute_start,
                    {index: stats[0] for index, stats in node_minute.accelerators},
                    node_minute.state in LIVE_STATES,
                )
                pace()
            if len(self._pending_minutes) > MAX_PENDING_MINUTES:
                self._let_go(self._pending_minutes[:-MAX_PENDING_MINUTES])
                del self._pending_minutes[:-MAX_PENDING_MINUTES]
                kept = {start for start, _ in self._pending_minutes}
                self._tenancy = {start: t for start, t in self._tenancy.items() if start in kept}
            if self.flush():
                self.roll_up(now)
            self._flushed_at = now
        elif self._pending_events and now - self._flushed_at >= EVENT_FLUSH_S:
            self.flush()
            self._flushed_at = now

    def _let_go(self, minutes: list[tuple[int, list[NodeMinute]]]) -> None:
        """Minutes past the backlog's bound: counted, said in words, and kept as a gap for the archive."""
        self.dropped_minutes += len(minutes)
        reason = (
            "the console could not write its archive for more than "
            f"{MAX_PENDING_MINUTES} minutes ({self._why or 'see the status bar'}); these minutes are in no figure"
        )
        for start, _ in minutes:
            for gaps in (self._pending_gaps, self._lost):
                if gaps and gaps[-1].end == start:
                    gaps[-1] = ArchiveGap(gaps[-1].start, start + 60, gaps[-1].reason)
                else:
                    gaps.append(ArchiveGap(start, start + 60, reason))
        spans = "; ".join(g.span() for g in self._lost[-3:])
        more = f" (and {len(self._lost) - 3} earlier span(s))" if len(self._lost) > 3 else ""
        self.loss = (
            f"{self.dropped_minutes} archive minute(s) lost, {spans}{more}: the archive could not be written for more "
            f'than {MAX_PENDING_MINUTES} minutes; reports say "no data" for them'
        )
        del self._lost[:-50]

    def look_at_states(self, now: float) -> None:
        """Node and Slurm state changes, alerts raised and cleared, and kernel-log XIDs, as events."""
        for status in self.fleet.statuses():
            alerts = {(a.rule, a.accelerator): f"{a.severity.word}: {a.message}" for a in status.alerts}
            known = self._alerts.get(status.node, {})
            for key, words in alerts.items():
                if key not in known:
                    self._pending_events.append((status.node, now, "alert", words))
            for key, words in known.items():
                if key not in alerts:
                    self._pending_events.append((status.node, now, "alert", f"cleared: {words.split(': ', 1)[-1]}"))
            self._alerts[status.node] = alerts
            seen = self._xids.setdefault(status.node, set())
            for record in status.xids:
                xid_key = (record.event.when, record.event.code, record.event.bus, record.event.detail)
                if xid_key in seen:
                    continue
                seen.add(xid_key)
                where = (
                    f"GPU {record.accelerator}"
                    if record.accelerator is not None
                    else "PCI " + ":".join(f"{p:02x}" for p in record.event.bus)
                )
                self._pending_events.append(
                    (status.node, record.seen_at, "xid", f"XID {record.event.code} on {where}: {record.event.meaning}")
                )
            if len(seen) > 2000:
                seen.clear()
                seen.update((r.event.when, r.event.code, r.event.bus, r.event.detail) for r in status.xids)
            before = self._last.get(status.node)
            current = (status.state, status.scheduler_state)
            if before == current:
                continue
            if before is None or before[0] != status.state:
                self._pending_events.append((status.node, now, "state", status.state.value))
            if status.scheduler_state is not None and (before is None or before[1] != status.scheduler_state):
                self._pending_events.append((status.node, now, "slurm", status.scheduler_state))
            self._last[status.node] = current
        if len(self._pending_events) > 200_000:
            del self._pending_events[:-200_000]

    def flush(self) -> bool:
        """Write what is pending; False (and ``problem`` says why) when the archive would not take it."""
        if self.archive is None:
            return False
        if not (self._pending_minutes or self._pending_events or self._pending_gaps):
            return True
        try:
            self.archive.write(
                self._pending_minutes, self._pending_events, self._tenancy, self._pending_gaps, pace=Pacer()
            )
        except (sqlite3.Error, OSError) as exc:
            self._why = explain(self.path, exc)
            kept = len(self._pending_minutes)
            self.problem = (
                f"the telemetry archive cannot be written ({self._why}); {kept} minute(s) kept in memory and written "
                "when it can be"
                + (f", {self.dropped_minutes} lost" if self.dropped_minutes else "")
                + "; the live view is not affected"
            )
            return False
        self.minutes_written += len(self._pending_minutes)
        self._pending_minutes.clear()
        self._tenancy.clear()
        self._pending_events.clear()
        self._pending_gaps.clear()
        self.problem = None
        return True

    def roll_up(self, now: float) -> None:
        """Hours that ended and are not rolled up yet (at most two days back), then pruning."""
        if self.archive is None:
            return
        current_hour = int(now) // 3600 * 3600
        try:
            done = self.archive.rolled_up_to()
            start = current_hour - 3600 if done is None else max(done, current_hour - ROLLUP_BACK_HOURS * 3600)
            if start >= current_hour:
                return
            for hour in range(start, current_hour, 3600):
                self.archive.roll_up(hour, Pacer())
            self.archive.prune(now)
        except (sqlite3.Error, OSError) as exc:
            self.problem = f"the telemetry archive cannot be rolled up ({explain(self.path, exc)})"
