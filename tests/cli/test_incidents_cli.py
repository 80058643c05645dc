"""``fleet-console incidents`` and ``report`` on the real store: the JSON fields the issue names, ack /
note / resolve with their exit codes, roles from --role (before or after the subcommand) or the
preferences file, and the handover report as HTML, CSV and PDF, signed off and amended."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.cli import main
from console.core.records.incident_log import IncidentLog
from console.core.records.incident_types import AcceleratorRef
from console.core.records.store import Store
from tests.helpers.locks import SQLITE_EXCLUSIVE, held

JSON_FIELDS = {
    "id",
    "nodes",
    "accelerators",
    "cause",
    "severity",
    "state",
    "opened",
    "opened_by",
    "acknowledged",
    "acknowledged_by",
    "resolved",
    "resolved_by",
    "ticket",
    "tenants",
    "jobs",
    "notes",
    "actions",
}


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FLEET_CONSOLE_PREFERENCES", str(tmp_path / "preferences.toml"))
    monkeypatch.setenv("FLEET_CONSOLE_OPERATOR", "alice")
    directory = tmp_path / "data"
    store = Store(directory / "console.sqlite3")
    log = IncidentLog(store)
    log.open(
        nodes=["gpu-003"],
        cause="xid_79",
        severity="critical",
        opened_by="rule:xid_79",
        message="GPU 6 fell off the bus",
        accelerators=[AcceleratorRef("gpu-003", 6, "GPU-6")],
        tenants=["acme"],
        reopen_window_s=3600,
    )
    log.open(nodes=["gpu-004"], cause="temperature", severity="warning", opened_by="rule:temperature")
    store.record_intent(
        operator="alice",
        kind="drain",
        node="gpu-003",
        params={},
        reason="xid 79",
        ticket="OPS-7",
        engine="slurm",
        host=None,
        command=None,
        session="s",
    )
    store.close()
    (tmp_path / "fleet.toml").write_text(
        '[[node]]\nname = "gpu-003"\nhost = "10.0.0.3"\ntenant = "acme"\n'
        '[[node]]\nname = "gpu-004"\nhost = "10.0.0.4"\n'
    )
    return directory


def _json(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_incidents_json_prints_one_object_per_incident_with_the_named_fields(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["incidents", "--json", "--data-dir", str(data)]) == 0
    rows = _json(capsys)
    assert [r["id"] for r in rows] == [2, 1]
    assert set(rows[1]) >= JSON_FIELDS
    first = rows[1]
    assert first["opened_by"] == "rule:xid_79" and first["actions"] == [1] and first["tenants"] == ["acme"]
    assert str(first["opened"]).endswith("Z") and first["accelerators"] == [
        {"node": "gpu-003", "index": 6, "uuid": "GPU-6"}
    ]
    assert main(["incidents", "--json", "--node", "gpu-004", "--data-dir", str(data)]) == 0
    assert [r["id"] for r in _json(capsys)] == [2]
    assert main(["incidents", "--since", "last week", "--data-dir", str(data)]) == 2
    assert "not a time" in capsys.readouterr().err
    assert main(["audit", "--data-dir", str(data)]) == 0
    assert "for incident #1" in capsys.readouterr().out
    assert main(["audit", "--json", "--data-dir", str(data)]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["incident_id"] == 1


def test_ack_note_and_resolve_change_the_incident_and_say_so(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["incidents", "ack", "1", "--note", "on it", "--data-dir", str(data)]) == 0
    assert "acknowledged incident #1" in capsys.readouterr().out
    assert main(["incidents", "ack", "1", "--data-dir", str(data)]) == 3
    assert "already acknowledged" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["incidents", "note", "1", "--data-dir", str(data)])  # the note is required
    capsys.readouterr()
    assert main(["incidents", "note", "1", "--note", "reseated", "--data-dir", str(data)]) == 0
    assert main(["incidents", "resolve", "1", "--data-dir", str(data)]) == 0
    assert main(["incidents", "resolve", "1", "--data-dir", str(data)]) == 3
    assert main(["incidents", "ack", "99", "--data-dir", str(data)]) == 3
    capsys.readouterr()
    assert main(["incidents", "--open", "--json", "--data-dir", str(data)]) == 0
    assert [r["id"] for r in _json(capsys)] == [2]
    main(["incidents", "--json", "--data-dir", str(data)])
    resolved = next(r for r in _json(capsys) if r["id"] == 1)
    assert (
        resolved["state"] == "resolved"
        and resolved["resolved_by"] == "alice"
        and resolved["acknowledged_by"] == "alice"
    )
    assert [n["text"] for n in resolved["notes"]] == ["reseated"]  # type: ignore[index, union-attr]


def test_a_liaison_changes_nothing_whether_the_role_comes_before_or_after_or_from_preferences(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--role", "liaison", "incidents", "ack", "1", "--data-dir", str(data)]) == 3
    assert "the liaison role may not" in capsys.readouterr().err
    assert main(["incidents", "resolve", "1", "--role", "liaison", "--data-dir", str(data)]) == 3
    (tmp_path / "preferences.toml").write_text('role = "liaison"\n')
    assert main(["incidents", "note", "1", "--note", "x", "--data-dir", str(data)]) == 3
    assert (
        main(
            [
                "incidents",
                "open",
                "gpu-003",
                "--cause",
                "x",
                "--inventory",
                str(tmp_path / "fleet.toml"),
                "--data-dir",
                str(data),
            ]
        )
        == 3
    )
    assert (
        main(
            [
                "--role",
                "liaison",
                "action",
                "drain",
                "gpu-003",
                "--reason",
                "x",
                "--yes",
                "--inventory",
                str(tmp_path / "fleet.toml"),
                "--data-dir",
                str(data),
            ]
        )
        == 3
    )
    assert (
        "the liaison role may not act on nodes (allowed: technician, supervisor); nothing was run"
        in capsys.readouterr().err
    )
    assert main(["incidents", "--json", "--data-dir", str(data)]) == 0  # reading is allowed
    assert all(r["state"] == "open" for r in _json(capsys))
    with pytest.raises(SystemExit):
        main(["incidents", "--role", "boss", "--data-dir", str(data)])
    (tmp_path / "preferences.toml").write_text('role = "boss"\n')
    assert main(["incidents", "--data-dir", str(data)]) == 2
    assert "unknown role 'boss'" in capsys.readouterr().err


def test_an_incident_is_opened_by_hand_on_many_nodes(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory = str(tmp_path / "fleet.toml")
    assert (
        main(
            [
                "incidents",
                "open",
                "gpu-003",
                "gpu-004",
                "--cause",
                "cooling loop",
                "--severity",
                "critical",
                "--ticket",
                "FAC-9",
                "--note",
                "CRAC 2 down",
                "--inventory",
                inventory,
                "--data-dir",
                str(data),
            ]
        )
        == 0
    )
    assert "opened incident #3" in capsys.readouterr().out
    assert (
        main(["incidents", "open", "gpu-009", "--cause", "x", "--inventory", inventory, "--data-dir", str(data)]) == 2
    )
    assert "not in the inventory: gpu-009" in capsys.readouterr().err
    main(["incidents", "--json", "--data-dir", str(data)])
    opened = next(r for r in _json(capsys) if r["id"] == 3)
    assert opened["nodes"] == ["gpu-003", "gpu-004"] and opened["ticket"] == "FAC-9" and opened["opened_by"] == "alice"


def _today() -> tuple[str, str]:
    from console.core.alerts.incidents import ShiftClock

    date, shift = ShiftClock().shift_at(dt.datetime.now().timestamp())
    return date.isoformat(), shift.value


def test_the_shift_report_is_written_as_html_and_csv_and_signed_off_by_a_supervisor_only(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    date, shift = _today()
    html_path, csv_path = tmp_path / "r.html", tmp_path / "r.csv"
    base = ["--date", date, "--shift", shift, "--data-dir", str(data)]
    assert main(["report", "shift", *base, "--format", "html", "-o", str(html_path)]) == 0
    html = html_path.read_text()
    assert (
        "Open incidents at the shift's end (2)" in html
        and "GPU 6 fell off the bus" in html
        and "Not signed off." in html
    )
    assert "<script" not in html and "http" not in html.split("<body>")[1]
    assert main(["report", "shift", *base, "--format", "csv", "-o", str(csv_path)]) == 0
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert {r["section"] for r in rows} >= {"shift", "open_incidents", "action", "figure"}
    assert main(["report", "sign-off", *base, "--note", "handed to night"]) == 3
    assert "may not sign off" in capsys.readouterr().err
    # Without a terminal, a sign-off says what it freezes and asks for --yes; nothing is signed meanwhile.
    assert main(["--role", "supervisor", "report", "sign-off", *base, "--note", "handed to night"]) == 3
    assert main(["--role", "supervisor", "report", "sign-off", *base, "--note", "handed to night", "--yes"]) == 0
    assert main(["--role", "supervisor", "report", "sign-off", *base, "--note", "again", "--yes"]) == 3
    assert main(["incidents", "resolve", "1", "--note", "fixed after sign-off", "--data-dir", str(data)]) == 0
    assert main(["report", "amend", *base, "--role", "supervisor", "--note", "GPU swapped at 06:50"]) == 0
    assert main(["report", "shift", *base, "--format", "html", "-o", str(html_path), "--force"]) == 0
    signed = html_path.read_text()
    assert "Signed off</b> by alice (supervisor)" in signed and "handed to night" in signed
    assert "Open incidents at the shift's end (2)" in signed  # the frozen report: #1 was open when signed
    assert "incident #1: resolved by alice: fixed after sign-off" in signed and "GPU swapped at 06:50" in signed
    assert (
        main(
            [
                "report",
                "shift",
                "--date",
                "29/11/2026",
                "--shift",
                "day",
                "--format",
                "html",
                "-o",
                str(html_path),
                "--data-dir",
                str(data),
            ]
        )
        == 2
    )


def test_hostile_words_in_an_incident_stay_text_in_html_and_inert_in_csv(data: Path, tmp_path: Path) -> None:
    store = Store(data / "console.sqlite3")
    IncidentLog(store).open(
        nodes=["gpu-003"],
        cause="<script>alert(1)</script>",
        severity="critical",
        opened_by="rule:x",
        message='=HYPERLINK("http://evil","x")',
    )
    store.close()
    date, shift = _today()
    base = ["--date", date, "--shift", shift, "--data-dir", str(data)]
    main(["report", "shift", *base, "--format", "html", "-o", str(tmp_path / "r.html")])
    main(["report", "shift", *base, "--format", "csv", "-o", str(tmp_path / "r.csv")])
    html = (tmp_path / "r.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    cells = [c for row in csv.reader(io.StringIO((tmp_path / "r.csv").read_text())) for c in row]
    assert not any(c.startswith("=") for c in cells)


def test_the_pdf_report_is_printed_by_qt_without_a_display(data: Path, tmp_path: Path) -> None:
    date, shift = _today()
    out = tmp_path / "r.pdf"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("fleet-console")),
            "report",
            "shift",
            "--date",
            date,
            "--shift",
            shift,
            "--format",
            "pdf",
            "-o",
            str(out),
            "--data-dir",
            str(data),
        ],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes().startswith(b"%PDF") and out.stat().st_size > 2000


def test_a_damaged_store_is_a_clear_message_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLEET_CONSOLE_PREFERENCES", str(tmp_path / "p.toml"))
    directory = tmp_path / "data"
    directory.mkdir()
    (directory / "console.sqlite3").write_bytes(b"garbage " * 1000)
    assert main(["incidents", "--data-dir", str(directory)]) == 2
    err = capsys.readouterr().err
    assert "console.sqlite3" in err and "damaged" in err and "Traceback" not in err


def test_the_window_runs_its_telemetry_on_a_damaged_store_and_says_what_is_off(tmp_path: Path) -> None:
    directory = tmp_path / "data"
    directory.mkdir()
    (directory / "console.sqlite3").write_bytes(b"not a database " * 1000)
    shot = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FLEET_CONSOLE_PREFERENCES": str(tmp_path / "p.toml")}
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("fleet-console")),
            "--demo",
            "--nodes",
            "2",
            "--data-dir",
            str(directory),
            "--screenshot",
            str(shot),
            "--after",
            "4",
        ],
        capture_output=True,
        check=False,
        text=True,
        timeout=180,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "damaged" in done.stderr and "actions and the incident log are off" in done.stderr
    assert shot.stat().st_size > 10_000
    assert (directory / "console.sqlite3").read_bytes().startswith(b"not a database")  # left for the records


def test_a_tenants_report_is_written_from_the_archive_and_a_liaison_may_write_it(tmp_path: Path) -> None:
    from console.core.records.archive import TelemetryArchive
    from console.core.records.archive_types import MinuteTenancy
    from console.core.telemetry.fleet import NodeMinute
    from console.core.telemetry.samples import NodeState

    data = tmp_path / "data"
    archive = TelemetryArchive(data / "telemetry.sqlite3")
    start = 1_790_000_000 // 3600 * 3600
    for minute in range(60):
        nodes = [NodeMinute("gpu-007", NodeState.UP, tuple((i, (80.0, 90.0, 60.0, 500.0, 1.0, 60)) for i in range(8)))]
        archive.write(
            [(start + minute * 60, nodes)],
            [],
            {start + minute * 60: {"gpu-007": MinuteTenancy("acme", frozenset(range(8)))}},
        )
    archive.roll_up(start)
    archive.close()
    day = dt.datetime.fromtimestamp(start, dt.UTC).date().isoformat()
    out = tmp_path / "acme.csv"
    base = [
        "--role",
        "liaison",
        "report",
        "tenant",
        "--tenant",
        "acme",
        "--from",
        day,
        "--to",
        day,
        "--data-dir",
        str(data),
    ]
    assert main([*base, "--format", "csv", "-o", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["node"], r["held"], r["allocated"], r["busy"]) for r in rows] == [
        ("(all)", "8.0", "8.0", "8.0"),
        ("gpu-007", "8.0", "8.0", "8.0"),
    ]
    assert {(r["from"], r["to"]) for r in rows} == {(day, day)}  # the inclusive day, as given
    assert main([*base, "--format", "html", "-o", str(tmp_path / "acme.html")]) == 0
    page = (tmp_path / "acme.html").read_text()
    assert f"Accelerator-hours of acme: {day} to {day}" in page and f"UTC days {day} to {day}, both included" in page
    backwards = [*base]
    backwards[backwards.index("--to") + 1] = "2000-01-01"
    assert main([*backwards, "-o", str(out)]) == 2


HOSTILE_OPERATOR = "eve\x1b]0;pwned\x07\nsecond line"


@pytest.mark.parametrize(
    "argv",
    [
        ["incidents", "open", "gpu-003", "--cause", "fan"],
        ["incidents", "ack", "1"],
        ["incidents", "note", "1", "--note", "x"],
        ["incidents", "resolve", "1"],
        [
            "--role",
            "supervisor",
            "report",
            "sign-off",
            "--date",
            "2026-12-07",
            "--shift",
            "day",
            "--note",
            "x",
            "--yes",
        ],
        ["--role", "supervisor", "report", "amend", "--date", "2026-12-07", "--shift", "day", "--note", "x"],
        ["report", "shift", "--date", "2026-12-07", "--shift", "day", "-o", "-"],
        ["report", "tenant", "--tenant", "acme", "--from", "2026-12-01", "--to", "2026-12-07", "-o", "-"],
        ["incidents"],
    ],
    ids=lambda argv: " ".join(a for a in argv if not a.startswith("-"))[:40],
)
def test_every_records_command_refuses_an_operator_name_with_escapes_or_line_breaks(
    data: Path, argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name from --operator and the one from $FLEET_CONSOLE_OPERATOR get the same check."""
    before = (data / "console.sqlite3").read_bytes()
    for given in (["--operator", HOSTILE_OPERATOR], []):
        monkeypatch.setenv("FLEET_CONSOLE_OPERATOR", "alice" if given else HOSTILE_OPERATOR)
        assert main([*argv, "--data-dir", str(data), *given]) == 3
        captured = capsys.readouterr()
        assert "control characters" in captured.err or "line break" in captured.err, captured.err
        assert "\x1b" not in captured.err + captured.out and "\x07" not in captured.err + captured.out
    assert (data / "console.sqlite3").read_bytes() == before


