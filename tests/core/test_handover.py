"""The handover report as data, HTML and CSV: open incidents first (worst first), then resolved ones, the
actions, the nodes out at the end, the figures; the sign-off and its amendments; foreign words inert."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from console.core.handover import NodeAtEnd, build_report, render_csv, render_html
from console.core.incident_log import AcceleratorRef, IncidentLog
from console.core.incidents import shift_figures
from console.core.store import Store
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
    assert html.index("Open incidents (2)") < html.index("Resolved incidents (1)") < html.index("Actions taken (1)")
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
