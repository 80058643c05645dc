"""Hostile nodes over a real sshd: one node printing valid lines as fast as it can and one reporting
50,000 GPUs, beside a normal node. The console (``fleet-console poll``, a real process) stays bounded in
memory, says what each hostile node does, and the normal node stays up and fresh."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from console.core.telemetry.sources import FRAME, Frames
from tests.helpers.live import inventory_for
from tests.paths import NVIDIA

pytestmark = pytest.mark.sshd

H100 = NVIDIA / "query-gpu-allfields_1xH100-80GB-HBM3_driver590_load.csv"
RSS_LIMIT = 400 << 20


def test_a_flooding_node_and_a_50000_gpu_node_cannot_hurt_the_console_or_a_normal_node(
    sshd_factory: Any, tmp_path: Path
) -> None:
    sshd = sshd_factory(["127.0.0.2", "127.0.0.3", "127.0.0.4"])
    sshd.replay("127.0.0.3", H100, mode="flood")
    sshd.replay("127.0.0.4", H100, mode="many-gpus", gpus=50_000)
    inventory_for(sshd, tmp_path, {"normal": "127.0.0.2", "flood": "127.0.0.3", "many": "127.0.0.4"})
    console = subprocess.Popen(
        [sys.executable, "-m", "console", "poll", "--ssh-config", "/dev/null", "--inventory",
         str(tmp_path / "fleet.toml"), "--json", "--interval", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    peak = 0
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(console.stdout or []), daemon=True)
    reader.start()
    try:
        process = psutil.Process(console.pid)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.2)
    finally:
        _stop(console, reader)
    assert peak < RSS_LIMIT, f"console RSS reached {peak >> 20} MB"
    last: dict[str, dict[str, Any]] = {}
    for line in lines:
        record = json.loads(line)
        last[record["node"]] = record
    assert last["normal"]["state"] == "up", last["normal"]
    sampled = dt.datetime.fromisoformat(last["normal"]["time"].replace("Z", "+00:00"))
    assert (dt.datetime.now(dt.UTC) - sampled).total_seconds() < 6  # fresh to the end
    assert "flooding" in (last["flood"]["error"] or "") or last["flood"]["state"] == "up", last["flood"]
    flood_states = {json.loads(line)["state"] for line in lines if '"node":"flood"' in line}
    assert "command failed" in flood_states, flood_states
    many = [json.loads(line) for line in lines if '"node":"many"' in line]
    states = [(r["state"], r["error"], len(r["accelerators"])) for r in many]
    assert any("more than 64 accelerators" in (r["error"] or "") for r in many), states
    assert max(len(r["accelerators"]) for r in many) <= 64


def _stop(console: subprocess.Popen[str], reader: threading.Thread) -> None:
    """SIGTERM to the console (by its PID), its output read to the end, its pipes closed."""
    console.send_signal(signal.SIGTERM)
    console.wait(timeout=15)
    reader.join(timeout=5)
    for stream in (console.stdout, console.stderr):
        if stream is not None:
            stream.close()


def test_a_framed_tool_printing_huge_lines_without_a_frame_is_bounded_in_bytes() -> None:
    frames = Frames(lambda text, tool: ([], []))
    errors = []
    for _ in range(100):  # 6 MB of 60 KB lines, no frame line
        errors += frames.parse_lines(["x" * 60_000] * 1)
        assert frames.buffered_bytes <= Frames.MAX_BYTES
    assert errors and "no frame end" in (errors[0].error or "")
    assert frames.parse_lines([f"{FRAME} npu-smi 0"]) is not None


def test_three_hostile_nodes_at_once_leave_a_normal_node_fresh_and_each_says_what_it_does(
    sshd_factory: Any, tmp_path: Path
) -> None:
    """A flooding node, a node bursting 50,000 GPU lines a second under ``count`` 1, and a node printing
    60 KB lines as fast as it can, beside a normal node, for 30 s: the normal node's reading is never older
    than 2 s when poll prints it, and each hostile node's state says in words what it does."""
    addresses = {"normal": "127.0.0.2", "flood": "127.0.0.3", "bursts": "127.0.0.4", "long": "127.0.0.5"}
    sshd = sshd_factory(list(addresses.values()))
    sshd.replay(addresses["flood"], H100, mode="flood")
    sshd.replay(addresses["bursts"], H100, mode="many-gpus", gpus=50_000, count=1)
    sshd.replay(addresses["long"], H100, mode="long-lines")
    inventory_for(sshd, tmp_path, addresses)
    console = subprocess.Popen(
        [sys.executable, "-m", "console", "poll", "--ssh-config", "/dev/null", "--inventory",
         str(tmp_path / "fleet.toml"), "--json", "--interval", "1", "--no-record"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    received: list[tuple[float, str]] = []

    def read() -> None:
        for line in console.stdout or []:
            received.append((time.time(), line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        time.sleep(30)  # a hang bound for the soak itself, not a speed measurement
    finally:
        _stop(console, reader)
    records = [(at, json.loads(line)) for at, line in received]
    normal = [(at, r) for at, r in records if r["node"] == "normal" and r["time"]]
    settled = [(at, r) for at, r in normal if at - normal[0][0] > 5]  # after the first connects
    ages = [at - dt.datetime.fromisoformat(r["time"].replace("Z", "+00:00")).timestamp() for at, r in settled]
    assert settled and max(ages) < 2.0, f"worst age {max(ages):.1f} s"
    assert all(r["state"] == "up" for _, r in settled), {r["state"] for _, r in settled}

    def said(node: str) -> set[str]:
        return {f"{r['state']}: {r['error']}" for _, r in records if r["node"] == node}

    assert any("flooding" in words for words in said("flood")), said("flood")
    assert any("says it has 1 accelerator(s) but reports index" in w or "flooding" in w for w in said("bursts")), said(
        "bursts"
    )
    assert any("flooding" in words for words in said("long")), said("long")
