"""An action's ticket reaches the open incident it is recorded against: set where the incident has none,
kept beside the incident's own as a note otherwise, never from an attempt that was refused; the preview says
which incident and what happens to the ticket."""

from __future__ import annotations

from pathlib import Path

from console.core.records.incident_log import IncidentLog, link_words
from console.core.records.incident_types import IncidentQuery
from console.core.records.store import Store


def _drain(store: Store, node: str, ticket: str | None, carries: bool = True) -> int:
    return store.record_intent(
        operator="dana",
        kind="drain",
        node=node,
        params={},
        reason="XID 79",
        ticket=ticket,
        engine="slurm",
        host="ops@sched",
        command=[["scontrol", "update"]],
        session="s1",
        carries_ticket=carries,
    )


def test_a_drains_ticket_goes_onto_the_open_incident_without_one_and_search_finds_it(tmp_path: Path) -> None:
    store = Store(tmp_path / "console.sqlite3")
    log = IncidentLog(store)
    first, _ = log.open(nodes=["gpu-003"], cause="xid_79", severity="critical", opened_by="rule:xid_79")
    other, _ = log.open(nodes=["gpu-009"], cause="ecc", severity="warning", opened_by="rule:ecc")
    preview = link_words("gpu-003", log.incident(first), "INC-4471")
    assert preview.startswith(f"gpu-003: recorded against incident #{first} (xid_79, critical, open since ")
    assert preview.endswith("its ticket will be INC-4471")
    action = _drain(store, "gpu-003", "INC-4471")
    incident = log.incident(first)
    assert incident.ticket == "INC-4471" and action in incident.actions
    assert any(e.kind == "ticket" and f"from drain #{action}" in (e.text or "") for e in incident.events)
    assert [i.id for i in log.incidents(IncidentQuery(text="INC-4471"))] == [first]
    assert log.incident(other).ticket is None  # another node's incident is untouched


def test_an_incident_keeps_its_own_ticket_and_a_refused_attempt_changes_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "console.sqlite3")
    log = IncidentLog(store)
    first, _ = log.open(nodes=["gpu-003"], cause="xid_79", severity="critical", opened_by="rule:xid_79", ticket="INC-1")
    assert "it keeps its ticket INC-1, and INC-4471 is added to it as a note" in link_words(
        "gpu-003", log.incident(first), "INC-4471"
    )
    action = _drain(store, "gpu-003", "INC-4471")
    _drain(store, "gpu-003", "INC-9999", carries=False)
    incident = log.incident(first)
    assert incident.ticket == "INC-1"
    notes = [e.text for e in incident.events if e.kind == "note"]
    assert notes == [f"drain #{action} carries ticket INC-4471; the incident keeps INC-1"]
