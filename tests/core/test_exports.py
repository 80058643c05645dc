"""The one place every export goes through (issue 21.2, 21.5, 21.7): foreign text shown, never obeyed;
no CSV cell a formula; no file clobbered, no link written through."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest

from console.core.records import exports
from console.core.records.exports import OutputError, OutputTarget, csv_text, export_text, inert_cell
from console.core.records.handover import escape_html

OWASP = ["=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=cmd|' /C calc'!A0", "\r=1+1"]


@pytest.mark.parametrize("hostile", OWASP)
def test_every_cell_owasp_names_is_made_inert(hostile: str) -> None:
    cell = inert_cell(hostile)
    assert isinstance(cell, str) and cell.startswith("'")
    (row,) = list(csv.reader(io.StringIO(csv_text(["a"], [[hostile]]))))[1:]
    assert row[0].startswith("'")


def test_numbers_stay_numbers_and_plain_words_stay_as_they_are() -> None:
    assert inert_cell(-1.5) == -1.5 and inert_cell(3) == 3 and inert_cell("gpu-001") == "gpu-001"
    assert inert_cell(None) == "" and inert_cell(True) == "True"


def test_control_and_bidi_characters_are_shown_as_escapes() -> None:
    assert export_text("acme\u202egnp.exe") == "acme\\u202egnp.exe"
    assert export_text("a\x1b]0;pwned\x07b\x00") == "a\\x1b]0;pwned\\x07b\\x00"
    assert escape_html("<b>acme\u2066</b>") == "&lt;b&gt;acme\\u2066&lt;/b&gt;"
    assert "\u202e" not in csv_text(["tenant"], [["acme\u202egnp.exe"]])


def test_an_existing_regular_file_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    out.write_text("old")
    with pytest.raises(OutputError, match="exists: add --force"):
        OutputTarget.check(out)
    OutputTarget.check(out, force=True).write(b"new")
    assert out.read_bytes() == b"new"


def test_a_file_that_appears_while_the_report_is_written_is_not_clobbered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "r.html"
    target = OutputTarget.check(out)
    out.write_text("a teammate's report, written meanwhile")
    with pytest.raises(OutputError, match="appeared while the report was written"):
        target.write(b"mine")
    assert out.read_text() == "a teammate's report, written meanwhile"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


def test_a_failed_write_leaves_no_temporary_file_and_no_half_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(exports.os, "link", full)
    monkeypatch.setattr(exports.os, "replace", full)
    with pytest.raises(OutputError, match="No space left on device; nothing was written there"):
        OutputTarget.check(tmp_path / "r.pdf").write(b"%PDF")
    assert list(tmp_path.iterdir()) == []


def test_a_fifo_is_written_as_a_stream(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    target = OutputTarget.check(fifo)
    assert target.stream
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        target.write(b"csv")
        assert os.read(reader, 10) == b"csv"
    finally:
        os.close(reader)


def test_dash_and_the_file_stdout_goes_to_are_standard_output(tmp_path: Path) -> None:
    assert OutputTarget.check("-").to_stdout
    redirected = tmp_path / "out"
    with redirected.open("wb") as handle:
        assert OutputTarget.check(redirected, stdout_fd=handle.fileno()).to_stdout
        assert OutputTarget.check(f"/proc/self/fd/{handle.fileno()}", stdout_fd=handle.fileno()).to_stdout


def test_every_report_format_shows_a_hostile_tenants_bidi_and_control_characters_as_escapes() -> None:
    from console.core.records.archive_types import Usage
    from console.core.records.tenant_report import build_tenant_report, render_tenant_csv, render_tenant_html

    tenant = "acme\u202egnp.exe\x1b[2J\x00"
    rows = [Usage(tenant, "gpu-1\u2067", 8.0, 8.0, 8.0, 4.0, 4.0, 0.0, 50.0)]
    report = build_tenant_report(tenant, "2026-12-01", "2026-12-02", rows, "2026-12-07T00:00Z", "eve\u202e")
    for text in (render_tenant_html(report), render_tenant_csv(report)):
        assert not any(ch in text for ch in "\u202e\u2067\x1b\x00")
        assert "acme\\u202egnp.exe\\x1b[2J\\x00" in text and "gpu-1\\u2067" in text


def test_the_handover_html_and_csv_show_escapes_for_a_notes_control_characters(tmp_path: Path) -> None:
    from console.core.alerts.incidents import shift_figures
    from console.core.records.handover import build_report, render_csv, render_html
    from console.core.records.incident_log import IncidentLog
    from console.core.records.store import Store
    from tests.helpers.fakes import FakeClock

    store = Store(tmp_path / "console.sqlite3")
    log = IncidentLog(store, FakeClock(1_790_000_000.0))
    incident, _ = log.open(nodes=["n1"], cause="xid\u202e97", severity="critical", opened_by="rule:xid")
    log.add_note(incident, "eve", "fixed\x1b]0;pwned\x07")
    incidents = log.incidents()
    report = build_report(
        shift_date="2026-11-29",
        shift="day",
        start=1_789_999_000.0,
        end=1_790_003_600.0,
        incidents=incidents,
        actions=[],
        nodes_at_end=[],
        figures=shift_figures([], 1_789_999_000.0, 1_790_003_600.0, {}),
        generated_by="alice",
        generated_at=1_790_003_600.0,
    )
    store.close()
    for text in (render_html(report), render_csv(report)):
        assert "\u202e" not in text and "\x1b" not in text and "\x07" not in text
        assert "xid\\u202e97" in text and "fixed\\x1b]0;pwned\\x07" in text
