"""What every ``fleet-console`` command shares: exit statuses, words printed safely, stopping on signals
within a grace period, the data directory, the inventory loaded or refused in words, the role and the
operator checked once, the alert rules file."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO

import platformdirs

from console.cli_identity import EXIT_REFUSED, preferred_operator, who_acts
from console.core.actions.roles import (
    DEFAULT_ROLE,
    Preferences,
    PreferencesError,
    Role,
    RoleRefused,
    load_preferences,
    parse_role,
)
from console.core.alerts.config import AlertRules
from console.core.inventory import Inventory, InventoryError, load_inventory
from console.core.text import escape_lines

if TYPE_CHECKING:
    pass


EXIT_OK: Final = 0
EXIT_SOME_FAILED: Final = 1
EXIT_BAD_INVENTORY: Final = 2
EXIT_CLOSED_PIPE: Final = 141  # 128 + SIGPIPE

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


def positive_seconds(text: str) -> float:
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


def worker_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of processes") from None
    if not 0 <= value <= 64:
        raise argparse.ArgumentTypeError(f"{value}: give 0 (none) to 64 worker processes")
    return value


def load_or_say(path: Path) -> Inventory | None:
    try:
        return load_inventory(path)
    except InventoryError as exc:
        print(f"fleet-console: bad inventory: {exc}", file=sys.stderr)
        return None


def acting_operator(args: argparse.Namespace, inventory: Inventory, nothing: str) -> str | int:
    """Who may act and under which name, for the commands that change nodes: the operator's name, or the
    exit status after saying why not (``nothing``: what did not happen, "nothing was run")."""
    role = role_in_effect(args)
    if role is None:
        return EXIT_BAD_INVENTORY
    if isinstance(role, RoleRefused):
        print(f"fleet-console: {role}; {nothing}", file=sys.stderr)
        return EXIT_REFUSED
    return who_acts(args.operator, inventory, nothing, preferred_operator(preferences_path()))


def role_in_effect(args: argparse.Namespace, permission: str = "act") -> Role | RoleRefused | None:
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


class AlertRulesRefused(Exception):
    """An alert rules file was refused (the reason is already printed)."""


def alert_rules_from(path: Path | None) -> AlertRules | None:
    """The alert rules from ``path`` (None: the defaults); AlertRulesRefused after printing why a file is refused."""
    if path is None:
        return None
    from console.core.alerts.config import AlertRulesError, load_rules_file

    try:
        return load_rules_file(path)
    except AlertRulesError as exc:
        print(f"fleet-console: bad alert rules: {exc}", file=sys.stderr)
        raise AlertRulesRefused from None


PREFERENCES_FILE: Final = "preferences.toml"


def preferences_path() -> Path:
    """$FLEET_CONSOLE_PREFERENCES, else preferences.toml in the platform's config dir."""
    explicit = os.environ.get("FLEET_CONSOLE_PREFERENCES")
    if explicit:
        return Path(explicit)
    return Path(platformdirs.user_config_dir("fleet-console", appauthor=False)) / PREFERENCES_FILE


def read_preferences() -> Preferences:
    return load_preferences(preferences_path())


def role_type(text: str) -> Role:
    try:
        return parse_role(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_role_option(parser: argparse.ArgumentParser, top: bool) -> None:
    """``--role`` before or after the subcommand: the subcommand's copy leaves the top's value alone when
    it is not given (SUPPRESS)."""
    parser.add_argument(
        "--role",
        type=role_type,
        default=None if top else argparse.SUPPRESS,
        help="technician (default), supervisor or liaison (read only); or set role in the preferences file",
    )


def effective_role(args: argparse.Namespace, prefs: Preferences) -> Role:
    return getattr(args, "role", None) or prefs.role or DEFAULT_ROLE
