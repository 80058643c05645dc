"""A store that cannot be used is a clear message naming the file and what to do, never a traceback;
nothing runs unaudited; an outcome that cannot be written is retried, journaled and written later;
the store is private to its user."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.core.records.sessions import SessionLock
from console.core.records.store import Store
from console.core.records.store_error import StoreError
from tests.conftest import IN_CI


def _intent(store: Store, node: str = "n1", session: str = "s1") -> int:
    return store.record_intent(
        operator="alice", kind="drain", node=node, params={}, reason="hot", ticket=None, engine="slurm",
        host="sched", command=[["scontrol"]], session=session,
    )  # fmt: skip


def test_the_store_is_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        data = tmp_path / "data"
        store = Store(data / "console.sqlite3")
        _intent(store)
        lock = SessionLock(data / "sessions", "s1")
        for path in (data, data / "sessions"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
        files = [data / "console.sqlite3", data / "console.sqlite3-wal", data / "console.sqlite3-shm"]
        for path in [*files, data / "sessions" / "s1.lock"]:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        lock.release()
        store.close()
    finally:
        os.umask(old)


def test_an_old_world_readable_store_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    Store(data / "console.sqlite3").close()
    data.chmod(0o755)
    (data / "console.sqlite3").chmod(0o644)
    Store(data / "console.sqlite3").close()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "console.sqlite3").stat().st_mode) == 0o600


@pytest.mark.parametrize("content", [b"this is not a database at all" * 100, b"SQLite format 3\x00" + b"\xff" * 50])
def test_a_damaged_store_is_named_with_what_to_do(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite3"
    path.write_bytes(content)
    with pytest.raises(StoreError) as caught:
        Store(path)
    message = str(caught.value)
    assert str(path) in message and "damaged" in message and "mv " in message


def test_a_truncated_store_is_named_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite3"
    store = Store(path)
    for i in range(200):
        _intent(store, node=f"n{i}")
    store.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match=r"damaged|cannot"):
        store = Store(path)
        store.rows()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[sqlite3.Connection]:
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield holder
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_an_intent_that_cannot_be_written_is_a_store_error_naming_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite3"
    store = Store(path, busy_timeout_s=0.2)
    with _locked(path), pytest.raises(StoreError) as caught:
        _intent(store)
    assert str(path) in str(caught.value) and "locked" in str(caught.value)
    store.close()


def test_an_outcome_written_while_the_store_is_locked_waits_and_arrives(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite3"
    store = Store(path, busy_timeout_s=0.1, outcome_retry_s=10)
    action = _intent(store)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(1.0, lambda: holder.execute("ROLLBACK"))
    release.start()
    store.record_outcome(action, state="done", message="back in Slurm")
    release.join()
    holder.close()
    assert store.row(action).state == "done"
    assert store.pending_outcomes == 0 and not store.journal.exists()
    store.close()


def test_an_outcome_that_cannot_be_written_is_journaled_and_never_becomes_unknown(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite3"
    store = Store(path, busy_timeout_s=0.05, outcome_retry_s=0.3)
    action = _intent(store)
    with _locked(path):
        store.record_outcome(action, state="done", message="rebooted and back")
        assert store.pending_outcomes == 1 and store.journal.exists()
        # The console goes away while the database is still locked (kill -9 loses only memory).
    del store
    reopened = Store(path)
    assert reopened.mark_interrupted(lambda _session: False) == 0
    row = reopened.row(action)
    assert (row.state, row.message) == ("done", "rebooted and back")
    assert not reopened.journal.exists()
    reopened.close()


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A real, tiny file system (tmpfs), filled up by the test."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("the full-disk test mounts a tmpfs and needs root (CI runs as root)")
        pytest.skip("mounting a tmpfs needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(directory: Path) -> None:
    with contextlib.suppress(OSError), open(directory / "filler", "wb") as filler:
        while True:
            filler.write(b"\0" * 65536)
            filler.flush()


def test_a_full_disk_refuses_the_intent_in_words_and_audit_still_reads(full_disk: Path) -> None:
    data = full_disk / "data"
    store = Store(data / "console.sqlite3")
    first = _intent(store)
    store.close()
    _fill(full_disk)
    with pytest.raises(StoreError) as caught:
        store = Store(data / "console.sqlite3", busy_timeout_s=0.2)
        for i in range(200):  # the WAL may take a few rows before the disk says no
            _intent(store, node=f"n{i}", session="s2")
    assert "full" in str(caught.value) and str(data / "console.sqlite3") in str(caught.value)

    audit = subprocess.run(
        [sys.executable, "-m", "console", "audit", "--data-dir", str(data)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert audit.returncode == 0, audit.stderr
    assert f"#{first}" in audit.stdout and "Traceback" not in audit.stderr
