"""One module per action kind (vorta's one module per command): each declares its label, whether it needs
a reason, its shortcut, the options it reads, and how its steps are planned. The window's toolbar and
menus, the command line's help and the planning are built from ``SPECS``; the runner runs every kind on
the same per-node queue, and the audit writes stay in one place (the runner)."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any, Final

from console.core.actions.action_types import ActionKind, ActionRequest
from console.core.actions.kinds import cancel_reboot, drain, locate, power, reassign, reboot, resume
from console.core.actions.kinds.spec import KindOption, KindSpec, PlanContext

SPECS: Final[dict[ActionKind, KindSpec]] = {
    module.SPEC.kind: module.SPEC for module in (drain, resume, reboot, cancel_reboot, power, locate, reassign)
}


def all_options() -> dict[str, tuple[KindOption, tuple[ActionKind, ...]]]:
    """Every kind's own options by request field, with the kinds that ask it (the command line's flags)."""
    out: dict[str, tuple[KindOption, tuple[ActionKind, ...]]] = {}
    for kind, spec in SPECS.items():
        for option in spec.choices:
            known = out.get(option.field)
            out[option.field] = (option, (known[1] if known else ()) + (kind,))
    return out


def build_request(
    kind: ActionKind,
    nodes: tuple[str, ...],
    operator: str,
    reason: str | None,
    ticket: str | None,
    values: Mapping[str, object],
) -> ActionRequest:
    """The request of ``kind`` from what the dialog or the command line was given: only the kind's own
    options are read (a value left empty keeps the request's default), each as its module converts it."""
    fields: dict[str, Any] = {}
    for option in SPECS[kind].choices:
        value = values.get(option.field)
        if option.check_words is not None:
            fields[option.field] = bool(value)
        elif value not in (None, ""):
            fields[option.field] = option.to_request(str(value)) if option.to_request else value
    request = ActionRequest(kind=kind, nodes=nodes, operator=operator, reason=reason, ticket=ticket)
    return dataclasses.replace(request, **fields)


def request_params(request: ActionRequest) -> dict[str, Any]:
    """The audit row's parameters of a request: the kind's own options that were given (yes/no ones
    always), as JSON keeps them."""
    out: dict[str, Any] = {}
    for option in SPECS[request.kind].choices:
        value = getattr(request, option.field)
        if value is not None:
            out[option.field] = value.value if isinstance(value, enum.Enum) else value
    return out


__all__ = ["SPECS", "KindOption", "KindSpec", "PlanContext", "all_options", "build_request", "request_params"]
