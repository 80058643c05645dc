"""PySide6 6.12.0 under-counts references to the None/True/False it returns from Qt calls; on Python 3.11
(where those objects are not immortal) the count then reaches zero after a few minutes of repaints and the
interpreter aborts in ``bool_dealloc``. pyproject.toml pins PySide6 below 6.12; this guards the pin."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from PySide6.QtWidgets import QLabel


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None/True/False are immortal from Python 3.12")
def test_qt_calls_that_return_none_and_bools_keep_their_reference_counts(qtbot: Any) -> None:
    label = QLabel("x")
    qtbot.addWidget(label)
    before = {name: sys.getrefcount(value) for name, value in (("True", True), ("False", False), ("None", None))}
    for _ in range(20_000):
        label.isVisible()  # False
        label.isEnabled()  # True
        label.setText("y")  # None
    after = {name: sys.getrefcount(value) for name, value in (("True", True), ("False", False), ("None", None))}
    for name, count in before.items():
        assert after[name] >= count - 100, f"{name}: {count} references before, {after[name]} after 20,000 calls"
