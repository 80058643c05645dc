"""The telemetry archive's schema, one numbered migration each (PRAGMA user_version): minutes, hours, node
events; tenancy and the tenants' days; the gaps the writer had to leave."""

from __future__ import annotations

import sqlite3
from typing import Final

from console.core.records.sqlite_files import run_statements


def _v1(conn: sqlite3.Connection) -> None:
    run_statements(
        conn,
        """
        CREATE TABLE nodes (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
        CREATE TABLE minute (
            node INTEGER NOT NULL, t INTEGER NOT NULL, state INTEGER NOT NULL, data BLOB NOT NULL,
            PRIMARY KEY (node, t)
        ) WITHOUT ROWID;
        CREATE TABLE hour (
            node INTEGER NOT NULL, t INTEGER NOT NULL, live_minutes INTEGER NOT NULL, seen_minutes INTEGER NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (node, t)
        ) WITHOUT ROWID;
        CREATE TABLE node_events (node INTEGER NOT NULL, t REAL NOT NULL, kind TEXT NOT NULL, value TEXT);
        CREATE INDEX idx_node_events_node ON node_events(node, kind, t);
        CREATE INDEX idx_node_events_node_t ON node_events(node, t);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        """,
    )


def _v2(conn: sqlite3.Connection) -> None:
    """Tenancy: each node-minute's tenant and, per accelerator, whether a job held it and whether it had an
    open warning or critical alert (one byte each, in the order of the minute's data); and per UTC day,
    tenant and node, the accelerator-minutes held, healthy, allocated, busy, idle while allocated and out
    of service, with the utilisation's sum — what a tenant's report over days and weeks reads."""
    run_statements(
        conn,
        """
        ALTER TABLE minute ADD COLUMN tenant INTEGER;
        ALTER TABLE minute ADD COLUMN flags BLOB;
        CREATE TABLE tenants (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
        CREATE TABLE usage_day (
            day TEXT NOT NULL, tenant INTEGER NOT NULL, node INTEGER NOT NULL,
            held REAL NOT NULL, healthy REAL NOT NULL, allocated REAL NOT NULL, busy REAL NOT NULL,
            idle_allocated REAL NOT NULL, out_of_service REAL NOT NULL, util_sum REAL NOT NULL,
            util_n INTEGER NOT NULL,
            PRIMARY KEY (day, tenant, node)
        ) WITHOUT ROWID;
        """,
    )


def _v3(conn: sqlite3.Connection) -> None:
    """Gaps: minutes the console streamed but could not archive (the writer's backlog overflowed while the
    disk was full or the file locked). Recorded so that a report says "no data" for them instead of
    reading the missing rows as a quiet fleet."""
    run_statements(
        conn,
        """
        CREATE TABLE gaps (start INTEGER NOT NULL, end INTEGER NOT NULL, reason TEXT NOT NULL);
        CREATE INDEX idx_gaps_start ON gaps(start);
        """,
    )


ARCHIVE_MIGRATIONS: Final = {1: _v1, 2: _v2, 3: _v3}
