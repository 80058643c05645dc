"""``fleet-console poll`` as a script would run it: a real process, a real sshd, replayed recordings."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.helpers.live import inventory_for
from tests.helpers.sshd import keygen
from tests.paths import NVIDIA

RTX = NVIDIA / "query-gpu-allfields_1xRTX4080SUPER_driver595_load.csv"
EIGHT_H100 = NVIDIA / "table_8xH100-SXM-80GB-HBM3_driver565.57.01_idle_no-timestamp-line.txt"

pytestmark = pytest.mark.sshd


def streaming_poll(inventory: Path, *extra: str) -> subprocess.Popen[str]:
    """``poll --json`` streaming a round every half second until it is sent SIGINT."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "console",
            "poll",
            "--ssh-config",
            "/dev/null",
            "--inventory",
            str(inventory),
            "--json",
            "--interval",
            "0.5",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def poll(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run(
        [sys.executable, "-m", "console", "poll", "--ssh-config", "/dev/null", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def test_poll_once_json_of_replayed_recordings_field_by_field(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2", "127.0.0.3"], **{"127_0_0_2": RTX, "127_0_0_3": EIGHT_H100})
    inventory_for(sshd, tmp_path, {"desk": "127.0.0.2", "dgx": "127.0.0.3"}, node_extra='tenant = "acme"')
    started = dt.datetime.now(dt.UTC)
    result = poll("--inventory", str(tmp_path / "fleet.toml"), "--once", "--json")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["node"] for r in records] == ["desk", "dgx"]

    desk = records[0]
    assert desk["state"] == "up" and desk["error"] is None
    when = dt.datetime.fromisoformat(desk["time"].replace("Z", "+00:00"))
    assert when.tzinfo is not None and abs((when - started).total_seconds()) < 60
    (gpu,) = desk["accelerators"]
    assert gpu == {
        "index": 0,
        "vendor": "nvidia",
        "model": "NVIDIA GeForce RTX 4080 SUPER",
        "uuid": "GPU-00000000-0000-0000-0000-000000000000",
        "utilization_pct": 7.0,
        "memory_used_mib": 1474.0,
        "memory_total_mib": 16376.0,
        "temperature_c": 46.0,
        "power_w": 84.24,
        "power_limit_w": 320.0,
        "pci_bus_id": "00000000:01:00.0",
        "sm_clock_mhz": 2805.0,
        "fan_pct": 0.0,
        "pstate": "P2",
        "health": None,  # nvidia-smi's CSV stream has no health word; Ascend's table does
        # The slow path looked (the node has no -q -x recording, so no details) and read an empty kernel log.
        "ecc_uncorrected_volatile": None,
        "retired_or_remapped_pending": None,
        "throttle_reasons": None,
        "xid_recent": [],
        "energy_j": None,  # only the NVML probe reports energy
    }
    assert desk["tenant"] == "acme" and desk["source"] == "nvidia-smi"

    dgx = records[1]
    assert [a["index"] for a in dgx["accelerators"]] == list(range(8))
    assert [a["power_w"] for a in dgx["accelerators"]] == [100, 82, 85, 85, 84, 85, 86, 75]
    assert all(a["fan_pct"] is None and a["sm_clock_mhz"] is None for a in dgx["accelerators"])  # not in a table


def test_poll_once_exits_1_and_names_each_failure(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2", "127.0.0.3"])
    sshd.replay("127.0.0.3", RTX, mode="exit", exit_status=6, stderr="No devices were found\n")
    inventory_for(sshd, tmp_path, {"ok": "127.0.0.2", "broken": "127.0.0.3", "gone": "127.0.0.9"})
    result = poll("--inventory", str(tmp_path / "fleet.toml"), "--once", "--json")
    assert result.returncode == 1
    records = {r["node"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert records["ok"]["state"] == "up"
    assert records["broken"]["state"] == "command failed"
    assert (
        "exited with status 6" in records["broken"]["error"] and "No devices were found" in records["broken"]["error"]
    )
    assert records["broken"]["accelerators"] == []
    assert records["gone"]["state"] == "unreachable" and "127.0.0.9" in records["gone"]["error"]


def test_poll_once_reports_a_truncated_output_as_parse_error(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2"])
    sshd.replay("127.0.0.2", EIGHT_H100, mode="truncate")
    inventory_for(sshd, tmp_path, {"dgx": "127.0.0.2"})
    result = poll("--inventory", str(tmp_path / "fleet.toml"), "--once", "--json")
    assert result.returncode == 1
    (record,) = map(json.loads, result.stdout.splitlines())
    assert record["state"] == "parse error"
    assert "expected 15 comma-separated fields" in record["error"]
    assert len(record["accelerators"]) == 7  # the seven whole lines still count


def test_poll_once_with_a_changed_host_key_refuses_and_says_so(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2"])
    other = tmp_path / "other"
    keygen(other)
    known = tmp_path / "kh"
    known.write_text(sshd.known_hosts_line("127.0.0.2", other) + "\n")
    inventory_for(sshd, tmp_path, {"n1": "127.0.0.2"}, known_hosts=known)
    result = poll("--inventory", str(tmp_path / "fleet.toml"), "--once", "--json")
    (record,) = map(json.loads, result.stdout.splitlines())
    assert result.returncode == 1
    assert record["state"] == "host key changed" and record["accelerators"] == []


def test_poll_text_output_is_a_table(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2"])
    inventory_for(sshd, tmp_path, {"n1": "127.0.0.2"})
    result = poll("--inventory", str(tmp_path / "fleet.toml"), "--once")
    assert result.returncode == 0
    header, row = result.stdout.splitlines()
    assert header.split()[:5] == ["NODE", "STATE", "ALERTS", "SLURM", "ACCEL."]
    assert row.split()[:5] == ["n1", "up", "1", "100%/100%", "59°C"]


def test_bad_inventory_exits_2_with_file_line_and_problem(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text('[[node]]\nname = "a"\nhost = "h"\n\n[[node]]\nname = "a"\nhost = "h2"\n')
    result = poll("--inventory", str(path), "--once", "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"{path}:5: node 'a': duplicate node name" in result.stderr


@pytest.mark.parametrize("workers", [[], ["--telemetry-workers", "1"]], ids=["one process", "a worker process"])
def test_poll_streams_rounds_until_interrupted(sshd_factory: Any, tmp_path: Path, workers: list[str]) -> None:
    sshd = sshd_factory(["127.0.0.2"])
    inventory_for(sshd, tmp_path, {"n1": "127.0.0.2"})
    proc = streaming_poll(tmp_path / "fleet.toml", *workers)
    try:
        assert proc.stdout is not None
        records = [json.loads(proc.stdout.readline()) for _ in range(3)]
        children = psutil.Process(proc.pid).children(recursive=True)
        spawned = [c for c in children if "telemetry_workers" in " ".join(c.cmdline())]
        assert len(spawned) == len(workers) // 2  # the worker, where asked for
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
    assert all(r["node"] == "n1" and r["state"] == "up" for r in records)
    assert records[0]["accelerators"][0]["utilization_pct"] == 100.0


def test_alert_rules_defaults_print_and_a_bad_rules_file_exits_2(tmp_path: Path) -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "console", "alert-rules"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    (tmp_path / "rules.toml").write_text(printed)
    from console.core.alerts.config import load_rules_file

    assert load_rules_file(tmp_path / "rules.toml").unreachable_after_s == 60  # the printed defaults load back
    (tmp_path / "bad.toml").write_text("[stale]\nafter = 1\n")
    (tmp_path / "fleet.toml").write_text('[[node]]\nname = "n"\nhost = "127.0.0.1"\n')
    result = poll("--inventory", str(tmp_path / "fleet.toml"), "--once", "--alert-rules", str(tmp_path / "bad.toml"))
    assert result.returncode == 2 and "unknown key 'after' in [stale]" in result.stderr


def test_streaming_poll_opens_incidents_in_its_data_dir(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2"])
    inventory_for(sshd, tmp_path, {"n1": "127.0.0.2"})
    rules = tmp_path / "rules.toml"
    rules.write_text("[temperature]\nfor_s = 0\nnvidia = { warning_c = 20, critical_c = 30 }\n")
    data = tmp_path / "data"
    proc = streaming_poll(tmp_path / "fleet.toml", "--alert-rules", str(rules), "--data-dir", str(data))
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if any(a["rule"] == "temperature" and a["severity"] == "critical" for a in json.loads(line)["alerts"]):
                break
        deadline = time.monotonic() + 30
        found: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not found:
            done = subprocess.run(
                [sys.executable, "-m", "console", "incidents", "--json", "--data-dir", str(data)],
                capture_output=True,
                text=True,
                check=False,
            )
            found = [json.loads(x) for x in done.stdout.splitlines()]
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert found and found[0]["opened_by"] == "rule:temperature" and found[0]["nodes"] == ["n1"]
    assert found[0]["severity"] == "critical" and found[0]["state"] == "open"


def test_poll_says_the_locate_led_the_record_left_lit_even_on_a_node_that_does_not_answer(tmp_path: Path) -> None:
    from console.core.records.store import STORE_FILE, Store
    from tests.helpers.locate import record_locate

    inventory = tmp_path / "fleet.toml"
    inventory.write_text(
        '[[node]]\nname = "gpu-001"\nhost = "127.0.0.1"\nport = 9\n'
        '[[node]]\nname = "gpu-002"\nhost = "127.0.0.1"\nport = 9\n'
    )
    store = Store(tmp_path / "data" / STORE_FILE)
    record_locate(store, "gpu-002", "on")
    store.close()
    data = ("--inventory", str(inventory), "--once", "--timeout", "5", "--data-dir", str(tmp_path / "data"))
    records = {r["node"]: r for r in map(json.loads, poll(*data, "--json").stdout.splitlines())}
    assert records["gpu-001"]["locate_led"] is None
    assert records["gpu-002"]["locate_led"].startswith("locate LED still on since")
    assert "gpu-002: locate LED still on since" in poll(*data).stdout  # under the table
