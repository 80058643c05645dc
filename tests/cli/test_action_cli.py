"""``fleet-console action`` and ``fleet-console audit`` as a script runs them, against real Slurm and a real
Redfish emulator (nodes' nvidia-smi is the replaying stand-in)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.world import PASSWORD_ENV, world_sshd, write_inventory

pytestmark = pytest.mark.sshd


@pytest.fixture(scope="module")
def setup(slurm: Any, bmc: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Any]]:
    with world_sshd(slurm, bmc, tmp_path_factory.mktemp("sshd")) as sshd:
        directory = tmp_path_factory.mktemp("cli")
        yield write_inventory(directory / "fleet.toml", sshd, bmc), directory / "data", slurm


def console(
    *args: str, data: Path, stdin: str | None = None, operator: str = "night-shift-dave"
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLEET_CONSOLE_OPERATOR": operator}
    env[PASSWORD_ENV] = os.environ.get(PASSWORD_ENV, "correct horse battery")
    return subprocess.run(
        [sys.executable, "-m", "console", *args, "--data-dir", str(data)]
        if args[0] in {"action", "audit"}
        else [sys.executable, "-m", "console", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        input=stdin,
        check=False,
    )


def test_action_drain_prints_the_preview_runs_and_the_audit_shows_it(setup: tuple[Path, Path, Any]) -> None:
    inventory, data, slurm = setup
    result = console(
        "action",
        "drain",
        "node5",
        "--inventory",
        str(inventory),
        "--reason",
        "fan 3 failed",
        "--ticket",
        "OPS-7",
        "--yes",
        "--ssh-config",
        "/dev/null",
        data=data,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "will run on" in result.stdout
    assert "scontrol update NodeName=node5 State=DRAIN 'Reason=night-shift-dave: fan 3 failed [OPS-7]'" in result.stdout
    assert "tenant-5" in result.stdout
    assert "[node5] drain: done" in result.stdout
    assert "DRAIN" in slurm.node_state("node5")

    audit = console("audit", "--json", data=data)
    rows = [json.loads(line) for line in audit.stdout.splitlines()]
    drain = [r for r in rows if r["kind"] == "drain" and r["node"] == "node5"][-1]
    assert (drain["operator"], drain["state"], drain["reason"], drain["ticket"]) == (
        "night-shift-dave",
        "done",
        "fan 3 failed",
        "OPS-7",
    )
    text = console("audit", "--since", "1h", "--node", "node5", data=data).stdout
    assert "night-shift-dave" in text and "drain" in text and "reason: fan 3 failed  ticket: OPS-7" in text

    back = console(
        "action", "resume", "node5", "--inventory", str(inventory), "--yes", "--ssh-config", "/dev/null", data=data
    )
    assert back.returncode == 0, back.stdout + back.stderr
    assert "DRAIN" not in slurm.node_state("node5")


def test_a_refused_action_exits_3_and_sends_nothing(setup: tuple[Path, Path, Any]) -> None:
    inventory, data, _ = setup
    result = console(
        "action",
        "power",
        "node2",
        "--inventory",
        str(inventory),
        "--reason",
        "hang",
        "--reset-type",
        "PowerCycle",
        "--yes",
        "--ssh-config",
        "/dev/null",
        data=data,
    )
    assert result.returncode == 3
    assert "REFUSED: node2: the BMC does not allow PowerCycle" in result.stdout
    # The attempt stays in the record: who tried what on which node, and why it was refused.
    rows = [json.loads(line) for line in console("audit", "--json", "--node", "node2", data=data).stdout.splitlines()]
    refused = [r for r in rows if r["kind"] == "power" and r["state"] == "refused"]
    assert len(refused) == 1 and refused[0]["operator"] == "night-shift-dave" and refused[0]["reason"] == "hang"
    assert "the BMC does not allow PowerCycle" in refused[0]["message"]
    assert "refused" in console("audit", "--node", "node2", data=data).stdout


def test_without_yes_and_without_a_terminal_nothing_runs(setup: tuple[Path, Path, Any]) -> None:
    inventory, data, slurm = setup
    result = console(
        "action",
        "drain",
        "node6",
        "--inventory",
        str(inventory),
        "--reason",
        "x",
        "--ssh-config",
        "/dev/null",
        data=data,
        stdin="yes\n",
    )
    assert result.returncode == 3
    assert "add --yes" in result.stderr
    assert "DRAIN" not in slurm.node_state("node6")


def test_unknown_node_is_named(setup: tuple[Path, Path, Any]) -> None:
    inventory, data, _ = setup
    result = console("action", "drain", "node99", "--inventory", str(inventory), "--reason", "x", "--yes", data=data)
    assert result.returncode == 2 and "node99" in result.stderr


def _running_job(slurm: Any, node: str, name: str) -> str:
    from tests.helpers.live import wait_for

    job = str(slurm.run("sbatch", "-w", node, "-J", name, "--wrap", "sleep 600").stdout.split()[-1])
    wait_for("job running", lambda: "RUNNING" in slurm.run("squeue", "-h", "-j", job, "-o", "%T").stdout)
    return job


def test_a_reboot_over_ssh_of_a_node_with_jobs_names_them_and_needs_the_typed_name(
    setup: tuple[Path, Path, Any],
) -> None:
    inventory, data, slurm = setup
    job = _running_job(slurm, "node3", "llm-pretrain")
    try:
        args = ["action", "reboot", "node3", "--via", "ssh", "--inventory", str(inventory), "--reason", "hung"]
        refused = console(*args, "--yes", "--ssh-config", "/dev/null", data=data)
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert f"{job} 'llm-pretrain'" in refused.stdout and "a reboot over SSH kills them" in refused.stdout
        assert "type the node name to confirm (node3)" in refused.stderr
        assert "RUNNING" in slurm.run("squeue", "-h", "-j", job, "-o", "%T").stdout
    finally:
        slurm.run("scancel", job, check=False)


def test_terminal_escapes_from_slurm_and_the_audit_log_are_printed_escaped(setup: tuple[Path, Path, Any]) -> None:
    inventory, data, slurm = setup
    hostile = "\x1b]0;owned\x07\x1b[31mred"
    job = _running_job(slurm, "node4", hostile)
    try:
        preview = console(
            "action",
            "drain",
            "node4",
            "--inventory",
            str(inventory),
            "--reason",
            "x",
            "--ssh-config",
            "/dev/null",
            data=data,
        )
        assert preview.returncode == 3  # no terminal, no --yes: preview only
        assert "\x1b" not in preview.stdout and "\x07" not in preview.stdout
        assert "\\x1b]0;owned\\x07" in preview.stdout
    finally:
        slurm.run("scancel", job, check=False)

    from console.core.records.store import Store

    store = Store(data / "console.sqlite3")
    store.record_intent(
        operator="eve",
        kind="drain",
        node="node4",
        params={},
        reason="\x1b]2;pwned\x07",
        ticket=None,
        engine="slurm",
        host="sched",
        command=[["echo", "\x1b[2J"]],
        session="gone",
        state="refused",
        message="stderr said \x1b[31mno\r\nforged line",
    )
    store.close()
    text = console("audit", "--node", "node4", data=data)
    assert text.returncode == 0, text.stderr
    assert "\x1b" not in text.stdout and "\r" not in text.stdout
    assert "\\x1b[31mno\\r\\nforged line" in text.stdout and "\\x1b]2;pwned\\x07" in text.stdout


@pytest.mark.parametrize("operator", ["dave\nnode5 DRAIN", "dave\x1b[2J", "dave: admin"])
def test_an_operator_name_with_line_breaks_or_escapes_is_refused_before_anything_runs(
    operator: str, setup: tuple[Path, Path, Any]
) -> None:
    inventory, data, slurm = setup
    args = ["action", "drain", "node6", "--inventory", str(inventory), "--reason", "fan", "--yes"]
    result = console(*args, "--ssh-config", "/dev/null", data=data, operator=operator)
    assert result.returncode == 3
    assert "operator name" in result.stderr and "\x1b" not in result.stderr
    assert "DRAIN" not in slurm.node_state("node6")


def _on_a_terminal(*args: str, data: Path, answer: str) -> tuple[int, str]:
    """The command with its stdin on a pseudo-terminal (it asks there), answering ``answer``."""
    master, slave = os.openpty()
    env = {**os.environ, "FLEET_CONSOLE_OPERATOR": "night-shift-dave"}
    try:
        with subprocess.Popen(
            [sys.executable, "-m", "console", *args, "--data-dir", str(data)],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        ) as proc:
            os.write(master, answer.encode() + b"\n")
            out, _ = proc.communicate(timeout=180)
            return proc.returncode, out
    finally:
        os.close(master)
        os.close(slave)


def test_on_a_terminal_y_runs_the_action_and_anything_else_says_what_was_expected(
    setup: tuple[Path, Path, Any],
) -> None:
    inventory, data, slurm = setup
    drain = ("action", "drain", "node6", "--inventory", str(inventory), "--reason", "fan", "--ssh-config", "/dev/null")
    status, out = _on_a_terminal(*drain, data=data, answer="nope")
    assert status == 3 and "not run: 'nope' is not y or yes" in out
    assert "DRAIN" not in slurm.node_state("node6")
    status, out = _on_a_terminal(*drain, data=data, answer="y")
    try:
        assert status == 0, out
        assert "Run this? [y/N]" in out and "DRAIN" in slurm.node_state("node6")
    finally:
        slurm.run("scontrol", "update", "NodeName=node6", "State=RESUME", check=False)
