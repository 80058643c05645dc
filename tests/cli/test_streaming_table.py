"""Streaming ``poll``'s text (issue 12.10): to a log or a pipe, only the nodes whose row changed, under a
line saying when and how many; on a terminal, the table redrawn in place."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from console.cli_poll import StreamingTable
from console.core.inventory import Inventory, NodeSpec
from console.core.telemetry.fleet import FleetModel
from console.core.telemetry.samples import AcceleratorSample, NodeState, ParsedLine, Vendor


def _fleet() -> FleetModel:
    fleet = FleetModel(Inventory(Path("fleet.toml"), tuple(NodeSpec(name=f"n{i}", host="h") for i in range(1, 4))))
    for name in fleet.names:
        fleet.set_state(name, NodeState.UP)
        _reading(fleet, name, 40.0)
    return fleet


def _reading(fleet: FleetModel, name: str, utilisation: float) -> None:
    sample = AcceleratorSample(index=0, vendor=Vendor.NVIDIA, utilization_pct=utilisation, temperature_c=50.0)
    fleet.ingest(name, [ParsedLine(sample=sample)], time.time())


def test_to_a_pipe_only_the_rows_that_changed_are_printed(capsys: Any) -> None:
    fleet = _fleet()
    table = StreamingTable(terminal=False)
    table.show(fleet.views())
    first = capsys.readouterr().out.splitlines()
    assert "3 of 3 nodes changed" in first[0] and first[1].startswith("NODE") and len(first) == 5
    table.show(fleet.views())
    assert capsys.readouterr().out == ""  # nothing changed: nothing printed
    _reading(fleet, "n2", 95.0)
    table.show(fleet.views())
    again = capsys.readouterr().out.splitlines()
    assert "1 of 3 nodes changed" in again[0] and len(again) == 3 and again[2].startswith("n2")


def test_on_a_terminal_the_table_is_redrawn_in_place(capsys: Any) -> None:
    table = StreamingTable(terminal=True)
    table.show(_fleet().views())
    table.show(_fleet().views())
    out = capsys.readouterr().out
    assert out.count("\x1b[H\x1b[2J") == 2 and out.count("NODE") == 2
