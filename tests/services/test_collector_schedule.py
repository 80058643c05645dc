"""The cycle collector's schedule on a thread of its own (headless): young objects every 100 ms, the recent
pass every 5 minutes, everything once an hour, and where two are due at once only the longer walks."""

from __future__ import annotations

import gc

from console.core.collector import collect_all, collect_recent, collect_young
from console.services.collector import CollectorThread, first_due, next_pass


def test_each_pass_comes_at_its_interval_and_the_longest_due_runs_alone() -> None:
    due = first_due(1000.0)
    assert next_pass(due, 1000.05) == (None, due)
    which, due = next_pass(due, 1000.1)
    assert which is collect_young and due[0] == 1000.2
    ran = []
    now = 1000.1
    while now < 1000.0 + 3600.0:
        now = round(now + 0.1, 1)
        which, due = next_pass(due, now)
        if which not in (None, collect_young):
            ran.append((now, which))
    # Every 5 minutes the recent pass; at the hour the full one, in place of the recent pass due then too.
    assert [when for when, _ in ran] == [1000.0 + 300.0 * k for k in range(1, 13)]
    assert [which for _, which in ran] == [collect_recent] * 11 + [collect_all]


def test_the_thread_turns_the_automatic_collector_off_while_it_runs_and_back_on_when_stopped() -> None:
    thread = CollectorThread()
    thread.start()
    try:
        assert not gc.isenabled()
    finally:
        thread.stop()
    assert gc.isenabled() and gc.get_freeze_count() == 0
