"""The console's SQLite store (sqlite-utils): the audit log of every action, written before it runs
(intent) and again with its outcome. WAL, the schema version in ``PRAGMA user_version``, one migration
per version. A row still "intent" or "running" when the store opens belonged to a console that died
mid-action: it becomes "outcome unknown", never silently "done".

The store holds who did what to which node: its directory is 0700 and its files 0600 whatever the umask.
A store that cannot be used (damaged, locked, on a full disk, unreadable) is a :class:`StoreError` that
names the file and what to do, never a traceback; an action whose intent cannot be written does not run.
An outcome that cannot be written (the database locked by another program, the disk full) is retried
for a bounded time and, failing that, kept in memory and in a journal file beside the database, and
written at the next chance or the next start, before unfinished rows are called "outcome unknown".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import sqlite_utils

from console.core.records.sqlite_files import (
    BUSY_TIMEOUT_S,
    FILE_MODE,
    explain,
    immediate,
    migrate,
    secure_directory,
    secure_file,
)
from console.core.records.store_error import StoreError
from console.core.records.store_schema import MIGRATIONS
from console.core.when import iso_utc

# The store's file in the console's data directory.
STORE_FILE: Final = "console.sqlite3"
SCHEMA_VERSION: Final = 2
OUTPUT_EXCERPT: Final = 4000
OUTCOME_RETRY_S: Final = 30.0
log = logging.getLogger(__name__)


FINAL_STATES: Final = frozenset(
    {"done", "failed", "timed out", "cancelled", "refused", "outcome unknown", "stopped watching"}
)


def incident_event(
    conn: sqlite3.Connection, incident_id: int, at: float, author: str, kind: str, text: str | None
) -> None:
    """One event of an incident's append-only history (the incident log's and the audit's one way in)."""
    conn.execute(
        "INSERT INTO incident_events (incident_id, at, author, kind, text) VALUES (?, ?, ?, ?, ?)",
        (incident_id, at, author, kind, text),
    )


def amend_if_signed(conn: sqlite3.Connection, incident_id: int, at: float, by: str, text: str) -> None:
    """A change to an incident of a signed shift is added to that sign-off as an amendment."""
    conn.execute(
        "INSERT INTO amendments (signoff_id, at, author, text) "
        "SELECT s.id, ?, ?, ? FROM signoffs s, incidents i WHERE i.id = ? "
        "AND i.opened < s.end AND (i.resolved IS NULL OR i.resolved >= s.start) AND s.signed_at <= ?",
        (at, by, f"incident #{incident_id}: {text}", incident_id, at),
    )


def carry_ticket(conn: sqlite3.Connection, action_id: int, kind: str, ticket: str, by: str, at: float) -> None:
    """An action's ticket onto the open incidents it belongs to: set where the incident has none, else kept
    beside the incident's own as a note (an incident's ticket is never replaced by an action's)."""
    linked = conn.execute(
        "SELECT i.id, i.ticket FROM incidents i JOIN action_incidents a ON a.incident_id = i.id "
        "WHERE a.action_id = ? ORDER BY i.id",
        (action_id,),
    ).fetchall()
    for incident_id, old in linked:
        if old is None:
            conn.execute("UPDATE incidents SET ticket = ? WHERE id = ?", (ticket, incident_id))
            incident_event(conn, incident_id, at, by, "ticket", f"(none) → {ticket} (from {kind} #{action_id})")
            amend_if_signed(conn, incident_id, at, by, f"ticket set to {ticket} by {by} ({kind} #{action_id})")
        elif old != ticket:
            words = f"{kind} #{action_id} carries ticket {ticket}; the incident keeps {old}"
            incident_event(conn, incident_id, at, by, "note", words)
            amend_if_signed(conn, incident_id, at, by, f"note by {by}: {words}")


def now_iso() -> str:
    return iso_utc(time.time())


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    created_at: str
    operator: str
    kind: str
    node: str
    params: dict[str, Any]
    reason: str | None
    ticket: str | None
    engine: str | None
    host: str | None
    command: list[Any] | None
    state: str
    started_at: str | None
    finished_at: str | None
    exit_status: int | None
    stdout: str | None
    stderr: str | None
    duration_s: float | None
    message: str | None
    incident_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


