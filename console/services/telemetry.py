"""The live telemetry service: one SSH stream per node (the hub), its lines parsed off the reader thread
(the pipeline) into the fleet model, the alert rules run over it, and each NVIDIA node's kernel log
followed on the same connection. In big fleets (``telemetry_workers``: from 500 nodes behind a window) the
connections and the parsing run in worker processes (services.telemetry_workers), and the parsed lines
come back to the same fleet model.
``start()`` returns at once; nothing blocks."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from console.core.alerts.config import AlertRules
from console.core.alerts.rules import AlertEngine
from console.core.inventory import Inventory
from console.core.parsers.xid import XidEvent
from console.core.telemetry.fleet import FleetModel
from console.core.telemetry.samples import NodeState, ParsedLine
from console.core.vendors import AUTO, sources_for
from console.services.pipeline import TelemetryPipeline, tick_for
from console.services.telemetry_workers import WINDOW_WORKER_NICE, WorkerHub, stream_hub, telemetry_workers
from console.transport.hub import StreamHub
from console.transport.hub_links import HubSettings, raise_fd_limit
from console.transport.ssh import SshSettings


class TelemetryService:
    """Keeps the fleet model current from every node's stream (a HubListener)."""

    def __init__(
        self,
        inventory: Inventory,
        ssh: SshSettings | None = None,
        hub_settings: HubSettings | None = None,
        clock: Callable[[], float] = time.time,
        alert_rules: AlertRules | None = None,
        follow_kernel: bool = True,
        workers: int | None = None,
        window: bool = False,
    ) -> None:
        """``workers``: telemetry worker processes (0: none, all in this process; None: by fleet size, and
        whether the ``window`` shares this process)."""
        self.inventory = inventory
        self.fleet = FleetModel(inventory, clock=clock)
        self.alerts = AlertEngine(alert_rules, clock=clock)
        self.pipeline = TelemetryPipeline(self.fleet, alerts=self.alerts, tick_s=tick_for(len(inventory.nodes)))
        self.sources = sources_for(inventory.nodes)
        for name, source in self.sources.items():
            self.fleet.set_source(name, source.name, source.vendor)
        self.workers = telemetry_workers(len(inventory.nodes), window=window) if workers is None else workers
        self.hub: StreamHub | WorkerHub
        if self.workers > 0:  # the workers parse; this process's pipeline only runs the rules
            nice = WINDOW_WORKER_NICE if window else 0
            self.hub = WorkerHub(list(inventory.nodes), self, self.workers, ssh, hub_settings, follow_kernel, nice)
        else:
            for name, source in self.sources.items():
                self.pipeline.set_parser(name, source.make_parser())
            self.hub = stream_hub(list(inventory.nodes), self.sources, self, ssh, hub_settings, follow_kernel)

    def start(self) -> None:
        raise_fd_limit()
        self.pipeline.start()
        self.hub.start()

    def stop(self) -> None:
        self.hub.stop()
        self.pipeline.stop()

    def reconnect(self, node: str) -> None:
        """Retry a node now instead of at its next backoff step (returns at once)."""
        if node in self.sources:
            self.hub.reconnect(node)

    # HubListener: called from transport threads.
    def on_state(self, node: str, state: NodeState, error: str | None, fingerprint: str | None) -> None:
        if error and error.startswith(AUTO.name):
            # The hub knows the script as "auto-detect"; once the node said which tool it runs, name that.
            detected = self.fleet.view(node).telemetry_source
            if detected and detected != AUTO.name:
                error = detected + error[len(AUTO.name) :]
        self.fleet.set_state(node, state, error, fingerprint)

    def on_lines(self, node: str, lines: Sequence[str], received_at: float) -> None:
        self.pipeline.submit(node, lines, received_at)

    def on_kernel_lines(self, node: str, lines: Sequence[str], received_at: float) -> None:
        self.pipeline.submit_kernel(node, lines, received_at)

    def on_kernel_state(self, node: str, state: str) -> None:
        self.fleet.set_kernel_follow(node, state)

    # WorkerListener: called from the worker processes' reader threads, with what they parsed.
    def on_parsed(self, node: str, parsed: Sequence[ParsedLine], received_at: float) -> None:
        self.fleet.ingest(node, parsed, received_at)

    def on_kernel_events(self, node: str, events: Sequence[XidEvent], seen_at: float) -> None:
        if events:
            self.fleet.add_kernel_events(node, events, seen_at)
            self.pipeline.tick_soon()
