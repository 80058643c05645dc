"""The simulated fleet speaks nvidia-smi's real formats, behaves believably, and is reached like a real fleet."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from console.core.inventory import load_inventory
from console.core.parsers.nvidia_csv import STREAM_FIELDS, NvidiaCsvParser, parse_document, stream_argv
from console.core.telemetry.details import HealthReport
from console.sim import nvidia_smi
from console.sim.model import (
    FLAP_DOWN_S,
    FLAP_PERIOD_S,
    RUNAWAY_GPU,
    RUNAWAY_PERIOD_S,
    Role,
    SimNode,
    build_fleet,
)
from tests.helpers.live import poll_once_json
from tests.paths import NVIDIA

REAL = NVIDIA / "query-gpu-allfields_1xH100-80GB-HBM3_driver590_load.csv"


def _real_header_and_row() -> tuple[list[str], list[str]]:
    header, row = [line for line in REAL.read_text().splitlines() if line.strip()]
    return [h.strip() for h in header.split(",")], [v.strip() for v in row.split(", ")]


def _shape(value: str) -> str:
    """``631.95 W`` → ``9.9 W``; ``0x0000`` → ``0x9``: the form of a value, not the value."""
    return re.sub(r"[0-9A-F]+", "9", re.sub(r"\d+(\.\d+)?", lambda m: "9.9" if m.group(1) else "9", value))


def test_sim_headers_and_value_formats_match_a_real_nvidia_smi_recording() -> None:
    real_header, real_row = _real_header_and_row()
    real = {h.split(" [")[0]: (h, v) for h, v in zip(real_header, real_row, strict=True)}
    shared = [f for f in nvidia_smi.FIELDS if f in real and f not in {"timestamp"}]
    assert len(shared) >= 25
    query = nvidia_smi.parse_argv(["nvidia-smi", "--query-gpu=" + ",".join(shared), "--format=csv"])
    header = nvidia_smi.header_line(query).split(", ")
    node = build_fleet(4)[1]
    values = nvidia_smi.rows(node, query, 1_800_000_000.0)[0].split(", ")
    for field, sim_header, sim_value in zip(shared, header, values, strict=True):
        real_header_token, real_value = real[field]
        assert sim_header == real_header_token, field
        if not real_value.startswith("["):
            assert _shape(sim_value).split(" ")[1:] == _shape(real_value).split(" ")[1:], (field, sim_value, real_value)


def test_sim_timestamp_has_the_real_layout() -> None:
    query = nvidia_smi.parse_argv(["nvidia-smi", "--query-gpu=timestamp", "--format=csv,noheader"])
    (stamp, *_) = nvidia_smi.rows(build_fleet(1)[0], query, 1_800_000_000.25)
    assert re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{3}", stamp)
    assert re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{3}", _real_header_and_row()[1][0])


def test_sim_output_parses_with_the_consoles_own_parser_for_the_stream_command() -> None:
    query = nvidia_smi.parse_argv(stream_argv())
    lines = nvidia_smi.rows(build_fleet(8)[2], query, 1_800_000_000.0)
    parser = NvidiaCsvParser()
    samples = [parser.parse_line(line).sample for line in lines]
    assert [s.index for s in samples if s] == list(range(8))
    with_header = nvidia_smi.parse_argv(["nvidia-smi", "--query-gpu=" + ",".join(STREAM_FIELDS), "--format=csv"])
    text = "\n".join([nvidia_smi.header_line(with_header), *nvidia_smi.rows(build_fleet(8)[2], with_header, 0.0)])
    assert all(p.error is None for p in parse_document(text))


def test_sim_refuses_unknown_fields_with_nvidia_smis_words() -> None:
    with pytest.raises(nvidia_smi.UsageError) as caught:
        nvidia_smi.parse_argv(["nvidia-smi", "--query-gpu=index,bogus.field", "--format=csv"])
    assert str(caught.value) == 'Field "bogus.field" is not a valid field to query.\n\n'


def test_fleet_mixes_roles_with_one_runaway_and_one_flapping_node() -> None:
    fleet = build_fleet(32)
    roles = [n.role for n in fleet]
    assert roles.count(Role.THERMAL_RUNAWAY) == 1 and roles.count(Role.FLAPPING) == 1
    assert roles.count(Role.TRAINING) >= 8 and roles.count(Role.IDLE) >= 3
    assert len({n.name for n in fleet}) == 32 and len({n.rack for n in fleet}) == 8


def test_training_is_busy_idle_is_idle_and_the_runaway_gpu_overheats_then_recovers() -> None:
    fleet = build_fleet(32)
    training = next(n for n in fleet if n.role == Role.TRAINING)
    idle = next(n for n in fleet if n.role == Role.IDLE)
    runaway = next(n for n in fleet if n.role == Role.THERMAL_RUNAWAY)
    times = [1_800_000_000.0 + k * 7 for k in range(200)]
    assert sum(training.gpu(0, t).utilization_pct for t in times) / len(times) > 80
    assert all(idle.gpu(g, t).utilization_pct == 0 for g in range(8) for t in times[:20])
    temps = [runaway.gpu(RUNAWAY_GPU, 1_800_000_000.0 + k).temperature_c for k in range(int(RUNAWAY_PERIOD_S))]
    assert max(temps) >= 90 and min(temps) < 80
    hottest = max(range(len(temps)), key=temps.__getitem__)
    assert runaway.gpu(RUNAWAY_GPU, 1_800_000_000.0 + hottest).throttled
    neighbours = [runaway.gpu(g, 1_800_000_000.0 + hottest).temperature_c for g in range(8) if g != RUNAWAY_GPU]
    assert max(neighbours) < 85


def test_the_sick_npu_reads_alarm_two_minutes_in_eight() -> None:
    sick = next(n for n in build_fleet(32) if n.role == Role.SICK_NPU)
    assert sick.vendor == "ascend"
    alarm = sum(sick.npu_health(t) == "Alarm" for t in range(0, 480 * 3))
    assert alarm == 3 * 120
    from console.core.parsers.npu_smi import parse_npu_smi
    from console.sim.vendor_tools import npu_smi_info

    moment = next(t for t in range(480) if sick.npu_health(float(t)) == "Alarm")
    chips = parse_npu_smi(npu_smi_info(sick, float(moment))).chips
    assert [c.health for c in chips].count("Alarm") == 1 and chips[3].health == "Alarm"


def test_flapping_node_is_offline_for_part_of_each_period() -> None:
    flapping = next(n for n in build_fleet(32) if n.role == Role.FLAPPING)
    offline = sum(flapping.offline(t) for t in range(0, int(FLAP_PERIOD_S) * 3))
    assert offline == pytest.approx(3 * FLAP_DOWN_S, abs=3)


@contextmanager
def running_sim(tmp_path: Path, nodes: int) -> Iterator[tuple[Path, str]]:
    """``fleet-console sim`` in a child process; yields its inventory and its ready line; stops it by PID."""
    inventory_path = tmp_path / "sim.toml"
    read_fd, write_fd = os.pipe()
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "console",
            "sim",
            "--nodes",
            str(nodes),
            "--inventory-out",
            str(inventory_path),
            "--data-dir",
            str(tmp_path / "data"),
            "--ready-fd",
            str(write_fd),
        ],
        pass_fds=(write_fd,),
    )
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as ready:
            yield inventory_path, ready.readline()
    finally:
        sim.terminate()
        sim.wait(timeout=20)


def test_sim_command_serves_a_fleet_that_poll_reads_over_verified_ssh(tmp_path: Path) -> None:
    with running_sim(tmp_path, 12) as (inventory_path, ready):
        assert "12 nodes" in ready
        inventory = load_inventory(inventory_path)
        assert len(inventory.nodes) == 12
        assert all(n.known_hosts is not None and n.known_hosts.is_file() for n in inventory.nodes)
        result = poll_once_json(str(inventory_path))
        records = [json.loads(line) for line in result.stdout.splitlines()]
        up = [r for r in records if r["state"] == "up"]
        # The flapping node may be in its off period; every other node answers.
        assert len(up) >= 11, result.stdout
        assert all(len(r["accelerators"]) == 8 for r in up)
        assert {a["model"] for r in up for a in r["accelerators"]} <= {
            "NVIDIA H100 80GB HBM3",
            "NVIDIA A100-SXM4-80GB",
            "NVIDIA L40S",
            "910B3",
            "AMD Instinct MI300X",
        }
        # A mixed fleet, told apart by the console's own detection (the inventory says vendor = "auto").
        by_source = {r["node"]: r["source"] for r in up}
        assert by_source["gpu-005"] == "npu-smi" and by_source["gpu-007"] == "amd-smi"
        assert by_source["gpu-001"] == "nvidia-smi"
        npu = next(r for r in up if r["node"] == "gpu-005")["accelerators"]
        assert [a["npu_id"] for a in npu] == list(range(8)) and npu[0]["vendor"] == "ascend"

        # Host keys are verified: a known_hosts without the sim's keys is refused.
        inventory_path.write_text(
            inventory_path.read_text().replace(str(inventory.nodes[0].known_hosts), str(tmp_path / "empty"))
        )
        (tmp_path / "empty").write_text("")
        refused = poll_once_json(str(inventory_path))
        assert refused.returncode == 1
        flapping = {n.name for n in build_fleet(12) if n.role == Role.FLAPPING}
        states = {r["node"]: r["state"] for r in map(json.loads, refused.stdout.splitlines())}
        assert {state for node, state in states.items() if node not in flapping} == {"host key unknown"}
        assert {states[node] for node in flapping} <= {"host key unknown", "unreachable"}
    keys = sorted(p.name for p in (tmp_path / "data" / "sim" / "host_keys").glob("*.key"))
    assert len(keys) == 13 and "scheduler.key" in keys  # a host key per node and one for the scheduler host


def test_sim_scheduler_and_bmcs_take_actions_through_the_real_engines(tmp_path: Path) -> None:
    env = {**os.environ, "FLEET_CONSOLE_OPERATOR": "sim-tester"}
    with running_sim(tmp_path, 12) as (inventory_path, ready):
        assert "a Slurm scheduler and their BMCs" in ready
        env["FLEET_DEMO_BMC_PASSWORD"] = (tmp_path / "data" / "sim" / "bmc-password").read_text().strip()
        inventory = load_inventory(inventory_path)
        assert inventory.scheduler is not None and all(n.bmc is not None for n in inventory.nodes)
        assert "password" not in inventory_path.read_text().replace("password_env", "")

        def act(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "console",
                    "action",
                    *args,
                    "--inventory",
                    str(inventory_path),
                    "--yes",
                    "--data-dir",
                    str(tmp_path / "console"),
                    "--ssh-config",
                    "/dev/null",
                ],
                capture_output=True,
                text=True,
                timeout=120,
                env=env,
                check=False,
            )

        drain = act("drain", "gpu-007", "--reason", "simulated fan failure")
        assert drain.returncode == 0, drain.stdout + drain.stderr
        assert "Slurm: IDLE+DRAIN, reason 'sim-tester: simulated fan failure'" in drain.stdout
        locate = act("locate", "gpu-007", "--led", "blink")
        assert locate.returncode == 0 and "locate LED Blinking" in locate.stdout
        refused = act("power", "gpu-002", "--reset-type", "ForceOn", "--reason", "x")
        assert refused.returncode == 3 and "does not allow ForceOn" in refused.stdout


@pytest.mark.parametrize("nvidia_part", ["nvidia", "nvidia-health"])
def test_sim_slow_path_answers_parse_and_carry_the_ecc_xid_and_throttle_faults(nvidia_part: str) -> None:
    from console.core.telemetry.details import detail_argv, parse_detail_output
    from console.core.telemetry.samples import Vendor
    from console.sim import details, model

    fields = detail_argv(Vendor.NVIDIA, 0, full=False)[6:8]  # the field lists the console sends

    def look(node: SimNode, since: float, t: float, boot: float) -> HealthReport:
        return parse_detail_output(details.detail_output(node, nvidia_part, since, t, boot, field_lists=fields), t)

    fleet = build_fleet(32)
    ecc_node, xid_node = fleet[model.ECC_NODE], fleet[model.XID_NODE]
    runaway = next(n for n in fleet if n.role == Role.THERMAL_RUNAWAY)
    base = 1_800_000_000.0
    ecc_t = next(
        base + k
        for k in range(900)
        if model.ecc_fault(ecc_node, base + k) and not model.ecc_fault(ecc_node, base + k - 1)
    )  # the fault's first second
    report = look(ecc_node, ecc_t - 60, ecc_t, ecc_t - 86400)
    assert report.errors == () and report.kernel_log == "read" and len(report.gpus) == 8
    assert report.details_from == ("-q -x" if nvidia_part == "nvidia" else "--query-gpu")
    sick = report.gpus[model.ECC_GPU]
    assert (sick.ecc_uncorrected_volatile, sick.remapped_rows_pending, sick.retired_or_remapped_pending) == (
        2.0,
        "Yes",
        True,
    )
    assert sick.module_id == model.ECC_GPU + 1
    later = look(ecc_node, ecc_t, ecc_t + 200, ecc_t - 86400)
    assert later.gpus[model.ECC_GPU].ecc_uncorrected_volatile == 3.0  # the count grows while the fault lasts
    assert report.node.cpus == 224 and report.node.root_disk_used_pct == 41.0
    assert 86399 < report.node.uptime_s < 86401  # type: ignore[operator]

    xid_t = max(base + k for k in range(600) if model.xid_window(xid_node, base + k))  # the fault's last second
    xids = look(xid_node, xid_t - 60, xid_t, base).xids
    assert xids and {e.code for e in xids} == {79}
    from console.core.parsers.xid import bus_key

    assert xids[0].bus == bus_key("00000000:BA:00.0")  # GPU 6's bus id in the stream

    hot_t = next(base + k for k in range(600) if runaway.gpu(3, base + k).throttled)
    hot = look(runaway, hot_t, hot_t, base).gpus[3]
    assert set(hot.throttle_reasons) == {"hw_slowdown", "hw_thermal_slowdown"}
    other = parse_detail_output(details.detail_output(fleet[4], None, base, base, base - 100), base)
    assert other.gpus == () and other.node.uptime_s == 100.0


def test_sim_health_query_under_older_field_names_is_refused_then_answered_by_the_next_list() -> None:
    from console.core.telemetry.details import parse_detail_output
    from console.sim import details

    node = build_fleet(4)[0]
    answer = details.detail_output(
        node, "nvidia-health", 0, 1e9, 1e9 - 100, field_lists=["index,uuid,no.such", "index,uuid"]
    )
    assert 'Field "no.such" is not a valid field to query.' in answer
    report = parse_detail_output(answer, 1e9)
    assert report.details_from == "--query-gpu" and not report.health_query_refused and len(report.gpus) == 8
    refused = parse_detail_output(
        details.detail_output(node, "nvidia-health", 0, 1e9, 1e9 - 100, field_lists=["x", "y"]), 1e9
    )
    assert refused.health_query_refused and refused.details_from == "-q -x" and len(refused.gpus) == 8


def test_the_simulated_nodes_kernel_logs_are_followed_on_their_streaming_connections(tmp_path: Path) -> None:
    from console.app import LiveFleet
    from tests.helpers.live import FAST, NO_USER_CONFIG, wait_for

    with running_sim(tmp_path, 4) as (inventory_path, _):
        live = LiveFleet(load_inventory(inventory_path), NO_USER_CONFIG, FAST, detail_interval_s=3600)
        live.start()
        try:
            wait_for(
                "every node's kernel log followed",
                lambda: all(v.kernel_follow == "following (journalctl)" for v in live.fleet.views()),
                timeout=30,
            )
        finally:
            live.stop()
