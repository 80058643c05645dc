"""The scheduler watch: Slurm's state word for every inventory node (``ALLOCATED``, ``IDLE+DRAIN`` …), read
every 30 s into the fleet model, which is the one place the window, the rules and ``poll`` read it from.
Read again at once when asked (an action finished and changed it)."""

from __future__ import annotations

import logging
import threading
from typing import Final, Protocol

from console.core.actions.planning import SchedulerPort
from console.core.inventory import Inventory
from console.core.telemetry.fleet import FleetModel
from console.core.tenants.allocation import SchedulerAllocations

SCHEDULER_POLL_S: Final = 30.0
log = logging.getLogger(__name__)


class SchedulerSource(Protocol):
    def scheduler(self) -> SchedulerPort | None: ...


class SchedulerWatch:
    def __init__(
        self, inventory: Inventory, fleet: FleetModel, engines: SchedulerSource, interval_s: float = SCHEDULER_POLL_S
    ) -> None:
        self.inventory = inventory
        self.fleet = fleet
        self.engines = engines
        self.interval_s = interval_s
        self.allocations: SchedulerAllocations | None = None  # read with the node states
        self._stop = threading.Event()
        self._now = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scheduler-watch", daemon=True)

    @property
    def enabled(self) -> bool:
        return self.inventory.scheduler is not None

    def start(self) -> None:
        if self.enabled and not self._thread.is_alive():
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._now.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def refresh_now(self) -> None:
        """Read Slurm again without waiting for the next period (returns at once)."""
        self._now.set()

    def read_once(self) -> dict[str, str]:
        """Slurm's state word for every inventory node, into the model (network: not on a GUI thread)."""
        scheduler = self.engines.scheduler()
        if scheduler is None:
            return {}
        names = {spec.scheduler_name: spec.name for spec in self.inventory.nodes}
        found = scheduler.nodes(list(names))
        states = {names[key]: node.raw_state for key, node in found.items() if key in names}
        self.fleet.set_scheduler_states(states)
        # Slurm's view of tenancy for the Tenants view (partitions, reservations, jobs' GPUs): best effort,
        # its own problem in words; the node states above stand whatever happens here.
        try:
            self.allocations = scheduler.allocations()
        except Exception as exc:  # noqa: BLE001 - a failing read leaves the last view and says why
            self.allocations = SchedulerAllocations(problem=f"Slurm's tenancy could not be read: {exc}")
        return states

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.read_once()
                self.fleet.set_scheduler_problem(None)
            except Exception as exc:  # a failing scheduler must not stop the watch
                self.fleet.set_scheduler_problem(f"Slurm's node states could not be read: {exc}")
                log.debug("reading Slurm's node states failed", exc_info=True)
            self._now.wait(self.interval_s)
            self._now.clear()
