"""Child process of the bench: the window (offscreen) on a streaming fleet; how long the GUI thread is busy.

Measures, while every node streams at 1 Hz:
- apply: GUI-thread time to apply one snapshot of changed rows (4 per second);
- render: time to repaint the whole window (table, node panel, two plots of 8 curves) via grab();
- with ``--view heatmap``: the window opens on the heatmap; render is then the heatmap's repaint,
  floor_refresh the GUI-thread time of its refresh (every 2 s: the readings handed to a worker thread),
  floor_show the GUI-thread time of putting the worker's cells into the picture;
- lag: how late a 16 ms timer fires — what an operator feels as stutter.
With ``--explain``, also where the GUI process's time goes: CPU seconds per thread, the cycle collector's
pauses, and what covered most of each late tick (over 50 ms).
Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import bisect
import gc
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Slot
from PySide6.QtWidgets import QApplication

from console.app import LiveFleet
from console.core.inventory import load_inventory
from console.core.telemetry.latency import LatencyRecorder
from console.core.telemetry.samples import NodeState
from console.gui.floor_view import HeatmapPicture
from console.gui.session import ConsoleSession, GuiThreadCollector
from console.transport.hub_links import HubSettings
from console.transport.ssh import SshSettings


def stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    array = np.asarray(values)
    return {
        "p50_ms": round(float(np.percentile(array, 50)), 2),
        "p95_ms": round(float(np.percentile(array, 95)), 2),
        "p99_ms": round(float(np.percentile(array, 99)), 2),
        "max_ms": round(float(array.max()), 2),
    }


class ApplyRelay(QObject):
    """A GUI-thread receiver for the window's snapshots, so a wrapped slot still runs on the GUI thread."""

    def __init__(self, apply: Callable[[object], None]) -> None:
        super().__init__()
        self._apply = apply

    @Slot(object)
    def apply(self, snapshot: object) -> None:
        self._apply(snapshot)


