"""The window: who sits at it (asked once, on the terminal where there is no display), the services it
is given as one object, the demo's previous shift signed off."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from console.cli_common import (
    EXIT_BAD_INVENTORY,
    AlertRulesRefused,
    StopRequested,
    alert_rules_from,
    data_dir,
    load_or_say,
    read_preferences,
    role_in_effect,
    say,
    stop_on_signals,
)
from console.cli_identity import NO_DISPLAY_WORDS, ask_on_terminal, no_display, who_acts
from console.cli_sim import MAX_SIM_NODES, DemoFleet
from console.core.actions.roles import Preferences, Role
from console.core.inventory import Inventory
from console.core.records.store_error import StoreError

if TYPE_CHECKING:
    from console.app import WindowServices
    from console.gui.ports import WindowParts

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
    role = role_in_effect(args, permission="none")
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
    from console.gui.ports import WindowParts

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


def _window_inventory(args: argparse.Namespace) -> tuple[Path, DemoFleet | None] | int:
    """The inventory the window opens: the demo's simulated fleet (started here) or ``--inventory``; the
    exit status after saying why there is none."""
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
        return inventory_path, demo
    if args.inventory is not None:
        return Path(args.inventory), None
    print("fleet-console: give --inventory FILE, or --demo for the simulated fleet", file=sys.stderr)
    return 2


def run_window(args: argparse.Namespace) -> int:
    signals = _WindowStart()
    stop_on_signals(signals.on_stop)
    chosen = _window_inventory(args)
    if isinstance(chosen, int):
        return chosen
    inventory_path, demo = chosen
    try:
        inventory = load_or_say(inventory_path)
        if inventory is None:
            return EXIT_BAD_INVENTORY
        from console.app import LiveFleet, WindowServices
        from console.core.alerts.incidents import ShiftClock
        from console.gui.session import run_gui
        from console.services.actions import ActionService
        from console.services.audit import StoreError
        from console.transport.ssh import SshSettings

        ssh = SshSettings(ssh_config=None if args.demo else args.ssh_config)
        try:
            rules = alert_rules_from(args.alert_rules)
        except AlertRulesRefused:
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
