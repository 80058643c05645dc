"""Bench: the console's core against a real sshd at 50 / 200 / 1,000 nodes × 8 GPUs at 1 Hz; the window at
200 nodes; and a one-shot ClusterShell (clush) sweep of the same command as the baseline.

    ./dev bench                       # all sizes, 30 s windows
    ./dev bench --sizes 50 200 --seconds 20

Runs itself inside a new network namespace (``unshare -n``), where one sshd on 0.0.0.0 serves every
127.1.x.y address as a separate node and nothing leaves the machine. The console runs in a child process
so its CPU, RSS and threads are its own (sshd's and the stand-ins' are reported apart).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.fleet import PORT, BenchFleet, address
from console.core.parsers.nvidia_csv import once_argv

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


def in_namespace() -> bool:
    return os.environ.get("FLEET_BENCH_NETNS") == "1"


def reexec_in_namespace() -> int:
    unshare = shutil.which("unshare")
    if unshare is None:
        print("bench: unshare (util-linux) is needed", file=sys.stderr)
        return 2
    env = {**os.environ, "FLEET_BENCH_NETNS": "1"}
    script = 'ip link set lo up && exec "$0" -m bench.stream "$@"'
    return subprocess.call([unshare, "-n", "--fork", "sh", "-c", script, sys.executable, *sys.argv[1:]], env=env)


def node_side_cpu(fleet: BenchFleet, seconds: float) -> float:
    """CPU (cores) of sshd and everything under it (sessions, stand-ins) over ``seconds``."""

    def total() -> float:
        spent = 0.0
        for pid in fleet.sshd_pids():
            try:
                t = psutil.Process(pid).cpu_times()
                spent += t.user + t.system
            except psutil.Error:
                pass
        return spent

    before = total()
    time.sleep(seconds)
    return (total() - before) / seconds


def run_core(
    fleet: BenchFleet,
    count: int,
    seconds: float,
    paramiko_poll: float | None,
    follow: bool = True,
    records: bool = True,
    workers: int | None = None,
    profile: str | None = None,
) -> dict[str, Any]:
    # py-spy (installed by hand: pip install py-spy) samples every thread of the child, collapsed stacks.
    sampler = ["py-spy", "record", "--nonblocking", "-r", "50", "-f", "raw", "-o", profile, "--"] if profile else []
    command = [
        *sampler,
        sys.executable,
        "-m",
        "bench.console_core",
        "--inventory",
        str(fleet.inventory(count)),
        "--seconds",
        str(seconds),
        "--kernel-dir",
        str(fleet.kernel_dir),
    ]
    if paramiko_poll is not None:
        command += ["--paramiko-poll", str(paramiko_poll)]
    if not follow:
        command.append("--no-kernel-follow")
    if not records:
        command.append("--no-records")
    if workers is not None:
        command += ["--workers", str(workers)]
    # Each run starts with empty kernel logs: lines an earlier run wrote would be alerts already.
    for log in fleet.kernel_dir.glob("*.log"):
        log.write_text("")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=REPO)
    # Node-side CPU is sampled in the middle of the console's measuring window.
    node_cpu = None
    time.sleep(5)
    started = time.monotonic()
    while proc.poll() is None and time.monotonic() - started < 900:
        if node_cpu is None and _streaming(fleet, count):
            time.sleep(5)
            node_cpu = node_side_cpu(fleet, min(10.0, seconds / 2))
        time.sleep(0.5)
    out, _ = proc.communicate(timeout=600)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["node_side_cpu_cores"] = None if node_cpu is None else round(node_cpu, 2)
    return result


def _streaming(fleet: BenchFleet, count: int) -> bool:
    # Roughly: sshd has a session process and a stand-in per node once the console is connected.
    return len(fleet.sshd_pids()) >= 2 * count


def run_clush(fleet: BenchFleet, count: int) -> dict[str, Any]:
    clush = shutil.which("clush")
    if clush is None:
        return {"error": "clush not installed (Debian package clustershell)"}
    nodes = ",".join(address(i) for i in range(count))
    ssh_options = (
        f"-p {PORT} -i {fleet.client_key} -o UserKnownHostsFile={fleet.known_hosts} "
        "-o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null"
    )
    command = [clush, "-w", nodes, "-f", "64", "-l", fleet.user, "-o", ssh_options, "-N", "--", *once_argv()]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return {
        "nodes": count,
        "wall_s": round(wall, 2),
        "client_cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2),
        "lines": len(lines),
        "expected_lines": 8 * count,
        "exit_status": result.returncode,
    }


def run_gui(
    fleet: BenchFleet,
    count: int,
    seconds: float,
    view: str = "table",
    workers: int | None = None,
    explain: bool = False,
) -> dict[str, Any]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.gui_frames",
            "--inventory",
            str(fleet.inventory(count)),
            "--seconds",
            str(seconds),
            "--view",
            view,
            *(["--workers", str(workers)] if workers is not None else []),
            *(["--explain"] if explain else []),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=900,
        check=False,
    )
    lines = out.stdout.strip().splitlines()
    if not lines:
        return {"error": out.stderr[-2000:]}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def markdown(report: dict[str, Any]) -> str:
    rows = [
        "| nodes × GPUs | workers | console CPU (cores, every process) | RSS | threads | node→model p50 / p99 | "
        "lines/s | connect all | kernel line→alert p50 / max | sshd + stand-ins CPU | clush one-shot sweep |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    clush = {c["nodes"]: c for c in report["clush"]}
    runs = [(core, "") for core in report["core"]]
    runs += [(core, " (baseline: kernel log not followed)") for core in report.get("core_without_kernel_follow", [])]
    runs += [(core, " (baseline: no incidents, no archive)") for core in report.get("core_without_records", [])]
    runs += [(core, " (baseline: one process, no workers)") for core in report.get("core_without_workers", [])]
    for core, what in runs:
        c = clush.get(core["nodes"], {})
        sweep = f"{c['wall_s']} s wall, {c['client_cpu_s']} s CPU" if "wall_s" in c else "–"
        held = core.get("archive_minutes_in_window")
        label = what + (f" ({held} archive minute(s) in the window)" if held is not None else "")
        rows.append(
            f"| {core['nodes']} × 8{label} | {core.get('workers', 0)} | {core['cpu_cores']} | {core['rss_mb']} MB | "
            f"{core['threads']} | "
            f"{core['node_to_model_p50_ms']} / {core['node_to_model_p99_ms']} ms | {core['lines_per_s']} | "
            f"{core['connect_all_s']} s | {core.get('kernel_line_to_alert_p50_ms')} / "
            f"{core.get('kernel_line_to_alert_max_ms')} ms ({core.get('kernel_alerts')} of "
            f"{core.get('kernel_events')}) | {core['node_side_cpu_cores']} | {sweep} |"
        )
    gui = report.get("gui")
    if gui and "apply" in gui:
        rows.append("")
        shown = "heatmap" if gui.get("view") == "heatmap" else "full-window"
        refresh = gui.get("floor_refresh") or {}
        show = gui.get("floor_show") or {}
        rows.append(
            f"Window with {gui['nodes']} nodes streaming (offscreen, {gui.get('view', 'table')}, "
            f"{gui.get('workers', 0)} workers): snapshot apply "
            f"p50 {gui['apply']['p50_ms']} ms, p95 {gui['apply'].get('p95_ms')} ms, p99 {gui['apply']['p99_ms']} ms; "
            f"{shown} repaint p50 {gui['render_full_window']['p50_ms']} ms, "
            f"p99 {gui['render_full_window']['p99_ms']} ms; event-loop lag p99 {gui['event_loop_lag']['p99_ms']} ms; "
            f"node→model p99 {(gui.get('node_to_model') or {}).get('p99_ms')} ms"
            + (
                f"; heatmap refresh p50 {refresh['p50_ms']} ms, p99 {refresh['p99_ms']} ms, its cells shown "
                f"p50 {show.get('p50_ms')} ms, p99 {show.get('p99_ms')} ms."
                if refresh.get("p50_ms")
                else "."
            )
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sizes", type=int, nargs="*", default=[50, 200, 1000], help="fleet sizes for the core (none: the window only)"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="measuring window per size")
    parser.add_argument("--gui-nodes", type=int, default=200)
    parser.add_argument("--no-gui", action="store_true")
    parser.add_argument("--gui-view", choices=["table", "heatmap"], default="table", help="the window's view")
    parser.add_argument(
        "--gui-explain", action="store_true", help="also where the window's time goes (threads, collector, late ticks)"
    )
    parser.add_argument("--no-clush", action="store_true")
    parser.add_argument("--workers", type=int, help="telemetry worker processes (default: by fleet size; 0: none)")
    parser.add_argument(
        "--workers-baseline", action="store_true", help="also run each size in one process (no workers), same run"
    )
    parser.add_argument("--paramiko-poll", type=float, help="compare with another idle socket timeout (paramiko 0.1)")
    parser.add_argument(
        "--kernel-baseline", action="store_true", help="also run each size without following kernel logs (baseline)"
    )
    parser.add_argument(
        "--profile-core",
        metavar="FILE",
        help="sample the core's child with py-spy (pip install py-spy) into FILE, collapsed stacks of every thread",
    )
    parser.add_argument(
        "--records-baseline",
        action="store_true",
        help="also run each size without the incident service and the telemetry archive (baseline)",
    )
    args = parser.parse_args()
    if not in_namespace():
        return reexec_in_namespace()

    biggest = max([*args.sizes, 0 if args.no_gui else args.gui_nodes, 1])
    workdir = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    fleet = BenchFleet(workdir, biggest)
    fleet.start()
    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release()},
        "command": "./dev bench " + " ".join(sys.argv[1:]),
        "core": [],
        "clush": [],
    }
    try:
        for count in args.sizes:
            print(f"bench: core with {count} nodes …", file=sys.stderr, flush=True)
            if args.records_baseline:
                baseline = run_core(fleet, count, args.seconds, args.paramiko_poll, records=False)
                report.setdefault("core_without_records", []).append(baseline)
                print(json.dumps(baseline), file=sys.stderr, flush=True)
            if args.kernel_baseline:
                baseline = run_core(fleet, count, args.seconds, args.paramiko_poll, follow=False)
                report.setdefault("core_without_kernel_follow", []).append(baseline)
                print(json.dumps(baseline), file=sys.stderr, flush=True)
            if args.workers_baseline:
                baseline = run_core(fleet, count, args.seconds, args.paramiko_poll, workers=0)
                report.setdefault("core_without_workers", []).append(baseline)
                print(json.dumps(baseline), file=sys.stderr, flush=True)
            report["core"].append(
                run_core(
                    fleet, count, args.seconds, args.paramiko_poll, workers=args.workers, profile=args.profile_core
                )
            )
            print(json.dumps(report["core"][-1]), file=sys.stderr, flush=True)
            if not args.no_clush:
                report["clush"].append(run_clush(fleet, count))
                print(json.dumps(report["clush"][-1]), file=sys.stderr, flush=True)
        if not args.no_gui:
            print(f"bench: window with {args.gui_nodes} nodes …", file=sys.stderr, flush=True)
            report["gui"] = run_gui(fleet, args.gui_nodes, args.seconds, args.gui_view, args.workers, args.gui_explain)
            print(json.dumps(report["gui"]), file=sys.stderr, flush=True)
    finally:
        fleet.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"stream-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    for core in report["core"]:
        if core.get("archive_minutes_in_window") == 0:
            print(f"\nnote: the {core['nodes']}-node window held no archive minute: use --seconds 90 or more")
        if core.get("thread_cores"):
            print(f"\n{core['nodes']} nodes, cores by thread: {core['thread_cores']}")
    print(f"\n(written to {out.relative_to(REPO)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