class Store:
    """Thread-safe: one connection, one lock (writes are few and small).

    ``readonly`` opens an existing store for reading only (``audit`` on a full disk); nothing is migrated
    or marked there."""

    def __init__(
        self,
        path: Path,
        *,
        readonly: bool = False,
        busy_timeout_s: float | None = None,
        outcome_retry_s: float = OUTCOME_RETRY_S,
    ) -> None:
        self.path = path
        self.readonly = readonly
        self.outcome_retry_s = outcome_retry_s
        self.journal = Path(f"{path}-outcomes.jsonl")
        self._pending: dict[int, dict[str, Any]] = {}  # outcomes not yet in the database, by action id
        self._lock = threading.Lock()
        self.read_note: str | None = None  # what a reader should know about what it reads (read-only fallbacks)
        self.backup: Path | None = None  # the copy made before this open migrated the store, if it did
        busy_timeout_s = BUSY_TIMEOUT_S if busy_timeout_s is None else busy_timeout_s
        if readonly:
            self._conn = self._open_readonly(busy_timeout_s)
        else:
            secure_directory(path.parent)
            secure_file(path)
            try:
                self._conn = sqlite3.connect(
                    str(path), check_same_thread=False, timeout=busy_timeout_s, isolation_level=None
                )
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open the store: {explain(path, exc)}") from None
        self.db = sqlite_utils.Database(self._conn)
        try:
            with self._lock:
                if not readonly:
                    self._conn.execute("PRAGMA journal_mode=WAL")
                    self._conn.execute("PRAGMA synchronous=NORMAL")
                self._migrate()
        except sqlite3.Error as exc:
            self._conn.close()
            raise StoreError(f"cannot open the store: {explain(path, exc)}") from None
        if not readonly:
            self._replay_journal()

    def _open_readonly(self, busy_timeout_s: float) -> sqlite3.Connection:
        """Read-only, and still readable when the disk is full: SQLite's WAL reader needs a -shm file it may
        be unable to create then, so the file is read as it is on disk (immutable), with a note when a WAL
        beside it may hold rows that are not yet in the file."""
        path = self.path
        if not path.is_file():
            raise StoreError(f"{path} does not exist: no action has been recorded with this data directory")
        quoted = urllib.parse.quote(str(path))
        conn = None
        try:
            conn = sqlite3.connect(f"file:{quoted}?mode=ro", uri=True, check_same_thread=False, timeout=busy_timeout_s)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.Error as exc:
            first = exc
            if conn is not None:
                conn.close()
        try:
            conn = sqlite3.connect(f"file:{quoted}?immutable=1", uri=True, check_same_thread=False)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the store: {explain(path, first)}; {exc}") from None
        wal = Path(f"{path}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            self.read_note = (
                f"{explain(path, first)}; read as it is on disk: the last rows, still in {wal}, may be missing"
            )
        return conn

    def _migrate(self) -> None:
        version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the store {self.path} has schema version {version}, newer than this console's {SCHEMA_VERSION}"
            )
        if self.readonly:
            if version < SCHEMA_VERSION:
                raise StoreError(f"the store {self.path} is at schema version {version}; open it once read-write")
            return
        if 0 < version < SCHEMA_VERSION:
            self.backup = self._backup(version)
        migrate(self._conn, version, SCHEMA_VERSION, lambda target: MIGRATIONS[target](self.db))

    def _backup(self, version: int) -> Path:
        """A whole copy of the store as it was (SQLite's online backup), before any migration touches it."""
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        target = self.path.with_name(f"{self.path.name}.v{version}-backup-{stamp}")
        try:
            fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, FILE_MODE)
            os.close(fd)
            copy = sqlite3.connect(str(target))
            try:
                self._conn.backup(copy)
            finally:
                copy.close()
        except (OSError, sqlite3.Error) as exc:
            with contextlib.suppress(OSError):
                target.unlink()
            raise StoreError(
                f"the store {self.path} (schema {version}) needs migrating, and its backup copy could not be made "
                f"first: {explain(target, exc)}; nothing was changed"
            ) from None
        log.warning("migrating %s from schema %s; the old store is kept as %s", self.path, version, target)
        return target

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the store's lock (the incident log's writes go through it)."""
        with immediate(self._conn, self._lock) as conn:
            yield conn

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows as dicts, under the store's lock (for the incident log's readers)."""
        with self._lock:
            cursor = self._conn.execute(sql, tuple(args))
            names = [c[0] for c in cursor.description]
            return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        if self._pending:
            self._flush_pending()
        with self._lock:
            self._conn.close()

    @property
    def pending_outcomes(self) -> int:
        """Outcomes kept in memory (and in the journal) because the database could not take them yet."""
        with self._lock:
            return len(self._pending)

    # --- audit ----------------------------------------------------------------------------------------------

    def record_intent(
        self,
        *,
        operator: str,
        kind: str,
        node: str,
        params: dict[str, Any],
        reason: str | None,
        ticket: str | None,
        engine: str | None,
        host: str | None,
        command: list[Any] | None,
        session: str,
        state: str = "intent",
        message: str | None = None,
        carries_ticket: bool = True,
        at: float | None = None,
    ) -> int:
        """The action's row before anything is sent, linked to the open incidents of its nodes; its ticket
        goes onto them (``carries_ticket``: False for an attempt that is refused, which changes nothing).
        ``at``: when it happened, for a record written after the fact (the demo's history); now otherwise."""
        row = {
            "created_at": now_iso() if at is None else iso_utc(at),
            "operator": operator,
            "kind": kind,
            "node": node,
            "params": json.dumps(params, sort_keys=True),
            "reason": reason,
            "ticket": ticket,
            "engine": engine,
            "host": host,
            "command": json.dumps(command) if command is not None else None,
            "state": state,
            "message": message,
            "console_session": session,
        }
        nodes = json.dumps([n for n in node.split(",") if n])
        try:
            with self.transaction() as conn:
                table = self.db["actions"]
                table.insert(row)  # type: ignore[union-attr]
                last = table.last_pk  # type: ignore[union-attr]
                assert last is not None
                # An action on a node while one of its incidents is open belongs to that incident.
                conn.execute(
                    "INSERT OR IGNORE INTO action_incidents (action_id, incident_id) "
                    "SELECT ?, i.id FROM incidents i JOIN incident_nodes n ON n.incident_id = i.id "
                    "WHERE i.state != 'resolved' AND n.node IN (SELECT value FROM json_each(?))",
                    (last, nodes),
                )
                conn.execute(
                    "UPDATE actions SET incident_id = "
                    "(SELECT max(incident_id) FROM action_incidents WHERE action_id = ?) WHERE id = ?",
                    (last, last),
                )
                if ticket and carries_ticket:
                    carry_ticket(conn, int(last), kind, ticket, operator, time.time() if at is None else at)
        except sqlite3.Error as exc:
            raise StoreError(f"the audit log cannot be written: {explain(self.path, exc)}") from None
        if self._pending:
            self._flush_pending()
        self._checkpoint()
        return int(last)

    def _checkpoint(self) -> None:
        """Move the WAL into the file now (writes are few): a reader that must read the file as it is on
        disk (a full disk, see ``readonly``) then sees every finished row."""
        with contextlib.suppress(sqlite3.Error), self._lock:
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def mark_running(self, action_id: int) -> None:
        """Best effort: the intent row is already there, and the outcome is what must not be lost."""
        try:
            with self._lock:
                self.db["actions"].update(action_id, {"state": "running", "started_at": now_iso()})  # type: ignore[union-attr]
        except sqlite3.Error as exc:
            log.warning("could not mark action %s running: %s", action_id, explain(self.path, exc))

    def record_outcome(
        self,
        action_id: int,
        *,
        state: str,
        message: str | None,
        exit_status: int | None = None,
        stdout: str | None = None,
        stderr: str | None = None,
        duration_s: float | None = None,
        at: float | None = None,
    ) -> None:
        if state not in FINAL_STATES:
            raise ValueError(f"not a final state: {state}")
        values = {
            "state": state,
            "finished_at": now_iso() if at is None else iso_utc(at),
            "message": message,
            "exit_status": exit_status,
            "stdout": (stdout or "")[-OUTPUT_EXCERPT:] or None,
            "stderr": (stderr or "")[-OUTPUT_EXCERPT:] or None,
            "duration_s": duration_s,
        }
        self._write_outcome(action_id, values)

    def _apply_outcome(self, action_id: int, values: dict[str, Any]) -> None:
        """One outcome into its row; no longer pending once there. Raises sqlite3.Error."""
        with self._lock:
            self.db["actions"].update(action_id, values)  # type: ignore[union-attr]
            self._pending.pop(action_id, None)

    def _write_outcome(self, action_id: int, values: dict[str, Any]) -> None:
        """Retry for up to ``outcome_retry_s``; then journal it and keep it in memory."""
        deadline = time.monotonic() + self.outcome_retry_s
        delay = 0.05
        while True:
            try:
                self._apply_outcome(action_id, values)
                self._checkpoint()
                return
            except sqlite3.Error as exc:
                error = exc
            if time.monotonic() + delay > deadline:
                break
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        with self._lock:
            self._pending[action_id] = values
        self._journal(action_id, values)
        log.error(
            "the outcome of action #%s is kept in memory and in %s until it can be written: %s",
            action_id,
            self.journal,
            explain(self.path, error),
        )

    def _journal(self, action_id: int, values: dict[str, Any]) -> None:
        line = json.dumps({"id": action_id, **values}, separators=(",", ":")) + "\n"
        try:
            fd = os.open(self.journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, FILE_MODE)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            log.error("cannot journal the outcome of action #%s either: %s", action_id, explain(self.journal, exc))

    def _flush_pending(self) -> None:
        with self._lock:
            pending = dict(self._pending)
        for action_id, values in pending.items():
            try:
                self._apply_outcome(action_id, values)
            except sqlite3.Error:
                return
        with self._lock:
            if not self._pending:
                with contextlib.suppress(OSError):
                    self.journal.unlink(missing_ok=True)

    def _replay_journal(self) -> None:
        """Outcomes journaled by an earlier console (or this one) go in before anything else reads the rows."""
        try:
            text = self.journal.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(f"cannot read the outcome journal: {explain(self.journal, exc)}") from None
        for line in text.splitlines():
            try:
                entry = json.loads(line)
                action_id = int(entry.pop("id"))
            except (ValueError, KeyError, TypeError, AttributeError):
                log.warning("%s: skipped a line that is not an outcome: %r", self.journal, line[:200])
                continue
            if isinstance(entry, dict) and entry.get("state") in FINAL_STATES:
                self._pending[action_id] = {k: entry.get(k) for k in _OUTCOME_KEYS}
        self._flush_pending()

    def note(self, action_id: int, message: str) -> None:
        """Progress words for a running action (e.g. 'waiting for SSH'); best effort."""
        try:
            with self._lock:
                self.db["actions"].update(action_id, {"message": message})  # type: ignore[union-attr]
        except sqlite3.Error as exc:
            log.warning("could not note progress of action %s: %s", action_id, explain(self.path, exc))

    def mark_interrupted(self, alive: Callable[[str], bool]) -> int:
        """Unfinished rows of consoles that are no longer running become 'outcome unknown'.

        ``alive(session)`` tells whether the console that wrote a row still runs (see :class:`SessionLock`);
        a second console opening the same store leaves the first one's running actions alone.
        Returns how many rows changed. Rows whose outcome waits in the journal are left alone."""
        try:
            with self._lock:
                sessions = [
                    row[0]
                    for row in self._conn.execute(
                        "SELECT DISTINCT console_session FROM actions WHERE state IN ('intent', 'running')"
                    )
                ]
            dead = [session for session in sessions if session is None or not alive(session)]
            changed = 0
            with self._lock:
                kept = json.dumps(sorted(self._pending))
                for session in dead:
                    cursor = self._conn.execute(
                        "UPDATE actions SET state = 'outcome unknown', finished_at = ?, message = "
                        "COALESCE(message || '; ', '') || 'the console stopped before the outcome was known' "
                        "WHERE state IN ('intent', 'running') AND console_session IS ? "
                        "AND id NOT IN (SELECT value FROM json_each(?))",
                        (now_iso(), session, kept),
                    )
                    changed += cursor.rowcount
        except sqlite3.Error as exc:
            raise StoreError(f"cannot update unfinished actions: {explain(self.path, exc)}") from None
        return changed

    def rows(
        self, since: str | None = None, node: str | None = None, limit: int | None = None, until: str | None = None
    ) -> list[AuditRow]:
        where, args = [], []
        if since:
            where.append("created_at >= ?")
            args.append(since)
        if until:
            where.append("created_at < ?")
            args.append(until)
        if node:
            # A group action's row names its nodes joined by commas.
            where.append("(node = ? OR instr(',' || node || ',', ',' || ? || ',') > 0)")
            args += [node, node]
        # Only fixed fragments and an int() go into the text; every value is a bound parameter.
        sql = "SELECT * FROM actions" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"  # noqa: S608
        if limit:
            sql = f"SELECT * FROM ({sql} DESC LIMIT {int(limit)}) ORDER BY id"  # noqa: S608
        try:
            with self._lock:
                cursor = self._conn.execute(sql, args)
                names = [c[0] for c in cursor.description]
                raw = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the audit log: {explain(self.path, exc)}") from None
        return [_row(r) for r in raw]

    def last_done(self, kind: str, node: str) -> AuditRow | None:
        """The last action of ``kind`` on ``node`` that went through (a group action's row names it too)."""
        try:
            with self._lock:
                cursor = self._conn.execute(
                    "SELECT * FROM actions WHERE kind = ? AND state = 'done' "
                    "AND (node = ? OR instr(',' || node || ',', ',' || ? || ',') > 0) ORDER BY id DESC LIMIT 1",
                    (kind, node, node),
                )
                names = [c[0] for c in cursor.description]
                found = cursor.fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the audit log: {explain(self.path, exc)}") from None
        return None if found is None else _row(dict(zip(names, found, strict=True)))

    def done_rows(self, kind: str) -> list[AuditRow]:
        """Every action of ``kind`` that went through, oldest first (a kind's lasting state, such as the
        locate LEDs left lit, is read from them: console.core.actions.kinds.locate.lit_leds)."""
        try:
            with self._lock:
                cursor = self._conn.execute(
                    "SELECT * FROM actions WHERE kind = ? AND state = 'done' ORDER BY id", (kind,)
                )
                names = [c[0] for c in cursor.description]
                rows = cursor.fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the audit log: {explain(self.path, exc)}") from None
        return [_row(dict(zip(names, values, strict=True))) for values in rows]

    def unfinished(self, since: str, other_than_session: str) -> list[AuditRow]:
        """Actions of other consoles since ``since`` whose outcome this store does not know: still running
        there, interrupted (outcome unknown), or no longer watched (a reboot still pending in Slurm, say)."""
        sql = (
            "SELECT * FROM actions WHERE created_at >= ? AND console_session != ? "
            "AND state IN ('intent', 'running', 'outcome unknown', 'stopped watching') ORDER BY id"
        )
        with self._lock:
            cursor = self._conn.execute(sql, (since, other_than_session))
            names = [c[0] for c in cursor.description]
            rows = cursor.fetchall()
        return [_row(dict(zip(names, values, strict=True))) for values in rows]

    def row(self, action_id: int) -> AuditRow:
        with self._lock:
            cursor = self._conn.execute("SELECT * FROM actions WHERE id = ?", (action_id,))
            names = [c[0] for c in cursor.description]
            values = cursor.fetchone()
        if values is None:
            raise KeyError(action_id)
        return _row(dict(zip(names, values, strict=True)))

    def __iter__(self) -> Iterator[AuditRow]:
        return iter(self.rows())


_OUTCOME_KEYS: Final = ("state", "finished_at", "message", "exit_status", "stdout", "stderr", "duration_s")


def _row(raw: dict[str, Any]) -> AuditRow:
    return AuditRow(
        id=raw["id"],
        created_at=raw["created_at"],
        operator=raw["operator"],
        kind=raw["kind"],
        node=raw["node"],
        params=json.loads(raw["params"]) if raw["params"] else {},
        reason=raw["reason"],
        ticket=raw["ticket"],
        engine=raw["engine"],
        host=raw["host"],
        command=json.loads(raw["command"]) if raw["command"] else None,
        state=raw["state"],
        started_at=raw["started_at"],
        finished_at=raw["finished_at"],
        exit_status=raw["exit_status"],
        stdout=raw["stdout"],
        stderr=raw["stderr"],
        duration_s=raw["duration_s"],
        message=raw["message"],
        incident_id=raw.get("incident_id"),
    )
