"""The worker that keeps every scheduler, BMC, SSH and disk call off the GUI thread: results and errors come
back through queued signals, each to its own typed callback."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import shiboken6
from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

T = TypeVar("T")


def _ignore(_error: Exception) -> None:
    pass


class Worker(QObject):
    """Runs blocking calls in a small pool; each result reaches its callback on the GUI thread."""

    _done = Signal(int, bool, object)

    def __init__(self, threads: int = 4) -> None:
        super().__init__()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="gui-worker")
        self._callbacks: dict[int, tuple[Callable[[Any], None], Callable[[Exception], None]]] = {}
        self._owners: dict[int, QObject] = {}
        self._next = 0
        self._closed = False
        self._works: dict[int, Callable[[], object]] = {}
        self._done.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def call(
        self,
        work: Callable[[], T],
        on_result: Callable[[T], None],
        on_error: Callable[[Exception], None] | None = None,
        owner: QObject | None = None,
    ) -> None:
        """Run ``work`` off the GUI thread; ``on_result`` gets what it returned, ``on_error`` what it raised
        (without one, the error is dropped: pass one wherever the operator should hear of it). With an
        ``owner``, nothing is delivered once the owner widget is gone (a dialog closed mid-call)."""
        if self._closed:
            return  # the window is closing: a timer's last call has nowhere to go
        self._next += 1
        token = self._next
        self._callbacks[token] = (on_result, on_error or _ignore)
        if owner is not None:
            self._owners[token] = owner
        # The work is held here and let go on the GUI thread (in _deliver): a closure that holds the last
        # reference to a widget must not free it on a pool thread (Qt: "Timers cannot be stopped from another
        # thread", and worse).
        self._works[token] = work
        self._pool.submit(self._run, token)

    def _run(self, token: int) -> None:
        try:
            result = self._works[token]()  # no local keeps the work: its last reference goes on the GUI thread
        except Exception as exc:  # noqa: BLE001 - handed to the error callback, which shows it
            self._done.emit(token, False, exc)
            return
        self._done.emit(token, True, result)

    @Slot(int, bool, object)
    def _deliver(self, token: int, ok: bool, value: object) -> None:
        callbacks = self._callbacks.pop(token, None)
        owner = self._owners.pop(token, None)
        self._works.pop(token, None)
        if callbacks is None or (owner is not None and not shiboken6.isValid(owner)):
            return
        on_result, on_error = callbacks
        if ok:
            on_result(value)
        else:
            assert isinstance(value, Exception)
            on_error(value)

    def pending(self) -> int:
        return len(self._callbacks)

    def shutdown(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)


class ChangeRelay(QObject):
    """Carries "something changed" from a service's thread to the GUI thread."""

    changed = Signal()


class StatusRelay(QObject):
    """Carries the runner's status updates (from its threads) to the GUI thread."""

    status = Signal(object)


def repeating(parent: QObject, interval_ms: int, slot: Callable[[], object]) -> QTimer:
    """A started timer that calls ``slot`` every ``interval_ms`` on the GUI thread."""
    timer = QTimer(parent)
    timer.setInterval(interval_ms)
    timer.timeout.connect(slot)
    timer.start()
    return timer
