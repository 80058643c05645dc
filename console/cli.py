"""``fleet-console``: the window (default), ``poll`` (headless readings) and ``sim`` (the simulated fleet).

Qt is imported only when the window is asked for, so ``poll`` and ``sim`` run on machines without it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO

import platformdirs

from console import __version__
from console.cli_floor import add_find_parser, recorded_leds, run_find
from console.cli_identity import NO_DISPLAY_WORDS, ask_on_terminal, no_display, preferred_operator, who_acts
from console.cli_move import add_move_parser, run_move
from console.cli_records import (
    add_parsers,
    add_role_option,
    effective_role,
    preferences_path,
    read_preferences,
    run_incidents,
    run_report,
)
from console.core.actions.action_types import command_text
from console.core.actions.kinds import all_options, build_request
from console.core.actions.planning import SPECS, ActionKind
from console.core.actions.roles import Preferences, PreferencesError, Role, RoleRefused, records_nothing
from console.core.alerts.rules import AlertRules
from console.core.floor.heatmap import ColorBy, GroupBy
from console.core.inventory import Inventory, InventoryError, load_inventory
from console.core.records.poll_record import format_rows, node_record, table_rows, text_table
from console.core.records.store_error import StoreError
from console.core.telemetry.samples import NodeState
from console.core.text import escape_controls, escape_lines
from console.core.when import ACCEPTED, WhenError, local_stamp, parse_iso, parse_when

if TYPE_CHECKING:
    from console.app import LiveFleet, ShiftServices, WindowServices
    from console.core.telemetry.fleet import FleetModel
    from console.gui.main_window import WindowParts
    from console.services.actions import ActionService
    from console.transport.ssh import SshSettings

EXIT_OK: Final = 0
EXIT_SOME_FAILED: Final = 1
EXIT_BAD_INVENTORY: Final = 2
EXIT_CLOSED_PIPE: Final = 141  # 128 + SIGPIPE
DEMO_NODES: Final = 32
MAX_SIM_NODES: Final = 1000

log = logging.getLogger("console")


def say(text: str, file: TextIO | None = None) -> None:
    """Print console-composed text whose foreign pieces may carry terminal escapes: every control
    character is shown escaped (line breaks between the console's own lines are kept)."""
    print(escape_lines(text), file=file or sys.stdout)


# After SIGINT or SIGTERM the command cleans up for at most this long, then the process ends regardless.
STOP_GRACE_S: Final = 4.0


# Called before the backstop ends the process (the demo's simulated fleet is stopped by its PID).
BEFORE_BACKSTOP: list[Callable[[], None]] = []


class StopRequested(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived: the command stops, cleaning up for at most STOP_GRACE_S."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


def stop_on_signals(on_stop: Callable[[int], None] | None = None) -> None:
    """Make SIGINT and SIGTERM stop this command within STOP_GRACE_S, always.

    The first signal calls ``on_stop(signum)`` or, without one, raises :class:`StopRequested` in the main
    thread; it also arms a backstop that ends the process STOP_GRACE_S later whatever is still running (a
    connect to an address that never answers, a BMC call in flight). A second signal ends it at once. Nothing
    recorded is lost: the audit store commits each write whole, and an action cut short by the backstop
    shows as "outcome unknown", as after a kill.
    """
    armed: list[int] = []

    def backstop(signum: int) -> None:
        for last_words in list(BEFORE_BACKSTOP):
            with contextlib.suppress(Exception):
                last_words()
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        with contextlib.suppress(Exception):
            sys.stderr.write(
                f"fleet-console: stopped by {signal.Signals(signum).name}; work still running after "
                f"{STOP_GRACE_S:g} s was abandoned\n"
            )
            sys.stderr.flush()
        os._exit(128 + signum)

    def handle(signum: int, _frame: object) -> None:
        if armed:
            backstop(signum)
        armed.append(signum)
        timer = threading.Timer(STOP_GRACE_S, backstop, args=(signum,))
        timer.daemon = True
        timer.start()
        if on_stop is not None:
            on_stop(signum)
        else:
            raise StopRequested(signum)

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def data_dir(explicit: Path | None) -> Path:
    return explicit or Path(platformdirs.user_data_dir("fleet-console", appauthor=False))


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 7 * 86400:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds above 0 (at most a week)")
    return value


WORKERS_HELP = (
    "stream and parse in N worker processes (0: in the console's own; default: by fleet and machine size, "
    "see docs/architecture.md)"
)


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of processes") from None
    if not 0 <= value <= 64:
        raise argparse.ArgumentTypeError(f"{value}: give 0 (none) to 64 worker processes")
    return value


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
    parser.add_argument("--telemetry-workers", type=_workers, help=WORKERS_HELP)
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
    poll.add_argument("--telemetry-workers", type=_workers, dest="poll_workers", help=WORKERS_HELP)

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
        type=_positive_seconds,
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
            from console.core.alerts.rules import DEFAULT_RULES

            sys.stdout.write(DEFAULT_RULES)
            return EXIT_OK
        if args.command == "action":
            return run_action(args)
        if args.command == "audit":
            return run_audit(args)
        if args.command == "tenants":
            return run_tenants(args)
        if args.command == "move-tenant":
            return _move(args)
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


# --- action / audit ------------------------------------------------------------------------------------------

EXIT_REFUSED: Final = 3
TIMEOUT_MARGIN_S: Final = 15.0


def run_action(args: argparse.Namespace) -> int:
    from console.app import LiveFleet
    from console.core.inventory import Inventory as InventoryType
    from console.services.actions import ActionService
    from console.services.audit import StoreError
    from console.transport.ssh import SshSettings

    inventory = _load(args.action_inventory)
    if inventory is None:
        return EXIT_BAD_INVENTORY
    unknown = [n for n in args.nodes if n not in {s.name for s in inventory.nodes}]
    if unknown:
        print(f"fleet-console: not in {inventory.path}: {', '.join(unknown)}", file=sys.stderr)
        return EXIT_BAD_INVENTORY
    operator = _acting_operator(args, inventory, "nothing was run")
    if isinstance(operator, int):
        return operator
    ssh = SshSettings(ssh_config=args.action_ssh_config)
    # Telemetry of the chosen nodes only: it tracks reboots and carries plain-SSH commands.
    chosen = InventoryType(inventory.path, tuple(inventory.node(n) for n in dict.fromkeys(args.nodes)))
    live = LiveFleet(chosen, ssh)
    try:
        service = ActionService(inventory, data_dir(args.action_data_dir), ssh, live=live, operator=operator)
    except StoreError as exc:
        say(f"fleet-console: {exc}; nothing was run", file=sys.stderr)
        return 2
    stop_on_signals()
    live.start()
    ids: list[int] = []
    try:
        return _run_action(args, service, live, ids)
    except StopRequested as exc:
        for action_id in ids:
            service.runner.cancel(action_id)
        service.runner.wait(ids, timeout=STOP_GRACE_S / 2)
        finals = [service.runner.status(i) for i in ids]
        sent = [s for s in finals if s.started_at is not None]
        print(
            f"fleet-console: stopped by {signal.Signals(exc.signum).name}"
            + (
                f"; {len(sent)} action(s) had started and may still take effect: `fleet-console audit` shows them"
                if sent
                else "; nothing was sent"
            ),
            file=sys.stderr,
        )
        return exc.exit_status
    finally:
        service.close()
        live.stop()


def _move(args: argparse.Namespace) -> int:
    inventory = _load(args.move_inventory)
    if inventory is None:
        return EXIT_BAD_INVENTORY
    operator = _acting_operator(args, inventory, "nothing was changed")
    if isinstance(operator, int):
        return operator
    return run_move(args, inventory, data_dir(args.move_data_dir), operator)


def _acting_operator(args: argparse.Namespace, inventory: Inventory, nothing: str) -> str | int:
    """Who may act and under which name, for the commands that change nodes: the operator's name, or the
    exit status after saying why not (``nothing``: what did not happen, "nothing was run")."""
    role = _role(args)
    if role is None:
        return EXIT_BAD_INVENTORY
    if isinstance(role, RoleRefused):
        print(f"fleet-console: {role}; {nothing}", file=sys.stderr)
        return EXIT_REFUSED
    return who_acts(args.operator, inventory, nothing, preferred_operator(preferences_path()))


def _role(args: argparse.Namespace, permission: str = "act") -> Role | RoleRefused | None:
    """The role in effect (``--role``, else the preferences file, else technician); RoleRefused where it may
    not act; None after printing why the preferences file is refused."""
    from console.core.actions.roles import Permission, require

    try:
        role = effective_role(args, read_preferences())
    except PreferencesError as exc:
        print(f"fleet-console: bad preferences: {exc}", file=sys.stderr)
        return None
    if permission == "act":
        try:
            require(role, Permission.ACT)
        except RoleRefused as exc:
            return exc
    return role


def _run_action(args: argparse.Namespace, service: ActionService, live: LiveFleet, ids: list[int]) -> int:
    from console.core.actions.planning import ActionRefused
    from console.core.actions.runs import ActionStatus

    if service.interrupted:
        print(
            f"note: {service.interrupted} earlier action(s) never finished (a console stopped mid-action); "
            "`fleet-console audit` shows them as outcome unknown",
            file=sys.stderr,
        )
    _wait_connected(live, args.nodes, timeout_s=15.0)
    request = build_request(
        ActionKind(args.kind),
        tuple(args.nodes),
        service.operator,
        args.reason,
        args.ticket,
        {name: getattr(args, name) for name in all_options()},
    )
    plan = service.plan(request)
    say(plan.describe())
    if not plan.allowed:
        service.runner.record_refused(plan)  # the attempt and why not, for whoever reviews the shift
        return EXIT_REFUSED
    typed = list(args.confirm_node)
    if not args.yes:
        if not sys.stdin.isatty():
            print("\nnot a terminal: add --yes to run without asking", file=sys.stderr)
            return EXIT_REFUSED
        answer = input("\nRun this? [y/N] ").strip()
        if answer.lower() not in {"y", "yes"}:
            print(f"not run: {escape_controls(answer)!r} is not y or yes" if answer else "not run")
            return EXIT_REFUSED
        for node in plan.type_to_confirm:
            typed.append(
                input(f"{escape_controls(node)} has running (or unknown) jobs. Type its name to confirm: ").strip()
            )
    last: dict[int, str] = {}

    def show(status: ActionStatus) -> None:
        line = escape_controls(f"[{status.node}] {status.kind.value}: {status.state.value} — {status.message}")
        if last.get(status.id) != line:
            last[status.id] = line
            print(line, flush=True)

    service.runner.add_listener(show)
    try:
        statuses = service.runner.submit(plan, typed, timeout_s=args.timeout)
    except ActionRefused as exc:
        print(escape_controls(f"refused: {exc}"), file=sys.stderr)
        return EXIT_REFUSED
    ids.extend(s.id for s in statuses)
    # The runner ends each action at its timeout (steps and tracking alike); the margin covers one last
    # look at Slurm or a BMC that was already under way.
    service.runner.wait(ids, timeout=args.timeout + TIMEOUT_MARGIN_S)
    finals = [service.runner.status(i) for i in ids]
    unfinished = [s for s in finals if not s.finished]
    for status in unfinished:
        service.runner.cancel(status.id)
    return EXIT_OK if all(s.state.value == "done" for s in finals) else EXIT_SOME_FAILED


def _wait_connected(live: object, nodes: Sequence[str], timeout_s: float) -> None:
    fleet = live.fleet  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(fleet.view(n).state != NodeState.CONNECTING for n in nodes):
            return
        time.sleep(0.1)


def _since(text: str | None) -> str | None:
    """``--since`` as the store's UTC stamp; WhenError (with the accepted forms) for anything else."""
    if not text:
        return None
    from console.core.when import iso_utc

    return iso_utc(parse_when(text, time.time()))


def run_audit(args: argparse.Namespace) -> int:
    from console.services.audit import StoreError, read_audit

    try:
        since = _since(args.since)
    except WhenError as exc:
        print(f"fleet-console audit: --since {exc}", file=sys.stderr)
        return 2
    try:
        read = read_audit(data_dir(args.audit_data_dir), since=since, node=args.node)
    except StoreError as exc:
        say(f"fleet-console: {exc}", file=sys.stderr)
        return 2
    for note in read.notes:
        say(f"fleet-console: {note}", file=sys.stderr)
    rows = read.rows
    if args.json:
        for row in rows:
            sys.stdout.write(json.dumps(row.as_dict(), separators=(",", ":")) + "\n")
        return 0
    t = escape_controls  # every field is foreign: node output, Slurm's words, an operator's typing
    for row in rows:
        when = local_stamp(parse_iso(row.created_at))  # local, with its zone: as the window shows times
        command = " ; ".join(command_text(c) for c in row.command or [])
        print(
            f"{t(when)}  #{row.id}  {t(row.operator):<10} {t(row.kind):<13} {t(row.node):<14} {t(row.state):<15} "
            f"{t(row.message or '')}"
        )
        if row.reason:
            print(f"      reason: {t(row.reason)}" + (f"  ticket: {t(row.ticket)}" if row.ticket else ""))
        if row.incident_id is not None:
            print(f"      for incident #{row.incident_id} (fleet-console incidents --json shows it)")
        if command:
            print(f"      on {t(row.host or '?')}: {t(command)}")
        if isinstance(row.params, dict) and row.params.get("bmc_security"):
            print(f"      BMC: {t(str(row.params['bmc_security']))}")
        if row.exit_status is not None or row.duration_s is not None:
            print(f"      exit status {row.exit_status}, {row.duration_s or 0:.1f} s")
    return 0


# --- poll --------------------------------------------------------------------------------------------------


def _load(path: Path) -> Inventory | None:
    try:
        return load_inventory(path)
    except InventoryError as exc:
        print(f"fleet-console: bad inventory: {exc}", file=sys.stderr)
        return None


def run_poll(args: argparse.Namespace) -> int:
    from console.app import LiveFleet
    from console.services.one_shot import poll_once
    from console.transport.ssh import SshSettings

    inventory = _load(args.poll_inventory)
    if inventory is None:
        return EXIT_BAD_INVENTORY
    ssh = SshSettings(ssh_config=args.poll_ssh_config)
    try:
        rules = _rules(args.poll_alert_rules)
    except BadRules:
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

    role = _role(args, permission="none")
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


def run_tenants(args: argparse.Namespace) -> int:
    from console.cli_tenants import print_tenants

    inventory = _load(args.tenants_inventory)
    if inventory is None:
        return EXIT_BAD_INVENTORY
    stop_on_signals()
    try:
        return print_tenants(args, inventory, data_dir(args.tenants_data_dir or args.data_dir))
    except StopRequested as exc:
        return exc.exit_status


class BadRules(Exception):
    """An alert rules file was refused (the reason is already printed)."""


def _rules(path: Path | None) -> AlertRules | None:
    """The alert rules from ``path`` (None: the defaults); BadRules after printing why a file is refused."""
    if path is None:
        return None
    from console.core.alerts.rules import AlertRulesError, load_rules_file

    try:
        return load_rules_file(path)
    except AlertRulesError as exc:
        print(f"fleet-console: bad alert rules: {exc}", file=sys.stderr)
        raise BadRules from None


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
                "--history",
            ],
            pass_fds=(write_fd,),
        )
        BEFORE_BACKSTOP.append(self.kill)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as ready:
            # Blocks until the simulator has listened on every port and written the inventory.
            line = ready.readline()
        if not line:
            code = self.proc.wait(timeout=timeout_s)
            raise RuntimeError(f"the simulated fleet failed to start (exit status {code})")
        return self.inventory

    def kill(self) -> None:
        """At once, without waiting (the backstop's last act)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()

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


# --- window ------------------------------------------------------------------------------------------------


@dataclass
class _WindowStart:
    """Where the window's start-up is, as the signal handler sees it. Once the window is being built, a
    signal closes it as the window's own Quit does (the session stops its services), never raising inside
    Qt; at the "who is at the console?" prompt it closes the prompt and start-up ends; before that, it stops
    the start-up at once."""

    window_stop: threading.Event = field(default_factory=threading.Event)
    in_window: bool = False
    asking: bool = False
    prompt_stop: threading.Event = field(default_factory=threading.Event)
    stopped_by: int | None = None

    def on_stop(self, signum: int) -> None:
        if self.in_window:
            self.window_stop.set()
        elif self.asking:
            self.stopped_by = signum
            self.prompt_stop.set()
        else:
            raise StopRequested(signum)


def _window_operator(
    preferred: str | None,
    inventory: Inventory,
    asking: bool,
    start: _WindowStart | None = None,
    given: str | None = None,
    role: Role = Role.TECHNICIAN,
) -> tuple[str | None, str | None, Role | None] | int:
    """The window's operator, a notice when it could not be asked, and the role chosen in the name dialog
    (None: as given). A shared OS account asks who is there once at start (not for a --screenshot run, which
    nobody answers): in a dialog, or on the terminal where there is no display to show one. A name given
    (``--operator``, the preferences, $FLEET_CONSOLE_OPERATOR) goes through the same check as every
    command's (exit status 3 when refused)."""
    from console.services.actions import shared_account

    nothing = "the window was not opened"
    shared = shared_account(inventory, given or preferred)
    if given or shared is None or not asking:
        checked = who_acts(given, inventory, nothing, preferred, records_a_change=False)
        return checked if isinstance(checked, int) else (given or preferred, None, None)
    unnamed = (
        f"no name given: actions and notes are recorded as the shared OS account {shared!r}; give --operator NAME, "
        "set operator in the preferences or FLEET_CONSOLE_OPERATOR"
    )
    if no_display():
        if not sys.stdin.isatty():
            say(f"fleet-console: {NO_DISPLAY_WORDS}; {unnamed}", file=sys.stderr)
            return None, unnamed, None
        typed = ask_on_terminal(shared)
        return (typed, None, None) if typed else (None, unnamed, None)
    from console.gui.identity import ask_operator

    start = start or _WindowStart()
    start.asking = True
    try:
        answer = ask_operator(shared, start.prompt_stop, role)
    finally:
        start.asking = False
    if start.stopped_by is not None:
        return None, None, None
    if answer is not None:
        return answer[0], None, answer[1]
    return None, unnamed, None


