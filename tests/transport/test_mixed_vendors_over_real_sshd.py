"""Mixed fleets over a real sshd: Ascend (npu-smi) and AMD (amd-smi, rocm-smi) nodes beside NVIDIA ones,
declared or detected (vendor = "auto"). The nodes' tools are stand-ins replaying real recordings from
tests/fixtures/ (no accelerator is involved)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from console.core.telemetry.samples import NodeState, NotAvailable, Vendor
from tests.helpers.live import inventory_for, poll_once_json, running, wait_for
from tests.paths import FIXTURES

pytestmark = pytest.mark.sshd

B3 = FIXTURES / "ascend" / "npu-smi-info_8x910B3_npusmi25.2.0_one-process.txt"
A3 = FIXTURES / "ascend" / "npu-smi-info_8x2chip-Ascend910-A3_npusmi25.2.0_busy-multiproc.txt"
ROCM = FIXTURES / "amd" / "rocm-smi_json_2xVega20.json"


def _ascend_sshd(sshd_factory: Any, addresses: list[str]) -> Any:
    sshd = sshd_factory(addresses)
    sshd.remove_tool("nvidia-smi")
    sshd.install_tool("npu-smi")
    return sshd


def test_declared_ascend_node_replaying_910b3_streams_one_sample_per_chip(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = _ascend_sshd(sshd_factory, ["127.0.0.2"])
    sshd.replay_tool("127.0.0.2", "npu-smi", B3)
    inventory = inventory_for(sshd, tmp_path, {"npu-a": "127.0.0.2"}, node_extra='vendor = "ascend"')
    with running(inventory) as live:
        view = wait_for("eight NPUs", lambda: (v := live.fleet.view("npu-a")).accelerator_count == 8 and v)
        wait_for("a second reading", lambda: live.fleet.view("npu-a").lines_parsed >= 16)
    busy = view.accelerators[4].sample
    assert (busy.vendor, busy.npu_id, busy.chip_id, busy.health) == (Vendor.ASCEND, 4, 0, "OK")
    assert (busy.utilization_pct, busy.memory_used_mib, busy.power_w) == (25.0, 21784.0, 139.7)
    assert view.state == NodeState.UP and view.telemetry_source == "npu-smi"


def test_auto_detection_finds_each_vendors_tool_and_says_so(sshd_factory: Any, tmp_path: Path) -> None:
    nvidia = sshd_factory(["127.0.0.2"])
    ascend = _ascend_sshd(sshd_factory, ["127.0.0.3"])
    ascend.replay_tool("127.0.0.3", "npu-smi", A3)
    amd = sshd_factory(["127.0.0.4"])
    amd.remove_tool("nvidia-smi")
    amd.install_tool("rocm-smi")  # an older AMD node: rocm-smi, no amd-smi
    amd.replay_tool("127.0.0.4", "rocm-smi", ROCM)
    bare = sshd_factory(["127.0.0.5"])
    bare.remove_tool("nvidia-smi")

    known = tmp_path / "known_hosts"
    known.write_text(
        "".join(
            s.known_hosts_line(a) + "\n"
            for s, a in ((nvidia, "127.0.0.2"), (ascend, "127.0.0.3"), (amd, "127.0.0.4"), (bare, "127.0.0.5"))
        )
    )
    text = f'[defaults]\nknown_hosts = "{known}"\nuser = "{nvidia.user}"\n'
    for name, server, address in (
        ("gpu", nvidia, "127.0.0.2"),
        ("npu", ascend, "127.0.0.3"),
        ("amd", amd, "127.0.0.4"),
        ("cpu", bare, "127.0.0.5"),
    ):
        text += (
            f'[[node]]\nname = "{name}"\nhost = "{address}"\nport = {server.port}\n'
            f'identity_file = "{server.client_key}"\n'
        )
    (tmp_path / "fleet.toml").write_text(text)
    from console.core.inventory import load_inventory

    inventory = load_inventory(tmp_path / "fleet.toml")
    with running(inventory) as live:
        wait_for("all detected", lambda: all(live.fleet.view(n).accelerator_count > 0 for n in ("gpu", "npu", "amd")))
        cpu = wait_for("no tool", lambda: (v := live.fleet.view("cpu")).state == NodeState.COMMAND_FAILED and v)
        views = {n: live.fleet.view(n) for n in ("gpu", "npu", "amd")}
    assert {n: (v.vendor, v.telemetry_source) for n, v in views.items()} == {
        "gpu": (Vendor.NVIDIA, "nvidia-smi"),
        "npu": (Vendor.ASCEND, "npu-smi"),
        "amd": (Vendor.AMD, "amd-smi"),
    }
    assert views["npu"].accelerator_count == 16
    assert isinstance(views["npu"].accelerators[1].sample.power_w, NotAvailable)  # the A3's second chip: "-"
    assert views["amd"].accelerators[0].sample.model == "Vega 20"
    assert cpu.error is not None and "no accelerator tool found" in cpu.error and "npu-smi" in cpu.error


def test_failing_npu_smi_is_command_failed_in_words_and_recovers(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = _ascend_sshd(sshd_factory, ["127.0.0.2"])
    sshd.replay_tool(
        "127.0.0.2", "npu-smi", B3, mode="exit", exit_status=255, stderr="dcmi module initialize failed. ret is -8005\n"
    )
    inventory = inventory_for(sshd, tmp_path, {"npu": "127.0.0.2"}, node_extra='vendor = "ascend"')
    with running(inventory) as live:
        view = wait_for("parse error", lambda: (v := live.fleet.view("npu")).state == NodeState.PARSE_ERROR and v)
        assert view.error is not None and "npu-smi exited with status 255" in view.error
        assert "dcmi module initialize failed" in view.error
        sshd.replay_tool("127.0.0.2", "npu-smi", B3, mode="cut", cut_at=0.4)  # ends inside NPU 3's rows
        cut = wait_for(
            "cut table reported",
            lambda: (v := live.fleet.view("npu")).state == NodeState.PARSE_ERROR and "NPU row" in (v.error or "") and v,
            timeout=15,
        )
        assert "npu-smi" in (cut.error or "")  # the cut row is quoted; which words depends on where it ends
        sshd.replay_tool("127.0.0.2", "npu-smi", B3)
        wait_for("eight NPUs", lambda: live.fleet.view("npu").accelerator_count == 8)


def test_poll_once_json_for_an_ascend_node_has_npu_and_chip_ids(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = _ascend_sshd(sshd_factory, ["127.0.0.2"])
    sshd.replay_tool("127.0.0.2", "npu-smi", A3)
    inventory_for(sshd, tmp_path, {"a3": "127.0.0.2"})  # vendor auto
    result = poll_once_json(str(tmp_path / "fleet.toml"))
    assert result.returncode == 0, result.stdout + result.stderr
    (record,) = map(json.loads, result.stdout.splitlines())
    assert record["source"] == "npu-smi"
    chips = record["accelerators"]
    assert [c["index"] for c in chips] == list(range(16))
    assert [(c["npu_id"], c["chip_id"]) for c in chips[:3]] == [(0, 0), (0, 1), (1, 0)]
    assert chips[0]["vendor"] == "ascend" and chips[0]["health"] == "OK"
    assert chips[1]["power_w"] is None and chips[0]["memory_used_mib"] == 61609.0
    assert chips[0]["memory_total_mib"] == 65536.0 and chips[0]["utilization_pct"] == 7.0


def test_ascend_node_alerts_when_its_npu_reads_alarm_and_clears_when_it_is_ok_again(
    sshd_factory: Any, tmp_path: Path
) -> None:
    from console.core.alerts.config import Severity, load_rules

    sshd = _ascend_sshd(sshd_factory, ["127.0.0.2"])
    sshd.replay_tool("127.0.0.2", "npu-smi", B3)
    inventory = inventory_for(sshd, tmp_path, {"npu": "127.0.0.2"}, node_extra='vendor = "ascend"')
    rules = load_rules("[accelerator_health]\nclear_s = 2\n")
    with running(inventory, alert_rules=rules) as live:
        wait_for("streaming", lambda: live.fleet.view("npu").accelerator_count == 8)
        assert live.fleet.view("npu").alerts == ()
        sshd.replay_tool("127.0.0.2", "npu-smi", B3, mode="alarm")
        alert = wait_for("alarm alert", lambda: next(iter(live.fleet.view("npu").alerts), None))
        assert (alert.rule, alert.severity, alert.accelerator) == ("accelerator_health", Severity.CRITICAL, 0)
        assert alert.evidence == {"health": "Alarm"} and "NPU 0 chip 0" in alert.message
        sshd.replay_tool("127.0.0.2", "npu-smi", B3)
        wait_for("cleared", lambda: live.fleet.view("npu").alerts == (), timeout=15)
