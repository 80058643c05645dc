"""``fleet-console incidents`` and ``fleet-console report``: the incident log and the handover report from
the terminal, with the same role checks as the window.

    fleet-console incidents [--open] [--since 12h] [--node N] [--json]
    fleet-console incidents open NODE... --cause C [--severity S] [--note T] [--ticket T]
    fleet-console incidents ack|note|resolve ID [--note TEXT]     (the note is required for ``note``)
    fleet-console report shift --date YYYY-MM-DD --shift day|night --format html|pdf|csv -o FILE
    fleet-console report sign-off --date … --shift … --note TEXT   (supervisors)
    fleet-console report amend --date … --shift … --note TEXT      (supervisors)

Exit status as for ``action``: 0 done, 1 failed, 2 a bad inventory, store or argument, 3 refused (the role,
or the incident's state).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

from console.cli_common import add_role_option, effective_role, preferences_path, read_preferences
from console.cli_identity import EXIT_REFUSED, preferred_operator, who_acts
from console.core.actions.roles import (
    Permission,
    PreferencesError,
    Role,
    RoleRefused,
    require,
)
from console.core.alerts.config import AlertRulesError, load_rules, load_rules_file
from console.core.alerts.incidents import ShiftClock, ShiftName, duration_words
from console.core.inventory import Inventory, InventoryError, load_inventory
from console.core.records.exports import OutputError, OutputTarget
from console.core.records.handover import freeze_words
from console.core.records.store_error import StoreError
from console.core.text import escape_controls
from console.core.when import WhenError, local_stamp, parse_date, parse_when

if TYPE_CHECKING:
    from console.core.records.archive_types import Usage
    from console.core.tenants.accounting import AccountingComparison
    from console.services.shift_log import Records

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_BAD: Final = 2


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    incidents = sub.add_parser(
        "incidents",
        help="list incidents, or open, acknowledge, annotate or resolve one",
        description="Without a verb: list incidents (newest first). Times in ISO 8601 UTC.",
    )
    add_role_option(incidents, top=False)
    _common(incidents)
    incidents.add_argument("--open", action="store_true", dest="open_only", help="only incidents not yet resolved")
    incidents.add_argument("--since", help="an age (30m, 12h, 7d) or an ISO date/time (local unless Z)")
    incidents.add_argument("--node", dest="incident_node", help="only incidents of this node")
    incidents.add_argument("--json", action="store_true", help="one JSON object per incident per line")
    verbs = incidents.add_subparsers(dest="verb")
    for verb, text in (
        ("ack", "acknowledge (records the accelerators' counters)"),
        ("note", "add a note"),
        ("resolve", "resolve"),
    ):
        parser = verbs.add_parser(verb, help=text)
        parser.add_argument("id", type=int)
        parser.add_argument("--note", required=verb == "note", help="the note (required for note)")
        add_role_option(parser, top=False)
        _common(parser)
    opened = verbs.add_parser("open", help="open an incident by hand on one or many nodes")
    opened.add_argument("nodes", nargs="+", metavar="NODE")
    opened.add_argument("--cause", required=True)
    opened.add_argument("--severity", choices=["info", "warning", "critical"], default="warning")
    opened.add_argument("--note")
    opened.add_argument("--ticket")
    add_role_option(opened, top=False)
    _common(opened)

    report = sub.add_parser("report", help="the handover report of a shift; sign a shift off; amend a signed one")
    add_role_option(report, top=False)
    kinds = report.add_subparsers(dest="report_kind", required=True)
    shift = kinds.add_parser("shift", help="write the handover report of a shift")
    _shift_options(shift)
    shift.add_argument("--format", choices=["html", "pdf", "csv"], default="html", dest="report_format")
    _output_options(shift)
    tenant = kinds.add_parser("tenant", help="a tenant's accelerator-hours over a date range (from the archive)")
    tenant.add_argument("--tenant", required=True)
    tenant.add_argument("--from", required=True, dest="report_from", help="first UTC day, YYYY-MM-DD")
    tenant.add_argument("--to", required=True, dest="report_to", help="last UTC day, YYYY-MM-DD (included)")
    tenant.add_argument("--format", choices=["html", "pdf", "csv"], default="html", dest="report_format")
    _output_options(tenant)
    tenant.add_argument(
        "--ssh-config",
        type=Path,
        default=Path("~/.ssh/config"),
        dest="tenant_ssh_config",
        help="with --inventory naming a [scheduler], Slurm's own GPU-hours (sacct) are shown beside the console's",
    )
    add_role_option(tenant, top=False)
    _common(tenant)
    for name, text in (
        ("sign-off", "sign the shift off (supervisors)"),
        ("amend", "amend a signed shift (supervisors)"),
    ):
        parser = kinds.add_parser(name, help=text)
        _shift_options(parser)
        parser.add_argument("--note", required=True)
        if name == "sign-off":
            parser.add_argument(
                "--yes", action="store_true", help="sign off without asking (it freezes the report: said first)"
            )


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS, dest="records_data_dir")
    parser.add_argument("--inventory", type=Path, default=argparse.SUPPRESS, dest="records_inventory")
    parser.add_argument("--alert-rules", type=Path, default=argparse.SUPPRESS, dest="records_alert_rules")
    parser.add_argument(
        "--operator", default=argparse.SUPPRESS, dest="records_operator", help="your name (default: OS user)"
    )


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output", required=True, help="the file to write (- for standard output; an existing one needs --force)"
    )
    parser.add_argument("--force", action="store_true", help="replace the output file if it exists")


def _output(args: argparse.Namespace) -> OutputTarget | int:
    """Where the report goes, checked before any work (the exit status after saying why not)."""
    try:
        return OutputTarget.check(args.output, force=args.force)
    except OutputError as exc:
        _err(f"{exc}; nothing was written")
        return EXIT_BAD


def _write_output(target: OutputTarget, fmt: str, text: str) -> int:
    """The rendered report (HTML or CSV text; PDF printed from the HTML) written to its target; "wrote …"
    on stdout, or on stderr when the report itself goes to stdout."""
    try:
        if fmt == "pdf":
            from console.gui.printing import pdf_bytes  # Qt, loaded only for a PDF

            data = pdf_bytes(text)
        else:
            data = text.encode("utf-8")
        target.write(data, sys.stdout.buffer)
    except (OutputError, RuntimeError) as exc:  # the file, or Qt's printer
        _err(f"cannot write {target.words}: {exc}")
        return EXIT_FAILED
    if not target.to_stdout:
        print(escape_controls(f"wrote {target.words}"))
    return EXIT_OK


def _info(text: str, target: OutputTarget | None) -> None:
    """A message beside a report: on stderr when the report goes to stdout, so it cannot corrupt it."""
    print(escape_controls(text), file=sys.stderr if target is not None and target.to_stdout else sys.stdout)


def _shift_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", required=True, help="YYYY-MM-DD (a night shift carries the date it starts on)")
    parser.add_argument("--shift", choices=[s.value for s in ShiftName], required=True)
    add_role_option(parser, top=False)
    _common(parser)


def _err(text: str) -> None:
    print(escape_controls(f"fleet-console: {text}"), file=sys.stderr)


def _open(args: argparse.Namespace, data_dir: Path, write: bool) -> tuple[Records, Role] | int:
    from console.services.shift_log import open_records

    try:
        prefs = read_preferences()
    except PreferencesError as exc:
        _err(f"bad preferences: {exc}")
        return EXIT_BAD
    role = effective_role(args, prefs)
    inventory_path = getattr(args, "records_inventory", None)
    if inventory_path is not None:
        try:
            inventory = load_inventory(inventory_path)
        except InventoryError as exc:
            _err(f"bad inventory: {exc}")
            return EXIT_BAD
    else:
        inventory = Inventory(Path("(no inventory)"))
    rules_path = getattr(args, "records_alert_rules", None)
    try:
        rules = load_rules_file(rules_path) if rules_path else load_rules()
    except AlertRulesError as exc:
        _err(f"bad alert rules: {exc}")
        return EXIT_BAD
    operator = who_acts(
        getattr(args, "records_operator", None),
        inventory,
        "nothing was changed" if write else "nothing was read",
        prefs.operator,
        records_a_change=write,
    )
    if isinstance(operator, int):
        return operator
    try:
        records = open_records(
            data_dir,
            inventory,
            rules.incidents,
            operator=operator,
            role=role,
            write=write,
            clock=ShiftClock(prefs.day_shift_starts, prefs.night_shift_starts),
        )
    except StoreError as exc:
        _err(str(exc))
        return EXIT_BAD
    return records, role


def run_incidents(args: argparse.Namespace, data_dir: Path) -> int:
    from console.core.records.incident_types import IncidentError, IncidentQuery

    verb = getattr(args, "verb", None)
    opened = _open(args, data_dir, write=verb is not None)
    if isinstance(opened, int):
        return opened
    records, _ = opened
    try:
        for note in records.notes:
            if verb is None:
                _err(note)
        if verb is None:
            since = None
            if args.since:
                try:
                    since = parse_when(args.since, time.time())
                except WhenError as exc:
                    _err(str(exc))
                    return EXIT_BAD
            query = IncidentQuery(
                since=since,
                open_only=args.open_only,
                nodes=frozenset([args.incident_node]) if args.incident_node else frozenset(),
            )
            _print_incidents(records.incidents.incidents(query), args.json)
            return EXIT_OK
        try:
            if verb == "open":
                unknown = [n for n in args.nodes if n not in records.log.inventory.names]
                if unknown and getattr(args, "records_inventory", None) is None:
                    _err("give --inventory FILE: the nodes of an incident opened by hand are checked against it")
                    return EXIT_BAD
                incident_id = records.incidents.open_by_hand(
                    args.nodes, args.cause, args.severity, args.note, args.ticket
                )
                print(f"opened incident #{incident_id}")
            elif verb == "ack":
                counters = records.incidents.acknowledge(args.id, args.note)
                print(
                    f"acknowledged incident #{args.id}"
                    + (f"; counters of {len(counters)} accelerator(s) recorded" if counters else "; no counters known")
                )
            elif verb == "note":
                records.incidents.add_note(args.id, args.note)
                print(f"noted on incident #{args.id}")
            elif verb == "resolve":
                records.incidents.resolve(args.id, args.note)
                print(f"resolved incident #{args.id}")
        except (RoleRefused, IncidentError) as exc:  # the role, or the incident's state, refuses it
            _err(f"{exc}; nothing was changed")
            return EXIT_REFUSED
        except ValueError as exc:
            _err(str(exc))
            return EXIT_BAD
        except StoreError as exc:  # locked, full or damaged: the transaction did not commit
            _err(f"{exc}; nothing was changed")
            return EXIT_BAD
        return EXIT_OK
    finally:
        records.close()


def _print_incidents(incidents: list, as_json: bool) -> None:  # type: ignore[type-arg]
    if as_json:
        sys.stdout.write("".join(json.dumps(i.as_json(), separators=(",", ":")) + "\n" for i in incidents))
        return
    t = escape_controls
    now = time.time()
    for i in incidents:
        age = duration_words(now - i.opened)
        print(
            f"#{i.id:<6} {i.severity:<8} {i.state.value:<12} {t(','.join(i.nodes)):<16} {t(i.cause):<16} "
            f"{local_stamp(i.opened)} ({age} ago) by {t(i.opened_by)}"
        )
        if i.message:
            print(f"        {t(i.message)}")
        if i.acknowledged_by:
            print(f"        acknowledged by {t(i.acknowledged_by)} at {local_stamp(i.acknowledged or 0)}")
        if i.resolved_by:
            print(f"        resolved by {t(i.resolved_by)} at {local_stamp(i.resolved or 0)}")
        for note in i.notes:
            print(f"        note {local_stamp(note.at)} {t(note.author)}: {t(note.text or '')}")
        if i.actions:
            print(f"        actions: {', '.join(f'#{a}' for a in i.actions)}")


def run_tenant_report(args: argparse.Namespace, data_dir: Path) -> int:
    """A tenant's accelerator-hours from the telemetry archive (read-only; a liaison may run it)."""

    from console.core.records.archive import ARCHIVE_FILE, TelemetryArchive
    from console.core.records.tenant_report import build_tenant_report, render_tenant_csv, render_tenant_html
    from console.core.when import iso_utc

    try:
        first, last = parse_date(args.report_from), parse_date(args.report_to)
    except WhenError as exc:
        _err(str(exc))
        return EXIT_BAD
    if last < first:
        _err(f"--to {last} is before --from {first}")
        return EXIT_BAD
    target = _output(args)
    if isinstance(target, int):
        return target
    given = getattr(args, "records_operator", None)
    operator = who_acts(
        given, None, "nothing was written", preferred_operator(preferences_path()), records_a_change=False
    )
    if isinstance(operator, int):
        return operator
    try:
        archive = TelemetryArchive(data_dir / ARCHIVE_FILE, readonly=True)
    except StoreError as exc:
        _err(str(exc))
        return EXIT_BAD
    try:
        until = (last + dt.timedelta(days=1)).isoformat()
        rows = archive.usage(first.isoformat(), until, args.tenant)
        gaps = archive.gaps(_utc_day(first), _utc_day(last + dt.timedelta(days=1)))
    finally:
        archive.close()
    accounting = None
    inventory_path = getattr(args, "records_inventory", None) or getattr(args, "inventory", None)
    if inventory_path is not None:
        accounting = _slurm_accounting(args, inventory_path, first.isoformat(), until, rows)
        if accounting is None:
            return EXIT_BAD
        if accounting.differs:
            _err(accounting.words())
        else:
            _info(accounting.words(), target)
    report = build_tenant_report(
        args.tenant, first.isoformat(), last.isoformat(), rows, iso_utc(time.time()), operator, accounting, gaps
    )
    for gap in gaps:
        _err(gap.words())
    if not report["nodes"]:
        _err(f"the archive has no hours of {args.tenant} from {first} to {last}; the report is empty")
    text = render_tenant_csv(report) if args.report_format == "csv" else render_tenant_html(report)
    return _write_output(target, args.report_format, text)