def _window_identity(
    args: argparse.Namespace, inventory: Inventory, start: _WindowStart
) -> tuple[Role, Preferences, str | None, str | None] | int:
    """The window's role, preferences, operator and start-up notice; or the exit status after saying why not."""
    role = _role(args, permission="none")
    if not isinstance(role, Role):
        return EXIT_BAD_INVENTORY
    prefs = read_preferences()
    chosen = _window_operator(
        prefs.operator, inventory, asking=args.screenshot is None, start=start, given=args.window_operator, role=role
    )
    if isinstance(chosen, int):
        return chosen
    operator, notice, picked = chosen
    return picked or role, prefs, operator, notice


def _sign_demo_shift(services: WindowServices) -> None:
    """The demo's previous shift signed off by its supervisor, once (the simulator wrote its history): a
    supervisor opening the demo has a signed handover beside the shift under way."""
    log = services.shift.log
    date, shift = log.current_shift()
    start, _end = log.shift_bounds(date, shift)
    before_date, before = log.shifts.shift_at(start - 1)
    try:
        if log.signoff(before_date, before) is not None or not log.store.query("SELECT 1 FROM incidents LIMIT 1", []):
            return
        data = log.sign_off_data(before_date, before, "sam.r")
        note = "handed over; gpu-003 keeps dropping GPU 6, RMA under way"
        services.shift.incidents.log.sign_off(by="sam.r", role="supervisor", note=note, at=data["end"] + 600, **data)
    except (StoreError, ValueError) as exc:
        say(f"fleet-console: the demo's previous shift was not signed off: {exc}", file=sys.stderr)


