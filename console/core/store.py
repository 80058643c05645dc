"""The console's SQLite store (sqlite-utils): the audit log of every action, written before it runs
(intent) and again with its outcome. WAL, the schema version in ``PRAGMA user_version``, one migration
per version. A row still "intent" or "running" when the store opens belonged to a console that died
mid-action: it becomes "outcome unknown", never silently "done".
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import sqlite_utils

SCHEMA_VERSION: Final = 1
OUTPUT_EXCERPT: Final = 4000


def _v1(db: sqlite_utils.Database) -> None:
    db["actions"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "created_at": str,
            "operator": str,
            "kind": str,
            "node": str,
            "params": str,
            "reason": str,
            "ticket": str,
            "engine": str,
            "host": str,
            "command": str,
            "state": str,
            "started_at": str,
            "finished_at": str,
            "exit_status": int,
            "stdout": str,
            "stderr": str,
            "duration_s": float,
            "message": str,
            "console_session": str,
        },
        pk="id",
        not_null={"created_at", "operator", "kind", "node", "state"},
    )
    db["actions"].create_index(["created_at"])  # type: ignore[union-attr]
    db["actions"].create_index(["node", "created_at"])  # type: ignore[union-attr]


MIGRATIONS: Final[dict[int, Callable[[sqlite_utils.Database], None]]] = {1: _v1}

FINAL_STATES: Final = frozenset({"done", "failed", "timed out", "cancelled", "refused", "outcome unknown"})


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


class StoreError(RuntimeError):
    pass


class Store:
    """Thread-safe: one connection, one lock (writes are few and small)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {path}: {exc}") from None
        self._lock = threading.Lock()
        self.db = sqlite_utils.Database(self._conn)
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate()

    def _migrate(self) -> None:
        version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the store {self.path} has schema version {version}, newer than this console's {SCHEMA_VERSION}"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                MIGRATIONS[target](self.db)
                self._conn.execute(f"PRAGMA user_version = {target}")
                self._conn.execute("COMMIT")
            except Exception:
                self._conn.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

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
    ) -> int:
        row = {
            "created_at": now_iso(),
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
        with self._lock:
            table = self.db["actions"]
            table.insert(row)  # type: ignore[union-attr]
            last = table.last_pk  # type: ignore[union-attr]
            assert last is not None
            return int(last)

    def mark_running(self, action_id: int) -> None:
        with self._lock:
            self.db["actions"].update(action_id, {"state": "running", "started_at": now_iso()})  # type: ignore[union-attr]

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
    ) -> None:
        if state not in FINAL_STATES:
            raise ValueError(f"not a final state: {state}")
        values = {
            "state": state,
            "finished_at": now_iso(),
            "message": message,
            "exit_status": exit_status,
            "stdout": (stdout or "")[-OUTPUT_EXCERPT:] or None,
            "stderr": (stderr or "")[-OUTPUT_EXCERPT:] or None,
            "duration_s": duration_s,
        }
        with self._lock:
            self.db["actions"].update(action_id, values)  # type: ignore[union-attr]

    def note(self, action_id: int, message: str) -> None:
        """Progress words for a running action (e.g. 'waiting for SSH')."""
        with self._lock:
            self.db["actions"].update(action_id, {"message": message})  # type: ignore[union-attr]

    def mark_interrupted(self, alive: Callable[[str], bool]) -> int:
        """Unfinished rows of consoles that are no longer running become 'outcome unknown'.

        ``alive(session)`` tells whether the console that wrote a row still runs (see :class:`SessionLock`);
        a second console opening the same store leaves the first one's running actions alone.
        Returns how many rows changed."""
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
            for session in dead:
                cursor = self._conn.execute(
                    "UPDATE actions SET state = 'outcome unknown', finished_at = ?, message = "
                    "COALESCE(message || '; ', '') || 'the console stopped before the outcome was known' "
                    "WHERE state IN ('intent', 'running') AND console_session IS ?",
                    (now_iso(), session),
                )
                changed += cursor.rowcount
        return changed

    def rows(self, since: str | None = None, node: str | None = None, limit: int | None = None) -> list[AuditRow]:
        where, args = [], []
        if since:
            where.append("created_at >= ?")
            args.append(since)
        if node:
            where.append("node = ?")
            args.append(node)
        # Only fixed fragments and an int() go into the text; every value is a bound parameter.
        sql = "SELECT * FROM actions" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"  # noqa: S608
        if limit:
            sql = f"SELECT * FROM ({sql} DESC LIMIT {int(limit)}) ORDER BY id"  # noqa: S608
        with self._lock:
            cursor = self._conn.execute(sql, args)
            names = [c[0] for c in cursor.description]
            raw = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        return [_row(r) for r in raw]

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
    )


class SessionLock:
    """Marks this console as alive for as long as its process lives: an exclusive flock on a file named
    after its session. The kernel drops the lock when the process dies, ``kill -9`` included."""

    def __init__(self, directory: Path, session: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.session = session
        self._file = open(directory / f"{session}.lock", "w")  # noqa: SIM115 - held for the process's life
        fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def alive(self, session: str) -> bool:
        return session == self.session or session_alive(self.directory, session)

    def release(self) -> None:
        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()
        (self.directory / f"{self.session}.lock").unlink(missing_ok=True)


def session_alive(directory: Path, session: str) -> bool:
    """Whether the console that owns ``session`` still runs (its lock file is still locked)."""
    path = directory / f"{session}.lock"
    if not path.exists():
        return False
    with open(path, "a") as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(probe, fcntl.LOCK_UN)
    path.unlink(missing_ok=True)
    return False
