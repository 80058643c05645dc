"""Child process of the bench: the window (offscreen) on a streaming fleet; how long the GUI thread is busy.

Measures, while every node streams at 1 Hz:
- apply: GUI-thread time to apply one snapshot of changed rows (4 per second);
- render: time to repaint the whole window (table, node panel, two plots of 8 curves) via grab();
- with ``--view heatmap``: the window opens on the heatmap; render is then the heatmap's repaint, and
  floor_refresh the GUI-thread time of its refresh (every 2 s: new readings into the picture);
- lag: how late a 16 ms timer fires — what an operator feels as stutter.
Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from console.app import LiveFleet
from console.core.inventory import load_inventory
from console.core.samples import NodeState
from console.gui.main_window import ConsoleSession
from console.transport.hub import HubSettings
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


def main() -> int:  # noqa: PLR0915 - one measuring script, its timers in one place
    parser = argparse.ArgumentParser()
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--view", choices=["table", "heatmap"], default="table")
    parser.add_argument("--workers", type=int, help="telemetry worker processes (default: by fleet size)")
    args = parser.parse_args()

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
    session.start()
    window.show()

    applies: list[float] = []
    renders: list[float] = []
    floor_refreshes: list[float] = []
    lags: list[float] = []
    phase = {"measuring": False, "ready_at": None, "start": 0.0}
    total = len(inventory.nodes)

    def after_apply(_snapshot: object) -> None:
        if phase["measuring"]:
            applies.append(window.last_apply_ms)

    session.worker.snapshot.connect(after_apply)

    last_tick = [time.perf_counter()]
    grabbed = [False]

    def tick() -> None:
        now = time.perf_counter()
        # An interval that contained our own grab() measures the grab, not the console: skip it.
        if phase["measuring"] and not grabbed[0]:
            lags.append(max(0.0, (now - last_tick[0]) * 1000 - 16.0))
        grabbed[0] = False
        last_tick[0] = now

    ticker = QTimer()
    ticker.setInterval(16)
    ticker.timeout.connect(tick)
    ticker.start()

    if args.view == "heatmap":
        window.show_floor("heatmap")
        refresh = window.floor.refresh

        def timed_refresh() -> None:
            started = time.perf_counter()
            refresh()
            if phase["measuring"]:
                floor_refreshes.append((time.perf_counter() - started) * 1000)

        window.floor.refresh = timed_refresh  # type: ignore[method-assign]
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
            phase["start"] = time.monotonic()
        elif phase["measuring"] and time.monotonic() - phase["start"] >= args.seconds:
            app.quit()

    checker = QTimer()
    checker.setInterval(500)
    checker.timeout.connect(check)
    checker.start()
    QTimer.singleShot(int((300 + args.seconds) * 1000), app.quit)
    app.exec()
    session.stop()
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
            "event_loop_lag": stats(lags),
        },
        sys.stdout,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
