"""Python's cycle collector in short pauses, for a process that streams a thousand nodes.

Why: a collection holds the interpreter (the GIL) for as long as it walks, and the automatic collector walks
every object now and then. At 1,000 nodes in one process (a thousand SSH transports, their channels and the
fleet model) one such walk took 2.5 s on a loaded 2-core machine (bench: ``gc_longest_ms``): every
transport thread and the parser waited behind it, the lines reached the model seconds late, and a
thousand threads then contended for the interpreter long after it ended (issue 21.15). Anything that
allocated more — the archive's minutes, the incident service — made the automatic walks come sooner.

So the automatic collector is off, and:
- young objects are collected every 100 ms (a second's young objects: milliseconds);
- every 5 minutes what is not frozen is collected, and the survivors are frozen (moved out of the
  collector's sight: they are long-lived — connections, nodes, rings); the first such passes come 10, 20,
  40, 80 and 160 s after the start, so the heap the connections build is walked in pieces (``RAMP_S``);
- once an hour everything is unfrozen and walked, so a cycle that became garbage after it was frozen is
  freed within the hour. This is the one long pause left, once an hour instead of whenever the counts say.

The window runs this schedule on the GUI thread (Qt objects must be freed there: ``gui.main_window``);
headless commands (streaming ``poll``, the bench's core) on a thread of their own
(``services.collector.CollectorThread``).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Final

YOUNG_S: Final = 0.1
RECENT_S: Final = 300.0
ALL_S: Final = 3600.0


def collect_young() -> None:
    gc.collect(0)


def collect_recent() -> None:
    """What is not frozen; then the survivors are frozen."""
    gc.collect()
    gc.freeze()


def collect_all() -> None:
    gc.unfreeze()
    gc.collect()
    gc.freeze()


# The first recent passes come sooner, at these seconds after the start: at the first 5-minute pass the heap
# of a thousand connections made since the start was walked in one go (1.8 s at 1,000 nodes, bench); passes
# while the fleet connects walk it in pieces, before anyone reads the live view.
RAMP_S: Final = (10.0, 20.0, 40.0, 80.0, 160.0)

# (interval in seconds, what runs then), most frequent first.
SCHEDULE: Final[tuple[tuple[float, Callable[[], None]], ...]] = (
    (YOUNG_S, collect_young),
    (RECENT_S, collect_recent),
    (ALL_S, collect_all),
)


def take_over() -> None:
    """The automatic collector off: the schedule runs instead."""
    gc.disable()


def give_back() -> None:
    """What was frozen back in sight, and the automatic collector on again."""
    gc.unfreeze()
    gc.enable()
