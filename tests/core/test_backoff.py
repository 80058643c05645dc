import random

from console.core.backoff import Backoff


def test_delays_grow_exponentially_with_jitter_and_stop_at_the_cap() -> None:
    backoff = Backoff(base_s=1.0, cap_s=30.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(10)]
    ceilings = [min(30.0, 2.0**n) for n in range(10)]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert max(delays) <= 30.0


def test_jitter_spreads_nodes_that_failed_together() -> None:
    delays = {round(Backoff(rng=random.Random(seed)).next_delay(), 6) for seed in range(20)}
    assert len(delays) > 10


def test_reset_starts_again_from_the_base() -> None:
    backoff = Backoff(base_s=1.0, cap_s=60.0)
    for _ in range(6):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() <= 1.0
