"""The telemetry pipeline: lines from the reader thread are parsed on its own thread into the fleet model,
kernel-log lines become XID records, a parser that raises is an error in words, and the queue is bounded
(lines past it are dropped and counted, never queued)."""

from __future__ import annotations

import time
from pathlib import Path

from console.core.alerts.rules import AlertEngine
from console.core.inventory import parse_inventory
from console.core.telemetry.fleet import FleetModel
from console.core.telemetry.samples import NodeState, ParsedLine
from console.core.vendors.nvidia import CsvLines
from console.services.pipeline import MAX_QUEUED_LINES, TelemetryPipeline
from tests.helpers.fakes import nvidia_line
from tests.helpers.live import wait_for


def _line(index: int, utilization: str = "87") -> str:
    return nvidia_line(
        count="2",
        index=str(index),
        uuid=f"GPU-{index}",
        utilization_gpu=utilization,
        pci_bus_id=f"00000000:{index + 0x10:02X}:00.0",
    )


def _pipeline() -> tuple[TelemetryPipeline, FleetModel]:
    inventory = parse_inventory('[[node]]\nname = "gpu-001"\nhost = "10.0.0.1"\n', Path("fleet.toml"))
    fleet = FleetModel(inventory)
    fleet.set_state("gpu-001", NodeState.UP, None, None)
    pipeline = TelemetryPipeline(fleet, alerts=AlertEngine())
    pipeline.set_parser("gpu-001", CsvLines())
    return pipeline, fleet


def test_lines_reach_the_model_parsed_off_the_reader_thread() -> None:
    pipeline, fleet = _pipeline()
    pipeline.start()
    try:
        pipeline.submit("gpu-001", [_line(0), _line(1, "12")], 1.0)
        wait_for("two accelerators", lambda: fleet.view("gpu-001").accelerator_count == 2)
        assert fleet.view("gpu-001").max_utilization == 87.0
    finally:
        pipeline.stop()


def test_kernel_lines_become_xid_records_mapped_to_the_gpu_by_bus_id() -> None:
    pipeline, fleet = _pipeline()
    pipeline.start()
    try:
        pipeline.submit("gpu-001", [_line(0), _line(1)], 1.0)
        wait_for("the stream", lambda: fleet.view("gpu-001").accelerator_count == 2)
        pipeline.submit_kernel(
            "gpu-001", ["2025-10-25T09:14:03+0000 gpu-001 kernel: NVRM: Xid (PCI:0000:11:00): 79, fallen off"], 2.0
        )
        record = wait_for("the XID", lambda: fleet.view("gpu-001").xids)[0]
        assert (record.accelerator, record.event.code) == (1, 79)
    finally:
        pipeline.stop()


class _Broken:
    def parse_lines(self, lines: object) -> list[ParsedLine]:
        raise ValueError("a parser bug")

    def finish(self) -> list[ParsedLine]:
        return []


def test_a_parser_that_raises_is_an_error_in_words_and_the_pipeline_goes_on() -> None:
    pipeline, fleet = _pipeline()
    pipeline.set_parser("gpu-001", _Broken())
    pipeline.start()
    try:
        pipeline.submit("gpu-001", ["whatever"], 1.0)
        view = wait_for("the parse error", lambda: (v := fleet.view("gpu-001")).state == NodeState.PARSE_ERROR and v)
        assert "parser failed (ValueError)" in (view.error or "")
        pipeline.set_parser("gpu-001", CsvLines())
        pipeline.submit("gpu-001", [_line(0)], 2.0)
        wait_for("a reading after the bug", lambda: fleet.view("gpu-001").accelerator_count == 1)
    finally:
        pipeline.stop()


def test_lines_past_the_bound_are_dropped_and_counted_not_queued() -> None:
    pipeline, _ = _pipeline()  # not started: nothing drains the queue
    pipeline.submit("gpu-001", ["x"] * MAX_QUEUED_LINES, 1.0)
    pipeline.submit("gpu-001", ["y"] * 10, 1.0)
    pipeline.submit_kernel("gpu-001", ["z"] * 5, 1.0)
    assert pipeline.dropped_lines == 15


def test_lines_that_arrived_before_stop_are_parsed_in_the_order_they_came() -> None:
    pipeline, fleet = _pipeline()
    pipeline.submit("gpu-001", [_line(0, "10")], 1.0)
    pipeline.submit("gpu-001", [_line(0, "20")], 2.0)
    pipeline.submit("gpu-001", [_line(0, "30")], 3.0)  # three batches of one node before the worker runs
    pipeline.start()
    pipeline.stop()  # takes what arrived, then ends
    assert fleet.view("gpu-001").max_utilization == 30.0  # the last one is the latest, not an earlier one
    pipeline.submit("gpu-001", ["y"] * (MAX_QUEUED_LINES - 1), 4.0)
    assert pipeline.dropped_lines == 0  # the bound counts only what waits, not what was taken


def test_a_kernel_event_is_an_alert_without_waiting_for_the_next_rules_tick() -> None:
    from console.services.pipeline import TICK_LARGE_FROM_NODES, TICK_LARGE_S, tick_for

    assert (tick_for(TICK_LARGE_FROM_NODES - 1), tick_for(TICK_LARGE_FROM_NODES)) == (1.0, TICK_LARGE_S)
    pipeline, fleet = _pipeline()
    pipeline.tick_s = 3600.0  # the periodic run of the rules never comes within the test
    pipeline.start()
    try:
        pipeline.submit("gpu-001", [_line(0), _line(1)], 1.0)
        wait_for("the stream", lambda: fleet.view("gpu-001").accelerator_count == 2)
        assert fleet.view("gpu-001").alerts == ()
        pipeline.submit_kernel(
            "gpu-001",
            ["2025-10-25T09:14:03+0000 gpu-001 kernel: NVRM: Xid (PCI:0000:11:00): 79, fallen off"],
            time.time(),  # seen now: the rules look at recent XIDs
        )
        alert = wait_for("the XID's alert", lambda: fleet.view("gpu-001").alerts, timeout=5.0)[0]
        assert (alert.rule, alert.accelerator) == ("xid_79", 1)
    finally:
        pipeline.stop()
