"""Pacing a long loop on a thread that is not in a hurry, so the threads that are get the interpreter.

Why: CPython's threads share one lock (the GIL). A thread that computes for a second without pause — the
archive writer gathering 8,000 accelerators' minute at 1,000 nodes — keeps it for whole switch intervals
while a thousand SSH transport threads, each needing it briefly for every packet, queue behind it; their
lines then reach the model seconds late (the convoy effect). A :class:`Pacer` called once per item of such
a loop lets go of the interpreter for a moment after every couple of milliseconds of work: the loop takes
a little longer, the readings do not wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

SLICE_S: Final = 0.002  # work between pauses
PAUSE_S: Final = 0.001  # a real sleep: the waiting threads all get a turn, not only the next one


class Pacer:
    def __init__(
        self,
        slice_s: float = SLICE_S,
        pause_s: float = PAUSE_S,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.slice_s = slice_s
        self.pause_s = pause_s
        self._clock = clock
        self._sleep = sleep
        self._since = clock()
        self.pauses = 0

    def __call__(self) -> None:
        """One item done: pause if this slice of work is over."""
        if self._clock() - self._since >= self.slice_s:
            self._sleep(self.pause_s)
            self.pauses += 1
            self._since = self._clock()


def no_pace() -> None:
    """For callers with nobody to wait for (tests, one-shot tools)."""
