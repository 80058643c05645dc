"""Text from nodes, Slurm users, BMCs and files, made safe to print on an operator's terminal.

A Slurm job name, a Reason or a tool's output may carry terminal escapes (an OSC sequence that retitles
the window or writes the clipboard, colours, cursor moves) or line breaks that forge a line of the
console's own output. Every character that is not printable is shown escaped, the way Python writes it
(``\\x1b``, ``\\n``, ``\\u202e``), so the operator sees that it was there and nothing acts on the terminal.
"""

from __future__ import annotations

from typing import Final

# Printable by str.isprintable(), yet they reorder what follows on screen (Trojan Source).
_BIDI: Final = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def escape_controls(text: str) -> str:
    """``text`` with every control, line-break and bidi-override character written as an escape."""
    if text.isprintable() and not _BIDI.intersection(text):
        return text
    return "".join(_escape(ch) if not ch.isprintable() or ch in _BIDI else ch for ch in text)


def escape_lines(text: str) -> str:
    """Console-composed text of several lines: each line's foreign characters escaped, the breaks kept."""
    return "\n".join(escape_controls(line) for line in text.split("\n"))


def _escape(ch: str) -> str:
    code = ord(ch)
    if ch == "\n":
        return "\\n"
    if ch == "\r":
        return "\\r"
    if ch == "\t":
        return "\\t"
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
