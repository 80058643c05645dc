"""SQLite as the records use it: a file and its directory kept private, one writer transaction at a time
(BEGIN IMMEDIATE under the object's lock), numbered migrations, and an error said in words that name the
file and what to do (full disk, read-only mount, locked by whom)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

from console.core.file_locks import held_by
from console.core.records.store_error import StoreError

# The store's file in the console's data directory.


BUSY_TIMEOUT_S: Final = 10.0


DIR_MODE: Final = 0o700


FILE_MODE: Final = 0o600


@contextlib.contextmanager
def immediate(conn: sqlite3.Connection, lock: threading.Lock) -> Iterator[sqlite3.Connection]:
    """One write transaction (BEGIN IMMEDIATE … COMMIT, ROLLBACK on any error) under ``lock``."""
    with lock:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def migrate(conn: sqlite3.Connection, current: int, latest: int, step: Callable[[int], None]) -> None:
    """Bring a database from schema ``current`` to ``latest``: each step in its own transaction, with the
    new ``user_version`` written in that same transaction."""
    for target in range(current + 1, latest + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            step(target)
            conn.execute(f"PRAGMA user_version = {int(target)}")
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise


def run_statements(conn: sqlite3.Connection, script: str) -> None:
    """Run a script statement by statement inside the caller's transaction (``executescript`` would commit
    it first, leaving a migration half-applied if a later statement failed)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            conn.execute(pending)
            pending = ""
    if pending.strip():
        raise sqlite3.OperationalError(f"incomplete statement in a migration: {pending.strip()[:80]}")


def explain(path: Path, exc: BaseException) -> str:
    """An SQLite or OS error on ``path`` in an operator's words: the cause and what to do."""
    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered
    ):
        return (
            f"{path} is damaged ({text}): move it aside (mv {path} {path}.damaged) and the console starts a new "
            "one; keep the damaged file for the records"
        )
    if "locked" in lowered or "busy" in lowered:
        holder = held_by(path, Path(f"{path}-shm"), writers_only=True)
        return (
            f"{path} is locked {holder} ({text}; waited {BUSY_TIMEOUT_S:g} s): close "
            "whatever holds it (an sqlite3 shell, a backup, a console stuck mid-write) and try again"
        )
    if "full" in lowered or (isinstance(exc, OSError) and exc.errno == 28) or ("i/o" in lowered and _disk_full(path)):
        return f"the disk holding {path} is full ({text}): free space there, then try again"
    if "readonly" in lowered or "read-only" in lowered or isinstance(exc, PermissionError):
        return f"{path} cannot be written ({text}): check its owner and permissions, and the disk's mount"
    if "unable to open" in lowered or isinstance(exc, OSError):
        return f"{path} cannot be opened ({text}): check that its directory exists and is yours"
    return f"{path}: {text}"


def _disk_full(path: Path) -> bool:
    """SQLite says "disk I/O error" when it cannot create its -shm file on a full disk."""
    try:
        return shutil.disk_usage(path.parent if not path.is_dir() else path).free < (1 << 20)
    except OSError:
        return False


def secure_directory(directory: Path) -> None:
    """Create ``directory`` 0700, or tighten it to 0700 when it is ours and open to others."""
    try:
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        info = directory.stat()
        if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
            directory.chmod(DIR_MODE)
    except OSError as exc:
        raise StoreError(explain(directory, exc)) from None


def secure_file(path: Path) -> None:
    """Create ``path`` 0600 (SQLite gives its -wal and -shm files the same mode), or tighten an old one."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
        os.close(fd)
        for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            with contextlib.suppress(FileNotFoundError):
                info = candidate.stat()
                if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
                    candidate.chmod(FILE_MODE)
    except OSError as exc:
        raise StoreError(explain(path, exc)) from None
