"""GUI tests: widgets a test leaves in reference cycles are collected here, on the GUI thread, after each
test — else Python's collector may free them on whichever thread allocates next (a mover's, a worker's),
and Qt objects must die on their own thread."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def collect_widgets_on_the_gui_thread(qtbot: object) -> Iterator[None]:
    gc.collect()
    yield
    gc.collect()
