"""The cycle collector's schedule (:mod:`console.core.collector`: why) on a thread of its own, for a process
without a window: streaming ``poll`` and the bench's core."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from console.core.collector import RAMP_S, RECENT_S, SCHEDULE, collect_recent, give_back, take_over

log = logging.getLogger(__name__)


class PassPlan:
    """When each pass is due, from ``started``: the ramp's early recent passes, then the schedule. ``take``
    gives the pass to run at ``now`` (None: none is due); where several are due, the longest runs alone: it
    walks what the shorter ones would have."""

    def __init__(self, started: float) -> None:
        self.due = [started + interval for interval, _ in SCHEDULE]
        self.ramp = [started + at for at in RAMP_S]

    def next_at(self) -> float:
        return min([*self.due, *self.ramp[:1]])

    def take(self, now: float) -> Callable[[], None] | None:
        due = []
        for i, at in enumerate(self.due):
            if at <= now:
                due.append(SCHEDULE[i])
                self.due[i] = now + SCHEDULE[i][0]
        if self.ramp and self.ramp[0] <= now:  # an early pass is a recent pass
            del self.ramp[0]
            due.append((RECENT_S, collect_recent))
        return max(due, key=lambda interval_pass: interval_pass[0])[1] if due else None


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
        plan = PassPlan(self._clock())
        while not self._stop.wait(max(0.0, plan.next_at() - self._clock())):
            which = plan.take(self._clock())
            if which is None:
                continue
            try:
                which()
            except Exception:
                log.exception("the collector's pass failed")