class GuiProcessTimes:
    """Where the GUI process's time goes: who ran when the event loop was late (``--explain``)."""

    LATE_MS = 50.0

    def __init__(self) -> None:
        self.main_thread = threading.get_ident()
        self.spans: list[tuple[str, float, float]] = []  # (what, start, end) on any thread
        self.cpu_ms: dict[str, float] = {}  # CPU time of each kind of span, on its own thread
        self.late: list[tuple[float, float]] = []  # (start, end) of late ticks
        self._gc_started: dict[int, float] = {}
        self._gc_cpu: dict[int, float] = {}
        self.collected: dict[str, int] = {}  # objects the collector freed, by kind of pass
        self.cpu_before: dict[int, float] = {}
        self.delay_before = 0.0
        gc.callbacks.append(self._gc)

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        now = time.perf_counter()
        ident = threading.get_ident()
        if phase == "start":
            self._gc_started[ident] = now
            self._gc_cpu[ident] = time.thread_time()
        elif ident in self._gc_started:
            where = "gui" if ident == self.main_thread else "thread"
            key = f"gc{info['generation']} ({where})"
            self.collected[key] = self.collected.get(key, 0) + info["collected"]
            self.spans.append((key, self._gc_started.pop(ident), now))
            self.cpu_ms[key] = self.cpu_ms.get(key, 0.0) + (time.thread_time() - self._gc_cpu.pop(ident)) * 1000

    def span(self, what: str, start: float, end: float) -> None:
        self.spans.append((what, start, end))

    def wrap(self, owner: object, attribute: str, what: str) -> None:
        """Record each call of ``owner.attribute`` as a span, named by the thread it ran on."""
        inner = getattr(owner, attribute, None)
        if inner is None:
            return

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            cpu = time.thread_time()
            try:
                return inner(*args, **kwargs)
            finally:
                where = "gui" if threading.get_ident() == self.main_thread else "thread"
                key = f"{what} ({where})"
                self.spans.append((key, started, time.perf_counter()))
                self.cpu_ms[key] = self.cpu_ms.get(key, 0.0) + (time.thread_time() - cpu) * 1000

        setattr(owner, attribute, timed)

    @staticmethod
    def thread_cpu() -> dict[int, tuple[str, float]]:
        """CPU seconds of each thread of this process, by native id, named from Python's threads."""
        names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
        names[threading.main_thread().native_id or 0] = "GUI (main)"
        tick = os.sysconf("SC_CLK_TCK")
        out: dict[int, tuple[str, float]] = {}
        for task in Path("/proc/self/task").iterdir():
            try:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                comm = (task / "comm").read_text().strip()
            except OSError:
                continue
            tid = int(task.name)
            out[tid] = (names.get(tid, f"native:{comm}"), (int(fields[11]) + int(fields[12])) / tick)
        return out

    @staticmethod
    def gui_run_delay_s() -> float:
        """How long the GUI thread has waited, runnable, for a CPU (the kernel's schedstat)."""
        try:
            fields = Path(f"/proc/self/task/{threading.main_thread().native_id}/schedstat").read_text().split()
        except OSError:
            return 0.0
        return int(fields[1]) / 1e9

    def start(self) -> None:
        self.delay_before = self.gui_run_delay_s()
        self.cpu_before = {tid: cpu for tid, (_n, cpu) in self.thread_cpu().items()}
        self.spans.clear()
        self.cpu_ms.clear()
        self.collected.clear()

    def end(self, seconds: float) -> None:
        """At the end of the measurement, while every thread still runs."""
        by_name: dict[str, float] = {}
        for tid, (name, cpu) in self.thread_cpu().items():
            key = name.rstrip("0123456789-_ ()") or name
            by_name[key] = by_name.get(key, 0.0) + cpu - self.cpu_before.get(tid, 0.0)
        self.cores = {name: round(v / seconds, 3) for name, v in sorted(by_name.items(), key=lambda kv: -kv[1])}
        self.waited_for_cpu = round((self.gui_run_delay_s() - self.delay_before) / seconds, 3)
        counts: dict[str, int] = {}
        for thing in gc.get_objects():
            name = type(thing).__qualname__
            counts[name] = counts.get(name, 0) + 1
        self.tracked = sum(counts.values())
        self.tracked_by_type = dict(sorted(counts.items(), key=lambda kv: -kv[1])[:15])

    def report(self, seconds: float) -> dict[str, Any]:
        cpu = getattr(self, "cores", {})
        pauses: dict[str, list[float]] = {}
        for what, start, end in self.spans:
            pauses.setdefault(what, []).append((end - start) * 1000)
        overlapped: dict[str, int] = {}
        spans = sorted(self.spans, key=lambda span: span[1])
        starts = [span[1] for span in spans]
        for late_start, late_end in self.late:
            first = bisect.bisect_left(starts, late_start - 2.0)
            last = bisect.bisect_right(starts, late_end)
            # Each late tick is put down to the GUI thread's step that covered most of it; a tick no step
            # covered for a fifth of its lateness waited for the GIL or a CPU outside any recorded step.
            covered: dict[str, float] = {}
            for what, start, end in spans[first:last]:
                if end > late_start and what.endswith("(gui)") and what != "apply (gui)":
                    covered[what] = covered.get(what, 0.0) + min(end, late_end) - max(start, late_start)
            most = max(covered, key=lambda what: covered[what]) if covered else ""
            if not most or covered[most] < (late_end - late_start) / 5:
                most = "no recorded GUI step"
            overlapped[most] = overlapped.get(most, 0) + 1
        return {
            "cores_by_thread": cpu,
            # Seconds per second the GUI thread was runnable but had no CPU (others' processes ran).
            "gui_thread_waited_for_cpu": getattr(self, "waited_for_cpu", None),
            "spans": {
                what: {"count": len(v), "cpu_cores": round(self.cpu_ms.get(what, 0.0) / 1000 / seconds, 3), **stats(v)}
                for what, v in sorted(pauses.items())
            },
            "tracked_objects": getattr(self, "tracked", None),
            "collector_freed": self.collected,
            "tracked_by_type": getattr(self, "tracked_by_type", None),
            "late_ticks": len(self.late),
            "late_ticks_mostly_under": dict(sorted(overlapped.items(), key=lambda kv: -kv[1])),
        }