def _window_parts(services: WindowServices | None) -> WindowParts:
    """What the window shows beside the live fleet: nothing more where the store could not be opened."""
    from console.gui.main_window import WindowParts

    if services is None:
        return WindowParts()
    watch = services.scheduler_watch
    return WindowParts(
        actions=services.actions,
        records=services.shift,
        allocations=lambda: watch.allocations,
        idle_since=services.shift.archive.idle.snapshot,
        idle_watching=lambda: services.shift.archive.idle.watching_since,
        history=services.shift.usage_by_day,
        moves=services.moves,
        accounting=services.shift.accounting,
        rules=services.live.alerts.rules,
    )


def run_window(args: argparse.Namespace) -> int:
    signals = _WindowStart()
    stop_on_signals(signals.on_stop)
    demo: DemoFleet | None = None
    if args.demo:
        if not 1 <= args.nodes <= MAX_SIM_NODES:
            print(f"fleet-console: --nodes must be 1..{MAX_SIM_NODES}", file=sys.stderr)
            return 2
        demo = DemoFleet(args.nodes, data_dir(args.data_dir))
        inventory_path = demo.start()
        # The demo's BMC password, for the inventory's password_env (never written into the inventory).
        secret = data_dir(args.data_dir) / "sim" / "bmc-password"
        if secret.exists():
            os.environ["FLEET_DEMO_BMC_PASSWORD"] = secret.read_text().strip()
    elif args.inventory is not None:
        inventory_path = args.inventory
    else:
        print("fleet-console: give --inventory FILE, or --demo for the simulated fleet", file=sys.stderr)
        return 2
    try:
        inventory = _load(inventory_path)
        if inventory is None:
            return EXIT_BAD_INVENTORY
        from console.app import LiveFleet, WindowServices
        from console.core.alerts.incidents import ShiftClock
        from console.gui.main_window import run_gui
        from console.services.actions import ActionService
        from console.services.audit import StoreError
        from console.transport.ssh import SshSettings

        ssh = SshSettings(ssh_config=None if args.demo else args.ssh_config)
        try:
            rules = _rules(args.alert_rules)
        except BadRules:
            return EXIT_BAD_INVENTORY
        identity = _window_identity(args, inventory, signals)
        if signals.stopped_by is not None:
            raise StopRequested(signals.stopped_by)
        if isinstance(identity, int):
            return identity
        role, prefs, operator, notice = identity
        live = LiveFleet(
            inventory,
            ssh,
            alert_rules=rules,
            detail_interval_s=args.detail_interval,
            workers=args.telemetry_workers,
            window=True,
        )
        services: WindowServices | None = None
        try:
            actions = ActionService(inventory, data_dir(args.data_dir), ssh, live=live, role=role, operator=operator)
            services = WindowServices(live, actions, ShiftClock(prefs.day_shift_starts, prefs.night_shift_starts))
        except StoreError as exc:
            # The telemetry does not need the store: the window runs, says why actions and the log are off.
            notice = f"{exc}; actions and the incident log are off until it is fixed"
            say(f"fleet-console: {notice}", file=sys.stderr)
        parts = _window_parts(services)
        if services is not None:
            if demo is not None:
                _sign_demo_shift(services)
            services.start()
        try:
            signals.in_window = True
            return run_gui(
                live,
                screenshot=args.screenshot,
                after_s=args.after,
                select=args.select,
                stop=signals.window_stop,
                view=args.view if services is not None or args.view in ("heatmap", "racks") else "table",
                notice=notice,
                parts=parts,
                color_by=args.color_by,
                group_by=args.group_by,
            )
        finally:
            if services is not None:
                services.close()
    finally:
        if demo is not None:
            demo.stop()
