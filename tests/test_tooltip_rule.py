"""The rule behind every tooltip (issue 21.4), checked on the source: Qt renders a tooltip that looks like
HTML as HTML, so a BMC's ``<img src='/path/on/the/desk.png'>`` would load a file from the operator's disk.
Every ``setToolTip`` and every ``ToolTipRole`` answer in ``console/gui`` is either a string the console
wrote (a literal) or goes through ``console.gui.text.plain_tip``; anything else fails here, in CI."""

from __future__ import annotations

import ast
from pathlib import Path

GUI = Path(__file__).resolve().parents[1] / "console" / "gui"


def _safe(node: ast.expr | None) -> bool:
    """A literal string, None, a ``plain_tip(...)`` call, or a choice between such."""
    if node is None:
        return True
    if isinstance(node, ast.Constant):
        return node.value is None or isinstance(node.value, str)
    if isinstance(node, ast.Call):
        func = node.func
        return (isinstance(func, ast.Name) and func.id == "plain_tip") or (
            isinstance(func, ast.Attribute) and func.attr == "plain_tip"
        )
    if isinstance(node, ast.IfExp):
        return _safe(node.body) and _safe(node.orelse)
    return False


def _mentions_tooltip_role(test: ast.expr) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr == "ToolTipRole" for n in ast.walk(test))


def bypasses(source: str, filename: str) -> list[str]:
    """Where ``source`` sets a tooltip that is neither a literal nor ``plain_tip(...)``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        called = node.func.attr if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) else None
        if called == "setToolTip" and isinstance(node, ast.Call) and (not node.args or not _safe(node.args[-1])):
            found.append(f"{filename}:{node.lineno}: setToolTip without plain_tip")
        if isinstance(node, ast.If) and _mentions_tooltip_role(node.test):
            for inner in ast.walk(ast.Module(body=node.body, type_ignores=[])):
                if isinstance(inner, ast.Return) and not _safe(inner.value):
                    found.append(f"{filename}:{inner.lineno}: a ToolTipRole answer without plain_tip")
        if (
            called == "setData"
            and isinstance(node, ast.Call)
            and any(isinstance(a, ast.Attribute) and a.attr == "ToolTipRole" for a in node.args)
            and not _safe(node.args[-2])
        ):
            found.append(f"{filename}:{node.lineno}: setData(…, ToolTipRole) without plain_tip")
    return found


def test_no_tooltip_in_the_window_bypasses_the_plain_text_helper() -> None:
    problems = [p for path in sorted(GUI.glob("*.py")) for p in bypasses(path.read_text(), path.name)]
    assert problems == []


def test_the_check_finds_each_way_a_tooltip_could_bypass_the_helper() -> None:
    hostile = """
def data(self, index, role):
    if role == Qt.ItemDataRole.ToolTipRole:
        return incident.message
    if role == Qt.ItemDataRole.ToolTipRole and ok:
        return plain_tip(incident.message)
label.setToolTip(event.text)
item.setToolTip(2, f"said {x}")
item.setToolTip(2, plain_tip(x) if x else "none")
button.setToolTip("a literal the console wrote")
item.setData(0, Qt.ItemDataRole.ToolTipRole, text)
"""
    assert bypasses(hostile, "x.py") == [
        "x.py:4: a ToolTipRole answer without plain_tip",
        "x.py:7: setToolTip without plain_tip",
        "x.py:8: setToolTip without plain_tip",
        "x.py:11: setData(…, ToolTipRole) without plain_tip",
    ]
