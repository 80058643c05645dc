"""The floor views at fleet scale (offscreen): how long the GUI thread spends building the heatmap's cells
and painting it, and painting the racks, for a fleet of N nodes × 8 accelerators with readings, alerts and a
few unreachable nodes. A baseline in the same run — the fleet table's full repaint — gives a ratio that
holds across machines.

    ./dev bench floor [--sizes 200 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from PySide6.QtWidgets import QApplication

from console.core.alerts.config import AlertRules
from console.core.inventory import Inventory, NodeSpec, RackSpec
from console.core.telemetry.fleet import FleetModel
from console.core.telemetry.samples import AcceleratorSample, NodeState, ParsedLine, Vendor
from console.gui.main_window import MainWindow


def fleet_of(nodes: int) -> tuple[Inventory, FleetModel]:
    specs = tuple(
        NodeSpec(
            name=f"gpu-{i:04d}",
            host="10.0.0.1",
            rack=f"R{i // 4:03d}",
            slot=4 + 10 * (i % 4),
            height=8,
            tenant=f"tenant-{i % 5}",
            vendor=Vendor.NVIDIA,
        )
        for i in range(nodes)
    )
    racks = tuple(RackSpec(f"R{r:03d}", row=chr(65 + r // 10 % 26), position=r % 10 + 1) for r in range(nodes // 4 + 1))
    inventory = Inventory(__import__("pathlib").Path("bench.toml"), specs, racks=racks)
    fleet = FleetModel(inventory)
    rng = np.random.default_rng(7)
    now = time.time()
    for i, spec in enumerate(specs):
        if i % 97 == 0:
            fleet.set_state(spec.name, NodeState.UNREACHABLE, "no route to host")
            continue
        fleet.set_state(spec.name, NodeState.UP)
        lines = [
            ParsedLine(
                sample=AcceleratorSample(
                    index=g,
                    vendor=Vendor.NVIDIA,
                    utilization_pct=float(rng.integers(0, 100)),
                    temperature_c=float(rng.integers(30, 90)),
                    power_w=float(rng.integers(100, 700)),
                    power_limit_w=700.0,
                    memory_used_mib=float(rng.integers(0, 80000)),
                    memory_total_mib=81559.0,
                )
            )
            for g in range(8)
        ]
        fleet.ingest(spec.name, lines, now)
    return inventory, fleet


def percentiles(values: list[float]) -> dict[str, float]:
    array = np.asarray(values)
    return {"p50_ms": round(float(np.percentile(array, 50)), 2), "p95_ms": round(float(np.percentile(array, 95)), 2)}


def measure(nodes: int, runs: int) -> dict[str, object]:
    inventory, fleet = fleet_of(nodes)
    window = MainWindow(fleet, inventory=inventory, rules=AlertRules())
    window.resize(1600, 940)
    window.show()
    window.apply_snapshot(fleet.snapshot())
    build, heat, racks, racks_build, table, changed = [], [], [], [], [], []
    rng = np.random.default_rng(11)

    def timed(work: Callable[[], object]) -> float:
        started = time.perf_counter()
        work()
        return (time.perf_counter() - started) * 1000

    def new_readings() -> None:
        """Every node with a new reading, in the window's model: what a second of streaming does."""
        since = fleet.snapshot().version
        for spec in inventory.nodes:
            if fleet.view(spec.name).accelerators:
                samples = (
                    AcceleratorSample(index=g, vendor=Vendor.NVIDIA, utilization_pct=float(rng.integers(0, 100)))
                    for g in range(8)
                )
                fleet.ingest(spec.name, [ParsedLine(sample=s) for s in samples], time.time())
        window.apply_snapshot(fleet.snapshot(since))

    for _ in range(runs):
        # A view refreshes itself when its tab is shown: switch first, then bring new readings, then time.
        window.tabs.setCurrentWidget(window.floor)
        new_readings()
        changed.append(timed(window.floor.refresh))
        build.append(timed(window.floor.refresh))  # nothing new since
        heat.append(timed(window.floor.canvas.grab))
        window.tabs.setCurrentWidget(window.racks)
        new_readings()
        racks_build.append(timed(window.racks.refresh))
        racks.append(timed(window.racks.canvas.grab))
        window.tabs.setCurrentIndex(0)
        table.append(timed(window.table.grab))
    window.close()
    return {
        "nodes": nodes,
        "cells": sum(len(g.cells) for g in window.floor.canvas.groups),
        "heatmap_build_all_changed": percentiles(changed),
        "heatmap_build_unchanged": percentiles(build),
        "heatmap_repaint": percentiles(heat),
        "racks_build_all_changed": percentiles(racks_build),
        "racks_repaint": percentiles(racks),
        "baseline_table_repaint": percentiles(table),
        "heatmap_repaint_vs_table": round(float(np.median(heat) / np.median(table)), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    app = QApplication([])
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "results": [measure(n, args.runs) for n in args.sizes],
    }
    print(json.dumps(report, indent=2))
    app.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
