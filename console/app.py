"""The composition root: builds the services for an inventory and wires them together. Nothing runs here.

Kept free of Qt so the headless commands never load it; the window receives a :class:`LiveFleet` and an
:class:`~console.services.actions.ActionService` and only ever reads the fleet model.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from console.core.action_runner import ActionStatus
from console.core.alerts import AlertEngine, AlertRules
from console.core.fleet import FleetModel
from console.core.inventory import Inventory
from console.core.pipeline import TelemetryPipeline
from console.services.actions import ActionService
from console.services.scheduler_watch import SchedulerWatch
from console.services.slow_path import SlowPathService, detail_interval_for
from console.services.telemetry import TelemetryService
from console.transport.hub import HubSettings, StreamHub
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
    ) -> None:
        self.inventory = inventory
        self.telemetry = TelemetryService(inventory, ssh, hub_settings, clock, alert_rules, follow_kernel)
        interval = detail_interval_s or detail_interval_for(len(inventory.nodes))
        self.details = SlowPathService(inventory, self.fleet, self.hub, interval) if details else None

    @property
    def fleet(self) -> FleetModel:
        return self.telemetry.fleet

    @property
    def hub(self) -> StreamHub:
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


class WindowServices:
    """Beside the live fleet and the actions, what the window needs running: the scheduler watch, which reads
    Slurm's node states into the fleet model every 30 s, and again as soon as an action ends."""

    def __init__(self, live: LiveFleet, actions: ActionService) -> None:
        self.live = live
        self.actions = actions
        self.scheduler_watch = SchedulerWatch(actions.inventory, live.fleet, actions.engines)
        actions.runner.add_listener(self._action_changed)

    def _action_changed(self, status: ActionStatus) -> None:
        if status.finished:
            self.scheduler_watch.refresh_now()

    def start(self) -> None:
        self.scheduler_watch.start()

    def close(self) -> None:
        self.scheduler_watch.stop()
        self.actions.close()
