"""Where ``report … -o`` writes (issue 21.2): never over an existing file without ``--force``, never through
a symbolic link, never "wrote" into the report itself; ``-`` is standard output with every message on stderr;
a directory is refused; the file appears whole or not at all."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.cli import main
from console.core.alerts.incidents import ShiftClock
from console.core.records.incident_log import IncidentLog
from console.core.records.store import Store


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FLEET_CONSOLE_PREFERENCES", str(tmp_path / "preferences.toml"))
    monkeypatch.setenv("FLEET_CONSOLE_OPERATOR", "alice")
    directory = tmp_path / "data"
    store = Store(directory / "console.sqlite3")
    IncidentLog(store).open(nodes=["gpu-003"], cause="xid_79", severity="critical", opened_by="rule:xid_79")
    store.close()
    return directory


def _shift(data: Path) -> list[str]:
    date, shift = ShiftClock().shift_at(dt.datetime.now().timestamp())
    return ["report", "shift", "--date", date.isoformat(), "--shift", shift.value, "--data-dir", str(data)]


def test_an_existing_file_is_refused_without_force_and_replaced_with_it(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "handover.html"
    out.write_text("yesterday's report, not to be lost\n")
    assert main([*_shift(data), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{out} exists: add --force to replace it" in err and "nothing was written" in err
    assert out.read_text() == "yesterday's report, not to be lost\n"
    assert main([*_shift(data), "-o", str(out), "--force"]) == 0
    assert "Open incidents at the shift's end (1)" in out.read_text()
    assert capsys.readouterr().out == f"wrote {out}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "handover.html"]


def test_a_symbolic_link_is_never_written_through_even_with_force(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    precious = tmp_path / "precious.conf"
    precious.write_text("keep me\n")
    link = tmp_path / "handover.html"
    link.symlink_to(precious)
    dangling = tmp_path / "dangling.html"
    dangling.symlink_to(tmp_path / "nowhere" / "x")
    for target in (link, dangling):
        for force in ([], ["--force"]):
            assert main([*_shift(data), "-o", str(target), *force]) == 2
            assert "is a symbolic link" in capsys.readouterr().err
    assert precious.read_text() == "keep me\n" and link.is_symlink() and dangling.is_symlink()


def test_a_directory_is_refused_with_a_reason_and_exit_2(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*_shift(data), "-o", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert f"{tmp_path} is a directory" in captured.err and "wrote" not in captured.out
    assert main([*_shift(data), "-o", str(tmp_path / "missing" / "r.html")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_dash_writes_the_report_to_stdout_with_every_message_on_stderr(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    done = _run([*_shift(data), "--format", "csv", "-o", "-"], stdout=subprocess.PIPE)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"section,id,time,") and b"wrote" not in done.stdout
    assert not (tmp_path / "-").exists()


def test_a_pdf_to_dev_stdout_redirected_to_a_file_is_one_clean_pdf(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "f.pdf"
    with out.open("wb") as handle:
        done = _run([*_shift(data), "--format", "pdf", "-o", "/dev/stdout"], stdout=handle)
    assert done.returncode == 0, done.stderr
    pdf = out.read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.rstrip().endswith(b"%%EOF") and b"wrote" not in pdf


def _run(argv: list[str], stdout: object) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run(
        [str(Path(sys.executable).with_name("fleet-console")), *argv],
        stdout=stdout,  # type: ignore[arg-type]
        stderr=subprocess.PIPE,
        check=False,
        timeout=120,
        env=env,
    )
