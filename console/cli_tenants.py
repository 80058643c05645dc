"""``fleet-console tenants``: one reading of every node and of Slurm's tenancy, one row per tenant.

A node that does not answer still belongs to its tenant: its accelerators are counted unreachable, from what
the console last saw of it (this desk's telemetry archive) or what Slurm's GRES gives it, and each such node
is said on stderr with what was counted — the same figures the window shows, and a non-zero exit that always
says why.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from console.core.inventory import Inventory
from console.core.records.store_error import StoreError
from console.core.telemetry.fleet import NodeView
from console.core.telemetry.samples import LIVE_STATES, NodeState
from console.core.tenants.allocation import (
    KnownAccelerators,
    SchedulerAllocations,
    idle_capacity,
    known_accelerators,
    tenant_figures,
)
from console.core.text import escape_controls, escape_lines

if TYPE_CHECKING:
    from console.engines.slurm import SlurmEngine

EXIT_OK = 0
EXIT_SOME_FAILED = 1


def _say(text: str) -> None:
    print(escape_lines(text), file=sys.stderr)


def print_tenants(args: argparse.Namespace, inventory: Inventory, data_dir: Path) -> int:
    """The tenants' table (or JSON lines) on stdout; every node that is not up, and a partial Slurm, on
    stderr; exit 1 when either happened."""
    from console.engines.registry import Engines
    from console.engines.slurm import SchedulerError
    from console.services.one_shot import poll_once
    from console.transport.ssh import SshSettings

    ssh = SshSettings(ssh_config=args.tenants_ssh_config)
    fleet = poll_once(inventory, ssh, timeout_s=args.timeout)
    views = fleet.views()
    lost = [v.name for v in views if v.state not in LIVE_STATES and not v.accelerators]
    gres: dict[str, int | None] = {}
    allocations: SchedulerAllocations | None = None
    engines = Engines(inventory, ssh)
    try:
        scheduler = engines.scheduler()
        if scheduler is not None:
            allocations = scheduler.allocations()
            if lost:
                try:
                    gres = _gres(scheduler, inventory, lost)
                except SchedulerError as exc:
                    _say(f"fleet-console: Slurm's GRES of the nodes that did not answer could not be read: {exc}")
    finally:
        engines.close()
    if allocations is not None and allocations.problem:
        _say(f"fleet-console: Slurm's view is partial: {allocations.problem}")
    known = known_accelerators(lost, gres, _archived(data_dir, lost))
    _say_not_up(views, known)
    rows = tenant_figures(views, allocations, args.busy_pct, known)
    if args.json:
        sys.stdout.write("".join(json.dumps(r.as_json(), separators=(",", ":")) + "\n" for r in rows))
    else:
        t = escape_controls
        print(
            f"{'tenant':<20} {'nodes':>5} {'GPUs':>5} {'healthy':>7} {'unhlthy':>7} {'unreach':>7} "
            f"{'alloc':>5} {'busy':>5} {'idle/al':>7} {'idle/free':>9}  source"
        )
        for r in rows:
            print(
                f"{t(r.tenant):<20} {r.nodes:>5} {r.accelerators:>5} {r.healthy:>7} {r.unhealthy:>7} "
                f"{r.unreachable:>7} {r.allocated:>5} {r.busy:>5} {r.idle_allocated:>7} {r.idle_unallocated:>9}  "
                f"{r.source}"
            )
            for d in r.disagreements:
                print(
                    f"    {t(str(d['node']))}: inventory says {t(str(d['inventory']))}, Slurm says "
                    f"{t(str(d['slurm']))} ({t(str(d['slurm_why']))})"
                )
        idle, total = idle_capacity(rows)
        print(f"idle: {idle} of {total} accelerators ({100 * idle / max(total, 1):.0f} %)")
    healthy = all(v.state == NodeState.UP for v in views) and not (allocations and allocations.problem)
    return EXIT_OK if healthy else EXIT_SOME_FAILED


def _gres(scheduler: SlurmEngine, inventory: Inventory, lost: Sequence[str]) -> dict[str, int | None]:
    """Slurm's GPU GRES of the ``lost`` nodes, by the console's node name."""
    specs = {spec.name: spec for spec in inventory.nodes}
    names = {specs[name].scheduler_name: name for name in lost if name in specs}
    found = scheduler.nodes(list(names))
    return {names[slurm_name]: node.gpus for slurm_name, node in found.items() if slurm_name in names}


def _archived(data_dir: Path, lost: Sequence[str]) -> dict[str, tuple[float, tuple[int, ...]]]:
    """The accelerators this desk's archive last saw on the ``lost`` nodes (none without an archive)."""
    from console.core.records.archive import ARCHIVE_FILE, TelemetryArchive

    path = data_dir / ARCHIVE_FILE
    if not lost or not path.is_file():
        return {}
    try:
        archive = TelemetryArchive(path, readonly=True)
        try:
            return archive.last_accelerators(lost)
        finally:
            archive.close()
    except (StoreError, sqlite3.Error) as exc:
        _say(f"fleet-console: {path} could not be read for the last known accelerators: {exc}")
        return {}


def _say_not_up(views: Sequence[NodeView], known: dict[str, KnownAccelerators]) -> None:
    for view in views:
        if view.state == NodeState.UP:
            continue
        why = view.error or view.state.value
        if view.state in LIVE_STATES:
            _say(f"fleet-console: {view.name} answered but is {view.state.value} ({why}); its figures may be partial")
            continue
        if view.accelerators:
            counted = f"its {len(view.accelerators)} accelerator(s) are counted unreachable"
        elif view.name in known:
            counted = (
                f"its {len(known[view.name].indices)} accelerator(s) are counted unreachable, as known from "
                f"{known[view.name].source}"
            )
        else:
            counted = (
                "its accelerators are in no figure: this desk never archived a reading of it and Slurm gives it "
                "no GPU GRES"
            )
        _say(f"fleet-console: {view.name} did not answer ({why}); {counted}")
