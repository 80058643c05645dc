"""``fleet-console poll``: the fleet read once (``--once``) or streamed, as a table or JSON lines, with
the incidents and the archive a streaming poll keeps; ``tenants``' dispatch."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING

from console.cli_common import (
    EXIT_BAD_INVENTORY,
    EXIT_OK,
    EXIT_SOME_FAILED,
    AlertRulesRefused,
    StopRequested,
    alert_rules_from,
    data_dir,
    load_or_say,
    preferences_path,
    role_in_effect,
    say,
    stop_on_signals,
)
from console.cli_floor import recorded_leds
from console.cli_identity import preferred_operator, who_acts
from console.core.actions.roles import Role, records_nothing
from console.core.inventory import Inventory
from console.core.records.poll_record import format_rows, node_record, table_rows, text_table
from console.core.telemetry.samples import NodeState
from console.core.text import escape_controls, escape_lines
from console.core.when import local_stamp

if TYPE_CHECKING:
    from console.app import LiveFleet, ShiftServices
    from console.core.telemetry.fleet import FleetModel
    from console.transport.ssh import SshSettings

# --- poll --------------------------------------------------------------------------------------------------


def run_poll(args: argparse.Namespace) -> int:
    from console.app import LiveFleet
    from console.services.one_shot import poll_once
    from console.transport.ssh import SshSettings

    inventory = load_or_say(args.poll_inventory)
    if inventory is None:
        return EXIT_BAD_INVENTORY
    ssh = SshSettings(ssh_config=args.poll_ssh_config)
    try:
        rules = alert_rules_from(args.poll_alert_rules)
    except AlertRulesRefused:
        return EXIT_BAD_INVENTORY
    if args.once:
        stop_on_signals()
        try:
            fleet = poll_once(inventory, ssh, timeout_s=args.timeout, alert_rules=rules)
        except StopRequested as exc:
            print(
                f"fleet-console: stopped by {signal.Signals(exc.signum).name} before every node answered",
                file=sys.stderr,
            )
            return exc.exit_status
        _read_slurm_once(inventory, ssh, fleet)
        views = fleet.views()
        _print_views(views, args.json, recorded_leds(data_dir(args.poll_data_dir), [v.name for v in views]))
        return EXIT_OK if all(v.state == NodeState.UP for v in views) else EXIT_SOME_FAILED

    preferred = preferred_operator(preferences_path())
    operator = who_acts(None, inventory, "nothing was polled", preferred, records_a_change=False)
    if isinstance(operator, int):
        return operator
    live = LiveFleet(
        inventory, ssh, alert_rules=rules, detail_interval_s=args.poll_detail_interval, workers=args.poll_workers
    )
    records = None if args.no_record else _poll_records(args, live, operator)
    if isinstance(records, int):
        return records
    stop = threading.Event()
    stop_on_signals(lambda _signum: stop.set())
    from console.engines.registry import Engines
    from console.services.collector import CollectorThread
    from console.services.scheduler_watch import SchedulerWatch

    # Slurm's state of each node beside its readings, as in the window (every 30 s; none without [scheduler]).
    engines = Engines(inventory, ssh)
    watch = SchedulerWatch(inventory, live.fleet, engines)
    collector = CollectorThread()  # the cycle collector in short pauses, as behind the window
    collector.start()
    live.start()
    watch.start()
    if records is not None:
        records.start()
    status = EXIT_SOME_FAILED
    try:
        # The first round waits for connections; later rounds keep the interval.
        next_round = time.monotonic() + max(args.interval, 2.0)
        table = StreamingTable(terminal=sys.stdout.isatty())
        while not stop.wait(max(0.0, next_round - time.monotonic())):
            views = live.fleet.views()
            if args.json:
                _print_views(views, True, recorded_leds(data_dir(args.poll_data_dir), [v.name for v in views]))
            else:
                table.show(views)
            status = EXIT_OK if all(v.state == NodeState.UP for v in views) else EXIT_SOME_FAILED
            for problem in records.problems if records is not None else []:
                say(f"fleet-console: {problem}", file=sys.stderr)
            next_round += args.interval
    finally:
        if records is not None:
            records.stop()
        watch.stop()
        engines.close()
        live.stop()
        collector.stop()
    return status


def _poll_records(args: argparse.Namespace, live: LiveFleet, operator: str) -> ShiftServices | int | None:
    """The incident log and archive a streaming ``poll`` keeps (None: the store could not be opened, said on
    stderr; an int: the exit status after saying why not)."""
    from console.app import ShiftServices
    from console.services.audit import StoreError

    role = role_in_effect(args, permission="none")
    if not isinstance(role, Role):
        return EXIT_BAD_INVENTORY
    silent = records_nothing(role)
    if silent:
        say(f"fleet-console: {silent}", file=sys.stderr)
    try:
        return ShiftServices(live, data_dir(args.poll_data_dir), operator=operator, role=role)
    except StoreError as exc:
        print(f"fleet-console: {exc}; streaming without recording incidents (--no-record)", file=sys.stderr)
        return None


def _read_slurm_once(inventory: Inventory, ssh: SshSettings, fleet: FleetModel) -> None:
    """Slurm's state of each node for the one-shot table (a failure is said, the readings still print)."""
    from console.engines.registry import Engines
    from console.services.scheduler_watch import SchedulerWatch

    if inventory.scheduler is None:
        return
    engines = Engines(inventory, ssh)
    try:
        SchedulerWatch(inventory, fleet, engines).read_once()
    except Exception as exc:  # noqa: BLE001 - the nodes' own readings are what poll is for
        say(f"fleet-console: Slurm's node states could not be read: {exc}", file=sys.stderr)
    finally:
        engines.close()


