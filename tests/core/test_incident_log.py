"""The incident log in the real SQLite store: opening, repeats and re-opening, acknowledging with counters,
append-only notes, actions linked to open incidents, sign-off and amendments, the schema migration with
its backup, and a console killed mid-write."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from console.core.alerts.incidents import IncidentState
from console.core.records.incident_log import IncidentLog
from console.core.records.incident_types import AcceleratorRef, IncidentError, IncidentQuery
from console.core.records.store import SCHEMA_VERSION, Store
from console.core.records.store_error import StoreError
from console.core.records.store_schema import _v1
from console.core.telemetry.counters import AcceleratorCounters
from tests.helpers.fakes import FakeClock

T0 = 1_790_000_000.0


def _log(tmp_path: Path) -> tuple[Store, IncidentLog, FakeClock]:
    clock = FakeClock(T0)
    store = Store(tmp_path / "console.sqlite3")
    return store, IncidentLog(store, clock), clock


def _auto(log: IncidentLog, node: str = "n1", cause: str = "xid_79", window: float | None = 3600) -> tuple[int, str]:
    return log.open(
        nodes=[node],
        cause=cause,
        severity="critical",
        opened_by=f"rule:{cause}",
        message="GPU 3 fell off the bus",
        accelerators=[AcceleratorRef(node, 3, "GPU-abc")],
        tenants=["acme"],
        jobs=[{"job_id": "42", "user": "bob", "account": "acme"}],
        evidence={"xid": 79},
        reopen_window_s=window,
    )


def _intent(store: Store, node: str) -> int:
    return store.record_intent(
        operator="alice",
        kind="drain",
        node=node,
        params={},
        reason="xid",
        ticket=None,
        engine="slurm",
        host=None,
        command=None,
        session="s",
    )


def test_the_same_node_and_cause_while_open_is_one_incident_not_two(tmp_path: Path) -> None:
    _, log, clock = _log(tmp_path)
    first = _auto(log)
    clock.advance(30)
    again = _auto(log)
    other = _auto(log, cause="temperature")
    assert first == (1, "opened") and again == (1, "repeat") and other == (2, "opened")
    incident = log.incident(1)
    assert incident.nodes == ("n1",) and incident.tenants == ("acme",) and incident.jobs[0]["job_id"] == "42"
    assert incident.accelerators == (AcceleratorRef("n1", 3, "GPU-abc"),)
    assert incident.opened_by == "rule:xid_79" and incident.state == IncidentState.OPEN
    assert incident.last_seen == T0 + 30


def test_a_cause_back_within_the_window_reopens_its_incident_and_keeps_the_history(tmp_path: Path) -> None:
    _, log, clock = _log(tmp_path)
    incident_id, _ = _auto(log)
    log.acknowledge(incident_id, "alice", "on it")
    clock.advance(60)
    log.resolve(incident_id, "alice", "reseated")
    clock.advance(1800)
    assert _auto(log) == (incident_id, "reopened")
    incident = log.incident(incident_id)
    assert incident.state == IncidentState.OPEN and incident.resolved is None and incident.acknowledged is None
    assert [e.kind for e in incident.events] == ["opened", "acknowledged", "resolved", "reopened"]
    assert "resolved at" in (incident.events[-1].text or "") and "alice" in (incident.events[-1].text or "")
    log.resolve(incident_id, "bob")
    clock.advance(3601)
    assert _auto(log) == (incident_id + 1, "opened")  # past the window: a new incident


def test_acknowledging_records_the_counters_and_twice_is_refused(tmp_path: Path) -> None:
    _, log, clock = _log(tmp_path)
    incident_id, _ = _auto(log)
    assert log.latest_acknowledgement() == (None, 0)
    counters = AcceleratorCounters(
        3, "GPU-abc", T0, {"ecc_uncorrected_aggregate": 2.0}, {"remapped_rows_pending": "Yes"}, (79,), "n1"
    )
    clock.advance(120)
    log.acknowledge(incident_id, "alice", "looking", [counters])
    incident = log.incident(incident_id)
    assert incident.acknowledged == T0 + 120 and incident.acknowledged_by == "alice"
    assert incident.counters == (counters,)
    assert log.baselines() == {"n1": {3: counters}}
    assert log.latest_acknowledgement() == (T0 + 120, 1)
    with pytest.raises(IncidentError, match="already acknowledged"):
        log.acknowledge(incident_id, "bob")
    log.resolve(incident_id, "alice")
    with pytest.raises(IncidentError, match="resolved"):
        log.acknowledge(incident_id, "bob")
    with pytest.raises(IncidentError, match="no incident #99"):
        log.add_note(99, "bob", "x")


def test_notes_are_append_only_even_to_sql(tmp_path: Path) -> None:
    store, log, _ = _log(tmp_path)
    incident_id, _ = _auto(log)
    log.add_note(incident_id, "alice", "reseated GPU 3")
    with pytest.raises(IncidentError, match="needs some text"):
        log.add_note(incident_id, "alice", "   ")
    with pytest.raises(IncidentError, match="at most"):
        log.add_note(incident_id, "alice", "x" * 5000)
    conn = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE incident_events SET text = 'nothing happened'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM incident_events")
    conn.close()
    assert [n.text for n in log.incident(incident_id).notes] == ["reseated GPU 3"]


def test_an_action_on_a_node_with_an_open_incident_is_linked_to_it(tmp_path: Path) -> None:
    store, log, _ = _log(tmp_path)
    incident_id, _ = _auto(log, node="n1")
    linked = _intent(store, "n1")
    group = _intent(store, "n2,n1")
    unlinked = _intent(store, "n2")
    assert store.row(linked).incident_id == incident_id
    assert store.row(group).incident_id == incident_id
    assert store.row(unlinked).incident_id is None
    log.resolve(incident_id, "alice")
    after = _intent(store, "n1")
    assert store.row(after).incident_id is None  # resolved: no longer collects actions
    assert log.incident(incident_id).actions == (linked, group)


def test_queries_filter_by_range_state_severity_node_cause_and_text(tmp_path: Path) -> None:
    _, log, clock = _log(tmp_path)
    a, _ = _auto(log, node="n1")  # opened at T0, resolved at T0 + 100
    clock.advance(100)
    log.resolve(a, "alice", "fixed by RMA 77")
    clock.advance(900)
    b, _ = log.open(nodes=["n2", "n3"], cause="cooling", severity="warning", opened_by="bob", note="fans loud")
    assert [i.id for i in log.incidents(IncidentQuery(since=T0 + 50, until=T0 + 60))] == [a]
    assert [i.id for i in log.incidents(IncidentQuery(since=T0 + 200))] == [b]
    assert [i.id for i in log.incidents(IncidentQuery(open_only=True))] == [b]
    assert [i.id for i in log.incidents(IncidentQuery(severities=frozenset({"critical"})))] == [a]
    assert [i.id for i in log.incidents(IncidentQuery(nodes=frozenset({"n3"})))] == [b]
    assert [i.id for i in log.incidents(IncidentQuery(cause="xid_79"))] == [a]
    assert [i.id for i in log.incidents(IncidentQuery(text="RMA 77"))] == [a]
    assert [i.id for i in log.incidents(IncidentQuery(text="100%_"))] == []  # LIKE wildcards are literal
    assert log.open_keys() == {("n2", "cooling"): b, ("n3", "cooling"): b}


def test_a_signed_shift_is_frozen_and_later_changes_become_amendments(tmp_path: Path) -> None:
    store, log, clock = _log(tmp_path)
    incident_id, _ = _auto(log)
    clock.advance(600)
    signoff = log.sign_off(
        shift_date="2026-11-29",
        shift="day",
        start=T0 - 3600,
        end=T0 + 3600,
        by="sue",
        role="supervisor",
        note="quiet shift",
        report={"open_incidents": [{"id": incident_id}]},
    )
    with pytest.raises(IncidentError, match="was signed off by sue"):
        log.sign_off(
            shift_date="2026-11-29", shift="day", start=0, end=1, by="sue", role="supervisor", note="", report={}
        )
    clock.advance(60)
    log.resolve(incident_id, "alice", "fixed late")
    log.amend(signoff, "sue", "the fix was a reseat")
    signed = log.signoff("2026-11-29", "day")
    assert signed is not None and signed.report == {"open_incidents": [{"id": incident_id}]}
    assert [a.text for a in signed.amendments] == [
        f"incident #{incident_id}: resolved by alice: fixed late",
        "the fix was a reseat",
    ]
    conn = sqlite3.connect(store.path)
    for statement in ("UPDATE signoffs SET note = 'x'", "DELETE FROM signoffs", "UPDATE amendments SET text = 'x'"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(statement)
    conn.close()


def test_a_store_of_schema_1_is_migrated_after_a_backup_copy(tmp_path: Path) -> None:
    import sqlite_utils

    path = tmp_path / "console.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    _v1(sqlite_utils.Database(conn))
    conn.execute(
        "INSERT INTO actions (created_at, operator, kind, node, state) "
        "VALUES ('2026-01-01T00:00:00.000Z', 'old', 'drain', 'n1', 'done')"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    store = Store(path)
    assert store.schema_version == SCHEMA_VERSION
    assert store.backup is not None and store.backup.name.startswith("console.sqlite3.v1-backup-")
    assert store.backup.stat().st_mode & 0o077 == 0
    assert [r.operator for r in store.rows()] == ["old"] and store.rows()[0].incident_id is None
    copy = sqlite3.connect(store.backup)
    assert copy.execute("PRAGMA user_version").fetchone()[0] == 1
    assert copy.execute("SELECT operator FROM actions").fetchall() == [("old",)]
    copy.close()
    IncidentLog(store).open(nodes=["n1"], cause="x", severity="warning", opened_by="t")
    store.close()
    assert Store(path).backup is None  # already current: no second copy


def test_a_migration_whose_backup_cannot_be_made_changes_nothing(tmp_path: Path) -> None:
    import sqlite_utils

    path = tmp_path / "console.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    _v1(sqlite_utils.Database(conn))
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    stamp_dir = tmp_path
    # A directory where the backup file would go makes the copy fail (same name pattern, any second).
    import datetime as dt

    for delta in range(3):
        stamp = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delta)).strftime("%Y%m%dT%H%M%SZ")
        (stamp_dir / f"console.sqlite3.v1-backup-{stamp}").mkdir()
    with pytest.raises(StoreError, match="backup copy could not be made first"):
        Store(path)
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == 1
    check.close()


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from console.core.records.store import Store
    from console.core.records.incident_log import IncidentLog
    log = IncidentLog(Store(Path(sys.argv[1])))
    n = 0
    while True:
        n += 1
        incident_id, _ = log.open(nodes=[f"n{n}"], cause="xid_79", severity="critical", opened_by="rule:xid_79")
        log.add_note(incident_id, "alice", f"note {n}")
        print(incident_id, flush=True)
    """
)


