"""The kernel log followed live on each node's streaming connection, over a real sshd: a kernel line written
on the node raises its alert without waiting for a slow-path look (the slow path is set to look once an
hour here); journalctl where the node has a journal, dmesg where it has none; a log that cannot be read says
so and the node stays up; lines written while the connection was down are read after it comes back.

The nodes' journalctl and dmesg are the replaying stand-in (tests/standins/replay_kernel_log.py): it
honours ``--since @EPOCH`` as journalctl does, and follows what the test writes "on the node"."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest

from console.app import LiveFleet
from console.core.alerts.config import Severity
from console.core.telemetry.samples import NodeState
from tests.helpers.live import FAST, NO_USER_CONFIG, inventory_for, wait_for
from tests.paths import FIXTURES, NVIDIA

pytestmark = pytest.mark.sshd

H100 = NVIDIA / "query-gpu-allfields_1xH100-80GB-HBM3_driver590_load.csv"  # its GPU is PCI 00000000:00:09.0
DMESG = FIXTURES / "kernel" / "dmesg-decode-iso_xid13_xid43.log"
HOUR = 3600.0


def _journal_stamp(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _write_on_node(sshd: Any, address: str, text: str) -> None:
    with (sshd.replay_dir / f"{address}.kernel.live").open("a", encoding="utf-8") as live:
        live.write(text)


def _live(inventory: Any) -> LiveFleet:
    live = LiveFleet(inventory, NO_USER_CONFIG, FAST, detail_interval_s=HOUR)
    live.start()
    return live


def _critical_xid(live: LiveFleet, node: str, code: int) -> bool:
    return any(
        a.rule == f"xid_{code}" and a.severity == Severity.CRITICAL and a.accelerator == 0
        for a in live.fleet.view(node).alerts
    )


def test_an_xid_written_on_a_node_with_a_journal_raises_its_alert_without_a_slow_path_look(
    sshd_factory: Any, tmp_path: Path
) -> None:
    sshd = sshd_factory(["127.0.0.2"], **{"127_0_0_2": H100})
    (sshd.replay_dir / "127.0.0.2.kernel.json").write_text('{"recording": "", "journal": true}')
    # Written before the console connects, ten minutes ago: the look-back at connect reads it; one from two
    # hours ago is older than the look-back and is not.
    _write_on_node(
        sshd,
        "127.0.0.2",
        f"{_journal_stamp(time.time() - 2 * HOUR)} gpu-001 kernel: NVRM: Xid (PCI:0000:00:09): 48, pid=1, DBE\n"
        f"{_journal_stamp(time.time() - 600)} gpu-001 kernel: NVRM: Xid (PCI:0000:00:09): 13, pid=7, Graphics\n",
    )
    inventory = inventory_for(sshd, tmp_path, {"gpu-001": "127.0.0.2"})
    live = _live(inventory)
    try:
        wait_for(
            "the journal to be followed", lambda: live.fleet.view("gpu-001").kernel_follow == "following (journalctl)"
        )
        wait_for("the look-back's XID 13", lambda: {r.event.code for r in live.fleet.view("gpu-001").xids} == {13})
        _write_on_node(
            sshd,
            "127.0.0.2",
            f"{_journal_stamp(time.time())} gpu-001 kernel: NVRM: Xid (PCI:0000:00:09): 79, pid='<unknown>', "
            "name=<unknown>, GPU has fallen off the bus.\n",
        )
        wait_for("the XID 79 alert on GPU 0", lambda: _critical_xid(live, "gpu-001", 79), timeout=10)
        view = live.fleet.view("gpu-001")
        assert view.report is None or view.report.taken_at < time.time() - 1  # no slow-path look brought it
        assert view.state == NodeState.UP
    finally:
        live.stop()


def test_without_a_journal_dmesg_is_followed_and_a_fallen_off_message_split_across_writes_is_caught(
    sshd_factory: Any, tmp_path: Path
) -> None:
    sshd = sshd_factory(["127.0.0.2"], **{"127_0_0_2": H100})
    sshd.kernel_log("127.0.0.2", DMESG)  # no journal: journalctl says so, dmesg holds the recording
    inventory = inventory_for(sshd, tmp_path, {"gpu-001": "127.0.0.2"})
    live = _live(inventory)
    try:
        wait_for("dmesg to be followed", lambda: live.fleet.view("gpu-001").kernel_follow == "following (dmesg)")
        wait_for("the ring buffer's XIDs", lambda: len(live.fleet.view("gpu-001").xids) == 17)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S,%f+00:00")
        _write_on_node(sshd, "127.0.0.2", f"kern  :err   : {stamp} NVRM: The NVIDIA GPU 0000:00:09.0\n")
        time.sleep(0.3)  # the continuation lines come in a later read, as the kernel may write them
        _write_on_node(
            sshd,
            "127.0.0.2",
            "                                                NVRM: (PCI ID: 10de:2330) installed in this system has\n"
            "                                                NVRM: fallen off the bus and is not responding to "
            "commands.\n",
        )
        wait_for("the fallen-off-the-bus alert on GPU 0", lambda: _critical_xid(live, "gpu-001", 79), timeout=10)
    finally:
        live.stop()


def test_a_kernel_log_that_cannot_be_read_says_so_and_the_node_stays_up(sshd_factory: Any, tmp_path: Path) -> None:
    sshd = sshd_factory(["127.0.0.2"], **{"127_0_0_2": H100})
    sshd.kernel_log("127.0.0.2", None)  # an account that may read neither the journal nor dmesg
    inventory = inventory_for(sshd, tmp_path, {"gpu-001": "127.0.0.2"})
    live = _live(inventory)
    try:
        state = wait_for(
            "the follow to say why it stopped",
            lambda: (s := live.fleet.view("gpu-001").kernel_follow) and s.startswith("no permission") and s,
        )
        assert "Operation not permitted" in state and "trying again in" in state
        assert live.fleet.view("gpu-001").state == NodeState.UP
    finally:
        live.stop()


def test_lines_written_while_the_connection_was_down_are_read_after_it_is_back(
    sshd_factory: Any, tmp_path: Path
) -> None:
    sshd = sshd_factory(["127.0.0.2"], **{"127_0_0_2": H100})
    (sshd.replay_dir / "127.0.0.2.kernel.json").write_text('{"recording": "", "journal": true}')
    inventory = inventory_for(sshd, tmp_path, {"gpu-001": "127.0.0.2"})
    live = _live(inventory)
    try:
        wait_for(
            "the journal to be followed", lambda: live.fleet.view("gpu-001").kernel_follow == "following (journalctl)"
        )
        _write_on_node(
            sshd, "127.0.0.2", f"{_journal_stamp(time.time())} gpu-001 kernel: NVRM: Xid (PCI:0000:00:09): 13, a\n"
        )
        wait_for("the first XID", lambda: len(live.fleet.view("gpu-001").xids) == 1)
        sshd.kill()
        wait_for("the node to be unreachable", lambda: live.fleet.view("gpu-001").state == NodeState.UNREACHABLE)
        _write_on_node(
            sshd,
            "127.0.0.2",
            f"{_journal_stamp(time.time())} gpu-001 kernel: NVRM: Xid (PCI:0000:00:09): 94, while it was away\n",
        )
        sshd.start()
        wait_for("the XID written meanwhile", lambda: _critical_xid(live, "gpu-001", 94), timeout=30)
        assert {r.event.code for r in live.fleet.view("gpu-001").xids} == {13, 94}  # the first not counted twice
    finally:
        live.stop()
