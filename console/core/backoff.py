"""Exponential backoff with "equal jitter" (half of each delay fixed, half random), so a rack that comes back
is not hammered in lock-step, and no node retries at once after a failure (as full jitter may)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    base_s: float = 1.0
    cap_s: float = 60.0
    factor: float = 2.0
    attempts: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        """Delay before the next attempt: uniform in [ceiling/2, ceiling], ceiling = base·factorⁿ ≤ cap."""
        ceiling = min(self.cap_s, self.base_s * self.factor**self.attempts)
        self.attempts += 1
        return ceiling / 2 + self.rng.random() * ceiling / 2

    def reset(self) -> None:
        self.attempts = 0
