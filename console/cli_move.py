"""``fleet-console move-tenant``: move nodes from one tenant to another from the terminal — the same plan,
preview and audited steps as the window's wizard (:mod:`console.services.tenant_move`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final

from console.cli_identity import EXIT_REFUSED
from console.core.inventory import Inventory
from console.core.tenants.allocation import JobAllocation
from console.core.tenants.moves import JobsDecision, MoveProgress
from console.core.text import escape_controls

EXIT_OK: Final = 0
EXIT_NOT_DONE: Final = 1
EXIT_BAD: Final = 2
ON_JOBS: Final = ("ask", "stop", "resume", "wait")


def add_move_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    move = sub.add_parser(
        "move-tenant",
        help="move nodes to another tenant: drain, wait for jobs, change Slurm and the inventory, resume, verify",
    )
    move.add_argument("nodes", nargs="+", metavar="NODE")
    move.add_argument("--to", required=True, dest="move_to", help="the tenant (Slurm account) the nodes go to")
    move.add_argument("--inventory", type=Path, required=True, dest="move_inventory")
    move.add_argument("--reason", required=True, help="why (audit log, Slurm's drain reason)")
    move.add_argument("--ticket", help="ticket reference")
    move.add_argument(
        "--wait-jobs", type=float, default=60.0, metavar="MIN", help="minutes to wait for running jobs (default 60)"
    )
    move.add_argument(
        "--if-jobs-outlast",
        choices=ON_JOBS,
        default=None,
        help="when the jobs outlast the wait: ask (default on a terminal), stop (nodes stay drained; the "
        "default otherwise), resume (give the nodes back), wait (as long again)",
    )
    move.add_argument("--yes", action="store_true", help="do not ask before starting")
    move.add_argument("--operator", help="your name for Slurm's Reason and the audit log (default: OS user)")
    move.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for each node's reading")
    move.add_argument("--data-dir", type=Path, dest="move_data_dir")
    move.add_argument("--ssh-config", type=Path, default=Path("~/.ssh/config"), dest="move_ssh_config")
    return move


def run_move(args: argparse.Namespace, inventory: Inventory, data_dir: Path, operator: str) -> int:
    from console.core.tenants.moves import MoveRequest
    from console.services.actions import ActionService
    from console.services.audit import StoreError
    from console.services.one_shot import poll_once
    from console.services.tenant_move import TenantMoves
    from console.transport.ssh import SshSettings

    t = escape_controls
    if not args.wait_jobs > 0:
        print("fleet-console: --wait-jobs must be a positive number of minutes", file=sys.stderr)
        return EXIT_BAD
    ssh = SshSettings(ssh_config=args.move_ssh_config)
    try:
        service = ActionService(inventory, data_dir, ssh, operator=operator)
    except StoreError as exc:
        print(t(f"fleet-console: {exc}; nothing was changed"), file=sys.stderr)
        return EXIT_BAD
    try:
        if service.runner.refusal is not None:
            print(f"fleet-console: {service.runner.refusal}; nothing was changed", file=sys.stderr)
            return EXIT_REFUSED
        moves = TenantMoves(service, poll_once(inventory, ssh, timeout_s=args.timeout))
        for temp in moves.removed_temps:
            print(t(f"note: removed {temp}, left by a console stopped while rewriting the inventory"), file=sys.stderr)
        request = MoveRequest(
            nodes=tuple(args.nodes),
            target=args.move_to,
            operator=service.operator,
            reason=args.reason,
            ticket=args.ticket,
            job_wait_s=args.wait_jobs * 60.0,
        )
        plan = moves.plan_move(request)
        print(plan.describe(), flush=True)
        if not plan.allowed:
            moves.record_refused(plan)  # the attempt and why not, for whoever reviews the shift
            return EXIT_REFUSED
        tty = sys.stdin.isatty()
        if not args.yes:
            if not tty:
                print("\nnot a terminal: add --yes to start without asking", file=sys.stderr)
                return EXIT_REFUSED
            answer = input("\nStart the move? [y/N] ").strip()
            if answer.lower() not in {"y", "yes"}:
                said = f": {escape_controls(answer)!r} is not y or yes" if answer else ""
                print(f"not started{said}; nothing was changed")
                return EXIT_REFUSED
        choice = args.if_jobs_outlast or ("ask" if tty else "stop")

        move = moves.start_move(plan, decide=_decider(choice))
        move.add_listener(_printer())
        outcome = move.run()
        return EXIT_OK if outcome.outcome == "done" else EXIT_NOT_DONE
    except KeyboardInterrupt:
        print("\nstopped: `fleet-console audit` shows which steps ran", file=sys.stderr)
        return EXIT_NOT_DONE
    finally:
        service.close()


def _decider(choice: str) -> Callable[[list[JobAllocation]], JobsDecision]:
    """What to do when the jobs outlast the wait: the option's word, or the operator's answer."""

    def decide(jobs: list[JobAllocation]) -> JobsDecision:
        if choice != "ask":
            return JobsDecision(choice)
        listed = ", ".join(escape_controls(j.job_id) for j in jobs)
        while True:
            answer = input(f"jobs {listed} still run. [w]ait as long again, [s]top (stay drained), [r]esume? ")
            picked = {"w": "wait", "s": "stop", "r": "resume"}.get(answer.strip().lower()[:1])
            if picked:
                return JobsDecision(picked)
            print("answer w, s or r")

    return decide


def _printer() -> Callable[[MoveProgress], None]:
    """Prints each step's progress once (a repeat of the same words is not printed again)."""
    last: list[str] = []

    def show(progress: MoveProgress) -> None:
        step = progress.step.value if progress.step is not None else "move"
        line = escape_controls(f"[{step}] {progress.state}: {progress.message}")
        if not last or last[-1] != line:
            last.append(line)
            print(line, flush=True)

    return show
