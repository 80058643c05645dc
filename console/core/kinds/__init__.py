"""One module per action kind (vorta's one module per command): each declares its label, whether it needs
a reason, its shortcut, the options it reads, and how its steps are planned. The window's toolbar and
menus, the command line's help and the planning are built from ``SPECS``; the runner runs every kind on
the same per-node queue, and the audit writes stay in one place (the runner)."""

from __future__ import annotations

from typing import Final

from console.core.action_types import ActionKind
from console.core.kinds import cancel_reboot, drain, locate, power, reassign, reboot, resume
from console.core.kinds.spec import KindSpec, PlanContext

SPECS: Final[dict[ActionKind, KindSpec]] = {
    module.SPEC.kind: module.SPEC for module in (drain, resume, reboot, cancel_reboot, power, locate, reassign)
}

__all__ = ["SPECS", "KindSpec", "PlanContext"]
