"""``fleet-console move-tenant`` against the simulated fleet (its Slurm, its nodes over verified SSH): the
preview, the refusal when not asked on a terminal, the steps printed as they run, the inventory rewritten
and every step in ``audit``; a liaison may not start a move."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from console.core.inventory import load_inventory
from tests.sim.test_simulated_fleet import running_sim


def _cli(*args: str, data: Path, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLEET_CONSOLE_OPERATOR": "tina", **(extra_env or {})}
    return subprocess.run(
        [sys.executable, "-m", "console", *args, "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_an_idle_node_without_a_tenant_moves_to_a_tenant_from_the_terminal(tmp_path: Path) -> None:
    data = tmp_path / "console"
    with running_sim(tmp_path, 16) as (inventory_path, _ready):
        move = ["move-tenant", "gpu-007", "--to", "acme-ai", "--reason", "acme grows (order 12)", "--inventory"]
        asked = _cli(*move, str(inventory_path), data=data)
        assert asked.returncode == 3 and "add --yes" in asked.stderr
        assert "Move 1 node(s) to tenant acme-ai: gpu-007" in asked.stdout
        assert "scontrol update PartitionName=acme-ai" in asked.stdout
        assert load_inventory(inventory_path).node("gpu-007").tenant is None

        liaison = _cli(*move, str(inventory_path), "--yes", "--role", "liaison", data=data)
        assert liaison.returncode == 3 and "liaison" in liaison.stderr

        done = _cli(*move, str(inventory_path), "--yes", data=data)
        assert done.returncode == 0, done.stdout + done.stderr
        for step in ("drain", "wait for jobs", "change Slurm", "change the inventory", "resume", "verify"):
            assert f"[{step}] done" in done.stdout, done.stdout
        assert "[move] done: gpu-007 now belongs to acme-ai" in done.stdout
        assert load_inventory(inventory_path).node("gpu-007").tenant == "acme-ai"

        tenants = subprocess.run(
            [sys.executable, "-m", "console", "tenants", "--json", "--inventory", str(inventory_path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        rows = {r["tenant"]: r for r in map(json.loads, tenants.stdout.splitlines())}
        assert rows["acme-ai"]["disagreements"] == []

    audit = _cli("audit", "--json", data=data)
    kinds = [json.loads(line)["kind"] for line in audit.stdout.splitlines()]
    assert {
        "move-tenant",
        "drain",
        "move-tenant:slurm",
        "move-tenant:inventory",
        "resume",
        "move-tenant:verify",
    } <= set(kinds)


def test_the_tenant_report_asks_the_inventorys_slurm_for_its_own_gpu_hours(tmp_path: Path) -> None:
    import datetime as dt

    from console.core.records.archive import ARCHIVE_FILE, TelemetryArchive

    today = dt.datetime.now(dt.UTC).date().isoformat()
    out = tmp_path / "acme.html"
    (tmp_path / "console").mkdir()
    TelemetryArchive(tmp_path / "console" / ARCHIVE_FILE).close()  # a console that archived nothing yet
    with running_sim(tmp_path, 16) as (inventory_path, _ready):
        done = _cli(
            "report",
            "tenant",
            "--tenant",
            "acme-ai",
            "--from",
            today,
            "--to",
            today,
            "--inventory",
            str(inventory_path),
            "-o",
            str(out),
            data=tmp_path / "console",
        )
    assert done.returncode == 0, done.stderr
    html = out.read_text()
    # The simulated jobs of acme-ai have run for hours; this console archived nothing: the report says so.
    assert "Slurm&#x27;s own accounting" in html or "Slurm's own accounting" in html
    assert "gives account acme-ai" in html and "They differ by" in html
    assert "They differ by" in done.stderr
