"""Child process of the bench: the console's core (transport + parsing + history) on an inventory.

Waits for every node to stream, then measures a steady window of its own process: CPU (all threads),
RSS, thread count, and the delay from a line's node timestamp to its value in the model.
Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

from console.app import LiveFleet, ShiftServices
from console.core.actions.roles import Role
from console.core.inventory import load_inventory
from console.core.telemetry.latency import LatencyRecorder
from console.core.telemetry.samples import NodeState
from console.services.collector import CollectorThread
from console.transport import ssh as ssh_module
from console.transport.hub_links import HubSettings
from console.transport.ssh import SshSettings


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values), q)) if values else None


def main() -> int:  # noqa: PLR0915 - one measuring script
    parser = argparse.ArgumentParser()
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--connect-timeout", type=float, default=300.0)
    parser.add_argument("--paramiko-poll", type=float, help="override the idle socket timeout (paramiko: 0.1)")
    parser.add_argument("--kernel-dir", help="where the bench fleet's nodes read their kernel log from")
    parser.add_argument("--kernel-events", type=int, default=20, help="kernel lines to time, one node each")
    parser.add_argument("--no-kernel-follow", action="store_true", help="the baseline: kernel log not followed")
    parser.add_argument(
        "--no-records", action="store_true", help="the baseline: no incident service, no telemetry archive"
    )
    parser.add_argument(
        "--automatic-gc", action="store_true", help="Python's automatic collector instead of the console's schedule"
    )
    parser.add_argument("--workers", type=int, help="telemetry worker processes (default: by fleet size)")
    args = parser.parse_args()
    if args.paramiko_poll is not None:
        ssh_module.IDLE_SOCKET_TIMEOUT_S = args.paramiko_poll

    inventory = load_inventory(args.inventory)
    ssh = SshSettings(ssh_config=None, allow_agent=False, look_for_keys=False)
    follow = not args.no_kernel_follow
    live = LiveFleet(inventory, ssh, HubSettings(), follow_kernel=follow, workers=args.workers)
    records = None
    if not args.no_records:
        # What the window and streaming poll run beside the telemetry: incidents and the archive writer.
        records = ShiftServices(
            live, Path(tempfile.mkdtemp(prefix="fleet-bench-data-")), operator="bench", role=Role.TECHNICIAN
        )
    me = psutil.Process()
    started = time.monotonic()
    collector = None if args.automatic_gc else CollectorThread()  # as streaming poll runs it
    if collector is not None:
        collector.start()
    live.start()
    if records is not None:
        records.start()
    total = len(inventory.nodes)
    deadline = started + args.connect_timeout
    while time.monotonic() < deadline:
        views = live.fleet.views()
        if sum(1 for v in views if v.state == NodeState.UP and v.accelerator_count == 8) == total:
            break
        time.sleep(0.5)
    connected_s = time.monotonic() - started
    followed_s = None
    if follow:
        while time.monotonic() < deadline and not all(
            (v.kernel_follow or "").startswith("following") for v in live.fleet.views()
        ):
            time.sleep(0.5)
        followed_s = time.monotonic() - started
    time.sleep(3.0)  # let connection bursts settle before measuring

    recorder = LatencyRecorder()
    live.fleet.latency = recorder
    # Every process of the console: this one and its telemetry workers.
    processes = [me, *me.children(recursive=True)]
    cpu0 = sum(_cpu(p) for p in processes)
    threads0 = thread_cpu(me)
    minutes0 = records.archive.minutes_written if records is not None else 0
    pauses = CollectorPauses()
    gc.callbacks.append(pauses)
    wall0 = time.monotonic()
    rss_max = 0
    threads_max = 0
    while time.monotonic() - wall0 < args.seconds:
        time.sleep(1.0)
        rss_max = max(rss_max, sum(_rss(p) for p in processes))
        threads_max = max(threads_max, sum(_threads(p) for p in processes))
    cpu1 = sum(_cpu(p) for p in processes)
    threads1 = thread_cpu(me)
    gc.callbacks.remove(pauses)
    minutes_in_window = (records.archive.minutes_written - minutes0) if records is not None else None
    wall = time.monotonic() - wall0
    live.fleet.latency = None
    archive = archive_stats(records)
    kernel = time_kernel_events(live, args.kernel_dir, args.kernel_events) if args.kernel_dir and follow else {}
    views = live.fleet.views()
    result = {
        "nodes": total,
        "accelerators": sum(v.accelerator_count for v in views),
        "nodes_up": sum(1 for v in views if v.state == NodeState.UP),
        "connect_all_s": round(connected_s, 1),
        "kernel_follow_all_s": None if followed_s is None else round(followed_s, 1),
        "window_s": round(wall, 1),
        "workers": live.telemetry.workers,
        "processes": len(processes),
        "cpu_cores": round((cpu1 - cpu0) / wall, 3),
        "rss_mb": round(rss_max / 2**20, 1),
        "threads": threads_max,
        "history_mb": round(live.fleet.history_bytes() / 2**20, 1),
        "lines_in_window": len(recorder.receive_to_model),
        "lines_per_s": round(len(recorder.receive_to_model) / wall, 1),
        "node_to_model_p50_ms": _ms(percentile(recorder.node_to_model, 50)),
        "node_to_model_p99_ms": _ms(percentile(recorder.node_to_model, 99)),
        "node_to_model_max_ms": _ms(max(recorder.node_to_model) if recorder.node_to_model else None),
        "receive_to_model_p50_ms": _ms(percentile(recorder.receive_to_model, 50)),
        "receive_to_model_p99_ms": _ms(percentile(recorder.receive_to_model, 99)),
        "lines_dropped": live.pipeline.dropped_lines,  # past the parser's queue bound (none when keeping up)
        "records": records is not None,
        # Archive minutes written inside the window: a window that held none measured no minute's write.
        "archive_minutes_in_window": minutes_in_window,
        # Where this process's CPU went in the window, by thread (cores; numbered threads summed by name).
        "thread_cores": {
            name: round((spent - threads0.get(name, 0.0)) / wall, 3)
            for name, spent in sorted(threads1.items(), key=lambda kv: -kv[1])
            if spent - threads0.get(name, 0.0) > 0.005 * wall
        },
        # The garbage collector holds the interpreter for the whole of a collection: by generation, how many
        # and the longest, in the window.
        "gc": "automatic" if collector is None else "console's schedule",
        "gc_collections": pauses.count,
        "gc_longest_ms": {gen: round(ms, 1) for gen, ms in pauses.longest_ms.items()},
        **archive,
        **kernel,
    }
    if records is not None:
        records.stop()
    live.stop()
    if collector is not None:
        collector.stop()
    json.dump(result, sys.stdout)
    print()
    return 0


class CollectorPauses:
    """A ``gc.callbacks`` entry: collections and the longest pause, by generation."""

    def __init__(self) -> None:
        self.count: dict[int, int] = {}
        self.longest_ms: dict[int, float] = {}
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        gen = info["generation"]
        self.count[gen] = self.count.get(gen, 0) + 1
        self.longest_ms[gen] = max(self.longest_ms.get(gen, 0.0), (time.perf_counter() - self._began) * 1000)


def archive_stats(records: ShiftServices | None) -> dict[str, object]:
    """What the archive wrote in the run (minutes, bytes) and the incidents the service opened."""
    if records is None or records.archive.archive is None:
        return {}
    return {
        "archive_minutes_written": records.archive.minutes_written,
        "archive_bytes": records.archive.archive.size_bytes(),
        "archive_problem": records.archive.problem,
        "incidents_opened": len(records.incidents.incidents()),
    }


def time_kernel_events(live: LiveFleet, kernel_dir: str, count: int) -> dict[str, object]:
    """Write an XID 79 line into the kernel logs of ``count`` nodes spread over the fleet, one every quarter
    second, and time each from the write to the critical alert in the model."""
    views = live.fleet.views()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        following = [v for v in views if (v.kernel_follow or "").startswith("following")]
        if len(following) == len(views):
            break
        time.sleep(0.5)
        views = live.fleet.views()
    followed = sum(1 for v in views if (v.kernel_follow or "").startswith("following"))
    step = max(1, len(views) // count)
    chosen = [v for v in views[::step]][:count]
    written: dict[str, float] = {}
    seen: dict[str, float] = {}
    pending = list(chosen)
    end = time.monotonic() + count * 0.25 + 30
    while (pending or len(seen) < len(written)) and time.monotonic() < end:
        if pending and (not written or time.monotonic() - max(written.values()) >= 0.25):
            view = pending.pop(0)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime())
            line = (
                f"{stamp} {view.name} kernel: NVRM: Xid (PCI:0000:ff:00): 79, pid='<unknown>', "
                "name=<unknown>, GPU has fallen off the bus.\n"
            )
            with open(f"{kernel_dir}/{view.spec.host}.log", "a", encoding="utf-8") as log:
                log.write(line)
            written[view.name] = time.monotonic()
        for name, at in written.items():
            if name not in seen and any(a.rule == "xid_79" for a in live.fleet.view(name).alerts):
                seen[name] = time.monotonic() - at
        time.sleep(0.01)
    delays = sorted(seen.values())
    return {
        "kernel_followed_nodes": followed,
        "kernel_events": len(written),
        "kernel_alerts": len(seen),
        "kernel_line_to_alert_p50_ms": _ms(percentile(delays, 50)),
        "kernel_line_to_alert_max_ms": _ms(max(delays) if delays else None),
    }


def thread_cpu(process: psutil.Process) -> dict[str, float]:
    """CPU seconds so far of this process's threads, by name ("ssh-connect_3" and "Thread-7" summed as
    "ssh-connect" and "Thread"; paramiko's transport threads as "paramiko transport")."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    spent: dict[str, float] = {}
    try:
        threads = process.threads()
    except psutil.Error:
        return spent
    for thread in threads:
        name = names.get(thread.id, "(not a Python thread)")
        if name.startswith("Thread-") and "Transport" in type(_thread_of(thread.id)).__name__:
            name = "paramiko transport"
        name = re.sub(r"[-_ ]?\d+( \(.*\))?$", "", name)
        spent[name] = spent.get(name, 0.0) + thread.user_time + thread.system_time
    return spent


def _thread_of(native_id: int) -> object:
    return next((t for t in threading.enumerate() if t.native_id == native_id), None)


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


def _rss(process: psutil.Process) -> int:
    try:
        return int(process.memory_info().rss)
    except psutil.Error:
        return 0


def _threads(process: psutil.Process) -> int:
    try:
        return int(process.num_threads())
    except psutil.Error:
        return 0


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


if __name__ == "__main__":
    sys.exit(main())
