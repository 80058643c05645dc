"""The composition root: builds the services for an inventory and wires them together. Nothing runs here.

Kept free of Qt so the headless commands never load it; the window receives a :class:`LiveFleet` and an
:class:`~console.services.actions.ActionService` and only ever reads the fleet model.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from console.core.actions.action_types import SchedulerPort
from console.core.actions.roles import Role
from console.core.actions.runs import ActionStatus
from console.core.alerts.config import AlertRules
from console.core.alerts.incidents import ShiftClock
from console.core.alerts.rules import AlertEngine
from console.core.inventory import Inventory
from console.core.records.tenant_report import totals
from console.core.telemetry.fleet import FleetModel
from console.core.tenants.accounting import AccountingComparison, compare_with
from console.core.tenants.allocation import SchedulerAllocations, minute_tenancy
from console.services.actions import ActionService, open_store
from console.services.archive import ArchiveService
from console.services.incidents import IncidentService
from console.services.pipeline import TelemetryPipeline
from console.services.scheduler_watch import SchedulerWatch
from console.services.shift_log import BmcUnknown, ShiftLog
from console.services.slow_path import SlowPathService, detail_interval_for
from console.services.telemetry import TelemetryService
from console.services.telemetry_workers import WorkerHub
from console.services.tenant_move import TenantMoves
from console.transport.hub import StreamHub
from console.transport.hub_links import HubSettings
from console.transport.ssh import SshSettings


class LiveFleet:
    """The live telemetry and the slow path over one inventory, started and stopped together."""

    def __init__(
        self,
        inventory: Inventory,
        ssh: SshSettings | None = None,
        hub_settings: HubSettings | None = None,
        clock: Callable[[], float] = time.time,
        alert_rules: AlertRules | None = None,
        detail_interval_s: float | None = None,
        details: bool = True,
        follow_kernel: bool = True,
        workers: int | None = None,
        window: bool = False,
    ) -> None:
        self.inventory = inventory
        self.telemetry = TelemetryService(
            inventory, ssh, hub_settings, clock, alert_rules, follow_kernel, workers, window
        )
        interval = detail_interval_s or detail_interval_for(len(inventory.nodes))
        self.details = SlowPathService(inventory, self.fleet, self.hub, interval) if details else None

    @property
    def fleet(self) -> FleetModel:
        return self.telemetry.fleet

    @property
    def hub(self) -> StreamHub | WorkerHub:
        return self.telemetry.hub

    @property
    def pipeline(self) -> TelemetryPipeline:
        return self.telemetry.pipeline

    @property
    def alerts(self) -> AlertEngine:
        return self.telemetry.alerts

    def start(self) -> None:
        self.telemetry.start()
        if self.details is not None:
            self.details.start()

    def stop(self) -> None:
        """Returns within a few seconds whatever the nodes do: slow-path looks are cancelled, connections
        closed, connects still under way are not waited for."""
        if self.details is not None:
            self.details.stop()
        self.telemetry.stop()

    def reconnect(self, node: str) -> None:
        self.telemetry.reconnect(node)


class ShiftServices:
    """What keeps the shift's record while the fleet streams (the window and streaming ``poll``): the
    incident service (alerts → incidents; people's changes), the archive writer, and the shift log that
    reads them back (Log view, timelines, the handover report)."""

    def __init__(
        self,
        live: LiveFleet,
        data_dir: Path,
        *,
        actions: ActionService | None = None,
        operator: str,
        role: Role,
        scheduler: Callable[[], SchedulerPort | None] | None = None,
        bmc_events: Callable[[str], list[tuple[float, str, str]]] | None = None,
        shifts: ShiftClock | None = None,
        allocations: Callable[[], SchedulerAllocations | None] | None = None,
    ) -> None:
        # One store: the action service's where the window acts, else its own (streaming ``poll``).
        self._own_store = open_store(data_dir) if actions is None else None
        store = actions.store if actions is not None else self._own_store
        assert store is not None
        self.incidents = IncidentService(
            store,
            live.inventory,
            live.alerts.rules.incidents,
            operator=operator,
            role=role,
            fleet=live.fleet,
            scheduler=scheduler,
        )
        self._scheduler = scheduler
        slurm = allocations or (lambda: None)
        # Each archived minute carries every node's tenancy then (tenant, GPUs a job held, GPUs unhealthy).
        self.archive = ArchiveService(live.fleet, data_dir, tenancy=lambda: minute_tenancy(live.fleet.views(), slurm()))
        self.log = ShiftLog(
            store, live.inventory, self.archive.archive, fleet=live.fleet, clock=shifts, bmc_events=bmc_events
        )

    def usage_by_day(self, since_day: str, until_day: str, tenant: str) -> list[tuple[str, float, float, float, float]]:
        """A tenant's accelerator-hours per day from the archive (disk: the window calls it from a worker)."""
        archive = self.archive.archive
        return archive.usage_by_day(since_day, until_day, tenant) if archive is not None else []

    def accounting(self, since_day: str, until_day: str, tenant: str) -> AccountingComparison:
        """The tenant's allocated accelerator-hours from the archive beside Slurm's own GPU-hours of its account
        (sacct): disk and network, so the window calls it from a worker."""
        archive = self.archive.archive
        rows = archive.usage(since_day, until_day, tenant) if archive is not None else []
        scheduler = self._scheduler() if self._scheduler is not None else None
        ask = scheduler.gpu_hours if scheduler is not None else None
        return compare_with(tenant, since_day, until_day, totals(rows, tenant).allocated, ask, time.time())

    @property
    def problems(self) -> list[str]:
        """Why the shift's record is not being kept right now, in words (status bar, ``poll``)."""
        return [p for p in (self.incidents.problem, self.archive.problem, self.archive.loss) if p]

    def start(self) -> None:
        self.incidents.start()
        self.archive.start()

    def stop(self) -> None:
        self.incidents.stop()
        self.archive.stop()
        if self._own_store is not None:
            self._own_store.close()


class WindowServices:
    """Beside the live fleet and the actions, what the window needs running: the scheduler watch, which reads
    Slurm's node states into the fleet model every 30 s, and again as soon as an action ends."""

    def __init__(self, live: LiveFleet, actions: ActionService, shifts: ShiftClock | None = None) -> None:
        self.live = live
        self.actions = actions
        self.scheduler_watch = SchedulerWatch(actions.inventory, live.fleet, actions.engines)
        self.shift = ShiftServices(
            live,
            actions.data_dir,
            actions=actions,
            operator=actions.operator,
            role=actions.role,
            scheduler=actions.engines.scheduler,
            bmc_events=self._bmc_events,
            shifts=shifts,
            allocations=lambda: self.scheduler_watch.allocations,
        )
        actions.runner.add_listener(self._action_changed)
        # Moves between tenants: a rewritten inventory reaches the fleet model, and Slurm is read again.
        self.moves = TenantMoves(actions, live.fleet, refresh=self.scheduler_watch.refresh_now)

    def _bmc_events(self, node: str) -> list[tuple[float, str, str]]:
        """The node's BMC event log (network: the shift log calls it from the window's worker)."""
        inventory = self.actions.inventory
        if node not in inventory.names:
            raise BmcUnknown(f"{node} is not in the inventory {inventory.path.name}, so its BMC is unknown")
        client = self.actions.engines.bmc(inventory.node(node))
        if client is None:
            raise BmcUnknown(f"{node} has no BMC in the inventory {inventory.path.name}")
        return client.event_log()

    def _action_changed(self, status: ActionStatus) -> None:
        if status.finished:
            self.scheduler_watch.refresh_now()

    def start(self) -> None:
        self.scheduler_watch.start()
        self.shift.start()

    def close(self) -> None:
        self.scheduler_watch.stop()
        self.shift.stop()
        self.actions.close()
