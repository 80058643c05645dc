"""Bench of the shift's record at the scale of a year of a 1,000-node fleet (``./dev bench records``).

Generates, in a fresh data directory, what a year leaves behind: the store with 50,000 incidents (their
nodes and events) and 200,000 actions, a share of them linked to incidents; the telemetry archive with the
hourly aggregates of 1,000 nodes × 8 accelerators for 400 days and the minute aggregates of the last 48
hours. Then it times, several runs each (median and worst), what a supervisor waits for:

- the Log view's page for a shift, filtered (none, by severity, by rack, by free text) and for 30 days;
- the handover report of a shift (built, and rendered to HTML);
- one node's timeline over 12 hours (minute data) and over 30 days (hourly data);
- one hour's roll-up of 1,000 nodes' minutes (what the writer thread does once an hour);
- the minute data's size on disk per day.

The machine and the figures go to bench/results/records-*.json and are printed as Markdown.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from console.core.alerts.incidents import ShiftClock, ShiftName
from console.core.inventory import Inventory, NodeSpec
from console.core.records.archive import ARCHIVE_FILE, TelemetryArchive
from console.core.records.log_types import LogFilter
from console.core.records.rollup import HOUR_DTYPE, MINUTE_DTYPE, STATE_CODE
from console.core.records.store import STORE_FILE, Store
from console.core.telemetry.samples import NodeState, Vendor
from console.services.shift_log import ShiftLog

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
CAUSES = ["xid_79", "xid_48", "ecc_uncorrected", "temperature", "unreachable", "remap_pending", "throttle", "stale"]
KINDS = ["drain", "resume", "reboot", "power", "locate"]


def inventory(nodes: int, directory: Path) -> Inventory:
    """The generated fleet, also written as ``fleet.toml`` beside the store: its names are the records',
    so ``fleet-console --inventory DIR/fleet.toml --data-dir DIR`` opens the year in the window (the nodes
    themselves do not exist: they show as unreachable)."""
    specs = tuple(
        NodeSpec(
            name=f"gpu-{i:04d}",
            host=f"10.{i // 250}.{i % 250}.1",
            vendor=Vendor.NVIDIA,
            rack=f"R{i // 32:02d}",
            tenant=f"tenant-{i % 7}",
        )
        for i in range(nodes)
    )
    path = directory / "fleet.toml"
    if not path.exists():
        path.write_text(
            "".join(
                f'[[node]]\nname = "{s.name}"\nhost = "{s.host}"\nvendor = "nvidia"\nrack = "{s.rack}"\n'
                f'tenant = "{s.tenant}"\n\n'
                for s in specs
            )
        )
    return Inventory(path, specs)


def generate_store(path: Path, nodes: list[str], incidents: int, actions: int, start: float, end: float) -> None:
    store = Store(path)
    store.close()
    rng = random.Random(7)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    span = end - start
    incident_rows, node_rows, event_rows = [], [], []
    for i in range(1, incidents + 1):
        opened = start + rng.random() * span
        node = rng.choice(nodes)
        cause = rng.choice(CAUSES)
        severity = "critical" if cause.startswith(("xid", "ecc", "unreach")) else "warning"
        acked = opened + rng.expovariate(1 / 900)
        resolved = acked + rng.expovariate(1 / 7200)
        still_open = resolved > end
        state = "open" if acked > end else ("acknowledged" if still_open else "resolved")
        incident_rows.append(
            (
                i,
                cause,
                severity,
                state,
                f"{cause} on GPU {rng.randrange(8)}",
                opened,
                f"rule:{cause}",
                None if acked > end else acked,
                None if acked > end else "alice",
                None if still_open else resolved,
                None if still_open else "bob",
                f"OPS-{i}" if i % 5 == 0 else None,
                opened,
                "[]",
                json.dumps([f"tenant-{i % 7}"]),
                "[]",
                "{}",
            )
        )
        node_rows.append((node, i))
        event_rows.append((i, opened, f"rule:{cause}", "opened", None))
        if acked <= end:
            event_rows.append((i, acked, "alice", "acknowledged", "on it"))
            event_rows.append((i, acked + 60, "alice", "note", f"reseated GPU, ticket OPS-{i}"))
        if not still_open:
            event_rows.append((i, resolved, "bob", "resolved", "fixed"))
    conn.executemany(
        "INSERT INTO incidents (id, cause, severity, state, message, opened, opened_by, acknowledged, acknowledged_by, "
        "resolved, resolved_by, ticket, last_seen, accelerators, tenants, jobs, evidence) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        incident_rows,
    )
    conn.executemany("INSERT INTO incident_nodes (node, incident_id) VALUES (?, ?)", node_rows)
    conn.executemany(
        "INSERT INTO incident_events (incident_id, at, author, kind, text) VALUES (?, ?, ?, ?, ?)", event_rows
    )
    action_rows, links = [], []
    for a in range(1, actions + 1):
        created = start + rng.random() * span
        linked = rng.randrange(1, incidents + 1) if a % 4 == 0 else None
        stamp = dt.datetime.fromtimestamp(created, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        action_rows.append(
            (
                a,
                stamp,
                "alice",
                rng.choice(KINDS),
                rng.choice(nodes),
                "{}",
                "bench",
                None,
                "slurm",
                None,
                None,
                "done",
                stamp,
                stamp,
                0,
                None,
                None,
                1.0,
                "done",
                "bench",
                linked,
            )
        )
        if linked:
            links.append((a, linked))
    conn.executemany(
        "INSERT INTO actions (id, created_at, operator, kind, node, params, reason, ticket, engine, host, command, "
        "state, started_at, finished_at, exit_status, stdout, stderr, duration_s, message, console_session, "
        "incident_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        action_rows,
    )
    conn.executemany("INSERT INTO action_incidents (action_id, incident_id) VALUES (?, ?)", links)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def generate_archive(path: Path, nodes: list[str], hours: int, minutes: int, end: int) -> dict[str, int]:
    archive = TelemetryArchive(path)
    archive.close()
    rng = np.random.default_rng(7)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.executemany("INSERT INTO nodes (id, name) VALUES (?, ?)", list(enumerate(nodes, start=1)))
    hour_start = end // 3600 * 3600 - hours * 3600
    hour = np.zeros(8, dtype=HOUR_DTYPE)
    hour["index"] = np.arange(8)
    conn.execute("BEGIN")
    for node_id in range(1, len(nodes) + 1):
        rows = []
        for h in range(hours):
            hour["util_mean"] = rng.integers(0, 10000, 8)
            hour["util_max"] = 100
            hour["temp_max"] = rng.integers(40, 90, 8)
            hour["power_mean"] = rng.integers(100, 700, 8)
            hour["mem_max"] = rng.integers(0, 80000, 8)
            hour["busy_minutes"] = rng.integers(0, 60, 8)
            hour["live_minutes"] = 60
            rows.append((node_id, hour_start + h * 3600, 60, 60, hour.tobytes()))
        conn.executemany("INSERT INTO hour (node, t, live_minutes, seen_minutes, data) VALUES (?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = os.path.getsize(path) + _wal(path)
    minute = np.zeros(8, dtype=MINUTE_DTYPE)
    minute["index"] = np.arange(8)
    minute_start = end // 60 * 60 - minutes * 60
    up = STATE_CODE[NodeState.UP]
    conn.execute("BEGIN")
    for node_id in range(1, len(nodes) + 1):
        rows = []
        for m in range(minutes):
            minute["util_mean"] = rng.integers(0, 10000, 8)
            minute["util_max"] = rng.integers(0, 100, 8)
            minute["temp_max"] = rng.integers(40, 90, 8)
            minute["power_mean"] = rng.integers(100, 700, 8)
            minute["mem_max"] = rng.integers(0, 80000, 8)
            minute["samples"] = 60
            rows.append((node_id, minute_start + m * 60, up, minute.tobytes()))
        conn.executemany("INSERT INTO minute (node, t, state, data) VALUES (?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    after = os.path.getsize(path) + _wal(path)
    conn.close()
    return {"minute_bytes": after - before, "minute_rows": minutes * len(nodes)}


def generate_usage(path: Path, nodes: int, days: int, end: float) -> int:
    """The day rows a year of roll-ups leaves: per UTC day, tenant and node (seven tenants)."""
    archive = TelemetryArchive(path)  # migrates an older archive first
    archive.close()
    conn = sqlite3.connect(path, isolation_level=None)
    if conn.execute("SELECT count(*) FROM usage_day").fetchone()[0]:
        conn.close()
        return 0
    conn.execute("PRAGMA synchronous=OFF")
    conn.executemany(
        "INSERT OR IGNORE INTO tenants (id, name) VALUES (?, ?)", [(t + 1, f"tenant-{t}") for t in range(7)]
    )
    rng = random.Random(11)
    first = dt.datetime.fromtimestamp(end, dt.UTC).date() - dt.timedelta(days=days)
    conn.execute("BEGIN")
    for d in range(days):
        day = (first + dt.timedelta(days=d)).isoformat()
        rows = []
        for node in range(1, nodes + 1):
            held = 8 * 1440.0
            busy = rng.uniform(0, held)
            out = rng.choice([0.0, 0.0, 0.0, 60.0, 480.0])
            rows.append(
                (day, node % 7 + 1, node, held, held - out, busy + 500, busy, 500.0, out, busy * 0.8, int(held))
            )
        conn.executemany("INSERT INTO usage_day VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    conn.close()
    return days * nodes


def _wal(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def writer_minute(fleet: Inventory, archive_path: Path) -> tuple[Callable[[], object], Callable[[], object]]:
    """What the archive's writer does once a minute at this fleet size: the minute's aggregates of every
    accelerator from full ten-minute rings, and their write in one transaction (into a scratch archive)."""
    from console.core.telemetry.fleet import FleetModel
    from console.core.telemetry.history import AcceleratorHistory
    from console.core.telemetry.samples import AcceleratorSample

    model = FleetModel(fleet)
    now = time.time()
    rng = random.Random(3)
    for node in model._nodes.values():  # full rings, as after ten minutes of streaming
        node.state = NodeState.UP
        for index in range(8):
            history = node.history[index] = AcceleratorHistory()
            for second in range(600):
                history.append(
                    now - 600 + second,
                    AcceleratorSample(
                        index=index,
                        vendor=Vendor.NVIDIA,
                        utilization_pct=float(rng.randrange(100)),
                        temperature_c=60.0,
                        power_w=400.0,
                        memory_used_mib=1000.0,
                    ),
                )
    scratch = TelemetryArchive(archive_path)
    start = int(now) // 60 * 60 - 120
    minutes = model.minutes(start)
    return (lambda: model.minutes(start)), (lambda: scratch.write([(start, minutes)], []))


def tenant_year(archive: TelemetryArchive, now: float) -> str:
    """A tenant's report over the last 365 days: the day rows summed, then rendered to HTML."""
    from console.core.records.tenant_report import build_tenant_report, render_tenant_html

    last = dt.datetime.fromtimestamp(now, dt.UTC).date()
    since, until = (last - dt.timedelta(days=365)).isoformat(), (last + dt.timedelta(days=1)).isoformat()
    rows = archive.usage(since, until, "tenant-3")
    return render_tenant_html(build_tenant_report("tenant-3", since, until, rows, "now", "bench"))


