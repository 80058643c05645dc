"""``fleet-console``: its parser and its dispatch to the command families' rooms (cli_window, cli_sim,
cli_poll, cli_action, cli_records, cli_move, cli_floor, cli_tenants), which share cli_common.

Qt is imported only when the window is asked for, so ``poll`` and ``sim`` run on machines without it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from console import __version__
from console.cli_action import run_action, run_audit, run_move_tenant
from console.cli_common import (
    EXIT_BAD_INVENTORY,
    EXIT_CLOSED_PIPE,
    EXIT_OK,
    WORKERS_HELP,
    StopRequested,
    add_role_option,
    data_dir,
    positive_seconds,
    say,
    worker_count,
)
from console.cli_floor import add_find_parser, run_find
from console.cli_move import add_move_parser
from console.cli_poll import run_poll, run_tenants
from console.cli_records import add_parsers, run_incidents, run_report
from console.cli_sim import DEMO_NODES, run_sim
from console.cli_window import run_window
from console.core.actions.kinds import all_options
from console.core.actions.planning import SPECS
from console.core.floor.heatmap import ColorBy, GroupBy
from console.core.records.store_error import StoreError
from console.core.when import ACCEPTED

if TYPE_CHECKING:
    pass


def build_parser() -> argparse.ArgumentParser:  # noqa: PLR0915 - one option per line, read top to bottom
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
    parser.add_argument(
        "--alert-rules", type=Path, help="alert rules (TOML); `fleet-console alert-rules` prints the defaults"
    )
    parser.add_argument(
        "--detail-interval", type=float, help="seconds between slow-path looks (default 30, longer in big fleets)"
    )
    parser.add_argument("--telemetry-workers", type=worker_count, help=WORKERS_HELP)
    parser.add_argument(
        "--view",
        choices=["table", "heatmap", "racks", "log", "tenants"],
        default="table",
        help="the view the window opens on",
    )
    parser.add_argument(
        "--color-by", choices=[c.value for c in ColorBy], help="the heatmap's colouring (default utilization)"
    )
    parser.add_argument("--group-by", choices=[g.value for g in GroupBy], help="the heatmap's groups (default rack)")
    parser.add_argument("-v", "--verbose", action="store_true")
    add_role_option(parser, top=True)
    parser.add_argument(
        "--operator",
        dest="window_operator",
        help="the window: your name for the record (else the preferences, $FLEET_CONSOLE_OPERATOR, or asked)",
    )
    sub = parser.add_subparsers(dest="command")

    poll = sub.add_parser("poll", help="read every node once (or keep streaming) and print the results")
    poll.add_argument("--inventory", type=Path, required=True, dest="poll_inventory")
    poll.add_argument("--once", action="store_true", help="one reading per node, then exit")
    poll.add_argument("--json", action="store_true", help="one JSON object per node per line")
    poll.add_argument("--interval", type=float, default=1.0, help="seconds between rounds when streaming")
    poll.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for a node's answer")
    poll.add_argument("--ssh-config", type=Path, default=Path("~/.ssh/config"), dest="poll_ssh_config")
    poll.add_argument("--alert-rules", type=Path, dest="poll_alert_rules", help="alert rules (TOML)")
    poll.add_argument(
        "--data-dir",
        type=Path,
        dest="poll_data_dir",
        help="where streaming poll keeps incidents and the telemetry archive (default: the user data dir)",
    )
    poll.add_argument(
        "--no-record", action="store_true", help="streaming: open no incidents and archive nothing (read only)"
    )
    poll.add_argument(
        "--detail-interval",
        type=float,
        dest="poll_detail_interval",
        help="seconds between slow-path looks when streaming (default 30)",
    )
    poll.add_argument("--telemetry-workers", type=worker_count, dest="poll_workers", help=WORKERS_HELP)

    rules_parser = sub.add_parser(
        "alert-rules", help="print the default alert rules (a starting point for --alert-rules)"
    )
    add_role_option(rules_parser, top=False)

    # Each kind's summary and the options it reads come from its own module (console.core.actions.kinds).
    kinds = "\n".join(
        f"  {kind.value:<14} {spec.summary}"
        + (f" [{' '.join('--' + o.replace('_', '-') for o in spec.options)}]" if spec.options else "")
        for kind, spec in SPECS.items()
    )
    action = sub.add_parser(
        "action",
        help="drain, resume, reboot, power, locate or reassign nodes (preview, confirm, run, track, audit)",
        epilog=f"kinds:\n{kinds}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    action.add_argument("kind", choices=[kind.value for kind in SPECS])
    action.add_argument("nodes", nargs="+", metavar="NODE")
    action.add_argument("--inventory", type=Path, required=True, dest="action_inventory")
    needing = ", ".join(kind.value for kind, spec in SPECS.items() if spec.needs_reason)
    action.add_argument("--reason", help=f"why (required for {needing})")
    action.add_argument("--ticket", help="ticket reference, appended to Slurm's Reason")
    action.add_argument("--yes", action="store_true", help="do not ask before running")
    action.add_argument(
        "--confirm-node",
        action="append",
        default=[],
        metavar="NODE",
        help="type a node's name to confirm a power action or SSH reboot that kills its running jobs",
    )
    # Each kind's own options, as its module declares them (console.core.actions.kinds): one flag per request field.
    for name, (option, asking) in all_options().items():
        words = f"{', '.join(kind.value for kind in asking)}: {option.help}"
        if option.check_words is not None:
            action.add_argument(option.flag, action="store_true", dest=name, help=words)
        else:
            choices = option.choices if option.strict and option.choices else None
            action.add_argument(option.flag, choices=choices, dest=name, help=words)
    action.add_argument("--operator", help="your name for Slurm's Reason and the audit log (default: OS user)")
    action.add_argument(
        "--timeout",
        type=positive_seconds,
        default=900.0,
        help="seconds from now to each node's outcome, remote commands and tracking included (default 900)",
    )
    action.add_argument("--data-dir", type=Path, dest="action_data_dir")
    action.add_argument("--ssh-config", type=Path, default=Path("~/.ssh/config"), dest="action_ssh_config")

    audit = sub.add_parser("audit", help="print the audit log of actions")
    audit.add_argument("--since", help=f"from when: {ACCEPTED}")
    audit.add_argument("--node", help="only this node")
    audit.add_argument("--json", action="store_true", help="one JSON object per action per line")
    audit.add_argument("--data-dir", type=Path, dest="audit_data_dir")

    tenants = sub.add_parser(
        "tenants", help="who holds which accelerators: per tenant healthy, allocated, busy and idle (read only)"
    )
    tenants.add_argument("--inventory", type=Path, required=True, dest="tenants_inventory")
    tenants.add_argument("--json", action="store_true", help="one JSON object per tenant per line")
    tenants.add_argument("--busy-pct", type=float, default=10.0, help="utilisation above which a GPU is busy")
    tenants.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for a node's answer")
    tenants.add_argument("--ssh-config", type=Path, default=Path("~/.ssh/config"), dest="tenants_ssh_config")
    tenants.add_argument(
        "--data-dir", type=Path, dest="tenants_data_dir", help="whose archive gives a silent node's accelerators"
    )

    sim = sub.add_parser("sim", help="run the simulated fleet alone (headless) and write its inventory")
    sim.add_argument("--nodes", type=int, default=DEMO_NODES, dest="sim_nodes")
    sim.add_argument("--inventory-out", type=Path, required=True)
    sim.add_argument("--known-hosts-out", type=Path)
    sim.add_argument("--data-dir", type=Path, dest="sim_data_dir")
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument(
        "--history",
        action="store_true",
        help="write a month of believable incidents, actions and telemetry into the data directory's record "
        "(once: never over a record that has incidents)",
    )
    sim.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    add_parsers(sub)
    move = add_move_parser(sub)
    find = add_find_parser(sub)
    for parser_of in (poll, action, audit, sim, tenants, move, find):
        add_role_option(parser_of, top=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    try:
        status = _dispatch(args)
        sys.stdout.flush()  # here, not at exit: a reader gone away is caught below
        return status
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as a Unix tool killed by SIGPIPE would.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_CLOSED_PIPE


def _dispatch(args: argparse.Namespace) -> int:
    try:
        if args.command == "poll":
            return run_poll(args)
        if args.command == "sim":
            return run_sim(args)
        if args.command == "alert-rules":
            from console.core.alerts.config import DEFAULT_RULES

            sys.stdout.write(DEFAULT_RULES)
            return EXIT_OK
        if args.command == "action":
            return run_action(args)
        if args.command == "audit":
            return run_audit(args)
        if args.command == "tenants":
            return run_tenants(args)
        if args.command == "move-tenant":
            return run_move_tenant(args)
        if args.command == "find":
            return run_find(args, data_dir(args.find_data_dir))
        if args.command == "incidents":
            return run_incidents(args, data_dir(getattr(args, "records_data_dir", None) or args.data_dir))
        if args.command == "report":
            return run_report(args, data_dir(getattr(args, "records_data_dir", None) or args.data_dir))
        return run_window(args)
    except StopRequested as exc:
        # A signal that arrived while the command was cleaning up after its work: it ends as asked.
        return exc.exit_status
    except StoreError as exc:
        # A store that is locked, full or damaged mid-command: its words (which file, held by whom, what to do),
        # never a traceback. Each write is one transaction: what did not commit is not in the record.
        say(f"fleet-console: {exc}", file=sys.stderr)
        return EXIT_BAD_INVENTORY
