"""No function in console/ over 80 lines (issue 23), as a ratchet: the functions that were longer when the
rule came are listed with the length they had, and may only shrink; a new one over 80 lines, or a listed one
that grew, fails here. Take a function off the list when it is split under the limit."""

from __future__ import annotations

import ast
from pathlib import Path

CONSOLE = Path(__file__).resolve().parents[1] / "console"
LIMIT = 80
# (file under console/, function) → its length when the rule came, in lines.
LONGER_WHEN_THE_RULE_CAME = {
    ("gui/log_view.py", "__init__"): 188,
    ("gui/main_window.py", "__init__"): 176,
    ("cli.py", "build_parser"): 151,
    ("sim/redfish.py", "_handler"): 121,
    ("gui/node_panel.py", "__init__"): 116,
    ("gui/move_dialog.py", "__init__"): 113,
    ("core/inventory.py", "parse_inventory"): 101,
    ("gui/action_dialog.py", "__init__"): 95,
    ("core/records/incident_log.py", "open"): 90,
    ("services/one_shot.py", "poll_once"): 90,
    ("transport/ssh.py", "connect"): 89,
    ("gui/node_panel.py", "show_view"): 86,
    ("core/records/store_schema.py", "_v2"): 85,
}


def function_lengths(source: str) -> list[tuple[str, int]]:
    """(name, lines) of every function and method in ``source``."""
    return [
        (node.name, node.end_lineno - node.lineno + 1)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None
    ]


def test_no_function_grows_past_80_lines_and_the_long_ones_only_shrink() -> None:
    too_long = []
    for path in sorted(CONSOLE.rglob("*.py")):
        where = path.relative_to(CONSOLE).as_posix()
        for name, lines in function_lengths(path.read_text(encoding="utf-8")):
            allowed = LONGER_WHEN_THE_RULE_CAME.get((where, name), LIMIT)
            if lines > allowed:
                too_long.append(f"{where}: {name} is {lines} lines (at most {allowed})")
    assert not too_long, "; ".join(too_long)


def test_the_ratchet_counts_a_function_from_its_def_to_its_last_line() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(85))
    assert function_lengths(f"def long():\n{body}\n") == [("long", 86)]
