"""docs/architecture.md is the true map: every module under console/ is named in it as a file (``name.py``,
or ``name/`` for a package), so a module cannot land without a place on the map."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _named(text: str, module: Path) -> bool:
    name = module.name if module.name != "__init__.py" else f"{module.parent.name}/"
    return re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", text) is not None


def test_every_module_under_console_is_named_in_the_architecture_map() -> None:
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    modules = sorted(p for p in (REPO / "console").rglob("*.py") if "__pycache__" not in p.parts)
    missing = [str(p.relative_to(REPO)) for p in modules if not _named(text, p)]
    assert not missing, f"not on docs/architecture.md's map: {', '.join(missing)}"