def _utc_day(day: dt.date) -> float:
    return dt.datetime.combine(day, dt.time(), dt.UTC).timestamp()


def _slurm_accounting(
    args: argparse.Namespace, inventory_path: Path, since_day: str, until_day: str, rows: list[Usage]
) -> AccountingComparison | None:
    """Slurm's GPU-hours of the tenant's account beside the console's allocated hours; None (after saying
    why) when the inventory cannot be used."""
    from console.core.records.tenant_report import totals
    from console.core.tenants.accounting import compare_with
    from console.engines.registry import Engines
    from console.transport.ssh import SshSettings

    try:
        inventory = load_inventory(inventory_path)
    except InventoryError as exc:
        _err(str(exc))
        return None
    engines = Engines(inventory, SshSettings(ssh_config=args.tenant_ssh_config))
    try:
        scheduler = engines.scheduler()
        ask = scheduler.gpu_hours if scheduler is not None else None
        console_hours = totals([r for r in rows if r.tenant == args.tenant]).allocated
        return compare_with(args.tenant, since_day, until_day, console_hours, ask, time.time())
    finally:
        engines.close()


def run_report(args: argparse.Namespace, data_dir: Path) -> int:
    from console.core.records.incident_types import IncidentError

    if args.report_kind == "tenant":
        return run_tenant_report(args, data_dir)
    try:
        date = parse_date(args.date)
    except WhenError as exc:
        _err(str(exc))
        return EXIT_BAD
    shift = ShiftName(args.shift)
    target: OutputTarget | None = None
    if args.report_kind == "shift":
        checked = _output(args)
        if isinstance(checked, int):
            return checked
        target = checked
    opened = _open(args, data_dir, write=args.report_kind != "shift")
    if isinstance(opened, int):
        return opened
    records, _ = opened
    try:
        operator = records.incidents.operator
        if args.report_kind == "shift":
            for note in records.notes:
                _err(note)
            assert target is not None
            text = records.log.render(date, shift, "csv" if args.report_format == "csv" else "html", operator)
            return _write_output(target, args.report_format, text)
        try:
            if args.report_kind == "sign-off":
                require(records.incidents.role, Permission.SIGN_OFF)  # before asking anything
                data = records.log.sign_off_data(date, shift, operator)
                print(escape_controls(freeze_words(data["report"])))
                if not args.yes:
                    if not sys.stdin.isatty():
                        _err("not a terminal: add --yes to sign off without asking; nothing was changed")
                        return EXIT_REFUSED
                    answer = input("Sign off? [y/N] ").strip().lower()
                    if answer not in ("y", "yes"):
                        print("not signed off")
                        return EXIT_REFUSED
                signoff = records.incidents.sign_off(note=args.note, **data)
                print(f"signed off the {shift.value} shift of {date} (#{signoff}); later changes become amendments")
            else:
                signed = records.log.signoff(date, shift)
                if signed is None:
                    _err(f"the {shift.value} shift of {date} is not signed off; nothing to amend")
                    return EXIT_REFUSED
                records.incidents.amend(signed.id, args.note)
                print(f"amended the sign-off of the {shift.value} shift of {date}")
        except (RoleRefused, IncidentError) as exc:
            _err(f"{exc}; nothing was changed")
            return EXIT_REFUSED
        except StoreError as exc:  # locked, full or damaged: the transaction did not commit
            _err(f"{exc}; nothing was changed")
            return EXIT_BAD
        return EXIT_OK
    finally:
        records.close()
