"""``fleet-console audit`` as a technician types it (issue 12.8): ``--since`` in the forms people write,
anything else refused with the accepted forms (never compared as text); times shown local with their
zone's name; a reader that goes away (``| head``) ends it quietly, in every subcommand."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.core.records.store import Store


def _cli(data: Path, *args: str, tz: str = "Europe/Paris") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console", "audit", "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "TZ": tz},
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An audit log with an action three hours old and one a minute old."""
    data = tmp_path_factory.mktemp("audit")
    store = Store(data / "console.sqlite3")
    try:
        for age_h, node in ((3.0, "gpu-old"), (1 / 60, "gpu-new")):
            action = store.record_intent(
                operator="tina",
                kind="drain",
                node=node,
                params={},
                reason="hot",
                ticket=None,
                engine="slurm",
                host="ctl",
                command=[["scontrol", "update"]],
                session="s1",
            )
            store.record_outcome(action, state="done", message="drained")
            stamp = dt.datetime.fromtimestamp(time.time() - age_h * 3600, dt.UTC).isoformat(timespec="milliseconds")
            store._conn.execute(
                "UPDATE actions SET created_at = ? WHERE id = ?", (stamp.replace("+00:00", "Z"), action)
            )
        store._conn.commit()
    finally:
        store.close()
    return data


def _nodes(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line)["node"] for line in result.stdout.splitlines()]


def test_since_takes_the_forms_people_type(data: Path) -> None:
    for since in ("60min", "1 hour", "2 hours ago", "90m"):
        assert _nodes(_cli(data, "--since", since, "--json")) == ["gpu-new"], since
    assert _nodes(_cli(data, "--since", "4h", "--json")) == ["gpu-old", "gpu-new"]
    assert _nodes(_cli(data, "--since", "yesterday", "--json")) == ["gpu-old", "gpu-new"]
    two_hours_ago = dt.datetime.now().astimezone(dt.timezone(dt.timedelta(hours=1))) - dt.timedelta(hours=2)
    if two_hours_ago.date() == dt.datetime.now(dt.timezone(dt.timedelta(hours=1))).date():
        # A local time of today (Paris, +1 in winter): only the minute-old action.
        assert _nodes(_cli(data, "--since", two_hours_ago.strftime("%H:%M"), "--json")) == ["gpu-new"]


def test_anything_else_is_refused_with_the_accepted_forms(data: Path) -> None:
    for since in ("11", "last week", "1 fortnight", "2026-13-45"):
        refused = _cli(data, "--since", since)
        assert refused.returncode == 2, since
        assert "--since" in refused.stderr and ("give an age" in refused.stderr or "month" in refused.stderr), since
        assert refused.stdout == ""


def test_times_are_shown_local_with_the_zones_name(data: Path) -> None:
    shown = _cli(data, tz="Europe/Paris").stdout
    assert " CET  #" in shown or " CEST  #" in shown
    assert " UTC  #" in _cli(data, tz="UTC").stdout


def test_a_reader_that_goes_away_ends_the_command_quietly_as_main_does_for_every_subcommand(tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    store = Store(busy / "console.sqlite3")
    try:
        first = store.record_intent(
            operator="tina",
            kind="drain",
            node="gpu-001",
            params={},
            reason="hot " * 30,
            ticket=None,
            engine="slurm",
            host="ctl",
            command=[["scontrol", "update", "NodeName=gpu-001", "State=DRAIN"]],
            session="s1",
        )
        # Far more than a pipe holds (64 KiB): the writer meets the closed pipe mid-output.
        columns = (
            "operator, kind, node, params, reason, ticket, engine, host, command, state, created_at, console_session"
        )
        for _ in range(11):
            store._conn.execute(f"INSERT INTO actions ({columns}) SELECT {columns} FROM actions")
        store._conn.commit()
    finally:
        store.close()
    assert first == 1
    for args in (["audit", "--data-dir", str(busy)], ["audit", "--json", "--data-dir", str(busy)]):
        with subprocess.Popen(
            [sys.executable, "-m", "console", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        ) as reader:
            assert reader.stdout is not None and reader.stderr is not None
            reader.stdout.readline()
            reader.stdout.close()  # `| head -1`
            stderr = reader.stderr.read().decode()
            status = reader.wait(timeout=60)
        assert "Traceback" not in stderr and "BrokenPipe" not in stderr, (args, stderr)
        assert status == 141, (args, status)
