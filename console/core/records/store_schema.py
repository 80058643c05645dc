"""The audit store's schema, one numbered migration each (PRAGMA user_version): the actions (schema 1), then
the incidents with their nodes, accelerators, events, notes, links, sign-offs and amendments (schema 2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import sqlite_utils

from console.core.records.sqlite_files import (
    run_statements,
)

# The store's file in the console's data directory.


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


def _v2(db: sqlite_utils.Database) -> None:
    """Incidents, their nodes and append-only notes, the link from actions to incidents, shift sign-offs and
    their amendments. Notes, sign-offs and amendments cannot be changed or deleted (triggers), so a signed
    record stays as it was signed."""
    run_statements(
        db.conn,
        """
        ALTER TABLE actions ADD COLUMN incident_id INTEGER;
        CREATE INDEX idx_actions_incident ON actions(incident_id);
        CREATE TABLE incidents (
            id INTEGER PRIMARY KEY,
            cause TEXT NOT NULL,
            severity TEXT NOT NULL,
            state TEXT NOT NULL,
            message TEXT,
            opened REAL NOT NULL,
            opened_by TEXT NOT NULL,
            acknowledged REAL,
            acknowledged_by TEXT,
            resolved REAL,
            resolved_by TEXT,
            ticket TEXT,
            last_seen REAL,
            accelerators TEXT NOT NULL DEFAULT '[]',
            tenants TEXT NOT NULL DEFAULT '[]',
            jobs TEXT NOT NULL DEFAULT '[]',
            evidence TEXT NOT NULL DEFAULT '{}',
            counters TEXT,
            seen_counters TEXT
        );
        CREATE INDEX idx_incidents_opened ON incidents(opened);
        CREATE INDEX idx_incidents_resolved ON incidents(resolved, opened);
        CREATE INDEX idx_incidents_unresolved ON incidents(opened) WHERE state != 'resolved';
        CREATE TABLE incident_nodes (
            node TEXT NOT NULL,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            PRIMARY KEY (node, incident_id)
        ) WITHOUT ROWID;
        CREATE INDEX idx_incident_nodes_incident ON incident_nodes(incident_id);
        CREATE TABLE incident_events (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            at REAL NOT NULL,
            author TEXT NOT NULL,
            kind TEXT NOT NULL,
            text TEXT
        );
        CREATE INDEX idx_incident_events_incident ON incident_events(incident_id);
        CREATE TABLE action_incidents (
            action_id INTEGER NOT NULL,
            incident_id INTEGER NOT NULL,
            PRIMARY KEY (incident_id, action_id)
        ) WITHOUT ROWID;
        CREATE TABLE signoffs (
            id INTEGER PRIMARY KEY,
            shift_date TEXT NOT NULL,
            shift TEXT NOT NULL,
            start REAL NOT NULL,
            end REAL NOT NULL,
            signed_at REAL NOT NULL,
            signed_by TEXT NOT NULL,
            role TEXT NOT NULL,
            note TEXT,
            report TEXT NOT NULL,
            UNIQUE (shift_date, shift)
        );
        CREATE TABLE amendments (
            id INTEGER PRIMARY KEY,
            signoff_id INTEGER NOT NULL REFERENCES signoffs(id),
            at REAL NOT NULL,
            author TEXT NOT NULL,
            text TEXT NOT NULL
        );
        CREATE INDEX idx_amendments_signoff ON amendments(signoff_id);
        """
        + "".join(
            f"""
        CREATE TRIGGER {table}_append_only_update BEFORE UPDATE ON {table}
        BEGIN SELECT RAISE(ABORT, '{table} are append-only: add an amendment instead'); END;
        CREATE TRIGGER {table}_append_only_delete BEFORE DELETE ON {table}
        BEGIN SELECT RAISE(ABORT, '{table} are append-only: add an amendment instead'); END;
        """
            for table in ("incident_events", "signoffs", "amendments")
        ),
    )


MIGRATIONS: Final[dict[int, Callable[[sqlite_utils.Database], None]]] = {1: _v1, 2: _v2}