def main() -> int:  # noqa: PLR0915 - one measuring script, its timers in one place
    parser = argparse.ArgumentParser()
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--view", choices=["table", "heatmap"], default="table")
    parser.add_argument("--workers", type=int, help="telemetry worker processes (default: by fleet size)")
    parser.add_argument("--explain", action="store_true", help="also where the GUI process's time goes")
    args = parser.parse_args()
    explain = GuiProcessTimes() if args.explain else None

    app = QApplication([])
    inventory = load_inventory(args.inventory)
    live = LiveFleet(
        inventory,
        SshSettings(ssh_config=None, allow_agent=False, look_for_keys=False),
        HubSettings(),
        workers=args.workers,
        window=True,
    )
    session = ConsoleSession(live)
    window = session.window
    collector = GuiThreadCollector(app)  # as the console's window runs: cycles collected on the GUI thread
    collector.start()
    if explain is not None:
        explain.wrap(live.fleet, "snapshot", "snapshot")
        explain.wrap(live.pipeline, "_tick", "rules")
        explain.wrap(live.telemetry, "on_parsed", "ingest")
        explain.wrap(live.details, "_look", "slow path look")
        explain.wrap(window.panel, "refresh_plots", "plots")
        explain.wrap(window.proxy, "sort", "resort")
        explain.wrap(window.alerts_dock, "update_summary", "alerts summary")
        explain.wrap(window.model, "apply", "table model apply")
        explain.wrap(window.alerts_dock.model, "set_node_alerts", "alerts model")
        explain.wrap(window.panel, "show_view", "panel view")
        explain.wrap(window, "_update_counts", "counts")
        # The slot was connected with the window: connect it again through the timing wrapper, by way of
        # an object of the GUI thread (a plain function would run on the snapshot's thread).
        session.worker.snapshot.disconnect(window.apply_snapshot)
        explain.wrap(window, "apply_snapshot", "apply, CPU")
        relay = ApplyRelay(window.apply_snapshot)
        session.worker.snapshot.connect(relay.apply, Qt.ConnectionType.QueuedConnection)
    session.start()
    window.show()

    applies: list[float] = []
    renders: list[float] = []
    floor_refreshes: list[float] = []
    floor_shows: list[float] = []
    lags: list[float] = []
    phase = {"measuring": False, "ready_at": None, "start": 0.0}
    recorder = LatencyRecorder()
    total = len(inventory.nodes)

    def after_apply(_snapshot: object) -> None:
        if phase["measuring"]:
            applies.append(window.last_apply_ms)
            if explain is not None:
                end = time.perf_counter()
                explain.span("apply (gui)", end - window.last_apply_ms / 1000, end)

    session.worker.snapshot.connect(after_apply)

    last_tick = [time.perf_counter()]
    grabbed = [False]

    def tick() -> None:
        now = time.perf_counter()
        # An interval that contained our own grab() measures the grab, not the console: skip it.
        if phase["measuring"] and not grabbed[0]:
            lags.append(max(0.0, (now - last_tick[0]) * 1000 - 16.0))
            if explain is not None and lags[-1] > explain.LATE_MS:
                explain.late.append((last_tick[0] + 0.016, now))
        grabbed[0] = False
        last_tick[0] = now

    ticker = QTimer()
    ticker.setInterval(16)
    ticker.timeout.connect(tick)
    ticker.start()

    if args.view == "heatmap":
        window.show_floor("heatmap")
        refresh, show = window.floor.refresh, window.floor._show

        def timed_refresh(now: bool = False) -> None:
            started = time.perf_counter()
            refresh(now=now)
            if phase["measuring"]:
                floor_refreshes.append((time.perf_counter() - started) * 1000)

        def timed_show(picture: HeatmapPicture) -> None:
            started = time.perf_counter()
            show(picture)
            if phase["measuring"]:
                floor_shows.append((time.perf_counter() - started) * 1000)

        window.floor.refresh = timed_refresh  # type: ignore[method-assign]
        window.floor._show = timed_show  # type: ignore[method-assign]
        if explain is not None:
            explain.wrap(window.floor, "refresh", "heatmap refresh")
            explain.wrap(window.floor, "_show", "heatmap show")
    shown = window.floor.canvas if args.view == "heatmap" else window

    def render() -> None:
        if phase["measuring"]:
            started = time.perf_counter()
            shown.grab()
            renders.append((time.perf_counter() - started) * 1000)
            grabbed[0] = True

    render_timer = QTimer()
    render_timer.setInterval(1000)
    render_timer.timeout.connect(render)
    render_timer.start()

    def check() -> None:
        views = live.fleet.views()
        up = sum(1 for v in views if v.state == NodeState.UP and v.accelerator_count == 8)
        if not phase["measuring"] and up == total:
            window.select_node(views[0].name)
            phase["measuring"] = True
            live.fleet.latency = recorder  # how fresh the window's fleet is kept meanwhile
            if explain is not None:
                explain.start()
            phase["start"] = time.monotonic()
        elif phase["measuring"] and time.monotonic() - phase["start"] >= args.seconds:
            if explain is not None:
                explain.end(time.monotonic() - phase["start"])
            app.quit()

    checker = QTimer()
    checker.setInterval(500)
    checker.timeout.connect(check)
    checker.start()
    QTimer.singleShot(int((300 + args.seconds) * 1000), app.quit)
    app.exec()
    session.stop()
    collector.stop()
    json.dump(
        {
            "nodes": total,
            "view": args.view,
            "workers": live.telemetry.workers,
            "measured": phase["measuring"],
            "snapshots": len(applies),
            "apply": stats(applies),
            "render_full_window": stats(renders),
            "floor_refresh": stats(floor_refreshes),
            "floor_show": stats(floor_shows),
            "event_loop_lag": stats(lags),
            "node_to_model": stats([seconds * 1000 for seconds in recorder.node_to_model]),
            "lines_per_s": round(len(recorder.node_to_model) / args.seconds, 1),
            "heatmap_summary": window.floor.summary.text() if args.view == "heatmap" else None,
            **({"explain": explain.report(args.seconds)} if explain is not None else {}),
        },
        sys.stdout,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
