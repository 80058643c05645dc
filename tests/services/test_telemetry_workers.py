"""Telemetry through worker processes against a real sshd: the nodes stream into the console's fleet model,
one-off commands (the slow path's, actions') run on the nodes' connections in the workers, a cancelled
command ends early, a worker that dies is reported on its nodes and started again, and stopping leaves
no worker process behind."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from console.app import LiveFleet
from console.core.telemetry.details import HealthReport, detail_argv
from console.core.telemetry.samples import NodeState, Vendor
from console.services.telemetry_workers import (
    WINDOW_WORKER_NICE,
    WINDOW_WORKERS_FROM_NODES,
    WORKERS_FROM_CPUS,
    WORKERS_FROM_NODES,
    WorkerHub,
    telemetry_workers,
)
from console.transport.ssh import ConnectError
from tests.helpers.live import FAST, NO_USER_CONFIG, inventory_for, wait_for
from tests.paths import NVIDIA

H100_LOAD = NVIDIA / "query-gpu-allfields_1xH100-80GB-HBM3_driver590_load.csv"
RTX4090_XML = NVIDIA / "q-x_1xRTX4090_driver535.86.05.xml"
ADDRESSES = {"n1": "127.0.0.2", "n2": "127.0.0.3", "n3": "127.0.0.4"}


@pytest.mark.parametrize(
    ("nodes", "cpus", "window", "workers"),
    [
        (10, 16, False, 0),
        (1000, 2, False, 0),  # measured: headless, one process is cheaper
        (1000, 2, True, 2),  # measured: the window is much faster with two
        (WINDOW_WORKERS_FROM_NODES - 1, 16, True, 0),
        (WINDOW_WORKERS_FROM_NODES, 16, True, 1),
        (4000, 4, True, 4),  # one per core at most
        (WORKERS_FROM_NODES - 1, 16, False, 0),
        (WORKERS_FROM_NODES, 16, False, 3),
        (WORKERS_FROM_NODES, WORKERS_FROM_CPUS - 1, False, 0),
        (10_000, 4, False, 3),  # one core left for the rest
        (10_000, 64, False, 10),
    ],
)
def test_worker_processes_are_chosen_by_fleet_size_machine_and_window(
    nodes: int, cpus: int, window: bool, workers: int
) -> None:
    assert telemetry_workers(nodes, cpus, window) == workers


def _started(sshd_factory: Any, tmp_path: Path, window: bool = False) -> tuple[LiveFleet, WorkerHub]:
    """Three nodes streaming through two workers (started; the test stops it)."""
    sshd = sshd_factory(list(ADDRESSES.values()))
    for address in ADDRESSES.values():
        sshd.replay(address, H100_LOAD, xml=str(RTX4090_XML))
    inventory = inventory_for(sshd, tmp_path, ADDRESSES)
    live = LiveFleet(inventory, NO_USER_CONFIG, FAST, detail_interval_s=1.0, workers=2, window=window)
    assert isinstance(live.hub, WorkerHub)
    live.start()
    return live, live.hub


def _all_gone(pids: list[int]) -> bool:
    return not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)


def _all_streaming(live: LiveFleet) -> bool:
    views = [live.fleet.view(name) for name in ADDRESSES]
    return all(v.state == NodeState.UP and v.accelerator_count == 1 for v in views)


def test_nodes_stream_through_workers_and_commands_run_on_their_connections(sshd_factory: Any, tmp_path: Path) -> None:
    live, hub = _started(sshd_factory, tmp_path, window=True)
    try:
        pids = hub.worker_pids
        assert len(pids) == 2 and os.getpid() not in pids
        wait_for("every node streaming through the workers", lambda: _all_streaming(live))
        # Behind a window the workers yield the cores to it.
        assert [psutil.Process(pid).nice() for pid in pids] == [os.nice(0) + WINDOW_WORKER_NICE] * 2
        view = live.fleet.view("n2")
        assert view.max_utilization is not None and view.accelerators[0].sample.uuid
        # The slow path's looks go through the workers too.
        wait_for("a slow-path look", lambda: live.fleet.view("n3").report is not None)
        # The slow path's command is parsed in the worker: a report comes back, not the text.
        started = time.time()
        argv = detail_argv(Vendor.NVIDIA, started - 60, kernel_log=False, full=True)
        report = hub.look("n1", argv, 20, started)
        assert isinstance(report, HealthReport) and report.taken_at == started
        assert not report.errors and report.details_from == "-q -x"
        assert [g.uuid for g in report.gpus] == ["GPU-71d1acc2-662d-2166-bf9f-65272d2fc437"]
        result = hub.exec("n1", ["echo", "from the node"], timeout_s=10)
        assert (result.exit_status, result.stdout) == (0, b"from the node\n")
        with pytest.raises(ConnectError, match="not streamed"):
            hub.exec("nobody", ["true"], timeout_s=5)
        # A cancelled command ends early, in words.
        cancel = threading.Event()
        threading.Timer(0.5, cancel.set).start()
        started = time.monotonic()
        with pytest.raises(ConnectError):
            hub.exec("n1", ["sleep", "30"], timeout_s=30, cancel=cancel)
        assert time.monotonic() - started < 10
    finally:
        live.stop()
    assert _all_gone(pids)


def test_a_worker_that_dies_is_reported_on_its_nodes_and_started_again(sshd_factory: Any, tmp_path: Path) -> None:
    live, hub = _started(sshd_factory, tmp_path)
    try:
        wait_for("every node streaming", lambda: _all_streaming(live))
        first = hub.worker_pids
        os.kill(first[0], signal.SIGKILL)
        dead = wait_for(
            "the dead worker's nodes reported",
            lambda: [
                v
                for v in (live.fleet.view(n) for n in ADDRESSES)
                if v.state == NodeState.UNREACHABLE and "telemetry worker process" in (v.error or "")
            ],
        )
        assert {v.name for v in dead} == {"n1", "n3"}  # the first worker's share; n2 streams on
        assert "fleet-telemetry-1" in (dead[0].error or "") and "exit status -9" in (dead[0].error or "")
        assert live.fleet.view("n2").state == NodeState.UP
        wait_for("the worker started again", lambda: hub.worker_pids[0] != first[0] and _all_streaming(live))
    finally:
        live.stop()
    assert _all_gone(hub.worker_pids)


def test_a_look_the_worker_cannot_parse_fails_in_words_naming_the_node(monkeypatch: pytest.MonkeyPatch) -> None:
    from console.services import telemetry_workers
    from console.transport.ssh import ExecResult

    def broken(text: str, taken_at: float) -> HealthReport:
        raise ValueError("a parser bug")

    monkeypatch.setattr(telemetry_workers, "parse_detail_output", broken)
    kind, token, ok, payload = telemetry_workers._looked(7, "n9", ExecResult(0, b"<xml/>", b""), 1.0)
    assert (kind, token, ok) == ("exec", 7, False)
    why = "n9: its health details could not be read: ValueError: a parser bug"
    assert payload == (NodeState.PARSE_ERROR, why, None)


class _Listener:
    def __init__(self) -> None:
        self.states: list[tuple[str, NodeState, str | None]] = []

    def on_state(self, node: str, state: NodeState, error: str | None, fingerprint: str | None) -> None:
        self.states.append((node, state, error))

    def on_parsed(self, node: str, parsed: Any, received_at: float) -> None: ...

    def on_kernel_events(self, node: str, events: Any, seen_at: float) -> None: ...

    def on_kernel_state(self, node: str, state: str) -> None: ...


def test_a_worker_that_keeps_dying_waits_longer_each_time_and_one_that_ran_steadily_starts_at_once() -> None:
    from console.core.inventory import NodeSpec
    from console.services.telemetry_workers import WORKER_STEADY_S

    listener = _Listener()
    hub = WorkerHub([NodeSpec(name="n1", host="10.0.0.1")], listener, workers=1)  # not started: no respawn
    worker = hub._workers[0]
    backoff = hub._restarts[worker.number]
    worker.started_at = time.monotonic()  # died right after its start, three times
    for _ in range(3):
        hub._worker_died(worker)
    assert backoff.attempts == 3
    assert listener.states[-1][:2] == ("n1", NodeState.UNREACHABLE) and "fleet-telemetry-1" in str(
        listener.states[-1][2]
    )
    worker.started_at = time.monotonic() - WORKER_STEADY_S  # this time it had streamed for five minutes
    hub._worker_died(worker)
    assert backoff.attempts == 1
    assert "starting it again in 1 s" in str(listener.states[-1][2]) or "starting it again in 2 s" in str(
        listener.states[-1][2]
    )
