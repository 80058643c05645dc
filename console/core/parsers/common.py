"""Helpers shared by the tool-output parsers: numbers with units, and the many ways of saying "no value"."""

from __future__ import annotations

import math
from typing import Final

from console.core.telemetry.samples import NA, NotAvailable

# Words the vendor tools print instead of a value. Bracketed tokens (``[N/A]``, ``[Not Supported]``,
# ``[Unknown Error]``, ``[GPU is lost]``, ``[Requested functionality has been deprecated]`` …) are
# recognised by their brackets, so a token a newer driver invents is still "not available", not garbage.
_BARE_NOT_AVAILABLE: Final = frozenset(
    {"", "n/a", "na", "-", "--", "none", "unknown", "not supported", "not found", "not available"}
)

MAX_EXCERPT: Final = 120


class FieldError(ValueError):
    """A field holds something that is neither a value nor a recognised "not available" word."""


def not_available(token: str) -> NotAvailable | None:
    """The :class:`NotAvailable` that ``token`` stands for, or ``None`` if it is a real value."""
    stripped = token.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        return NotAvailable(stripped)
    if stripped.lower() in _BARE_NOT_AVAILABLE:
        return NotAvailable(stripped) if stripped else NA
    return None


def parse_number(token: str, field: str) -> float | NotAvailable:
    """A finite number, optionally followed by a unit (``"631.95 W"``, ``"19818 MiB"``, ``"100 %"``)."""
    missing = not_available(token)
    if missing is not None:
        return missing
    text = token.strip()
    head = text.split(" ", 1)[0]
    # Units glued to the number ("59C", "629W", "19818MiB", "100%") as in the default table.
    end = len(head)
    while end > 0 and not (head[end - 1].isdigit() or head[end - 1] == "."):
        end -= 1
    try:
        value = float(head[:end])
    except ValueError:
        raise FieldError(f"{field}: {excerpt(text)!r} is not a number") from None
    if not math.isfinite(value):
        raise FieldError(f"{field}: {excerpt(text)!r} is not a finite number")
    return value


def parse_text(token: str) -> str | NotAvailable:
    missing = not_available(token)
    if missing is not None:
        return missing
    return token.strip()


def excerpt(text: str, limit: int = MAX_EXCERPT) -> str:
    """Cut hostile or huge output down to something a status line can show."""
    printable = "".join(ch if ch.isprintable() else "\N{REPLACEMENT CHARACTER}" for ch in text[: limit + 1])
    return printable if len(printable) <= limit else printable[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"


def output_summary(text: str, limit: int = 300) -> str:
    """A tool's stderr in one line for a message: all of it if short, else its end (where tools put the
    decisive line: 'fatal: …', 'Unable to contact slurm controller')."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    joined = " / ".join(lines)
    if len(joined) <= limit:
        return excerpt(joined, limit)
    return "\N{HORIZONTAL ELLIPSIS}" + excerpt(joined[-(limit - 1) :], limit - 1)
