"""``fleet-console action`` (preview, confirm, run, follow: the same guarded pipeline as the window),
``audit`` and ``move-tenant``'s dispatch."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from console.cli_common import (
    EXIT_BAD_INVENTORY,
    EXIT_OK,
    EXIT_SOME_FAILED,
    STOP_GRACE_S,
    StopRequested,
    acting_operator,
    data_dir,
    load_or_say,
    say,
    stop_on_signals,
)
from console.cli_identity import EXIT_REFUSED
from console.cli_move import run_move
from console.core.actions.action_types import command_text
from console.core.actions.kinds import all_options, build_request
from console.core.actions.planning import ActionKind
from console.core.telemetry.samples import NodeState
from console.core.text import escape_controls
from console.core.when import WhenError, local_stamp, parse_iso, parse_when

if TYPE_CHECKING:
    from console.app import LiveFleet
    from console.services.actions import ActionService

# --- action / audit ------------------------------------------------------------------------------------------

TIMEOUT_MARGIN_S: Final = 15.0


def run_action(args: argparse.Namespace) -> int:
    from console.app import LiveFleet
    from console.core.inventory import Inventory as InventoryType
    from console.services.actions import ActionService
    from console.services.audit import StoreError
    from console.transport.ssh import SshSettings

    inventory = load_or_say(args.action_inventory)
    if inventory is None:
        return EXIT_BAD_INVENTORY
    unknown = [n for n in args.nodes if n not in {s.name for s in inventory.nodes}]
    if unknown:
        print(f"fleet-console: not in {inventory.path}: {', '.join(unknown)}", file=sys.stderr)
        return EXIT_BAD_INVENTORY
    operator = acting_operator(args, inventory, "nothing was run")
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


def run_move_tenant(args: argparse.Namespace) -> int:
    inventory = load_or_say(args.move_inventory)
    if inventory is None:
        return EXIT_BAD_INVENTORY
    operator = acting_operator(args, inventory, "nothing was changed")
    if isinstance(operator, int):
        return operator
    return run_move(args, inventory, data_dir(args.move_data_dir), operator)


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
