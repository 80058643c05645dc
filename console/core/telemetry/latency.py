"""How late readings reach the fleet model, kept for the bench (``FleetModel.latency``; None otherwise)."""

from __future__ import annotations

from console.core.telemetry.samples import NotAvailable


class LatencyRecorder:
    """Keeps (console receive → model) and (node clock → model) delays, for the bench."""

    def __init__(self, limit: int = 2_000_000) -> None:
        self.limit = limit
        self.node_to_model: list[float] = []
        self.receive_to_model: list[float] = []

    def record(self, node_time: float | NotAvailable, received_at: float, stored_at: float) -> None:
        if len(self.receive_to_model) >= self.limit:
            return
        self.receive_to_model.append(stored_at - received_at)
        if not isinstance(node_time, NotAvailable):
            self.node_to_model.append(stored_at - node_time)
