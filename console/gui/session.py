"""The window's session: the live fleet, the snapshot thread that turns the model into row snapshots for the
GUI thread, the cycle collector's short passes on the GUI thread, and the application's loop until the
window closes or a signal asks it to (``run_gui``). The window itself (main_window.py) is layout, menus
and what its parts say."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtWidgets import QApplication

from console.core import collector
from console.core.inventory import Inventory
from console.core.telemetry.fleet import FleetModel
from console.gui.main_window import SNAPSHOT_INTERVAL_MS, MainWindow
from console.gui.ports import ActionsPort, WindowParts
from console.gui.style import app_icon


class FleetService(Protocol):
    """What the window needs from the wiring (console.app.LiveFleet): a model to read, a life cycle."""

    @property
    def fleet(self) -> FleetModel: ...

    @property
    def inventory(self) -> Inventory: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def reconnect(self, node: str) -> None: ...


class SnapshotWorker(QObject):
    """Lives in a worker thread; turns the fleet model into snapshots of what changed."""

    snapshot = Signal(object)

    def __init__(self, fleet: FleetModel, interval_ms: int = SNAPSHOT_INTERVAL_MS) -> None:
        super().__init__()
        self.fleet = fleet
        self.interval_ms = interval_ms
        self._version = 0
        self._timer: QTimer | None = None

    @Slot()
    def start(self) -> None:
        self._timer = QTimer(self)
        self._timer.setInterval(self.interval_ms)
        self._timer.timeout.connect(self.take)
        self._timer.start()
        self.take()

    @Slot()
    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()

    @Slot()
    def take(self) -> None:
        snap = self.fleet.snapshot(self._version)
        self._version = snap.version
        self.snapshot.emit(snap)


class ConsoleSession:
    """Owns the live fleet, the snapshot thread and the window; stops all of them on close."""

    def __init__(
        self,
        live: FleetService,
        interval_ms: int = SNAPSHOT_INTERVAL_MS,
        actions: ActionsPort | None = None,
        parts: WindowParts | None = None,
    ) -> None:
        self.live = live
        parts = parts or WindowParts(actions=actions)
        self.action_service = parts.actions
        self.window = MainWindow(
            live.fleet,
            title_suffix=f" — {live.inventory.path.name}",
            actions=parts.actions,
            records=parts.records,
            allocations=parts.allocations,
            idle_since=parts.idle_since,
            idle_watching=parts.idle_watching,
            history=parts.history,
            moves=parts.moves,
            accounting=parts.accounting,
            inventory=live.inventory,
            rules=parts.rules,
        )
        self.thread = QThread()
        self.thread.setObjectName("snapshot-thread")
        self.worker = SnapshotWorker(live.fleet, interval_ms)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.start)
        self.worker.snapshot.connect(self.window.apply_snapshot, Qt.ConnectionType.QueuedConnection)
        # Returns at once: it only moves the node's next attempt to now and wakes the transport.
        self.window.panel.reconnect_requested.connect(live.reconnect)

    def start(self) -> None:
        self.live.start()
        self.thread.start()

    def stop(self) -> None:
        if self.thread.isRunning():
            # The worker's timer lives in the worker thread: stop it there, then end the thread's loop.
            QTimer.singleShot(0, self.worker, self.worker.stop)
            self.thread.quit()
            self.thread.wait(5000)
        if self.window.worker is not None:
            self.window.worker.shutdown()
        self.live.stop()


class GuiThreadCollector:
    """The cycle collector's schedule (:mod:`console.core.collector`: why short pauses) on the GUI
    thread: the collector runs on whichever thread allocates, but Qt objects must be freed on the GUI thread.
    At 1,000 nodes a second's young objects took 30-90 ms to walk, which the window felt as a stutter every
    second under the automatic collector."""

    def __init__(self, parent: QObject) -> None:
        self._ramp: list[tuple[QTimer, int]] = []
        for at_s in collector.RAMP_S:
            once = QTimer(parent)
            once.setSingleShot(True)
            once.timeout.connect(collector.collect_recent)
            self._ramp.append((once, round(at_s * 1000)))
        self._timers: list[tuple[QTimer, int]] = []
        for interval_s, collect in collector.SCHEDULE:
            timer = QTimer(parent)
            timer.timeout.connect(collect)
            self._timers.append((timer, round(interval_s * 1000)))

    def start(self) -> None:
        collector.take_over()
        for timer, interval in self._timers:
            timer.start(interval)
        for timer, at in self._ramp:  # the first recent passes sooner: the connections' heap in pieces
            timer.start(at)

    def stop(self) -> None:
        for timer, _interval in [*self._timers, *self._ramp]:
            timer.stop()
        collector.give_back()


def run_gui(
    live: FleetService,
    screenshot: Path | None = None,
    after_s: float = 5.0,
    select: str | None = None,
    stop: threading.Event | None = None,
    view: str = "table",
    notice: str | None = None,
    parts: WindowParts | None = None,
    color_by: str | None = None,
    group_by: str | None = None,
) -> int:
    """Run the window until it is closed, or until ``stop`` is set (the command's SIGINT/SIGTERM handler
    sets it: the window then quits as its own Quit does)."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Fleet Console")
    app.setWindowIcon(app_icon())
    app.setDesktopFileName("fleet-console")
    # Python runs its signal handlers (Ctrl+C, SIGTERM) only between bytecodes: wake it a few times a
    # second while Qt's loop waits, and quit once a handler asked for it.
    signal_tick = QTimer(app)
    signal_tick.timeout.connect(lambda: app.quit() if stop is not None and stop.is_set() else None)
    signal_tick.start(200)
    session = ConsoleSession(live, parts=parts)
    collector = GuiThreadCollector(app)
    collector.start()
    session.start()
    window = session.window
    window.show()

    def choose() -> None:
        if select:
            window.select_node(select)
        elif not window.table.currentIndex().isValid() and window.proxy.rowCount():
            window.table.setCurrentIndex(window.proxy.index(0, 0))
        window.table.setFocus()

    QTimer.singleShot(0, choose)
    if view == "log":
        QTimer.singleShot(0, window.show_log)
    elif view == "tenants":
        QTimer.singleShot(0, window.show_tenants)
    elif view in ("heatmap", "racks"):
        QTimer.singleShot(0, lambda: window.show_floor(view, color_by, group_by))
    if notice:
        QTimer.singleShot(0, lambda: window.show_notice(notice, 24 * 3600 * 1000, critical=True))
    if screenshot is not None:

        def shoot() -> None:
            window.panel.refresh_plots()
            window.refresh_floor(force=True)
            window.grab().save(str(screenshot))
            app.quit()

        QTimer.singleShot(int(after_s * 1000), shoot)
    try:
        return int(app.exec())
    finally:
        session.stop()
        collector.stop()