def timed(runs: int, work: Callable[[], object]) -> dict[str, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(times), 1), "worst_ms": round(max(times), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--days", type=int, default=400, help="days of hourly archive")
    parser.add_argument("--incidents", type=int, default=50_000)
    parser.add_argument("--actions", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--data-dir", type=Path, help="keep the generated data here (default: a temporary dir)")
    args = parser.parse_args()

    directory = args.data_dir or Path(tempfile.mkdtemp(prefix="fleet-records-"))
    directory.mkdir(parents=True, exist_ok=True)
    fleet = inventory(args.nodes, directory)
    names = [spec.name for spec in fleet.nodes]
    now = time.time()
    year_start = now - 365 * 86400
    store_path, archive_path = directory / STORE_FILE, directory / ARCHIVE_FILE
    generated: dict[str, Any] = {}
    if not store_path.exists():
        print(f"bench: generating {args.incidents} incidents and {args.actions} actions …", file=sys.stderr, flush=True)
        started = time.monotonic()
        generate_store(store_path, names, args.incidents, args.actions, year_start, now)
        generated["store_s"] = round(time.monotonic() - started, 1)
    if not archive_path.exists():
        print(f"bench: generating {args.days} days of hourly and 48 h of minute archive …", file=sys.stderr, flush=True)
        started = time.monotonic()
        generated.update(generate_archive(archive_path, names, args.days * 24, 48 * 60, int(now)))
        generated["archive_s"] = round(time.monotonic() - started, 1)
    generated["usage_day_rows"] = generate_usage(archive_path, args.nodes, 365, now)
    store = Store(store_path)
    archive = TelemetryArchive(archive_path)
    log = ShiftLog(store, fleet, archive, clock=ShiftClock())
    # A day shift in the middle of the year: a typical report, with the year's data all around it.
    date = (dt.datetime.fromtimestamp(now) - dt.timedelta(days=180)).date()
    since, until = log.shift_bounds(date, ShiftName.DAY)
    node = names[len(names) // 2]
    results: dict[str, Any] = {
        "log_page_shift": timed(args.runs, lambda: log.page(LogFilter(since, until))),
        "log_page_shift_critical": timed(
            args.runs, lambda: log.page(LogFilter(since, until, severities=frozenset({"critical"})))
        ),
        "log_page_shift_rack": timed(args.runs, lambda: log.page(LogFilter(since, until, rack="R05"))),
        "log_page_shift_text": timed(args.runs, lambda: log.page(LogFilter(since, until, text="OPS-12"))),
        "log_page_30_days": timed(args.runs, lambda: log.page(LogFilter(now - 30 * 86400, now))),
        "shift_report_build": timed(args.runs, lambda: log.build(date, ShiftName.DAY, "bench")),
        "shift_report_html": timed(args.runs, lambda: log.render(date, ShiftName.DAY, "html", "bench")),
        "timeline_12h": timed(args.runs, lambda: log.timeline(node, now - 12 * 3600, now, with_bmc=False)),
        "timeline_30d": timed(args.runs, lambda: log.timeline(node, now - 30 * 86400, now, with_bmc=False)),
        "archive_timeline_12h": timed(args.runs, lambda: archive.timeline(node, now - 12 * 3600, now)),
        "roll_up_one_hour": timed(3, lambda: archive.roll_up(int(now) // 3600 * 3600 - 2 * 3600)),
        "tenant_report_year": timed(args.runs, lambda: tenant_year(archive, now)),
    }
    aggregate, write = writer_minute(fleet, directory / "scratch-telemetry.sqlite3")
    results["writer_minute_aggregates"] = timed(args.runs, aggregate)
    results["writer_minute_write"] = timed(args.runs, write)
    page = log.page(LogFilter(since, until))
    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release()},
        "command": "./dev bench records " + " ".join(sys.argv[1:]),
        "scale": {
            "nodes": args.nodes,
            "incidents": args.incidents,
            "actions": args.actions,
            "hourly_days": args.days,
            "store_mb": round(store_path.stat().st_size / 2**20, 1),
            "archive_mb": round(archive_path.stat().st_size / 2**20, 1),
            "shift_incidents": len(page.incidents),
            "shift_actions": len(page.actions),
        },
        "generated": generated,
        "minute_mb_per_day": round(generated["minute_bytes"] / 2 / 2**20, 1) if "minute_bytes" in generated else None,
        "results": results,
    }
    store.close()
    archive.close()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"records-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    print(f"\n(written to {out.relative_to(REPO)}; data in {directory})")
    return 0


def markdown(report: dict[str, Any]) -> str:
    scale = report["scale"]
    rows = [
        f"Store {scale['store_mb']} MB ({scale['incidents']} incidents, {scale['actions']} actions), archive "
        f"{scale['archive_mb']} MB ({scale['nodes']} nodes × 8, {scale['hourly_days']} days hourly + 48 h of "
        f"minutes); minute data {report['minute_mb_per_day']} MB a day. A shift: {scale['shift_incidents']} "
        f"incidents, {scale['shift_actions']} actions.",
        "",
        "| what | median | worst |",
        "|---|---|---|",
    ]
    for name, figures in report["results"].items():
        rows.append(f"| {name.replace('_', ' ')} | {figures['median_ms']} ms | {figures['worst_ms']} ms |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
