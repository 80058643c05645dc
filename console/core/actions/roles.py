"""Who is at the console and what the console lets them do: technician (the default), supervisor, liaison.

This is the console's own courtesy guard, not an authority: it keeps a liaison's window and commands from
changing anything and keeps sign-off with supervisors, and every record names who did it. The real
authority stays with the accounts the console acts through (Slurm's, sudo's on the nodes, the BMCs'): a
person with those credentials and another tool is not stopped by a role word here.
"""

from __future__ import annotations

import datetime as dt
import enum
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Final


class Role(enum.StrEnum):
    TECHNICIAN = "technician"
    SUPERVISOR = "supervisor"
    LIAISON = "liaison"


class Permission(enum.StrEnum):
    ACT = "act on nodes"
    INCIDENTS = "open, acknowledge, annotate or resolve incidents"
    SIGN_OFF = "sign off a shift"
    AMEND = "amend a signed record"


GRANTS: Final[dict[Role, frozenset[Permission]]] = {
    Role.TECHNICIAN: frozenset({Permission.ACT, Permission.INCIDENTS}),
    Role.SUPERVISOR: frozenset(Permission),
    Role.LIAISON: frozenset(),
}
DEFAULT_ROLE: Final = Role.TECHNICIAN


class RoleRefused(PermissionError):
    """The role does not allow this; ``str()`` says who may."""


def allowed(role: Role, permission: Permission) -> bool:
    return permission in GRANTS[role]


def refusal(role: Role, permission: Permission) -> str | None:
    """Why ``role`` may not do it, in the one set of words the command line, the runner and the window all
    say ("the liaison role may not act on nodes (allowed: technician, supervisor)"); None where it may."""
    if allowed(role, permission):
        return None
    who = ", ".join(r.value for r in Role if permission in GRANTS[r]) or "nobody"
    return f"the {role.value} role may not {permission.value} (allowed: {who})"


def require(role: Role, permission: Permission) -> None:
    why = refusal(role, permission)
    if why is not None:
        raise RoleRefused(why)


def records_nothing(role: Role) -> str | None:
    """Said where a desk of ``role`` opens no incidents (its console watches, but a fault seen only here is in
    no record): the status bar and streaming ``poll`` say it, until the record is shared."""
    if allowed(role, Permission.INCIDENTS):
        return None
    who = " and ".join(f"{r.value}s'" for r in Role if Permission.INCIDENTS in GRANTS[r])
    return f"this desk records nothing: incidents are opened by {who} consoles (the {role.value} role reads only)"


def parse_role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise ValueError(f"unknown role {text!r} (known: {', '.join(r.value for r in Role)})") from None


class PreferencesError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Preferences:
    """The preferences file (``preferences.toml`` in the platform's config dir): ``role`` and ``operator``."""

    role: Role | None = None
    operator: str | None = None
    day_shift_starts: dt.time = dt.time(7, 0)
    night_shift_starts: dt.time = dt.time(19, 0)


PREFERENCE_KEYS: Final = ("role", "operator", "day_shift_starts", "night_shift_starts")


def load_preferences(path: Path) -> Preferences:
    """A missing file is no preferences; a bad one is refused in words naming the file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Preferences()
    except (OSError, UnicodeDecodeError) as exc:
        raise PreferencesError(f"{path}: cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise PreferencesError(f"{path}: {exc}") from None
    unknown = sorted(set(data) - set(PREFERENCE_KEYS))
    if unknown:
        raise PreferencesError(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(PREFERENCE_KEYS)})")
    role, operator = data.get("role"), data.get("operator")
    if role is not None and not isinstance(role, str):
        raise PreferencesError(f"{path}: role must be a string")
    if operator is not None and (not isinstance(operator, str) or not operator.strip() or len(operator) > 64):
        raise PreferencesError(f"{path}: operator must be a non-empty name of at most 64 characters")
    try:
        parsed = parse_role(role) if role is not None else None
        day = _clock(data.get("day_shift_starts", "07:00"))
        night = _clock(data.get("night_shift_starts", "19:00"))
    except ValueError as exc:
        raise PreferencesError(f"{path}: {exc}") from None
    if not day < night:
        raise PreferencesError(f"{path}: day_shift_starts must be before night_shift_starts")
    return Preferences(
        role=parsed,
        operator=operator.strip() if operator else None,
        day_shift_starts=day,
        night_shift_starts=night,
    )


def _clock(value: object) -> dt.time:
    if not isinstance(value, str):
        raise ValueError(f'a shift start must be a time of day as "HH:MM", not {value!r}')
    try:
        hours, minutes = value.split(":")
        return dt.time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"{value!r} is not a time of day HH:MM") from None
