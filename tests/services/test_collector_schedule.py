"""The cycle collector's schedule on a thread of its own (headless): young objects every 100 ms, the recent
pass 10, 20, 40, 80 and 160 s after the start and then every 5 minutes, everything once an hour, and where
two are due at once only the longer walks."""

from __future__ import annotations

import gc

from console.core.collector import collect_all, collect_recent, collect_young
from console.services.collector import CollectorThread, PassPlan


def test_each_pass_comes_at_its_time_and_the_longest_due_runs_alone() -> None:
    plan = PassPlan(1000.0)
    assert plan.take(1000.05) is None and plan.next_at() == 1000.1
    ran = []
    now = 1000.0
    while now < 1000.0 + 3600.0:
        now = round(now + 0.1, 1)
        which = plan.take(now)
        if which not in (None, collect_young):
            ran.append((round(now - 1000.0, 1), which))
    recent = [at for at, which in ran if which is collect_recent]
    assert recent[:6] == [10.0, 20.0, 40.0, 80.0, 160.0, 300.0] and recent[6:] == [300.0 * k for k in range(2, 12)]
    assert ran[-1] == (3600.0, collect_all)  # the hour's full walk, in place of the recent pass due then too


def test_the_thread_turns_the_automatic_collector_off_while_it_runs_and_back_on_when_stopped() -> None:
    thread = CollectorThread()
    thread.start()
    try:
        assert not gc.isenabled()
    finally:
        thread.stop()
    assert gc.isenabled() and gc.get_freeze_count() == 0