def _print_views(views: list, as_json: bool, leds: dict[str, str]) -> None:  # type: ignore[type-arg]
    """The nodes once, with the locate LEDs the record says were left lit (a line each under the table)."""
    now = time.time()
    if as_json:
        out = "".join(
            json.dumps(node_record(view, now, leds.get(view.name)), separators=(",", ":")) + "\n" for view in views
        )
    else:
        out = escape_lines(text_table(views)) + "\n"
        out += "".join(escape_lines(f"{node}: {words}") + "\n" for node, words in sorted(leds.items()))
    sys.stdout.write(out)
    sys.stdout.flush()


class StreamingTable:
    """Streaming ``poll``'s text: on a terminal the table is redrawn in place each round; elsewhere (a log, a
    pipe) the first round prints every node and later rounds only the nodes whose row changed, under a line
    that says when and how many — not the whole table every second."""

    def __init__(self, terminal: bool) -> None:
        self.terminal = terminal
        self.last: dict[str, tuple[str, ...]] = {}

    def show(self, views: list) -> None:  # type: ignore[type-arg]
        rows = table_rows(views)
        lines = [escape_controls(line) for line in format_rows(rows)]
        stamp = local_stamp(time.time())
        if self.terminal:
            # Home, clear, table: the screen shows the fleet now, not a scroll of old tables.
            sys.stdout.write("\x1b[H\x1b[2J" + "\n".join(lines) + f"\n\n{stamp} · Ctrl+C stops\n")
            sys.stdout.flush()
            return
        changed = [
            line for view, row, line in zip(views, rows[1:], lines[1:], strict=True) if self.last.get(view.name) != row
        ]
        self.last = {view.name: row for view, row in zip(views, rows[1:], strict=True)}
        if changed:
            sys.stdout.write(f"-- {stamp}: {len(changed)} of {len(views)} nodes changed\n{lines[0]}\n")
            sys.stdout.write("".join(line + "\n" for line in changed))
            sys.stdout.flush()


def run_tenants(args: argparse.Namespace) -> int:
    from console.cli_tenants import print_tenants

    inventory = load_or_say(args.tenants_inventory)
    if inventory is None:
        return EXIT_BAD_INVENTORY
    stop_on_signals()
    try:
        return print_tenants(args, inventory, data_dir(args.tenants_data_dir or args.data_dir))
    except StopRequested as exc:
        return exc.exit_status
