"""Who acts: the one check of the operator's name for every command (``action``, ``move-tenant``,
``incidents``, ``report``, ``poll``) and the window.

Why one place: the name goes into Slurm's Reason, the audit log, incident notes and the signed handover
report. Checked only where actions were, ``incidents open --operator $'eve\\e]0;pwned\\a\\nsecond line'``
put a terminal escape and a forged second line into a report a supervisor signs. Here every command gets
its name the same way — ``--operator``, the preferences file, ``$FLEET_CONSOLE_OPERATOR``, the OS user —
and the same rules (:func:`console.core.names.operator_problem`: one line, no control characters, no
``:``, at most 64 characters). A shared OS account (``root``, or one ``[policy] shared_accounts`` lists)
names nobody: a command that records a change asks on a terminal and refuses a script.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final

from console.core.actions.roles import PreferencesError, load_preferences
from console.core.inventory import Inventory
from console.core.names import operator_problem
from console.core.text import escape_controls

EXIT_REFUSED: Final = 3


def preferred_operator(preferences: Path) -> str | None:
    """``operator`` from the preferences file (None when it names none or cannot be read: the caller's
    preferences check says why)."""
    try:
        return load_preferences(preferences).operator
    except PreferencesError:
        return None


def who_acts(
    given: str | None,
    inventory: Inventory | None,
    nothing: str,
    preferred: str | None,
    *,
    records_a_change: bool = True,
) -> str | int:
    """The operator's name, checked; or the exit status (3) after saying on stderr why not.

    ``given``: ``--operator``; ``preferred``: the preferences file's ``operator`` as the caller read it.
    ``nothing``: what did not happen ("nothing was run"). ``records_a_change``: a shared OS account must
    name a person (asked on a terminal, refused in a script); a command that only reads or writes a report
    may run under the account's own name."""
    from console.services.actions import default_operator, shared_account  # paramiko: only when asked

    chosen = given or preferred
    shared = shared_account(inventory or Inventory(Path("(no inventory)")), chosen)
    if shared is None or not records_a_change:
        name = chosen or default_operator()
    elif not sys.stdin.isatty():
        print(
            f"fleet-console: the OS account {shared!r} is shared, so it does not say who acts: give --operator NAME "
            f"or set FLEET_CONSOLE_OPERATOR; {nothing}",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    else:
        name = typed_name(shared)
        if not name:
            print(f"no name given; {nothing}", file=sys.stderr)
            return EXIT_REFUSED
    if problem := operator_problem(name):
        print(escape_controls(f"fleet-console: {problem}; {nothing}"), file=sys.stderr)
        return EXIT_REFUSED
    return name


def typed_name(account: str, read: Callable[[str], str] = input) -> str:
    """The name a person types at the terminal when the shared OS ``account`` does not say who acts."""
    return read(f"The OS account {account!r} is shared. Your name, for the audit log and Slurm's Reason: ").strip()


def no_display(environ: dict[str, str] | None = None) -> bool:
    """The window would run on a virtual display nobody sees (no X or Wayland display, Qt told to draw
    offscreen, or ``./dev demo`` starting it under xvfb-run, which says so in $FLEET_CONSOLE_VIRTUAL_DISPLAY,
    "1"; "0" says someone watches it): a dialog there waits for an answer that never comes."""
    env = os.environ if environ is None else environ
    said = env.get("FLEET_CONSOLE_VIRTUAL_DISPLAY")
    if said is not None:  # "1": nobody sees it; "0": someone does (a VNC viewer on Xvfb, a screen recording)
        return said != "0"
    if env.get("QT_QPA_PLATFORM") == "offscreen":
        return True
    return not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


NO_DISPLAY_WORDS: Final = (
    "no display: the window will run on a virtual display that nobody sees, so it cannot ask who is at the console"
)


def ask_on_terminal(account: str, read: Callable[[str], str] = input, tries: int = 3) -> str | None:
    """The window's "who is at the console?" on the terminal, for a start without a display: the name,
    checked as every command's is; None when none was given (or none that the audit log can hold)."""
    print(f"fleet-console: {NO_DISPLAY_WORDS}; asking here instead.", file=sys.stderr)
    for _ in range(tries):
        name = typed_name(account, read)
        if not name:
            return None
        problem = operator_problem(name)
        if problem is None:
            return name
        print(escape_controls(f"fleet-console: {problem}"), file=sys.stderr)
    return None
