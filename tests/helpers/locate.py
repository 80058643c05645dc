"""A locate action that went through, recorded as the runner records one (for the LED's state)."""

from __future__ import annotations

from console.core.records.store import Store


def record_locate(store: Store, node: str, led: str, operator: str = "dana.k") -> None:
    action = store.record_intent(
        operator=operator, kind="locate", node=node, params={"led": led}, reason=None, ticket=None,
        engine="redfish", host="bmc", command=None, session="test",
    )  # fmt: skip
    store.record_outcome(action, state="done", message=f"BMC reports locate LED {led}", duration_s=1.0)
