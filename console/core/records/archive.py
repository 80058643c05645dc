"""The telemetry archive: per accelerator, one-minute aggregates kept 48 hours and hourly ones kept 400 days
(both configurable), and every change of a node's state and of its Slurm state as it happens. Its own
SQLite file beside the audit store (WAL, the schema version in ``PRAGMA user_version``), written in
batches by one writer thread (console.services.archive), never by the threads that read the nodes.

A node's minute is one row: the node's state at the end of the minute and a packed array of its
accelerators' figures (12 bytes each), so a 1,000-node × 8 fleet writes about 1.4 million small rows a
day, about 170 MB, and one node's 12-hour timeline is 720 rows on one primary-key range.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from console.core.pacing import no_pace
from console.core.records.archive_schema import ARCHIVE_MIGRATIONS
from console.core.records.archive_types import ArchiveGap, HourRow, MinuteTenancy, Timeline, Usage
from console.core.records.rollup import (
    ALLOCATED_BIT,
    HOUR_DTYPE,
    MINUTE_DTYPE,
    NA_U1,
    NA_U2,
    NO_TENANT_ID,
    STATE_CODE,
    STATE_CODES,
    UNHEALTHY_BIT,
    HourRollup,
    MinuteGrid,
    pack_minute,
    roll_hour,
    unpack,
)
from console.core.records.sqlite_files import BUSY_TIMEOUT_S, explain, immediate, migrate, secure_directory, secure_file
from console.core.records.store_error import StoreError
from console.core.telemetry.fleet import NodeMinute
from console.core.telemetry.samples import NodeState

ARCHIVE_FILE: Final = "telemetry.sqlite3"
ARCHIVE_SCHEMA: Final = 3
MINUTE_KEEP_S: Final = 48 * 3600
HOUR_KEEP_S: Final = 400 * 86400
ROLL_UP_ROWS: Final = 6000  # minute rows rolled at a time: about a hundred nodes' hour


class TelemetryArchive:
    """The archive file. One connection, one lock: the writer thread writes, readers (timeline, reports)
    share it briefly. Raises :class:`StoreError` in words when it cannot be opened."""

    def __init__(
        self,
        path: Path,
        *,
        minute_keep_s: float = MINUTE_KEEP_S,
        hour_keep_s: float = HOUR_KEEP_S,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
        readonly: bool = False,
    ) -> None:
        self.path = path
        self.minute_keep_s = minute_keep_s
        self.hour_keep_s = hour_keep_s
        self.readonly = readonly
        self._lock = threading.Lock()
        self._node_ids: dict[str, int] = {}
        self._tenant_ids: dict[str, int] = {}
        try:
            if readonly:
                if not path.is_file():
                    raise StoreError(f"{path} does not exist: nothing has been archived with this data directory")
                self._conn = sqlite3.connect(
                    f"file:{path}?mode=ro", uri=True, check_same_thread=False, timeout=busy_timeout_s
                )
            else:
                secure_directory(path.parent)
                secure_file(path)
                self._conn = sqlite3.connect(
                    str(path), check_same_thread=False, timeout=busy_timeout_s, isolation_level=None
                )
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
            for node_id, name in self._conn.execute("SELECT id, name FROM nodes"):
                self._node_ids[name] = node_id
            if int(self._conn.execute("PRAGMA user_version").fetchone()[0]) >= 2:
                for tenant_id, name in self._conn.execute("SELECT id, name FROM tenants"):
                    self._tenant_ids[name] = tenant_id
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the telemetry archive: {explain(path, exc)}") from None

    def _migrate(self) -> None:
        version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if version > ARCHIVE_SCHEMA:
            raise StoreError(
                f"the archive {self.path} has schema {version}, newer than this console's {ARCHIVE_SCHEMA}"
            )
        if self.readonly:
            return
        migrate(self._conn, version, ARCHIVE_SCHEMA, lambda target: ARCHIVE_MIGRATIONS[target](self._conn))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _write(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return immediate(self._conn, self._lock)

    def _node_id(self, conn: sqlite3.Connection, name: str) -> int:
        found = self._node_ids.get(name)
        if found is None:
            conn.execute("INSERT OR IGNORE INTO nodes (name) VALUES (?)", (name,))
            found = int(conn.execute("SELECT id FROM nodes WHERE name = ?", (name,)).fetchone()[0])
            self._node_ids[name] = found
        return found

    # --- writers (the writer thread) ---------------------------------------------------------------------------

    def _tenant_id(self, conn: sqlite3.Connection, name: str | None) -> int:
        if name is None:
            return NO_TENANT_ID
        found = self._tenant_ids.get(name)
        if found is None:
            conn.execute("INSERT OR IGNORE INTO tenants (name) VALUES (?)", (name,))
            found = int(conn.execute("SELECT id FROM tenants WHERE name = ?", (name,)).fetchone()[0])
            self._tenant_ids[name] = found
        return found

    def write(
        self,
        minutes: Sequence[tuple[int, Sequence[NodeMinute]]],
        events: Sequence[tuple[str, float, str, str | None]],
        tenancy: Mapping[int, Mapping[str, MinuteTenancy]] | None = None,
        gaps: Sequence[ArchiveGap] = (),
        pace: Callable[[], None] = no_pace,
    ) -> None:
        """One batch in one transaction: node-minutes (minute start → the fleet's minutes, with each node's
        tenancy at that minute where known), node events (node, time, kind, value) and the gaps the writer
        had to leave. Raises sqlite3.Error; the caller keeps the batch and says why.

        The rows are packed before the transaction, ``pace`` called after each (see
        :mod:`console.core.pacing`); the transaction itself only maps names to ids and inserts."""
        packed = []
        for start, nodes in minutes:
            held = (tenancy or {}).get(start, {})
            for minute in nodes:
                if not minute.accelerators and minute.state == NodeState.CONNECTING:
                    continue
                node_tenancy = held.get(minute.node)
                flags = None
                if node_tenancy is not None:
                    indices = [i for i, _ in minute.accelerators] or list(node_tenancy.indices)
                    flags = bytes(
                        (ALLOCATED_BIT if index in node_tenancy.allocated else 0)
                        | (UNHEALTHY_BIT if index in node_tenancy.unhealthy else 0)
                        for index in indices
                    )
                packed.append(
                    (
                        minute.node,
                        start,
                        STATE_CODE.get(minute.state, 0),
                        pack_minute(minute.accelerators),
                        node_tenancy,
                        flags,
                    )
                )
                pace()
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO gaps (start, end, reason) VALUES (?, ?, ?)", [(g.start, g.end, g.reason) for g in gaps]
            )
            rows = [
                (
                    self._node_id(conn, node),
                    start,
                    state,
                    data,
                    None if held is None else self._tenant_id(conn, held.tenant),
                    flags,
                )
                for node, start, state, data, held, flags in packed
            ]
            conn.executemany(
                "INSERT OR REPLACE INTO minute (node, t, state, data, tenant, flags) VALUES (?, ?, ?, ?, ?, ?)", rows
            )
            conn.executemany(
                "INSERT INTO node_events (node, t, kind, value) VALUES (?, ?, ?, ?)",
                [(self._node_id(conn, node), t, kind, value) for node, t, kind, value in events],
            )

    def roll_up(self, hour_start: int, pace: Callable[[], None] = no_pace) -> int:
        """The hour starting at ``hour_start`` from its minute rows into hour rows and the tenants' days;
        returns the nodes rolled. ``pace`` is called after each node (see :mod:`console.core.pacing`)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT node, t, state, data, tenant, flags FROM minute WHERE t >= ? AND t < ? ORDER BY node",
                (hour_start, hour_start + 3600),
            ).fetchall()
        hours: list[tuple[int, int, int, bytes]] = []
        usage: list[tuple[int, int, tuple[float, ...]]] = []
        start = 0
        while start < len(rows):
            # Whole nodes per chunk (the rows come by node), so that no numpy step holds the interpreter long;
            # the next chunk starts where this one ended, after its last node's last row.
            end = min(start + ROLL_UP_ROWS, len(rows))
            while end < len(rows) and rows[end][0] == rows[end - 1][0]:
                end += 1
            rolled = roll_hour(MinuteGrid.from_rows(hour_start, rows[start:end], pace))
            hours += rolled.hours
            usage += rolled.usage
            start = end
            pace()
        with self._write() as conn:
            self._store_hour(conn, hour_start, HourRollup(hours, usage))
        return len(hours)

    def import_hours(self, hours: Iterable[tuple[int, MinuteGrid]]) -> int:
        """Hours the console never streamed (a generator's, such as the demo's month of history): their hour
        rows and tenants' days rolled from each grid by the writer's formula, without minute rows. One
        transaction; the hours imported."""
        count = 0
        with self._write() as conn:
            for hour_start, grid in hours:
                self._store_hour(conn, hour_start, roll_hour(grid))
                count += 1
        return count

    def write_grid(self, start: int, grid: MinuteGrid) -> None:
        """A generator's minutes (those of the hour from ``start`` in ``grid``) as minute rows, as if
        streamed; :meth:`roll_up` rolls them up as it does the streamed ones."""
        with self._write() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO minute (node, t, state, data, tenant, flags) VALUES (?, ?, ?, ?, ?, ?)",
                grid.rows(start),
            )

    def node_ids(self, names: Sequence[str]) -> list[int]:
        """The archive's ids of ``names`` (added where new), for a generator's grids."""
        with self._write() as conn:
            return [self._node_id(conn, name) for name in names]

    def tenant_ids(self, names: Sequence[str | None]) -> list[int]:
        """The archive's ids of tenant ``names`` (added where new; None: no tenant)."""
        with self._write() as conn:
            return [self._tenant_id(conn, name) for name in names]

    @staticmethod
    def _store_hour(conn: sqlite3.Connection, hour_start: int, rolled: HourRollup) -> None:
        day = time.strftime("%Y-%m-%d", time.gmtime(hour_start))
        conn.executemany(
            "INSERT OR REPLACE INTO hour (node, t, live_minutes, seen_minutes, data) VALUES (?, ?, ?, ?, ?)",
            [(node, hour_start, live, seen, data) for node, live, seen, data in rolled.hours],
        )
        # Added to the day's row once per hour: each hour is rolled up once (rolled_up_to).
        conn.executemany(
            "INSERT INTO usage_day (day, tenant, node, held, healthy, allocated, busy, idle_allocated, "
            "out_of_service, util_sum, util_n) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (day, tenant, node) DO UPDATE SET held = held + excluded.held, "
            "healthy = healthy + excluded.healthy, allocated = allocated + excluded.allocated, "
            "busy = busy + excluded.busy, idle_allocated = idle_allocated + excluded.idle_allocated, "
            "out_of_service = out_of_service + excluded.out_of_service, "
            "util_sum = util_sum + excluded.util_sum, util_n = util_n + excluded.util_n",
            [(day, tenant, node, *tally[:7], int(tally[7])) for tenant, node, tally in rolled.usage],
        )
        # Never backwards: an older hour imported or rolled again leaves the writer where it was.
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('rolled_up_to', ?) ON CONFLICT (key) DO UPDATE SET "
            "value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
            (str(hour_start + 3600),),
        )

    def usage(self, since_day: str, until_day: str, tenant: str | None = None) -> list[Usage]:
        """Accelerator-hours per tenant and node over the UTC days [since_day, until_day): one SQL sum over
        the day rows (a year of a 1,000-node fleet is 365,000 of them)."""
        with self._lock:
            names = {i: n for n, i in self._node_ids.items()} or {
                i: n for i, n in self._conn.execute("SELECT id, name FROM nodes")
            }
            tenants = {i: n for i, n in self._conn.execute("SELECT id, name FROM tenants")}
            sql = (
                "SELECT tenant, node, sum(held), sum(healthy), sum(allocated), sum(busy), sum(idle_allocated), "
                "sum(out_of_service), sum(util_sum), sum(util_n) FROM usage_day WHERE day >= ? AND day < ?"
            )
            args: list[Any] = [since_day, until_day]
            if tenant is not None:
                wanted = next((i for i, n in tenants.items() if n == tenant), -1)
                sql += " AND tenant = ?"
                args.append(wanted)
            rows = self._conn.execute(sql + " GROUP BY tenant, node ORDER BY tenant, node", args).fetchall()
        return [
            Usage(
                tenant=tenants.get(t),
                node=names.get(n, str(n)),
                held=held / 60,
                healthy=healthy / 60,
                allocated=allocated / 60,
                busy=busy / 60,
                idle_allocated=idle / 60,
                out_of_service=out / 60,
                util_mean=(util_sum / util_n) if util_n else None,
            )
            for t, n, held, healthy, allocated, busy, idle, out, util_sum, util_n in rows
        ]

    def usage_by_day(self, since_day: str, until_day: str, tenant: str) -> list[tuple[str, float, float, float, float]]:
        """One tenant's accelerator-hours per UTC day in [since_day, until_day): (day, held, busy, idle while
        allocated, out of service), oldest first — the Tenants view's plot."""
        with self._lock:
            row = self._conn.execute("SELECT id FROM tenants WHERE name = ?", (tenant,)).fetchone()
            if row is None:
                return []
            rows = self._conn.execute(
                "SELECT day, sum(held), sum(busy), sum(idle_allocated), sum(out_of_service) FROM usage_day "
                "WHERE day >= ? AND day < ? AND tenant = ? GROUP BY day ORDER BY day",
                (since_day, until_day, row[0]),
            ).fetchall()
        return [(day, held / 60, busy / 60, idle / 60, out / 60) for day, held, busy, idle, out in rows]

    def rolled_up_to(self) -> int | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'rolled_up_to'").fetchone()
        return int(row[0]) if row else None

    def prune(self, now: float) -> None:
        """Minute rows past ``minute_keep_s``, hour rows and events past ``hour_keep_s`` (per node: each
        delete is a primary-key range)."""
        with self._lock:
            ids = list(self._node_ids.values())
        minute_cut, hour_cut = int(now - self.minute_keep_s), int(now - self.hour_keep_s)
        with self._write() as conn:
            for node in ids:
                conn.execute("DELETE FROM minute WHERE node = ? AND t < ?", (node, minute_cut))
                conn.execute("DELETE FROM hour WHERE node = ? AND t < ?", (node, hour_cut))
                conn.execute("DELETE FROM node_events WHERE node = ? AND t < ?", (node, hour_cut))
            conn.execute("DELETE FROM gaps WHERE end < ?", (hour_cut,))

    # --- readers -------------------------------------------------------------------------------------------------

    def gaps(self, since: float, until: float) -> list[ArchiveGap]:
        """The gaps that overlap [since, until), oldest first."""
        with self._lock:
            if int(self._conn.execute("PRAGMA user_version").fetchone()[0]) < 3:
                return []  # a read-only look at an archive from before gaps were kept
            rows = self._conn.execute(
                "SELECT start, end, reason FROM gaps WHERE start < ? AND end > ? ORDER BY start", (until, since)
            ).fetchall()
        return [ArchiveGap(int(a), int(b), str(r)) for a, b, r in rows]

    def _known_node_id(self, name: str) -> int | None:
        """A node's id where the archive has one (another console may have added it since this one
        opened); None for a node never archived. Call with the lock held."""
        node_id = self._node_ids.get(name)
        if node_id is None:
            row = self._conn.execute("SELECT id FROM nodes WHERE name = ?", (name,)).fetchone()
            node_id = int(row[0]) if row else None
        return node_id

    def last_accelerators(self, nodes: Sequence[str]) -> dict[str, tuple[float, tuple[int, ...]]]:
        """Per node of ``nodes`` the archive has readings for: when it last reported accelerators (a minute's
        start, or an hour's where the minutes are pruned) and their indices. Who holds a node that does not
        answer still holds what it had: the tenants' figures count them unreachable."""
        out: dict[str, tuple[float, tuple[int, ...]]] = {}
        with self._lock:
            for name in nodes:
                node_id = self._known_node_id(name)
                if node_id is None:
                    continue
                for table, dtype in (("minute", MINUTE_DTYPE), ("hour", HOUR_DTYPE)):
                    found = self._conn.execute(
                        f"SELECT t, data FROM {table} WHERE node = ? AND length(data) > 0 ORDER BY t DESC LIMIT 1",  # noqa: S608 - a table name of two constants
                        (node_id,),
                    ).fetchone()
                    if found is not None:
                        indices = tuple(sorted(int(i) for i in unpack(found[1], dtype)["index"]))
                        out[name] = (float(found[0]), indices)
                        break
        return out

    def timeline(self, node: str, since: float, until: float) -> Timeline:
        """One node's archived utilisation and temperature with its state changes over [since, until):
        minute rows where the archive still has them, hour rows before that."""
        with self._lock:
            node_id = self._known_node_id(node)
            if node_id is None:
                return Timeline(
                    node, 60, np.zeros(0), (), np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32), (), ()
                )
            minutes = self._conn.execute(
                "SELECT t, state, data FROM minute WHERE node = ? AND t >= ? AND t < ? ORDER BY t",
                (node_id, int(since) // 60 * 60, until),
            ).fetchall()
            first_minute = minutes[0][0] if minutes else until
            hours = []
            if since < first_minute:
                hours = self._conn.execute(
                    "SELECT t, live_minutes, data FROM hour WHERE node = ? AND t >= ? AND t < ? ORDER BY t",
                    (node_id, int(since) // 3600 * 3600, first_minute),
                ).fetchall()
            events = self._conn.execute(
                "SELECT t, kind, value FROM node_events WHERE node = ? AND t >= ? AND t < ? ORDER BY t",
                (node_id, since, until),
            ).fetchall()
        gap_events = [(float(g.start), "gap", g.words()) for g in self.gaps(since, until)]
        hour_part = _series([row[2] for row in hours], HOUR_DTYPE)
        minute_part = _series([row[2] for row in minutes], MINUTE_DTYPE)
        indices = tuple(sorted(set(hour_part[0]) | set(minute_part[0])))
        util = np.full((len(hours) + len(minutes), len(indices)), np.nan, dtype=np.float32)
        temp = np.full_like(util, np.nan)
        for offset, (part_indices, part_util, part_temp) in ((0, hour_part), (len(hours), minute_part)):
            columns = [indices.index(i) for i in part_indices]
            util[offset : offset + len(part_util), columns] = part_util
            temp[offset : offset + len(part_temp), columns] = part_temp
        states = tuple("up" if live else "unreachable" for _, live, _ in hours) + tuple(
            STATE_CODES[state].value if 0 <= state < len(STATE_CODES) else "unknown" for _, state, _ in minutes
        )
        return Timeline(
            node=node,
            resolution_s=60 if not hours else 3600,
            times=np.array([row[0] for row in hours] + [row[0] for row in minutes], dtype=np.float64),
            indices=indices,
            util=util,
            temp=temp,
            states=states,
            events=tuple(
                sorted(
                    [(float(t), str(kind), str(value)) for t, kind, value in events] + gap_events, key=lambda e: e[0]
                )
            ),
        )

    def hours(self, since: float, until: float, nodes: Sequence[str] | None = None) -> Iterator[HourRow]:
        """Hour rows in [since, until), every node or the named ones (reports over days and weeks)."""
        with self._lock:
            names = {i: n for n, i in self._node_ids.items()}
            if not names:
                names = {i: n for i, n in self._conn.execute("SELECT id, name FROM nodes")}
            wanted = json.dumps([i for i, n in names.items() if nodes is None or n in nodes])
            rows = self._conn.execute(
                "SELECT node, t, live_minutes, seen_minutes, data FROM hour "
                "WHERE node IN (SELECT value FROM json_each(?)) AND t >= ? AND t < ?",
                (wanted, since, until),
            ).fetchall()
        for node, t, live, seen, data in rows:
            yield HourRow(names.get(node, str(node)), t, live, seen, unpack(data, HOUR_DTYPE))

    def states_at(self, when: float) -> dict[str, tuple[str | None, str | None]]:
        """Each node's last state and Slurm state recorded before ``when`` (two point reads per node)."""
        out: dict[str, tuple[str | None, str | None]] = {}
        with self._lock:
            for name, node_id in list(self._node_ids.items()) or self._conn.execute("SELECT name, id FROM nodes"):
                found = []
                for kind in ("state", "slurm"):
                    row = self._conn.execute(
                        "SELECT value FROM node_events WHERE node = ? AND kind = ? AND t < ? ORDER BY t DESC LIMIT 1",
                        (node_id, kind, when),
                    ).fetchone()
                    found.append(row[0] if row else None)
                out[name] = (found[0], found[1])
        return out

    def accelerator_count(self, node: str) -> int:
        with self._lock:
            node_id = self._node_ids.get(node)
            if node_id is None:
                return 0
            minute = self._conn.execute(
                "SELECT data FROM minute WHERE node = ? AND length(data) > 0 ORDER BY t DESC LIMIT 1", (node_id,)
            ).fetchone()
            hour = None
            if minute is None:
                hour = self._conn.execute(
                    "SELECT data FROM hour WHERE node = ? ORDER BY t DESC LIMIT 1", (node_id,)
                ).fetchone()
        if minute is not None:
            return len(unpack(minute[0], MINUTE_DTYPE))
        return len(unpack(hour[0], HOUR_DTYPE)) if hour is not None else 0

    def has_telemetry(self) -> bool:
        """Whether any minute or hour is archived (a generator writes only into an archive without)."""
        with self._lock:
            return any(
                self._conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone()  # noqa: S608 - two constants
                for table in ("minute", "hour")
            )

    def size_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                total += Path(f"{self.path}{suffix}").stat().st_size
        return total


def _series(
    blobs: Sequence[bytes], dtype: np.dtype[Any]
) -> tuple[tuple[int, ...], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Utilisation and temperature [row, accelerator] of packed rows (NaN where not reported), decoded in
    one pass when every row that reports lists the same accelerators (the usual case: a node that was down
    reports none), row by row otherwise."""
    arrays = [unpack(blob, dtype) for blob in blobs]
    present = [row for row, array in enumerate(arrays) if len(array)]
    if not present:
        return (), np.zeros((len(arrays), 0), np.float32), np.zeros((len(arrays), 0), np.float32)
    first = arrays[present[0]]["index"]
    if all(len(arrays[r]) == len(first) and np.array_equal(arrays[r]["index"], first) for r in present):
        order = np.argsort(first)
        indices = tuple(int(i) for i in first[order])
        stacked = np.zeros((len(arrays), len(first)), dtype=dtype)
        stacked["util_mean"], stacked["temp_max"] = NA_U2, NA_U1
        joined = b"".join(arrays[r].tobytes() for r in present)
        stacked[present] = np.frombuffer(joined, dtype=dtype).reshape(len(present), len(first))[:, order]
    else:
        indices = tuple(sorted({int(i) for a in arrays for i in a["index"]}))
        stacked = np.zeros((len(arrays), len(indices)), dtype=dtype)
        stacked["util_mean"], stacked["temp_max"] = NA_U2, NA_U1
        column = {index: i for i, index in enumerate(indices)}
        for row, array in enumerate(arrays):
            for item in array:
                stacked[row, column[int(item["index"])]] = item
    raw_util = stacked["util_mean"]
    raw_temp = stacked["temp_max"]
    util = np.where(raw_util == NA_U2, np.nan, raw_util / 100.0).astype(np.float32)
    temp = np.where(raw_temp == NA_U1, np.nan, raw_temp).astype(np.float32)
    return indices, util, temp
