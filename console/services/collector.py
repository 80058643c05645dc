"""The cycle collector's schedule (:mod:`console.core.collector`: why) on a thread of its own, for a process
without a window: streaming ``poll`` and the bench's core."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from console.core.collector import SCHEDULE, give_back, take_over

log = logging.getLogger(__name__)


class CollectorThread:
    """The schedule on a thread of its own, for a process without a window."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="collector", daemon=True)

    def start(self) -> None:
        take_over()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        give_back()

    def _run(self) -> None:
        due = first_due(self._clock())
        while not self._stop.wait(max(0.0, min(due) - self._clock())):
            which, due = next_pass(due, self._clock())
            if which is None:
                continue
            try:
                which()
            except Exception:
                log.exception("the collector's pass failed")


def first_due(now: float) -> list[float]:
    return [now + interval for interval, _ in SCHEDULE]


def next_pass(due: list[float], now: float) -> tuple[Callable[[], None] | None, list[float]]:
    """The pass to run at ``now`` (None: none is due) and when each is due next. Where several are due, the
    longest runs alone: it walks what the shorter ones would have."""
    ready = [i for i, at in enumerate(due) if at <= now]
    if not ready:
        return None, due
    return SCHEDULE[ready[-1]][1], [now + SCHEDULE[i][0] if i in ready else at for i, at in enumerate(due)]
