"""The command line's parser read by tests: its subcommands and the options of each (argparse has no
public way to list them)."""

from __future__ import annotations

import argparse


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def options(parser: argparse.ArgumentParser, nested: bool = True) -> set[str]:
    """The parser's options and, with ``nested``, those of its own subcommands (``report shift --date``,
    ``incidents open --cause``): a doc's command may name a verb below the subcommand."""
    found = {option for action in parser._actions for option in action.option_strings}
    if nested:
        for sub in subcommands(parser).values():
            found |= options(sub)
    return found
