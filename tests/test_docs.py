"""The docs match the code: every ``fleet-console`` command they show names a subcommand and options that
exist, every ``./dev`` command exists, every file and link they point at is there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from console.cli import build_parser
from tests.helpers.cli_parser import options, subcommands
from tests.paths import REPO

DOCS = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md"), REPO / "bench" / "README.md"])
COMMAND = re.compile(r"fleet-console((?: +[^`\n|]+)?)")
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def _commands(text: str) -> list[str]:
    """``fleet-console …`` as the docs show it, in code (backticks or indented/fenced blocks)."""
    found = []
    for line in text.splitlines():
        for match in COMMAND.finditer(line):
            found.append(match.group(1).strip())
    return found


def test_the_docs_folder_has_a_file_per_topic() -> None:
    names = {p.stem for p in (REPO / "docs").glob("*.md")}
    assert names >= {"inventory", "alerts", "actions", "headless", "bench", "architecture", "testing"}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_fleet_console_command_in_the_docs_exists_with_its_options(doc: Path) -> None:
    parser = build_parser()
    known_subcommands = subcommands(parser)
    top = options(parser, nested=False)
    for command in _commands(doc.read_text(encoding="utf-8")):
        words = command.split()
        sub = next((w for w in words if not w.startswith("-")), None)
        known = top
        if sub in known_subcommands:
            known = top | options(known_subcommands[sub])
        for option in OPTION.findall(command):
            assert option in known, f"{doc.name}: `fleet-console {command}` uses {option}, which does not exist"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_dev_command_and_linked_file_in_the_docs_exists(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    dev = (REPO / "dev").read_text(encoding="utf-8")
    for command in re.findall(r"\./dev ([a-z]+)", text):
        assert re.search(rf"^\s+{command}\)", dev, re.MULTILINE), f"{doc.name}: ./dev {command} does not exist"
    for target in re.findall(r"\]\(([^)#\s]+)\)", text):
        if "://" in target:
            continue
        assert (doc.parent / target).exists(), f"{doc.name}: links to {target}, which is not there"
