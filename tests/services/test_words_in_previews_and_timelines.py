"""Words where a person reads them: a node's timeline says why it has no BMC events (a node in the record but
not in the inventory — moved, renamed, retired — has no BMC the console knows, and that is not a failed
read); an action's preview names the open incident it will be recorded against."""

from __future__ import annotations

import time
from pathlib import Path

from console.app import LiveFleet, WindowServices
from console.core.inventory import parse_inventory
from console.services.actions import ActionService
from console.transport.ssh import SshSettings

NO_CONFIG = SshSettings(ssh_config=None, allow_agent=False, look_for_keys=False)


def test_a_node_not_in_the_inventory_says_its_bmc_is_unknown_not_a_raw_lookup_error(tmp_path: Path) -> None:
    inventory = parse_inventory('[[node]]\nname = "gpu-0001"\nhost = "10.0.0.1"\n', tmp_path / "fleet.toml")
    live = LiveFleet(inventory, NO_CONFIG)
    actions = ActionService(inventory, tmp_path / "data", NO_CONFIG, live=live, operator="sue")
    services = WindowServices(live, actions)  # nothing started: the timeline reads the record only
    try:
        now = time.time()
        gone = services.shift.log.timeline("gpu-0015", now - 3600, now)
        assert "gpu-0015 is not in the inventory fleet.toml, so its BMC is unknown" in gone.notes
        assert not any("could not be read" in note or "'gpu-0015'" in note for note in gone.notes)
        without_bmc = services.shift.log.timeline("gpu-0001", now - 3600, now)
        assert "gpu-0001 has no BMC in the inventory fleet.toml" in without_bmc.notes
    finally:
        services.close()
        live.stop()


def test_the_action_preview_names_the_open_incident_it_will_be_recorded_against(tmp_path: Path) -> None:
    from console.core.actions.planning import ActionKind, ActionRequest
    from console.core.records.incident_log import IncidentLog

    inventory = parse_inventory('[[node]]\nname = "gpu-0003"\nhost = "10.0.0.3"\n', tmp_path / "fleet.toml")
    live = LiveFleet(inventory, NO_CONFIG)
    actions = ActionService(inventory, tmp_path / "data", NO_CONFIG, live=live, operator="dana")
    try:
        incident, _ = IncidentLog(actions.store).open(
            nodes=["gpu-0003"], cause="xid_79", severity="critical", opened_by="rule:xid_79"
        )
        request = ActionRequest(ActionKind.DRAIN, ("gpu-0003",), "dana", reason="XID 79", ticket="INC-4471")
        plan = actions.plan(request)
        assert any(f"recorded against incident #{incident} (xid_79" in n and "INC-4471" in n for n in plan.notes)
        assert f"incident #{incident}" in plan.describe()
    finally:
        actions.close()
        live.stop()


def test_resumes_preview_warns_of_an_open_incident_a_live_critical_alert_and_a_locate_led_left_lit(
    tmp_path: Path,
) -> None:
    from console.core.actions.planning import ActionKind, ActionRequest
    from console.core.alerts.rules import AlertEngine
    from console.core.records.incident_log import IncidentLog
    from console.core.telemetry.samples import AcceleratorSample, NodeState, ParsedLine, Vendor

    inventory = parse_inventory(
        '[[node]]\nname = "gpu-0003"\nhost = "10.0.0.3"\n[[node]]\nname = "gpu-0004"\nhost = "10.0.0.4"\n',
        tmp_path / "fleet.toml",
    )
    live = LiveFleet(inventory, NO_CONFIG)
    actions = ActionService(inventory, tmp_path / "data", NO_CONFIG, live=live, operator="dana")
    try:
        incident, _ = IncidentLog(actions.store).open(
            nodes=["gpu-0003"], cause="xid_79", severity="critical", opened_by="rule:xid_79"
        )
        live.fleet.set_state("gpu-0003", NodeState.UP)
        hot = AcceleratorSample(index=0, vendor=Vendor.NVIDIA, temperature_c=105.0)
        live.fleet.ingest("gpu-0003", [ParsedLine(sample=hot)], time.time())
        clock = [time.time()]
        rules = AlertEngine(clock=lambda: clock[0])
        for _ in range(3):  # past every rule's hold time
            live.fleet.evaluate_alerts(rules)
            clock[0] += 600
        lit = actions.store.record_intent(
            operator="sam", kind="locate", node="gpu-0003", params={"led": "blink"}, reason=None, ticket=None,
            engine="redfish", host="bmc", command=[], session="s0",
        )  # fmt: skip
        actions.store.record_outcome(lit, state="done", message="BMC reports locate LED Blinking")
        plan = actions.plan(ActionRequest(ActionKind.RESUME, ("gpu-0003", "gpu-0004"), "dana"))
        warned = "\n".join(plan.warnings)
        assert f"gpu-0003 still has incident #{incident} open (xid_79, critical)" in warned
        assert "gpu-0003 has a live critical alert: " in warned
        assert "gpu-0003: locate LED still blinking since " in warned and f"(locate #{lit} by sam)" in warned
        assert "gpu-0004" not in warned  # nothing holds the other node back
        off = actions.store.record_intent(
            operator="sam", kind="locate", node="gpu-0003", params={"led": "off"}, reason=None, ticket=None,
            engine="redfish", host="bmc", command=[], session="s0",
        )  # fmt: skip
        actions.store.record_outcome(off, state="done", message="BMC reports locate LED Off")
        assert "locate LED" not in "\n".join(
            actions.plan(ActionRequest(ActionKind.RESUME, ("gpu-0003",), "dana")).warnings
        )
    finally:
        actions.close()
        live.stop()
