"""The handover report as data, HTML and CSV: open incidents first (worst first), then resolved ones, the
actions, the nodes out at the end, the figures; the sign-off and its amendments; foreign words inert."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from console.core.alerts.incidents import shift_figures
from console.core.records.handover import NodeAtEnd, build_report, render_csv, render_html
from console.core.records.incident_log import IncidentLog
from console.core.records.incident_types import AcceleratorRef
from console.core.records.store import Store
from tests.helpers.fakes import FakeClock

T0 = 1_790_000_000.0


def _report(tmp_path: Path) -> tuple[dict[str, object], IncidentLog]:
    clock = FakeClock(T0)
    store = Store(tmp_path / "console.sqlite3")
    log = IncidentLog(store, clock)
    log.open(nodes=["n2"], cause="temperature", severity="warning", opened_by="rule:temperature")
    critical, _ = log.open(
        nodes=["n1"],
        cause="xid_79",
        severity="critical",
        opened_by="rule:xid_79",
        message="<b>fell</b> off",
        accelerators=[AcceleratorRef("n1", 6, "GPU-6")],
    )
    done, _ = log.open(nodes=["n3"], cause="ecc", severity="critical", opened_by="bob")
    clock.advance(600)
    log.acknowledge(critical, "alice", "on it")
    log.add_note(critical, "alice", '=cmd|" /c calc"!A0')
    log.resolve(done, "bob", "reset")
    store.record_intent(
        operator="alice",
        kind="drain",
        node="n1",
        params={},
        reason="xid",
        ticket="OPS-1",
        engine="slurm",
        host=None,
        command=None,
        session="s",
    )
    incidents = log.incidents()
    report = build_report(
        shift_date="2026-11-29",
        shift="day",
        start=T0 - 60,
        end=T0 + 3600,
        incidents=incidents,
        actions=store.rows(),
        nodes_at_end=[
            NodeAtEnd("n1", "up", "IDLE+DRAIN"),
            NodeAtEnd("n2", "up", "IDLE"),
            NodeAtEnd("n4", "unreachable", None),
        ],
        figures=shift_figures([], T0 - 60, T0 + 3600, {}),
        generated_by="sue",
        generated_at=T0 + 700,
    )
    return report, log


def test_open_incidents_come_first_worst_first_then_resolved_actions_and_nodes_out(tmp_path: Path) -> None:
    report, _ = _report(tmp_path)
    assert [i["id"] for i in report["open_incidents"]] == [2, 1]  # type: ignore[index]
    assert [i["id"] for i in report["resolved_incidents"]] == [3]  # type: ignore[index]
    assert [a["incident"] for a in report["actions"]] == [2]  # type: ignore[index]
    assert report["nodes_out_at_end"] == [
        {"node": "n1", "state": "up", "slurm": "IDLE+DRAIN"},
        {"node": "n4", "state": "unreachable", "slurm": None},
    ]
    json.dumps(report)  # the frozen form of a signed report


def test_the_html_is_self_contained_and_every_foreign_word_is_escaped(tmp_path: Path) -> None:
    report, log = _report(tmp_path)
    html = render_html(report)
    assert "&lt;b&gt;fell&lt;/b&gt; off" in html and "<b>fell</b>" not in html
    assert "<script" not in html and "src=" not in html and "href=" not in html
    assert html.index("<h2>Figures</h2>") < html.index("Open incidents at the shift's end (2)")
    assert html.index("Open incidents at the shift's end (2)") < html.index("Resolved in the shift (1)")
    assert html.index("Resolved in the shift (1)") < html.index("Actions taken (1)")
    assert "Not signed off." in html
    signoff_id = log.sign_off(
        shift_date="2026-11-29",
        shift="day",
        start=T0 - 60,
        end=T0 + 3600,
        by="sue",
        role="supervisor",
        note="<i>ok</i>",
        report=report,
    )
    log.amend(signoff_id, "sue", "late note")
    signed = log.signoff("2026-11-29", "day")
    html = render_html(report, signed)
    assert "Signed off</b> by sue (supervisor)" in html and "&lt;i&gt;ok&lt;/i&gt;" in html and "late note" in html


def test_the_csv_is_one_table_and_formulas_are_made_inert(tmp_path: Path) -> None:
    report, _ = _report(tmp_path)
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    sections = [r["section"] for r in rows]
    assert sections[0] == "shift" and sections.count("open_incidents") == 2 and "node_out_at_end" in sections
    note = next(r for r in rows if r["id"] == "2")
    assert 'alice: =cmd|" /c calc"!A0' in note["detail"]
    assert [r["detail"] for r in rows if r["section"] == "figure" and r["what"] == "opened"] == ["0"]
    assert not any(v.startswith(("=", "+", "@")) for r in rows for v in r.values() if v)


def test_an_incident_resolved_after_the_shift_reads_as_open_at_its_end_with_the_later_facts_apart(
    tmp_path: Path,
) -> None:
    clock = FakeClock(T0)
    store = Store(tmp_path / "console.sqlite3")
    log = IncidentLog(store, clock)
    incident, _ = log.open(nodes=["n1"], cause="ecc_uncorrected", severity="critical", opened_by="rule:ecc")
    log.add_note(incident, "alice", "reseated")
    clock.advance(7200)  # the shift ended at T0 + 3600; the next one acknowledges and resolves it
    log.acknowledge(incident, "bob", None)
    log.add_note(incident, "bob", "board swapped")
    log.resolve(incident, "bob", "RMA 4471")
    report = build_report(
        shift_date="2026-11-29",
        shift="day",
        start=T0 - 60,
        end=T0 + 3600,
        incidents=log.incidents(),
        actions=[],
        nodes_at_end=[],
        figures=shift_figures([], T0 - 60, T0 + 3600, {}),
        generated_by="sue",
        generated_at=T0 + 8000,
    )
    (row,) = report["open_incidents"]  # type: ignore[misc]
    assert row["state_at_end"] == "open" and row["state"] == "resolved"
    assert [n["text"] for n in row["notes"]] == ["reseated"] and [n["text"] for n in row["notes_later"]] == [
        "board swapped"
    ]
    assert row["later"][0].startswith("acknowledged ") and row["later"][1].startswith("resolved ")
    assert report["resolved_incidents"] == []
    html = render_html(report)
    cells = html.split("<h2>Open incidents")[1].split("<h2>")[0]
    assert "<td>open</td>" in cells and "by bob" in cells and "board swapped" in cells
    assert ">resolved<" not in cells  # the state at the end is not the state now
    assert "ecc uncorrected" in cells  # words that wrap at spaces
    assert "every time in this report is local time" in html
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", html)  # no raw ISO stamp to break mid-token
    lines = list(csv.DictReader(io.StringIO(render_csv(report))))
    (csv_row,) = [r for r in lines if r["section"] == "open_incidents"]
    assert csv_row["state"] == "open" and "after the shift: resolved" in csv_row["detail"]
