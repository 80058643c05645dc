"""``fleet-console sim``: the simulated fleet, its month of history, and ``--demo``'s child process."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

from console.cli_common import (
    BEFORE_BACKSTOP,
    data_dir,
    say,
)
from console.core.records.store_error import StoreError

if TYPE_CHECKING:
    pass

DEMO_NODES: Final = 32
MAX_SIM_NODES: Final = 1000


# --- sim ---------------------------------------------------------------------------------------------------


def run_sim(args: argparse.Namespace) -> int:
    from console.sim.runner import start_sim

    if not 1 <= args.sim_nodes <= MAX_SIM_NODES:
        print(f"fleet-console sim: --nodes must be 1..{MAX_SIM_NODES}", file=sys.stderr)
        return 2
    state_dir = data_dir(args.sim_data_dir) / "sim"
    server, files = start_sim(args.sim_nodes, state_dir, args.inventory_out, args.known_hosts_out, seed=args.seed)
    if args.history:
        from console.sim.history import seed_history
        from console.sim.model import build_fleet

        try:
            written = seed_history(data_dir(args.sim_data_dir), build_fleet(args.sim_nodes, args.seed), time.time())
            if written.incidents or written.telemetry_days:
                say(f"fleet-console sim: wrote {written.words()} into {data_dir(args.sim_data_dir)}")
        except StoreError as exc:
            say(f"fleet-console sim: no history written: {exc}", file=sys.stderr)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    message = (
        f"simulated fleet: {args.sim_nodes} nodes, a Slurm scheduler and their BMCs on 127.0.0.1; "
        f"inventory {files.inventory}\n"
        f"the BMC password is in {files.bmc_password}: export FLEET_DEMO_BMC_PASSWORD=$(cat {files.bmc_password})\n"
    )
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
                "--history",
            ],
            pass_fds=(write_fd,),
        )
        BEFORE_BACKSTOP.append(self.kill)
        os.close(write_fd)
        try:
            with os.fdopen(read_fd, "rb") as ready:
                # Blocks until the simulator has listened on every port and written the inventory.
                line = ready.readline()
            if not line:
                code = self.proc.wait(timeout=timeout_s)
                raise RuntimeError(f"the simulated fleet failed to start (exit status {code})")
        except BaseException:  # a signal while it starts, or its failure: it stops, its run's files go
            self.stop()
            raise
        return self.inventory

    def kill(self) -> None:
        """At once, without waiting (the backstop's last act)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def stop(self) -> None:
        if self.kill in BEFORE_BACKSTOP:
            BEFORE_BACKSTOP.remove(self.kill)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        # Its inventory and known hosts were for this run only (the simulator's keys and ports change).
        shutil.rmtree(self.workdir, ignore_errors=True)
