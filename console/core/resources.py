"""The files the console ships (top-level ``resources/`` in the source tree, installed as the package
``console.resources``): found the same way in a checkout, an editable install and an installed wheel."""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

PACKAGE = "console.resources"


def resource(name: str) -> Traversable:
    """A shipped file by its path under resources/ (``icons/fleet-console.svg``)."""
    node = resources.files(PACKAGE)
    for part in name.split("/"):
        node = node.joinpath(part)
    return node


def read_resource(name: str) -> str:
    return resource(name).read_text(encoding="utf-8")
