"""``fleet-console tenants`` with a node that does not answer: its tenant keeps its accelerators, counted
unreachable from what this desk archived of it, and the non-zero exit says why on stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from console.core.records.archive import ARCHIVE_FILE, TelemetryArchive
from console.core.telemetry.fleet import NodeMinute
from console.core.telemetry.samples import NodeState
from tests.helpers.sshd import free_port


def _inventory(path: Path, port: int) -> Path:
    path.write_text(
        "[[node]]\n"
        f'name = "gpu-0015"\nhost = "127.0.0.1"\nport = {port}\ntenant = "borealis-labs"\nvendor = "nvidia"\n'
        'known_hosts = "/dev/null"\n'
    )
    return path


def _tenants(inventory: Path, data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console", "tenants", "--json", "--ssh-config", "/dev/null", "--timeout", "5",
         "--inventory", str(inventory), "--data-dir", str(data)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_a_node_that_does_not_answer_keeps_its_archived_accelerators_counted_unreachable(tmp_path: Path) -> None:
    data = tmp_path / "data"
    archive = TelemetryArchive(data / ARCHIVE_FILE)
    stats = (40.0, 50.0, 60.0, 300.0, 1000.0, 60)
    archive.write([(1_800_000_000, [NodeMinute("gpu-0015", NodeState.UP, tuple((i, stats) for i in range(8)))])], [])
    archive.close()
    done = _tenants(_inventory(tmp_path / "fleet.toml", free_port()), data)
    assert done.returncode == 1
    (row,) = map(json.loads, done.stdout.splitlines())
    assert (row["tenant"], row["accelerators"], row["unreachable"], row["healthy"]) == ("borealis-labs", 8, 8, 0)
    assert "gpu-0015 did not answer" in done.stderr and "8 accelerator(s) are counted unreachable" in done.stderr
    assert "the telemetry archive (last reported 2027-01-15 08:00 UTC)" in done.stderr


def test_a_node_never_seen_anywhere_is_said_to_be_in_no_figure_and_the_exit_says_why(tmp_path: Path) -> None:
    done = _tenants(_inventory(tmp_path / "fleet.toml", free_port()), tmp_path / "empty")
    assert done.returncode == 1
    (row,) = map(json.loads, done.stdout.splitlines())
    assert (row["accelerators"], row["unreachable"]) == (0, 0)
    assert "gpu-0015 did not answer" in done.stderr and "its accelerators are in no figure" in done.stderr
