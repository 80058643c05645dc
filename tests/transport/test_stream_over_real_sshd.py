"""The live path end to end against a real OpenSSH sshd on loopback.

The nodes' ``nvidia-smi`` is the replaying stand-in (tests/standins/replay_nvidia_smi.py), which plays
real recordings from tests/fixtures/nvidia/; no GPU is involved.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from console.core.telemetry.samples import NodeState
from console.transport.ssh import SshSettings, close_quietly, connect, exec_once, resolve
from tests.helpers.live import NO_USER_CONFIG, inventory_for, poll_once_json, running, wait_for
from tests.helpers.sshd import keygen
from tests.paths import NVIDIA

H100_LOAD = NVIDIA / "query-gpu-allfields_1xH100-80GB-HBM3_driver590_load.csv"
L40S = NVIDIA / "query-gpu-allfields_1xL40S_driver595.80_load.csv"
EIGHT_H100 = NVIDIA / "table_8xH100-SXM-80GB-HBM3_driver565.57.01_idle_no-timestamp-line.txt"

pytestmark = pytest.mark.sshd


def _state(live: Any, name: str) -> NodeState:
    return live.fleet.view(name).state


def test_replayed_h100_and_l40s_recordings_stream_into_the_model(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2", "127.0.0.3"], **{"127_0_0_3": L40S})
    inventory = inventory_for(sshd, tmp_path, {"h100": "127.0.0.2", "l40s": "127.0.0.3"})
    with running(inventory) as live:
        wait_for("both nodes streaming", lambda: all(v.lines_parsed >= 2 for v in live.fleet.views()))
        h100, l40s = live.fleet.view("h100"), live.fleet.view("l40s")
    assert h100.state is NodeState.UP and h100.error is None
    sample = h100.accelerators[0].sample
    assert (sample.model, sample.utilization_pct, sample.memory_used_mib, sample.temperature_c) == (
        "NVIDIA H100 80GB HBM3",
        100.0,
        19818.0,
        59.0,
    )
    assert (sample.power_w, sample.power_limit_w, sample.sm_clock_mhz, sample.pstate) == (631.95, 700.0, 1980.0, "P0")
    assert l40s.accelerators[0].sample.power_limit_w == 350.0
    assert h100.host_key_fingerprint is not None and h100.host_key_fingerprint.startswith("SHA256:")
    assert h100.telemetry_source == "nvidia-smi"


def test_replayed_eight_gpu_table_recording_gives_eight_accelerators(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2"], **{"127_0_0_2": EIGHT_H100})
    inventory = inventory_for(sshd, tmp_path, {"dgx": "127.0.0.2"})
    with running(inventory) as live:
        view = wait_for("eight GPUs", lambda: (v := live.fleet.view("dgx")).accelerator_count == 8 and v)
    assert [a.sample.temperature_c for a in view.accelerators] == [30, 30, 31, 30, 28, 30, 29, 29]
    series = live.fleet.series("dgx", 7, "power_w")
    assert series is not None and series.values[-1] == 75.0


def test_changed_host_key_is_refused_with_both_fingerprints_and_no_data(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2"])
    impostor = tmp_path / "impostor_key"
    keygen(impostor)
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts_line("127.0.0.2", impostor) + "\n")
    inventory = inventory_for(sshd, tmp_path, {"n1": "127.0.0.2"}, known_hosts=known)
    with running(inventory) as live:
        view = wait_for(
            "host key changed", lambda: (v := live.fleet.view("n1")).state == NodeState.HOST_KEY_CHANGED and v
        )
    assert view.error is not None
    assert "HOST KEY CHANGED" in view.error
    assert view.error.count("SHA256:") == 2
    assert "ssh-keygen -R" in view.error
    assert view.lines_parsed == 0 and view.accelerators == ()
    assert view.host_key_fingerprint is not None and view.host_key_fingerprint in view.error


def test_unknown_host_key_is_refused_with_its_fingerprint_and_no_data(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2", "127.0.0.3"])
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts_line("127.0.0.3") + "\n")  # only the other node is known
    inventory = inventory_for(sshd, tmp_path, {"n1": "127.0.0.2", "n2": "127.0.0.3"}, known_hosts=known)
    with running(inventory) as live:
        view = wait_for(
            "host key unknown", lambda: (v := live.fleet.view("n1")).state == NodeState.HOST_KEY_UNKNOWN and v
        )
        wait_for("the known node streams", lambda: live.fleet.view("n2").lines_parsed > 0)
    assert view.error is not None and "host key UNKNOWN" in view.error and "[127.0.0.2]:" in view.error
    assert view.host_key_fingerprint is not None and view.host_key_fingerprint in view.error
    assert view.lines_parsed == 0
    assert known.read_text().count("\n") == 1  # nothing was added to known_hosts


def test_hashed_known_hosts_entries_are_honoured(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2"])
    known = sshd.write_known_hosts(tmp_path / "known_hosts")
    subprocess.run(["ssh-keygen", "-H", "-f", str(known)], check=True, capture_output=True)
    assert "127.0.0.2" not in known.read_text()  # hashed: the address is no longer readable
    inventory = inventory_for(sshd, tmp_path, {"n1": "127.0.0.2"}, known_hosts=known)
    with running(inventory) as live:
        wait_for("streaming", lambda: live.fleet.view("n1").lines_parsed >= 1)


def test_fixed_known_hosts_is_picked_up_without_a_restart(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2"])
    known = tmp_path / "known_hosts"
    known.write_text("")
    inventory = inventory_for(sshd, tmp_path, {"n1": "127.0.0.2"}, known_hosts=known)
    with running(inventory) as live:
        wait_for("unknown", lambda: live.fleet.view("n1").state == NodeState.HOST_KEY_UNKNOWN)
        sshd.write_known_hosts(known)  # the operator verified and added the key
        live.reconnect("n1")  # the panel's "Reconnect now"; otherwise the next backoff retry picks it up
        wait_for("up", lambda: live.fleet.view("n1").state == NodeState.UP)


def test_missing_known_hosts_file_is_unknown_host_key_saying_so(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2"])
    inventory = inventory_for(sshd, tmp_path, {"n1": "127.0.0.2"}, known_hosts=tmp_path / "absent")
    with running(inventory) as live:
        view = wait_for("unknown", lambda: (v := live.fleet.view("n1")).state == NodeState.HOST_KEY_UNKNOWN and v)
    assert view.error is not None and "does not exist" in view.error
    assert not (tmp_path / "absent").exists()


def test_wrong_client_key_is_auth_failed(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2"])
    stranger = tmp_path / "stranger"
    keygen(stranger)
    inventory = inventory_for(sshd, tmp_path, {"n1": "127.0.0.2"}, node_extra=f'identity_file = "{stranger}"')
    with running(inventory) as live:
        view = wait_for("auth failed", lambda: (v := live.fleet.view("n1")).state == NodeState.AUTH_FAILED and v)
    assert view.error is not None and "authentication failed" in view.error and str(stranger) in view.error


def test_sshd_killed_mid_stream_makes_node_unreachable_then_up_again_when_back(
    sshd_factory: Any, tmp_path: Path
) -> None:
    sshd = sshd_factory(["127.0.0.2"])
    inventory = inventory_for(sshd, tmp_path, {"n1": "127.0.0.2"})
    with running(inventory) as live:
        wait_for("streaming", lambda: live.fleet.view("n1").lines_parsed >= 2)
        sshd.kill()
        view = wait_for("unreachable", lambda: (v := live.fleet.view("n1")).state == NodeState.UNREACHABLE and v)
        assert view.error is not None and "retrying in" in view.error
        wait_for("refused while down", lambda: "connection refused" in (live.fleet.view("n1").error or ""))
        parsed_while_down = live.fleet.view("n1").lines_parsed
        sshd.start()
        wait_for("up again", lambda: _state(live, "n1") == NodeState.UP)
        wait_for("new data", lambda: live.fleet.view("n1").lines_parsed > parsed_while_down)
        history = live.fleet.series("n1", 0, "utilization_pct")
        assert history is not None and len(history.values) >= 3  # recorded history survived the outage


def test_truncated_line_puts_that_node_in_parse_error_while_the_others_go_on(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2", "127.0.0.3"])
    inventory = inventory_for(sshd, tmp_path, {"bad": "127.0.0.2", "good": "127.0.0.3"})
    with running(inventory) as live:
        wait_for("streaming", lambda: all(v.lines_parsed >= 1 for v in live.fleet.views()))
        sshd.replay("127.0.0.2", H100_LOAD, mode="truncate")
        bad = wait_for("parse error", lambda: (v := live.fleet.view("bad")).state == NodeState.PARSE_ERROR and v)
        good_before = live.fleet.view("good").lines_parsed
        wait_for("good node still streaming", lambda: live.fleet.view("good").lines_parsed > good_before + 1)
        assert _state(live, "good") == NodeState.UP
    assert bad.error is not None and "expected 15 comma-separated fields" in bad.error
    assert bad.lines_rejected >= 1
    assert bad.accelerators[0].sample.utilization_pct == 100.0  # the last good reading is kept


def test_binary_garbage_line_is_reported_not_crashed_on(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2"])
    sshd.replay("127.0.0.2", H100_LOAD, mode="garbage")
    inventory = inventory_for(sshd, tmp_path, {"n1": "127.0.0.2"})
    with running(inventory) as live:
        view = wait_for("parse error", lambda: (v := live.fleet.view("n1")).state == NodeState.PARSE_ERROR and v)
    assert view.error is not None and "this is not csv" in view.error


def test_tool_that_exits_is_command_failed_with_its_stderr_then_restarted(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2"])
    sshd.replay(
        "127.0.0.2",
        H100_LOAD,
        mode="exit",
        exit_status=9,
        stderr="Failed to initialize NVML: Driver/library version mismatch\n",
    )
    inventory = inventory_for(sshd, tmp_path, {"n1": "127.0.0.2"})
    with running(inventory) as live:
        view = wait_for("command failed", lambda: (v := live.fleet.view("n1")).state == NodeState.COMMAND_FAILED and v)
        assert view.error is not None
        assert "nvidia-smi exited with status 9" in view.error and "Driver/library version mismatch" in view.error
        sshd.replay("127.0.0.2", H100_LOAD)
        wait_for("restarted and up", lambda: _state(live, "n1") == NodeState.UP)


def test_stream_that_stops_makes_the_node_stale_then_up_when_it_resumes(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2"])
    inventory = inventory_for(sshd, tmp_path, {"n1": "127.0.0.2"})
    with running(inventory) as live:
        wait_for("streaming", lambda: live.fleet.view("n1").lines_parsed >= 1)
        sshd.replay("127.0.0.2", H100_LOAD, mode="silent")
        view = wait_for("stale", lambda: (v := live.fleet.view("n1")).state == NodeState.STALE and v, timeout=10)
        assert view.error is not None and "no telemetry line for" in view.error
        sshd.replay("127.0.0.2", H100_LOAD)
        wait_for("up again", lambda: _state(live, "n1") == NodeState.UP, timeout=10)


def test_node_without_nvidia_smi_says_command_not_found(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2", "127.0.0.3"])
    (sshd.bin_dir / "nvidia-smi").unlink()
    inventory = inventory_for(sshd, tmp_path, {"cpu-only": "127.0.0.2"}, node_extra='vendor = "nvidia"')
    with running(inventory) as live:
        view = wait_for("not found", lambda: (v := live.fleet.view("cpu-only")).state == NodeState.COMMAND_FAILED and v)
    assert view.error is not None and "nvidia-smi not found on the node" in view.error
    # Left to detect (vendor = "auto"), the same node says that it has no accelerator tool at all.
    auto = inventory_for(sshd, tmp_path, {"cpu-auto": "127.0.0.3"})
    with running(auto) as live:
        view = wait_for("no tool", lambda: (v := live.fleet.view("cpu-auto")).state == NodeState.COMMAND_FAILED and v)
    assert view.error is not None and view.error.startswith("no accelerator tool found on this node")


def test_unreachable_address_is_reported_and_the_others_go_on(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2"])
    inventory = inventory_for(sshd, tmp_path, {"ok": "127.0.0.2", "dead": "127.0.0.9"})
    with running(inventory) as live:
        dead = wait_for("dead unreachable", lambda: (v := live.fleet.view("dead")).state == NodeState.UNREACHABLE and v)
        wait_for("ok streams", lambda: live.fleet.view("ok").lines_parsed > 0)
    assert dead.error is not None and "127.0.0.9" in dead.error and "connection refused" in dead.error


def test_proxyjump_through_a_bastion_reaches_the_node(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2", "127.0.0.3"])
    # The node listens on 127.0.0.3; the console reaches it through the bastion at 127.0.0.2.
    inventory = inventory_for(
        sshd, tmp_path, {"behind": "127.0.0.3"}, node_extra=f'proxy_jump = "{sshd.user}@127.0.0.2:{sshd.port}"'
    )
    with running(inventory) as live:
        wait_for("streaming via jump host", lambda: live.fleet.view("behind").lines_parsed >= 1)
        bastions = live.hub._jumps._clients
        assert [key[:2] for key in bastions] == [("127.0.0.2", sshd.port)]


def test_jump_host_with_unknown_key_is_named_in_the_error(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2", "127.0.0.3"])
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts_line("127.0.0.3") + "\n")  # the node is known, the bastion is not
    inventory = inventory_for(
        sshd,
        tmp_path,
        {"behind": "127.0.0.3"},
        known_hosts=known,
        node_extra=f'proxy_jump = "{sshd.user}@127.0.0.2:{sshd.port}"',
    )
    with running(inventory) as live:
        view = wait_for("unknown", lambda: (v := live.fleet.view("behind")).state == NodeState.HOST_KEY_UNKNOWN and v)
    assert view.error is not None and view.error.startswith(f"jump host {sshd.user}@127.0.0.2:{sshd.port}: host key")


def test_ssh_config_alias_supplies_hostname_port_user_and_key(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2"])
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host rack12-node7\n  HostName 127.0.0.2\n  Port {sshd.port}\n  User {sshd.user}\n"
        f"  IdentityFile {sshd.client_key}\n"
    )
    known = sshd.write_known_hosts(tmp_path / "known_hosts")
    text = f'[defaults]\nknown_hosts = "{known}"\n[[node]]\nname = "n7"\nhost = "rack12-node7"\n'
    (tmp_path / "fleet.toml").write_text(text)
    from console.core.inventory import load_inventory

    inventory = load_inventory(tmp_path / "fleet.toml")
    ssh = SshSettings(ssh_config=config, allow_agent=False, look_for_keys=False)
    with running(inventory, ssh=ssh) as live:
        wait_for("streaming via alias", lambda: live.fleet.view("n7").lines_parsed >= 1)


def test_arguments_reach_the_node_verbatim_and_never_run_as_shell(sshd_factory: Any, tmp_path: Path) -> None:
    """glances-style: hostile argument text is data on the node, not a command."""
    sshd = sshd_factory(["127.0.0.2"])
    inventory = inventory_for(sshd, tmp_path, {"n1": "127.0.0.2"})
    marker = tmp_path / "pwned"
    hostile = f"a'b\"c; touch {marker}; $(touch {marker}) `touch {marker}` | touch {marker}\n&& x"
    client = connect(resolve(inventory.nodes[0], NO_USER_CONFIG), NO_USER_CONFIG)
    try:
        result = exec_once(client, ["printf", "%s", hostile], timeout_s=10)
    finally:
        close_quietly(client)
    assert result.exit_status == 0
    assert result.stdout.decode() == hostile
    assert not marker.exists()
    assert shlex.split(shlex.join(["printf", "%s", hostile])) == ["printf", "%s", hostile]


def test_a_command_that_trickles_output_forever_ends_at_its_deadline_for_the_whole_call(
    sshd_factory: Any, tmp_path: Path
) -> None:
    """The timeout bounds the whole call, not each read: a line every 0.3 s never resets it."""
    import time

    from console.transport.ssh import ConnectError

    sshd = sshd_factory(["127.0.0.2"])
    inventory = inventory_for(sshd, tmp_path, {"n1": "127.0.0.2"})
    client = connect(resolve(inventory.nodes[0], NO_USER_CONFIG), NO_USER_CONFIG)
    started = time.monotonic()
    try:
        with pytest.raises(ConnectError, match="no complete answer within 2 s"):
            exec_once(client, ["sh", "-c", "while :; do echo tick; sleep 0.3; done"], timeout_s=2)
    finally:
        close_quietly(client)
    assert time.monotonic() - started < 10  # before: it never returned


K80_XML = NVIDIA.parent / "nvidia" / "q-x_4xTeslaK80_driver430.26.xml"
DMESG = NVIDIA.parent / "kernel" / "dmesg-decode-iso_xid13_xid43.log"


def test_slow_path_reads_replayed_xml_and_kernel_log_recordings_over_real_sshd(
    sshd_factory: Any, tmp_path: Path
) -> None:
    import json as json_module

    sshd = sshd_factory(["127.0.0.2", "127.0.0.3"])
    sshd.replay("127.0.0.2", H100_LOAD, xml=str(K80_XML))
    sshd.kernel_log("127.0.0.2", DMESG)  # journalctl has no journal there; dmesg holds the recording
    sshd.kernel_log("127.0.0.3", None)  # an account that may not read the kernel log
    inventory_for(sshd, tmp_path, {"k80": "127.0.0.2", "locked": "127.0.0.3"})
    result = poll_once_json(str(tmp_path / "fleet.toml"))
    records = {r["node"]: r for r in map(json_module.loads, result.stdout.splitlines())}
    k80 = records["k80"]
    assert k80["driver_version"] == "430.26" and k80["kernel_log"] == "read"
    gpu = k80["accelerators"][0]
    assert (gpu["ecc_uncorrected_volatile"], gpu["retired_or_remapped_pending"]) == (0.0, False)
    assert gpu["throttle_reasons"] == ["applications_clocks_setting"]
    # The recorded XIDs are on PCI 0000:38:00, which is none of this node's GPUs: node-level alerts.
    rules = {(a["rule"], a["severity"], a["accelerator"]) for a in k80["alerts"]}
    assert rules == {("xid_13", "info", None), ("xid_43", "info", None)}
    health = k80["node_health"]
    assert health["cpus"] >= 1 and 0 <= health["memory_used_pct"] <= 100 and health["uptime_s"] > 0
    assert records["locked"]["kernel_log"].startswith("no permission: ")
    assert (
        "Operation not permitted" in records["locked"]["kernel_log"] or "No journal" in records["locked"]["kernel_log"]
    )


def test_slow_path_runs_in_the_live_console_on_the_streaming_connection(sshd_factory: Any, tmp_path: Path) -> None:
    from console.app import LiveFleet
    from tests.helpers.live import FAST, NO_USER_CONFIG

    sshd = sshd_factory(["127.0.0.2"])
    sshd.replay("127.0.0.2", H100_LOAD, xml=str(K80_XML))
    sshd.kernel_log("127.0.0.2", DMESG)
    inventory = inventory_for(sshd, tmp_path, {"k80": "127.0.0.2"})
    live = LiveFleet(inventory, NO_USER_CONFIG, FAST, detail_interval_s=1.0)
    live.start()
    try:
        view = wait_for("details", lambda: (v := live.fleet.view("k80")).report is not None and v)
        assert view.report is not None and view.report.driver_version == "430.26"
        assert {r.event.code for r in view.xids} == {13, 43}
        assert len(view.xids) == 17
        wait_for("xid alerts", lambda: {a.rule for a in live.fleet.view("k80").alerts} >= {"xid_13", "xid_43"})
        # The ring buffer is read again every second: the same lines are not counted twice.
        first = view.report.taken_at
        wait_for("a later look", lambda: (r := live.fleet.view("k80").report) is not None and r.taken_at > first)
        assert len(live.fleet.view("k80").xids) == 17
    finally:
        live.stop()


RTX4090_XML = NVIDIA.parent / "nvidia" / "q-x_1xRTX4090_driver535.86.05.xml"


def test_later_looks_read_the_health_fields_alone_where_the_driver_answers_them(
    sshd_factory: Any, tmp_path: Path
) -> None:
    """The first look reads the whole -q -x; the next ones the health query, with the same values (and the
    CUDA version carried over); a driver that refuses the query (430) is read through -q -x every time."""
    from console.app import LiveFleet
    from tests.helpers.live import FAST, NO_USER_CONFIG

    sshd = sshd_factory(["127.0.0.2", "127.0.0.3"])
    sshd.replay("127.0.0.2", H100_LOAD, xml=str(RTX4090_XML))
    sshd.replay("127.0.0.3", H100_LOAD, xml=str(K80_XML))
    inventory = inventory_for(sshd, tmp_path, {"ada": "127.0.0.2", "k80": "127.0.0.3"})
    live = LiveFleet(inventory, NO_USER_CONFIG, FAST, detail_interval_s=1.0)
    live.start()
    try:
        first = wait_for("a full look", lambda: (r := live.fleet.view("ada").report) is not None and r)
        assert first.details_from == "-q -x" and first.cuda_version == "12.2"
        later = wait_for(
            "a health look",
            lambda: (r := live.fleet.view("ada").report) is not None and r.details_from == "--query-gpu" and r,
        )
        assert later.errors == () and later.cuda_version == "12.2" and later.driver_version == "535.86.05"
        (a,), (b,) = first.gpus, later.gpus
        assert (b.uuid, b.pci_bus_id, b.module_id, b.ecc_mode, b.remapped_rows_pending) == (
            a.uuid,
            a.pci_bus_id,
            a.module_id,
            a.ecc_mode,
            a.remapped_rows_pending,
        )
        assert b.module_id == 1.0 and b.power_limit_w == a.power_limit_w
        refused = wait_for(
            "the k80's second look",
            lambda: (r := live.fleet.view("k80").report) is not None and r.health_query_refused and r,
        )
        assert refused.details_from == "-q -x" and refused.driver_version == "430.26" and len(refused.gpus) == 4
    finally:
        live.stop()
