"""The audit store: schema version and migrations, intent then outcome, and consoles that died mid-action."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from console.core.records.sessions import SessionLock, session_alive
from console.core.records.store import SCHEMA_VERSION, Store
from console.core.records.store_error import StoreError


def _intent(store: Store, session: str = "s1", node: str = "n1") -> int:
    return store.record_intent(
        operator="alice",
        kind="drain",
        node=node,
        params={"x": 1},
        reason="hot",
        ticket="T-1",
        engine="slurm",
        host="ops@sched",
        command=[["scontrol", "x"]],
        session=session,
    )


def test_new_store_is_wal_with_the_current_schema_version(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    assert store.schema_version == SCHEMA_VERSION
    mode = sqlite3.connect(tmp_path / "s.sqlite3").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    store.close()


def test_a_store_from_a_newer_console_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this console"):
        Store(path)


def test_intent_then_outcome_in_the_same_row(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    action_id = _intent(store)
    assert store.row(action_id).state == "intent"
    store.mark_running(action_id)
    store.record_outcome(
        action_id, state="done", message="ok", exit_status=0, stdout="x" * 10_000, stderr="", duration_s=1.5
    )
    row = store.row(action_id)
    assert (row.state, row.exit_status, row.duration_s, row.params) == ("done", 0, 1.5, {"x": 1})
    assert row.stdout is not None and len(row.stdout) == 4000  # an excerpt, not the whole output
    assert row.started_at is not None and row.finished_at is not None
    with pytest.raises(ValueError, match="not a final state"):
        store.record_outcome(action_id, state="running", message=None)
    store.close()


def test_rows_of_a_dead_console_become_outcome_unknown_and_a_live_ones_stay(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    sessions = tmp_path / "sessions"
    mine = SessionLock(sessions, "mine")
    live_other = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from console.core.records.sessions import "
            "SessionLock; lock = SessionLock(Path(sys.argv[1]), 'other'); print('locked', flush=True); time.sleep(60)",
            str(sessions),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert live_other.stdout is not None and live_other.stdout.readline().strip() == "locked"
        dead = _intent(store, session="dead", node="a")
        other = _intent(store, session="other", node="b")
        own = _intent(store, session="mine", node="c")
        assert store.mark_interrupted(mine.alive) == 1
        assert store.row(dead).state == "outcome unknown"
        assert store.row(other).state == "intent" and store.row(own).state == "intent"
    finally:
        live_other.kill()
        live_other.wait()
        if live_other.stdout:
            live_other.stdout.close()
    assert not session_alive(sessions, "other")  # its lock died with it
    assert store.mark_interrupted(mine.alive) == 1
    mine.release()
    store.close()
