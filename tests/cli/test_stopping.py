"""Deadlines and signals on the command line: hung nodes hold no command past its timeout, and SIGTERM or
Ctrl+C ends every command promptly (real processes, a real sshd, stand-ins that hang as stuck tools do).

The waits below are hang detectors (a generous bound on a process that otherwise never ends), not speed
measurements; the backstop's own message must not appear, which shows each command stopped by itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.live import inventory_for, wait_for

pytestmark = pytest.mark.sshd

HUNG = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
ABANDONED = "was abandoned"


def _start(*args: str, data: Path | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "FLEET_CONSOLE_OPERATOR": "night-shift-dave"}
    extra = ["--data-dir", str(data)] if data is not None else []
    return subprocess.Popen(
        [sys.executable, "-m", "console", *args, "--ssh-config", "/dev/null", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[str], signum: int) -> tuple[int, str, str]:
    proc.send_signal(signum)
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its children too: they hold the pipes open
        out, err = proc.communicate()
        raise AssertionError(f"still running 15 s after {signal.Signals(signum).name}: {err[-2000:]}") from None
    return proc.returncode, out, err


def test_poll_once_stops_on_sigterm_while_four_nodes_trickle_forever(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(HUNG)
    for address in HUNG:
        sshd.replay(
            address, Path(json.loads((sshd.replay_dir / f"{address}.json").read_text())["recording"]), "trickle"
        )
    inventory_for(sshd, tmp_path, {f"n{i}": a for i, a in enumerate(HUNG)})
    proc = _start("poll", "--once", "--json", "--timeout", "600", "--inventory", str(tmp_path / "fleet.toml"))
    try:
        wait_for("every node's nvidia-smi to hang", lambda: all(sshd.trickling(a) for a in HUNG), timeout=30)
    except AssertionError:
        proc.kill()
        raise
    status, _, err = _stop(proc, signal.SIGTERM)
    assert status == 128 + signal.SIGTERM
    assert "stopped by SIGTERM before every node answered" in err
    assert ABANDONED not in err and "Traceback" not in err


def test_streaming_poll_stops_on_sigint_while_slow_path_looks_hang(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(HUNG)
    for address in HUNG:
        recording = json.loads((sshd.replay_dir / f"{address}.json").read_text())["recording"]
        sshd.replay(address, Path(recording), "trickle-details")
    inventory_for(sshd, tmp_path, {f"n{i}": a for i, a in enumerate(HUNG)})
    proc = _start("poll", "--json", "--detail-interval", "1", "--inventory", str(tmp_path / "fleet.toml"))
    try:
        wait_for("every node's slow-path look to hang", lambda: all(sshd.trickling(a) for a in HUNG), timeout=30)
        assert proc.stdout is not None
        first = proc.stdout.readline()  # a round printed while the looks hang
    except AssertionError:
        proc.kill()
        raise
    status, _, err = _stop(proc, signal.SIGINT)
    assert status == 0, err  # streaming ends on a signal as its normal way out
    assert json.loads(first)["state"] == "up"  # the stream itself kept flowing beside the hung looks
    assert ABANDONED not in err and "Traceback" not in err


def _audit_rows(data: Path) -> list[dict[str, Any]]:
    audit = subprocess.run(
        [sys.executable, "-m", "console", "audit", "--json", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [json.loads(line) for line in audit.stdout.splitlines()]


def _reboot_inventory(sshd: Any, tmp_path: Path) -> Path:
    inventory_for(sshd, tmp_path, {"gpu-001": "127.0.0.2"})
    return tmp_path / "fleet.toml"


def test_action_timeout_bounds_a_reboot_over_ssh_that_hangs(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2"])
    sshd.systemctl_hangs()
    inventory = _reboot_inventory(sshd, tmp_path)
    args = ("action", "reboot", "gpu-001", "--via", "ssh", "--reason", "hung GPU", "--yes", "--timeout", "4")
    proc = _start(*args, "--inventory", str(inventory), data=tmp_path / "data")
    try:
        out, err = proc.communicate(timeout=40)  # before the fix: the step's own 60 s, then tracking
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("`action --timeout 4` was still running after 40 s") from None
    assert proc.returncode == 1, err
    assert "timed out after 4 s" in out and "may still take effect" in out
    assert sshd.systemctl_calls("127.0.0.2")  # it was sent
    (row,) = _audit_rows(tmp_path / "data")
    assert row["state"] == "timed out" and "timed out after 4 s" in row["message"]


def test_action_stops_on_sigterm_mid_step_and_the_audit_says_it_may_have_taken_effect(
    sshd_factory: Any, tmp_path: Path
) -> None:
    sshd = sshd_factory(["127.0.0.2"])
    sshd.systemctl_hangs()
    inventory = _reboot_inventory(sshd, tmp_path)
    args = ("action", "reboot", "gpu-001", "--via", "ssh", "--reason", "hung GPU", "--yes")
    proc = _start(*args, "--inventory", str(inventory), data=tmp_path / "data")
    try:
        wait_for("systemctl to be called", lambda: sshd.systemctl_calls("127.0.0.2"), timeout=30)
    except AssertionError:
        proc.kill()
        raise
    status, _, err = _stop(proc, signal.SIGTERM)
    assert status == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM; 1 action(s) had started and may still take effect" in err
    assert ABANDONED not in err and "Traceback" not in err
    (row,) = _audit_rows(tmp_path / "data")
    assert row["state"] == "cancelled" and "may still take effect" in row["message"]


def _processes_mentioning(*texts: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if all(text in cmdline for text in texts) and int(entry.name) != os.getpid():
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_demo_window_closes_on_a_signal_and_stops_its_simulated_fleet(tmp_path: Path, signum: int) -> None:
    data = tmp_path / "demo-data"
    scratch = tmp_path / "tmp"  # where the demo writes its inventory for the run
    scratch.mkdir()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FLEET_CONSOLE_OPERATOR": "night-shift-dave"}
    env["TMPDIR"] = str(scratch)
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "--demo", "--nodes", "2", "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        wait_for("the simulated fleet to start", lambda: _processes_mentioning(" sim ", str(data)), timeout=60)
        wait_for("the window's store to open", (data / "console.sqlite3").exists, timeout=60)
    except AssertionError:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    status, _, err = _stop(proc, signum)
    assert ABANDONED not in err and "Traceback" not in err, err
    assert status in (0, 128 + signum), err
    assert not [pid for pid in _processes_mentioning(str(data)) if pid != proc.pid]
    assert not list(scratch.glob("fleet-console-demo-*"))  # its run's inventory and known hosts are gone


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_at_the_windows_who_is_at_the_console_prompt_ends_it_at_once(tmp_path: Path, signum: int) -> None:
    """Started under a shared OS account with no name, the window asks who is there; while it asks, SIGTERM
    and Ctrl+C end it as everywhere else (they were ignored until SIGKILL)."""
    import getpass
    import select

    from tests.helpers.sshd import free_port

    inventory = tmp_path / "fleet.toml"
    inventory.write_text(
        f'[policy]\nshared_accounts = ["{getpass.getuser()}"]\n'
        f'[[node]]\nname = "n1"\nhost = "127.0.0.1"\nport = {free_port()}\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "FLEET_CONSOLE_OPERATOR"}
    env.update(QT_QPA_PLATFORM="offscreen", FLEET_CONSOLE_PREFERENCES=str(tmp_path / "preferences.toml"))
    env["FLEET_CONSOLE_VIRTUAL_DISPLAY"] = "0"  # as if someone watched this display: the dialog is the prompt
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "-v", "--inventory", str(inventory), "--data-dir", str(tmp_path / "d")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    assert proc.stderr is not None
    said = b""
    try:
        deadline = time.monotonic() + 60
        while b"asking who is at the console" not in said:
            assert time.monotonic() < deadline and proc.poll() is None, said.decode()[-2000:]
            if select.select([proc.stderr], [], [], 1.0)[0]:
                said += os.read(proc.stderr.fileno(), 65536)
        proc.send_signal(signum)
        said += proc.communicate(timeout=15)[1]
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    err = said.decode()
    assert proc.returncode == 128 + signum, err[-2000:]
    assert ABANDONED not in err and "Traceback" not in err, err[-2000:]
