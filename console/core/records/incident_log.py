"""The incident log, in the console's store (the audit store's file, schema 2): incidents, their nodes, an
append-only list of events and notes per incident, the actions linked to them, and shift sign-offs with
their amendments.

Nothing here overwrites what a person recorded: acknowledging and resolving fill empty fields and add an
event; notes are events; a re-opened incident keeps its earlier resolution as an event. Once a shift is
signed off, every later change to one of its incidents also becomes an amendment of that sign-off, and
the signed report itself (a frozen copy) cannot be changed (the store's triggers refuse it).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from console.core.alerts.incidents import IncidentState
from console.core.records.incident_types import (
    AcceleratorRef,
    Incident,
    IncidentError,
    IncidentEvent,
    IncidentQuery,
    SignOff,
)
from console.core.records.sqlite_files import explain
from console.core.records.store import Store, amend_if_signed, incident_event
from console.core.records.store_error import StoreError
from console.core.telemetry.counters import AcceleratorCounters
from console.core.when import iso_utc, local_stamp

MAX_NOTE_CHARS: Final = 4000
MAX_TICKET_CHARS: Final = 200


def _clean(text: str | None, limit: int, what: str) -> str | None:
    if text is None:
        return None
    text = text.strip()
    if len(text) > limit:
        raise IncidentError(f"the {what} is {len(text)} characters long; at most {limit}")
    return text or None


class IncidentLog:
    """Reads and writes incidents in a :class:`Store`. Thread-safe through the store's lock."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    # --- writers ---------------------------------------------------------------------------------------------

    def open(
        self,
        *,
        nodes: Sequence[str],
        cause: str,
        severity: str,
        opened_by: str,
        message: str | None = None,
        accelerators: Sequence[AcceleratorRef] = (),
        tenants: Sequence[str] = (),
        jobs: Sequence[dict[str, Any]] = (),
        evidence: dict[str, Any] | None = None,
        ticket: str | None = None,
        note: str | None = None,
        reopen_window_s: float | None = None,
        at: float | None = None,
        first_seen: float | None = None,
    ) -> tuple[int, str]:
        """Open an incident, or find the one already open for the same node and cause (``"repeat"``), or
        re-open one resolved within ``reopen_window_s`` (``"reopened"``). Returns (id, what happened:
        ``"opened"``, ``"repeat"``, ``"reopened"``, or ``"still resolved"`` when the alert began before the
        incident was resolved: a person resolved it while the condition still showed, and the same
        occurrence does not re-open it). ``reopen_window_s`` None: always a new incident (opened by hand)."""
        if not nodes:
            raise IncidentError("an incident needs at least one node")
        cause = _clean(cause, 200, "cause") or "unspecified"
        ticket = _clean(ticket, MAX_TICKET_CHARS, "ticket")
        note = _clean(note, MAX_NOTE_CHARS, "note")
        now = self.clock() if at is None else at
        node_list = sorted(dict.fromkeys(nodes))
        try:
            with self.store.transaction() as conn:
                if reopen_window_s is not None and len(node_list) == 1:
                    found = self._same_cause(conn, node_list[0], cause, now - reopen_window_s)
                    if found is not None:
                        incident_id, state = found
                        if state != IncidentState.RESOLVED:
                            conn.execute(
                                "UPDATE incidents SET last_seen = ?, accelerators = ? WHERE id = ?",
                                (now, self._merge_accelerators(conn, incident_id, accelerators), incident_id),
                            )
                            return incident_id, "repeat"
                        row = conn.execute(
                            "SELECT resolved, resolved_by FROM incidents WHERE id = ?", (incident_id,)
                        ).fetchone()
                        if first_seen is not None and row[0] is not None and row[0] >= first_seen:
                            return incident_id, "still resolved"
                        conn.execute(
                            "UPDATE incidents SET state = 'open', resolved = NULL, resolved_by = NULL, "
                            "acknowledged = NULL, acknowledged_by = NULL, "
                            "last_seen = ?, severity = ?, accelerators = ? WHERE id = ?",
                            (now, severity, self._merge_accelerators(conn, incident_id, accelerators), incident_id),
                        )
                        incident_event(
                            conn,
                            incident_id,
                            now,
                            opened_by,
                            "reopened",
                            f"back within the re-open window; it had been resolved at {iso_utc(row[0])} by {row[1]} "
                            "(its earlier acknowledgement and resolution stay in these events)"
                            + (f": {message}" if message else ""),
                        )
                        return incident_id, "reopened"
                cursor = conn.execute(
                    "INSERT INTO incidents (cause, severity, state, message, opened, opened_by, ticket, last_seen, "
                    "accelerators, tenants, jobs, evidence) VALUES (?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        cause,
                        severity,
                        message,
                        now,
                        opened_by,
                        ticket,
                        now,
                        json.dumps([a.as_json() for a in accelerators]),
                        json.dumps(sorted(set(tenants))),
                        json.dumps(list(jobs)),
                        json.dumps(evidence or {}, default=str),
                    ),
                )
                incident_id = int(cursor.lastrowid or 0)
                conn.executemany(
                    "INSERT INTO incident_nodes (node, incident_id) VALUES (?, ?)",
                    [(node, incident_id) for node in node_list],
                )
                incident_event(conn, incident_id, now, opened_by, "opened", note or message)
                return incident_id, "opened"
        except sqlite3.Error as exc:
            raise StoreError(f"the incident log cannot be written: {explain(self.store.path, exc)}") from None

    def acknowledge(
        self,
        incident_id: int,
        by: str,
        note: str | None = None,
        counters: Sequence[AcceleratorCounters] = (),
        at: float | None = None,
    ) -> None:
        note = _clean(note, MAX_NOTE_CHARS, "note")
        now = self.clock() if at is None else at
        with self._writing() as conn:
            state = self._state(conn, incident_id)
            if state == IncidentState.RESOLVED:
                raise IncidentError(f"incident #{incident_id} is resolved; re-open it by opening a new one")
            if state == IncidentState.ACKNOWLEDGED:
                raise IncidentError(f"incident #{incident_id} is already acknowledged")
            conn.execute(
                "UPDATE incidents SET state = 'acknowledged', acknowledged = ?, acknowledged_by = ?, counters = ? "
                "WHERE id = ?",
                (now, by, json.dumps([c.as_json() for c in counters]), incident_id),
            )
            text = note or ""
            if counters:
                text = (text + " " if text else "") + f"(counters of {len(counters)} accelerator(s) recorded)"
            incident_event(conn, incident_id, now, by, "acknowledged", text or None)
            amend_if_signed(conn, incident_id, now, by, f"acknowledged by {by}" + (f": {note}" if note else ""))

    def add_note(self, incident_id: int, by: str, text: str, at: float | None = None) -> None:
        cleaned = _clean(text, MAX_NOTE_CHARS, "note")
        if not cleaned:
            raise IncidentError("a note needs some text")
        now = self.clock() if at is None else at
        with self._writing() as conn:
            self._state(conn, incident_id)
            incident_event(conn, incident_id, now, by, "note", cleaned)
            amend_if_signed(conn, incident_id, now, by, f"note by {by}: {cleaned}")

    def resolve(self, incident_id: int, by: str, note: str | None = None, at: float | None = None) -> None:
        note = _clean(note, MAX_NOTE_CHARS, "note")
        now = self.clock() if at is None else at
        with self._writing() as conn:
            if self._state(conn, incident_id) == IncidentState.RESOLVED:
                raise IncidentError(f"incident #{incident_id} is already resolved")
            conn.execute(
                "UPDATE incidents SET state = 'resolved', resolved = ?, resolved_by = ? WHERE id = ?",
                (now, by, incident_id),
            )
            incident_event(conn, incident_id, now, by, "resolved", note)
            amend_if_signed(conn, incident_id, now, by, f"resolved by {by}" + (f": {note}" if note else ""))

    def note_counters(self, incident_id: int, counters: Sequence[AcceleratorCounters]) -> None:
        """The counters the live console last saw on the incident's accelerators: what an acknowledgement
        from the command line (which reads no node) records."""
        with self._writing() as conn:
            conn.execute(
                "UPDATE incidents SET seen_counters = ? WHERE id = ?",
                (json.dumps([c.as_json() for c in counters]), incident_id),
            )

    def seen_counters(self, incident_id: int) -> list[AcceleratorCounters]:
        rows = self.store.query("SELECT seen_counters FROM incidents WHERE id = ?", [incident_id])
        out = []
        for item in _json(rows[0]["seen_counters"], []) if rows else []:
            with contextlib.suppress(KeyError, TypeError, ValueError):
                out.append(AcceleratorCounters.from_json(item))
        return out

    def set_ticket(self, incident_id: int, by: str, ticket: str, at: float | None = None) -> None:
        cleaned = _clean(ticket, MAX_TICKET_CHARS, "ticket")
        now = self.clock() if at is None else at
        with self._writing() as conn:
            self._state(conn, incident_id)
            old = conn.execute("SELECT ticket FROM incidents WHERE id = ?", (incident_id,)).fetchone()[0]
            conn.execute("UPDATE incidents SET ticket = ? WHERE id = ?", (cleaned, incident_id))
            incident_event(conn, incident_id, now, by, "ticket", f"{old or '(none)'} → {cleaned or '(none)'}")
            amend_if_signed(conn, incident_id, now, by, f"ticket set to {cleaned} by {by}")

    def sign_off(
        self,
        *,
        shift_date: str,
        shift: str,
        start: float,
        end: float,
        by: str,
        role: str,
        note: str | None,
        report: dict[str, Any],
        at: float | None = None,
    ) -> int:
        note = _clean(note, MAX_NOTE_CHARS, "note")
        now = self.clock() if at is None else at
        with self._writing() as conn:
            existing = conn.execute(
                "SELECT signed_by, signed_at FROM signoffs WHERE shift_date = ? AND shift = ?", (shift_date, shift)
            ).fetchone()
            if existing is not None:
                raise IncidentError(
                    f"the {shift} shift of {shift_date} was signed off by {existing[0]} at {iso_utc(existing[1])}; "
                    "add an amendment instead"
                )
            cursor = conn.execute(
                "INSERT INTO signoffs (shift_date, shift, start, end, signed_at, signed_by, role, note, report) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (shift_date, shift, start, end, now, by, role, note, json.dumps(report, default=str)),
            )
            return int(cursor.lastrowid or 0)

    def amend(self, signoff_id: int, by: str, text: str, at: float | None = None) -> None:
        cleaned = _clean(text, MAX_NOTE_CHARS, "amendment")
        if not cleaned:
            raise IncidentError("an amendment needs some text")
        now = self.clock() if at is None else at
        with self._writing() as conn:
            if conn.execute("SELECT 1 FROM signoffs WHERE id = ?", (signoff_id,)).fetchone() is None:
                raise IncidentError(f"no sign-off #{signoff_id}")
            conn.execute(
                "INSERT INTO amendments (signoff_id, at, author, text) VALUES (?, ?, ?, ?)",
                (signoff_id, now, by, cleaned),
            )

    # --- readers ---------------------------------------------------------------------------------------------

    def incidents(self, query: IncidentQuery | None = None) -> list[Incident]:
        q = query or IncidentQuery()
        where: list[str] = []
        args: list[Any] = []
        until = q.until if q.until is not None else float("inf")
        if q.since is not None:
            # Everything that overlaps the range (opened before its end, not resolved before its start), as
            # three index ranges: opened in it; opened before it and resolved in or after it (a covering
            # index on resolved, opened); opened before it and not resolved at all.
            where.append(
                "i.id IN (SELECT id FROM incidents WHERE opened >= ? AND opened < ? UNION ALL "
                "SELECT id FROM incidents WHERE resolved >= ? AND opened < ? UNION ALL "
                "SELECT id FROM incidents WHERE state != 'resolved' AND opened < ?)"
            )
            args += [q.since, until, q.since, q.since, q.since]
        elif q.until is not None:
            where.append("i.opened < ?")
            args.append(q.until)
        if q.open_only:
            where.append("i.state != 'resolved'")
        for column, values in (("i.state", q.states), ("i.severity", q.severities)):
            if values:
                where.append(f"{column} IN (SELECT value FROM json_each(?))")  # noqa: S608 - a fixed column name
                args.append(json.dumps(sorted(values)))
        if q.nodes:
            where.append(
                "i.id IN (SELECT incident_id FROM incident_nodes WHERE node IN (SELECT value FROM json_each(?)))"
            )
            args.append(json.dumps(sorted(q.nodes)))
        if q.cause:
            where.append("i.cause = ?")
            args.append(q.cause)
        if q.text:
            like = "%" + q.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append(
                "(i.message LIKE ? ESCAPE '\\' OR i.cause LIKE ? ESCAPE '\\' OR i.ticket LIKE ? ESCAPE '\\' "
                "OR i.id IN (SELECT incident_id FROM incident_events WHERE text LIKE ? ESCAPE '\\'))"
            )
            args += [like] * 4
        # Only fixed fragments and an int() go into the text; every value is a bound parameter.
        sql = "SELECT i.* FROM incidents i" + (" WHERE " + " AND ".join(where) if where else "")  # noqa: S608
        sql += " ORDER BY i.opened DESC, i.id DESC"
        if q.limit:
            sql += f" LIMIT {int(q.limit)}"
        return self._load(sql, args)

    def incident(self, incident_id: int) -> Incident:
        found = self._load("SELECT i.* FROM incidents i WHERE i.id = ?", [incident_id])
        if not found:
            raise IncidentError(f"no incident #{incident_id}")
        return found[0]

    def open_for(self, node: str) -> list[Incident]:
        return self._load(
            "SELECT i.* FROM incidents i JOIN incident_nodes n ON n.incident_id = i.id "
            "WHERE n.node = ? AND i.state != 'resolved' ORDER BY i.opened",
            [node],
        )

    def add_event(self, incident_id: int, by: str, kind: str, text: str, at: float | None = None) -> None:
        """An event the console itself records on an incident (an alert back after the acknowledgement)."""
        now = self.clock() if at is None else at
        with self._writing() as conn:
            self._state(conn, incident_id)
            incident_event(conn, incident_id, now, by, kind, text[:MAX_NOTE_CHARS])

    def acknowledged_open(self) -> dict[int, float]:
        """id → acknowledgement time of every acknowledged incident not yet resolved."""
        rows = self.store.query("SELECT id, acknowledged FROM incidents WHERE state = 'acknowledged'")
        return {r["id"]: r["acknowledged"] for r in rows}

    def open_keys(self) -> dict[tuple[str, str], int]:
        """(node, cause) → id of every incident not yet resolved (the incident service's memory at start)."""
        rows = self.store.query(
            "SELECT n.node, i.cause, i.id FROM incidents i JOIN incident_nodes n ON n.incident_id = i.id "
            "WHERE i.state != 'resolved'"
        )
        return {(r["node"], r["cause"]): r["id"] for r in rows}

    def latest_acknowledgement(self) -> tuple[float | None, int]:
        """The time of the newest acknowledgement and how many there are: changes when one is made."""
        row = self.store.query(
            "SELECT max(acknowledged) AS at, count(acknowledged) AS n FROM incidents WHERE counters IS NOT NULL"
        )[0]
        return row["at"], row["n"]

    def baselines(self) -> dict[str, dict[int, AcceleratorCounters]]:
        """Per node and accelerator, the counters of the latest acknowledgement that recorded them."""
        rows = self.store.query(
            "SELECT n.node, i.counters FROM incidents i JOIN incident_nodes n ON n.incident_id = i.id "
            "WHERE i.counters IS NOT NULL AND i.counters != '[]' ORDER BY i.acknowledged"
        )
        out: dict[str, dict[int, AcceleratorCounters]] = {}
        for row in rows:
            for item in _json(row["counters"], []):
                try:
                    counters = AcceleratorCounters.from_json(item)
                except (KeyError, TypeError, ValueError):
                    continue
                if counters.node in (row["node"], None):
                    out.setdefault(row["node"], {})[counters.index] = counters
        return out

    def counts_since(self, since: float, until: float | None = None) -> dict[str, int]:
        """Incidents per node opened in [since, until) (the repeat offenders of a range)."""
        rows = self.store.query(
            "SELECT n.node, count(*) AS c FROM incidents i JOIN incident_nodes n ON n.incident_id = i.id "
            "WHERE i.opened >= ? AND i.opened < ? GROUP BY n.node",
            [since, until if until is not None else float("inf")],
        )
        return {r["node"]: r["c"] for r in rows}

    def signoff(self, shift_date: str, shift: str) -> SignOff | None:
        rows = self.store.query("SELECT * FROM signoffs WHERE shift_date = ? AND shift = ?", [shift_date, shift])
        if not rows:
            return None
        row = rows[0]
        amendments = self.store.query("SELECT * FROM amendments WHERE signoff_id = ? ORDER BY at, id", [row["id"]])
        return SignOff(
            id=row["id"],
            shift_date=row["shift_date"],
            shift=row["shift"],
            start=row["start"],
            end=row["end"],
            signed_at=row["signed_at"],
            signed_by=row["signed_by"],
            role=row["role"],
            note=row["note"],
            report=_json(row["report"], {}),
            amendments=tuple(IncidentEvent(a["at"], a["author"], "amendment", a["text"]) for a in amendments),
        )

    def events_for_node(self, node: str, since: float, until: float) -> list[tuple[int, IncidentEvent]]:
        """(incident id, event) of the node's incidents in [since, until), oldest first (the timeline)."""
        rows = self.store.query(
            "SELECT e.incident_id, e.at, e.author, e.kind, e.text FROM incident_events e "
            "JOIN incident_nodes n ON n.incident_id = e.incident_id WHERE n.node = ? AND e.at >= ? AND e.at < ? "
            "ORDER BY e.at, e.id",
            [node, since, until],
        )
        return [(r["incident_id"], IncidentEvent(r["at"], r["author"], r["kind"], r["text"])) for r in rows]

    # --- inside ----------------------------------------------------------------------------------------------

    def _writing(self) -> Any:
        return _Writing(self.store)

    @staticmethod
    def _state(conn: sqlite3.Connection, incident_id: int) -> IncidentState:
        row = conn.execute("SELECT state FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        if row is None:
            raise IncidentError(f"no incident #{incident_id}")
        return IncidentState(row[0])

    @staticmethod
    def _same_cause(conn: sqlite3.Connection, node: str, cause: str, resolved_after: float) -> tuple[int, str] | None:
        row = conn.execute(
            "SELECT i.id, i.state FROM incidents i JOIN incident_nodes n ON n.incident_id = i.id "
            "WHERE n.node = ? AND i.cause = ? AND (i.state != 'resolved' OR i.resolved >= ?) "
            "AND (SELECT count(*) FROM incident_nodes m WHERE m.incident_id = i.id) = 1 "
            "ORDER BY i.state = 'resolved', i.opened DESC LIMIT 1",
            (node, cause, resolved_after),
        ).fetchone()
        return (int(row[0]), str(row[1])) if row is not None else None

    @staticmethod
    def _merge_accelerators(conn: sqlite3.Connection, incident_id: int, extra: Iterable[AcceleratorRef]) -> str:
        known = _json(conn.execute("SELECT accelerators FROM incidents WHERE id = ?", (incident_id,)).fetchone()[0], [])
        seen = {(a.get("node"), a.get("index")) for a in known if isinstance(a, dict)}
        for ref in extra:
            if (ref.node, ref.index) not in seen:
                known.append(ref.as_json())
                seen.add((ref.node, ref.index))
        return json.dumps(known)

    def _load(self, sql: str, args: Sequence[Any]) -> list[Incident]:
        try:
            rows = self.store.query(sql, args)
            if not rows:
                return []
            ids = json.dumps([r["id"] for r in rows])
            nodes: dict[int, list[str]] = {}
            for r in self.store.query(
                "SELECT incident_id, node FROM incident_nodes WHERE incident_id IN (SELECT value FROM json_each(?)) "
                "ORDER BY node",
                [ids],
            ):
                nodes.setdefault(r["incident_id"], []).append(r["node"])
            events: dict[int, list[IncidentEvent]] = {}
            for r in self.store.query(
                "SELECT incident_id, at, author, kind, text FROM incident_events "
                "WHERE incident_id IN (SELECT value FROM json_each(?)) ORDER BY at, id",
                [ids],
            ):
                events.setdefault(r["incident_id"], []).append(
                    IncidentEvent(r["at"], r["author"], r["kind"], r["text"])
                )
            actions: dict[int, list[int]] = {}
            for r in self.store.query(
                "SELECT incident_id, action_id FROM action_incidents "
                "WHERE incident_id IN (SELECT value FROM json_each(?)) ORDER BY action_id",
                [ids],
            ):
                actions.setdefault(r["incident_id"], []).append(r["action_id"])
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the incident log: {explain(self.store.path, exc)}") from None
        return [_incident(r, nodes, events, actions) for r in rows]


class _Writing:
    """``with`` a store transaction, turning SQLite's errors into StoreError (IncidentError passes)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._inner: Any = None

    def __enter__(self) -> sqlite3.Connection:
        try:
            self._inner = self.store.transaction()
            conn: sqlite3.Connection = self._inner.__enter__()
            return conn
        except sqlite3.Error as exc:
            raise StoreError(f"the incident log cannot be written: {explain(self.store.path, exc)}") from None

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        try:
            self._inner.__exit__(kind, exc, tb)
        except sqlite3.Error as error:
            raise StoreError(f"the incident log cannot be written: {explain(self.store.path, error)}") from None
        if isinstance(exc, sqlite3.Error):
            raise StoreError(f"the incident log cannot be written: {explain(self.store.path, exc)}") from None


def _json(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def _incident(
    row: dict[str, Any],
    nodes: dict[int, list[str]],
    events: dict[int, list[IncidentEvent]],
    actions: dict[int, list[int]],
) -> Incident:
    accelerators = []
    for item in _json(row["accelerators"], []):
        if isinstance(item, dict) and isinstance(item.get("index"), int):
            accelerators.append(AcceleratorRef(str(item.get("node")), item["index"], item.get("uuid")))
    counters = []
    for item in _json(row["counters"], []):
        try:
            counters.append(AcceleratorCounters.from_json(item))
        except (KeyError, TypeError, ValueError):
            continue
    return Incident(
        id=row["id"],
        nodes=tuple(nodes.get(row["id"], [])),
        accelerators=tuple(accelerators),
        cause=row["cause"],
        severity=row["severity"],
        state=IncidentState(row["state"]),
        message=row["message"],
        opened=row["opened"],
        opened_by=row["opened_by"],
        acknowledged=row["acknowledged"],
        acknowledged_by=row["acknowledged_by"],
        resolved=row["resolved"],
        resolved_by=row["resolved_by"],
        ticket=row["ticket"],
        tenants=tuple(_json(row["tenants"], [])),
        jobs=tuple(j for j in _json(row["jobs"], []) if isinstance(j, dict)),
        evidence=_json(row["evidence"], {}),
        counters=tuple(counters),
        events=tuple(events.get(row["id"], [])),
        actions=tuple(actions.get(row["id"], [])),
        last_seen=row["last_seen"],
    )


def link_words(node: str, incident: Incident, ticket: str | None) -> str:
    """What an action on ``node`` will do to its open ``incident``, for the preview: recorded against it, and
    where the ticket goes (``Store.record_intent`` and ``carry_ticket`` do it)."""
    words = (
        f"{node}: recorded against incident #{incident.id} ({incident.cause}, {incident.severity}, "
        f"{incident.state.value} since {local_stamp(incident.opened)})"
    )
    if ticket and incident.ticket is None:
        return f"{words}; its ticket will be {ticket}"
    if ticket and incident.ticket != ticket:
        return f"{words}; it keeps its ticket {incident.ticket}, and {ticket} is added to it as a note"
    return words
