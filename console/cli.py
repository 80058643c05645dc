"""``fleet-console``: the window (default), ``poll`` (headless readings) and ``sim`` (the simulated fleet).

Qt is imported only when the window is asked for, so ``poll`` and ``sim`` run on machines without it.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import platformdirs

from console import __version__
from console.core.inventory import Inventory, InventoryError, load_inventory
from console.core.report import node_record, text_table
from console.core.samples import NodeState

EXIT_OK: Final = 0
EXIT_SOME_FAILED: Final = 1
EXIT_BAD_INVENTORY: Final = 2
DEMO_NODES: Final = 32
MAX_SIM_NODES: Final = 1000

log = logging.getLogger("console")


def data_dir(explicit: Path | None) -> Path:
    return explicit or Path(platformdirs.user_data_dir("fleet-console", appauthor=False))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fleet-console",
        description="Operator console for accelerator fleets: live telemetry over SSH in one window.",
    )
    parser.add_argument("--version", action="version", version=f"fleet-console {__version__}")
    parser.add_argument("--inventory", type=Path, help="fleet inventory (TOML)")
    parser.add_argument("--demo", action="store_true", help="open the console on the built-in simulated fleet")
    parser.add_argument("--nodes", type=int, default=DEMO_NODES, help="simulated nodes for --demo (max 1000)")
    parser.add_argument("--data-dir", type=Path, help="where state lives (default: the user data dir)")
    parser.add_argument("--ssh-config", type=Path, default=Path("~/.ssh/config"), help="OpenSSH client config")
    parser.add_argument("--screenshot", type=Path, help="render the window to this PNG and exit")
    parser.add_argument("--after", type=float, default=5.0, help="seconds to run before --screenshot")
    parser.add_argument("--select", help="node to select at start (for screenshots)")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command")

    poll = sub.add_parser("poll", help="read every node once (or keep streaming) and print the results")
    poll.add_argument("--inventory", type=Path, required=True, dest="poll_inventory")
    poll.add_argument("--once", action="store_true", help="one reading per node, then exit")
    poll.add_argument("--json", action="store_true", help="one JSON object per node per line")
    poll.add_argument("--interval", type=float, default=1.0, help="seconds between rounds when streaming")
    poll.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for a node's answer")
    poll.add_argument("--ssh-config", type=Path, default=Path("~/.ssh/config"), dest="poll_ssh_config")

    sim = sub.add_parser("sim", help="run the simulated fleet alone (headless) and write its inventory")
    sim.add_argument("--nodes", type=int, default=DEMO_NODES, dest="sim_nodes")
    sim.add_argument("--inventory-out", type=Path, required=True)
    sim.add_argument("--known-hosts-out", type=Path)
    sim.add_argument("--data-dir", type=Path, dest="sim_data_dir")
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    if args.command == "poll":
        return run_poll(args)
    if args.command == "sim":
        return run_sim(args)
    return run_window(args)


# --- poll --------------------------------------------------------------------------------------------------


def _load(path: Path) -> Inventory | None:
    try:
        return load_inventory(path)
    except InventoryError as exc:
        print(f"fleet-console: bad inventory: {exc}", file=sys.stderr)
        return None


def run_poll(args: argparse.Namespace) -> int:
    from console.app import LiveFleet, poll_once
    from console.transport.ssh import SshSettings

    inventory = _load(args.poll_inventory)
    if inventory is None:
        return EXIT_BAD_INVENTORY
    ssh = SshSettings(ssh_config=args.poll_ssh_config)
    if args.once:
        fleet = poll_once(inventory, ssh, timeout_s=args.timeout)
        views = fleet.views()
        _print_views(views, args.json)
        return EXIT_OK if all(v.state == NodeState.UP for v in views) else EXIT_SOME_FAILED

    live = LiveFleet(inventory, ssh)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    live.start()
    status = EXIT_SOME_FAILED
    try:
        # The first round waits for connections; later rounds keep the interval.
        next_round = time.monotonic() + max(args.interval, 2.0)
        while not stop.wait(max(0.0, next_round - time.monotonic())):
            views = live.fleet.views()
            _print_views(views, args.json)
            status = EXIT_OK if all(v.state == NodeState.UP for v in views) else EXIT_SOME_FAILED
            next_round += args.interval
    finally:
        live.stop()
    return status


def _print_views(views: list, as_json: bool) -> None:  # type: ignore[type-arg]
    now = time.time()
    if as_json:
        out = "".join(json.dumps(node_record(view, now), separators=(",", ":")) + "\n" for view in views)
    else:
        out = text_table(views) + "\n"
    sys.stdout.write(out)
    sys.stdout.flush()


# --- sim ---------------------------------------------------------------------------------------------------


def run_sim(args: argparse.Namespace) -> int:
    from console.sim.runner import start_sim

    if not 1 <= args.sim_nodes <= MAX_SIM_NODES:
        print(f"fleet-console sim: --nodes must be 1..{MAX_SIM_NODES}", file=sys.stderr)
        return 2
    state_dir = data_dir(args.sim_data_dir) / "sim"
    server, files = start_sim(args.sim_nodes, state_dir, args.inventory_out, args.known_hosts_out, seed=args.seed)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    message = f"simulated fleet: {args.sim_nodes} nodes on 127.0.0.1; inventory {files.inventory}\n"
    if args.ready_fd is not None:
        with open(args.ready_fd, "w", closefd=True) as ready:
            ready.write(message)
    else:
        sys.stderr.write(message)
    try:
        stop.wait()
    finally:
        server.stop()
    return 0


class DemoFleet:
    """``--demo``: the simulated fleet in a child process (its own CPU, off the GUI's GIL), stopped by PID."""

    def __init__(self, nodes: int, state_root: Path) -> None:
        self.nodes = nodes
        self.state_root = state_root
        self.workdir = Path(tempfile.mkdtemp(prefix="fleet-console-demo-"))
        self.inventory = self.workdir / "demo-inventory.toml"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> Path:
        import os

        read_fd, write_fd = os.pipe()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "console",
                "sim",
                "--nodes",
                str(self.nodes),
                "--inventory-out",
                str(self.inventory),
                "--data-dir",
                str(self.state_root),
                "--ready-fd",
                str(write_fd),
            ],
            pass_fds=(write_fd,),
        )
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as ready:
            # Blocks until the simulator has listened on every port and written the inventory.
            line = ready.readline()
        if not line:
            code = self.proc.wait(timeout=timeout_s)
            raise RuntimeError(f"the simulated fleet failed to start (exit status {code})")
        return self.inventory

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


# --- window ------------------------------------------------------------------------------------------------


def run_window(args: argparse.Namespace) -> int:
    demo: DemoFleet | None = None
    if args.demo:
        if not 1 <= args.nodes <= MAX_SIM_NODES:
            print(f"fleet-console: --nodes must be 1..{MAX_SIM_NODES}", file=sys.stderr)
            return 2
        demo = DemoFleet(args.nodes, data_dir(args.data_dir))
        inventory_path = demo.start()
    elif args.inventory is not None:
        inventory_path = args.inventory
    else:
        print("fleet-console: give --inventory FILE, or --demo for the simulated fleet", file=sys.stderr)
        return 2
    try:
        inventory = _load(inventory_path)
        if inventory is None:
            return EXIT_BAD_INVENTORY
        from console.app import LiveFleet
        from console.gui.main_window import run_gui
        from console.transport.ssh import SshSettings

        ssh = SshSettings(ssh_config=None if args.demo else args.ssh_config)
        live = LiveFleet(inventory, ssh)
        return run_gui(live, screenshot=args.screenshot, after_s=args.after, select=args.select)
    finally:
        if demo is not None:
            demo.stop()
