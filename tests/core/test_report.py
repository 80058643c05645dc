"""The public ``poll --json`` record and ``poll``'s text table, from a fleet model fed by hand (fake clock):
the contract's first fields, accelerators only while the node's figures are current, not-available values
as null with the tool's words kept out of numbers, and the slow path's fields null until it has looked."""

from __future__ import annotations

import json
from pathlib import Path

from console.core.inventory import parse_inventory
from console.core.records.poll_record import node_record, text_table
from console.core.telemetry.details import HealthReport
from console.core.telemetry.fleet import FleetModel
from console.core.telemetry.samples import AcceleratorSample, NodeState, NotAvailable, ParsedLine, Vendor

NOW = 1_764_000_000.0


def _fleet() -> FleetModel:
    text = '[[node]]\nname = "gpu-001"\nhost = "10.0.0.1"\nrack = "R01"\ntenant = "acme"\n'
    text += '[[node]]\nname = "gpu-002"\nhost = "10.0.0.2"\n'
    fleet = FleetModel(parse_inventory(text, Path("fleet.toml")), clock=lambda: NOW)
    fleet.set_state("gpu-001", NodeState.UP, None, "SHA256:x")
    samples = [
        AcceleratorSample(
            index=0,
            vendor=Vendor.NVIDIA,
            utilization_pct=40.0,
            temperature_c=61.0,
            power_w=300.0,
            count=2,
            uuid="GPU-a",
        ),
        AcceleratorSample(
            index=1,
            vendor=Vendor.NVIDIA,
            utilization_pct=NotAvailable("[N/A]"),
            temperature_c=70.0,
            power_w=NotAvailable("[Unknown Error]"),
            count=2,
            uuid="GPU-b",
        ),
    ]
    fleet.ingest("gpu-001", [ParsedLine(sample=s) for s in samples], NOW - 1)
    fleet.set_state("gpu-002", NodeState.UNREACHABLE, "cannot reach 10.0.0.2: connection refused", None)
    return fleet


def test_a_streaming_node_has_its_accelerators_and_not_available_values_are_null() -> None:
    record = node_record(_fleet().view("gpu-001"), NOW)
    json.dumps(record)  # the record is JSON as it is
    assert (record["node"], record["state"], record["error"], record["rack"], record["tenant"]) == (
        "gpu-001",
        "up",
        None,
        "R01",
        "acme",
    )
    first, second = record["accelerators"]
    assert (first["utilization_pct"], first["temperature_c"]) == (40.0, 61.0)
    assert second["utilization_pct"] is None and second["power_w"] is None and second["temperature_c"] == 70.0
    assert record["node_health"] is None and record["driver_version"] is None  # no slow-path look yet


def test_an_unreachable_node_lists_no_accelerators_and_says_why() -> None:
    record = node_record(_fleet().view("gpu-002"), NOW)
    assert record["accelerators"] == [] and record["state"] == "unreachable"
    assert "connection refused" in record["error"]


def test_after_a_slow_path_look_the_node_health_and_kernel_log_are_filled() -> None:
    fleet = _fleet()
    fleet.apply_report("gpu-001", HealthReport(taken_at=NOW - 5, kernel_log="read"))
    record = node_record(fleet.view("gpu-001"), NOW)
    assert record["kernel_log"] == "read" and record["node_health"] is not None
    fleet.set_kernel_follow("gpu-001", "following (journalctl)")
    assert node_record(fleet.view("gpu-001"), NOW)["kernel_log"] == "following (journalctl)"


def test_the_text_table_has_the_windows_columns_and_words_with_the_issue_last() -> None:
    fleet = _fleet()
    fleet.set_scheduler_states({"gpu-001": "MIXED+DRAIN", "gpu-002": "DOWN+NOT_RESPONDING"})
    lines = text_table(fleet.views()).splitlines()
    assert lines[0].split() == [
        "NODE",
        "STATE",
        "ALERTS",
        "SLURM",
        "ACCEL.",
        "UTIL",
        "avg/max",
        "TEMP",
        "max",
        "POWER",
        "ISSUE",
    ]
    assert lines[1].startswith("gpu-001") and "draining" in lines[1] and "40%/40%" in lines[1]
    assert lines[2].startswith("gpu-002") and "down · not responding" in lines[2]
    assert lines[2].endswith("connection refused")


def test_power_reads_as_the_window_says_it() -> None:
    from console.core.records.poll_record import power_words

    assert power_words(682.0) == "682 W" and power_words(5600.0) == "5.60 kW" and power_words(None) == "-"


def test_the_alerts_column_says_the_worst_and_how_many_more_and_stamps_read_back() -> None:
    from console.core.alerts.config import Severity, default_rules
    from console.core.alerts.rules import Alert
    from console.core.records.poll_record import alert_words
    from console.core.when import iso_utc, parse_iso

    fleet = _fleet()

    class Given:
        rules = default_rules()

        def evaluate(self, facts: object) -> dict[str, tuple[Alert, ...]]:
            return {
                "gpu-001": (
                    Alert("gpu-001", "xid_79", 6, Severity.CRITICAL, "GPU 6 off the bus", {}, NOW, NOW),
                    Alert("gpu-001", "hot", 2, Severity.WARNING, "GPU 2 at 88 °C", {}, NOW, NOW),
                ),
                "gpu-002": (),
            }

    fleet.evaluate_alerts(Given())  # type: ignore[arg-type]
    assert alert_words(fleet.view("gpu-001")) == "critical: xid 79 +1"
    assert alert_words(fleet.view("gpu-002")) == ""
    assert "critical: xid 79 +1" in text_table(fleet.views())
    assert parse_iso(iso_utc(1_764_400_000.25)) == 1_764_400_000.25