def test_the_window_and_a_streaming_poll_refuse_an_operator_name_with_escapes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    inventory = tmp_path / "fleet.toml"
    inventory.write_text('[[node]]\nname = "n1"\nhost = "127.0.0.1"\n')
    monkeypatch.setenv("FLEET_CONSOLE_PREFERENCES", str(tmp_path / "preferences.toml"))
    monkeypatch.setenv("FLEET_CONSOLE_OPERATOR", HOSTILE_OPERATOR)
    data_dir = tmp_path / "data"
    assert main(["poll", "--inventory", str(inventory), "--data-dir", str(data_dir)]) == 3
    assert "line break" in capsys.readouterr().err
    shot = tmp_path / "shot.png"
    assert main(["--inventory", str(inventory), "--data-dir", str(data_dir), "--screenshot", str(shot)]) == 3
    assert "line break" in capsys.readouterr().err and not shot.exists()


def test_a_store_another_process_holds_locked_is_a_message_naming_the_file_and_holder_with_exit_2(
    data: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real SQLite lock: another process holds BEGIN EXCLUSIVE on the store while each command writes."""
    import console.core.records.store as store_module

    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_S", 0.3)
    path = data / "console.sqlite3"
    commands = [
        ["incidents", "open", "gpu-003", "--cause", "fan", "--inventory", str(data.parent / "fleet.toml")],
        ["incidents", "ack", "1"],
        ["incidents", "note", "1", "--note", "reseated"],
        ["incidents", "resolve", "1"],
        [
            "--role",
            "supervisor",
            "report",
            "sign-off",
            "--date",
            _today()[0],
            "--shift",
            _today()[1],
            "--note",
            "x",
            "--yes",
        ],
    ]
    (data.parent / "fleet.toml").write_text('[[node]]\nname = "gpu-003"\nhost = "10.0.0.3"\n')
    with held(SQLITE_EXCLUSIVE, path) as pid:
        for argv in commands:
            assert main([*argv, "--data-dir", str(data)]) == 2, argv
            err = capsys.readouterr().err
            assert f"{path} is locked by PID {pid} (" in err, err
            assert "try again" in err and "nothing was changed" in err and "Traceback" not in err
    assert main(["incidents", "--json", "--data-dir", str(data)]) == 0
    incidents = _json(capsys)
    assert [(i["id"], i["state"], len(i["notes"])) for i in incidents] == [(2, "open", 0), (1, "open", 0)]