def test_a_console_killed_with_sigkill_while_writing_loses_no_committed_incident(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite3"
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    committed: list[int] = []
    try:
        assert child.stdout is not None
        while len(committed) < 200:
            line = child.stdout.readline()
            assert line, "the writer died"
            committed.append(int(line))
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
        assert child.stdout is not None
        child.stdout.close()
    store = Store(path)
    log = IncidentLog(store)
    found = {i.id: i for i in log.incidents()}
    assert set(committed) <= set(found)
    # Each printed id was printed after its note's commit: its note is there too.
    assert all(found[i].notes for i in committed)
    assert store.query("PRAGMA integrity_check")[0]["integrity_check"] == "ok"
    json.dumps([found[i].as_json() for i in committed])
    store.close()


def test_an_alert_that_began_before_the_resolution_leaves_the_incident_resolved(tmp_path: Path) -> None:
    _, log, clock = _log(tmp_path)
    incident_id, _ = _auto(log)
    first_seen = clock()
    clock.advance(300)
    log.resolve(incident_id, "alice", "fan replaced")
    clock.advance(60)
    assert log.open(
        nodes=["n1"],
        cause="xid_79",
        severity="critical",
        opened_by="rule:xid_79",
        reopen_window_s=3600,
        first_seen=first_seen,
    ) == (incident_id, "still resolved")
    assert log.incident(incident_id).state == IncidentState.RESOLVED
    assert log.open(
        nodes=["n1"],
        cause="xid_79",
        severity="critical",
        opened_by="rule:xid_79",
        reopen_window_s=3600,
        first_seen=clock(),
    ) == (incident_id, "reopened")


def test_the_console_writes_its_own_events_and_knows_which_open_incidents_are_acknowledged(tmp_path: Path) -> None:
    _, log, _ = _log(tmp_path)
    incident_id, _ = _auto(log)
    other, _ = _auto(log, node="n2")
    assert log.acknowledged_open() == {}
    log.acknowledge(incident_id, "alice")
    assert log.acknowledged_open() == {incident_id: T0}
    log.add_event(incident_id, "rule:xid_79", "alerted again", "after the acknowledgement: XID 79 again")
    assert log.incident(incident_id).events[-1].kind == "alerted again"
    with pytest.raises(IncidentError, match="no incident #99"):
        log.add_event(99, "x", "y", "z")
    log.resolve(incident_id, "alice")
    assert log.acknowledged_open() == {} and other not in log.acknowledged_open()


def test_the_logs_smaller_writers_and_readers_keep_their_words_and_refuse_what_makes_no_sense(tmp_path: Path) -> None:
    """Set a ticket, note the counters the live console saw, read a node's events and the repeat offenders of
    a range; refuse an incident with no node, a second resolution and an empty or homeless amendment."""
    store, log, clock = _log(tmp_path)
    with pytest.raises(IncidentError, match="at least one node"):
        log.open(nodes=[], cause="x", severity="warning", opened_by="rule:x", message="")
    first, _ = _auto(log, "n1")
    clock.now += 60
    second, _ = _auto(log, "n2", cause="ecc_uncorrected")
    log.set_ticket(first, "dana", "INC-4471")
    assert log.incident(first).ticket == "INC-4471"
    with pytest.raises(IncidentError, match="no incident #77"):
        log.incident(77)
    counters = [AcceleratorCounters(3, "GPU-abc", T0, {"ecc_uncorrected_volatile": 2.0}, {}, (79,), "n1")]
    log.note_counters(first, counters)
    assert log.seen_counters(first) == counters
    store._conn.execute(
        "UPDATE incidents SET seen_counters = ? WHERE id = ?", ('[{"index": "not a number"}, 7]', second)
    )
    assert log.seen_counters(second) == []  # what cannot be read is left out, not raised
    store._conn.execute("UPDATE incidents SET seen_counters = ? WHERE id = ?", ("{not json", second))
    assert log.seen_counters(second) == []
    events = log.events_for_node("n1", T0 - 1, T0 + 3600)
    assert [e.kind for _, e in events][-1] == "ticket" and "(none) → INC-4471" in events[-1][1].text
    assert log.counts_since(T0 - 1) == {"n1": 1, "n2": 1}
    assert log.counts_since(T0 - 1, T0 + 30) == {"n1": 1}
    assert [i.id for i in log.incidents(IncidentQuery(until=T0 + 30))] == [first]
    log.resolve(first, "dana", "board swapped")
    with pytest.raises(IncidentError, match="already resolved"):
        log.resolve(first, "dana")
    with pytest.raises(IncidentError, match="needs some text"):
        log.amend(1, "sam", "  ")
    with pytest.raises(IncidentError, match="no sign-off #99"):
        log.amend(99, "sam", "late note")
    store.close()
