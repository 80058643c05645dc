"""Each node's budget (issue 21.11), with a fake clock and fake channels: lines and bytes a second; a node
over budget again and again — in one stream or in bursts with quiet gaps — is said to flood and its
command stopped; a burst now and then is not; a tool whose index contradicts its count is refused."""

from __future__ import annotations

from pathlib import Path

from console.core.inventory import Inventory, NodeSpec
from console.core.parsers.nvidia_csv import NvidiaCsvParser
from console.core.telemetry.fleet import FleetModel
from console.core.telemetry.samples import NodeState
from console.transport.hub import StreamHub
from tests.helpers.fakes import FakeChannel, FakeClock, RecordingHubListener, nvidia_line, one_node_hub


def _hub(clock: FakeClock, listener: RecordingHubListener) -> StreamHub:
    hub = one_node_hub(clock, listener)
    link = hub._links["n1"]
    link.channel = FakeChannel()  # type: ignore[assignment]
    link.budget.reset(clock())
    link.byte_budget.reset(clock())
    return hub


def _feed(hub: StreamHub, clock: FakeClock, data: bytes) -> None:
    link = hub._links["n1"]
    link.buffer += data
    hub._split_lines(link, clock())


def _flooded(listener: RecordingHubListener) -> bool:
    return any(state == NodeState.COMMAND_FAILED and "flooding" in (error or "") for state, error in listener.states)


def test_bursts_of_fifty_thousand_lines_a_second_with_quiet_gaps_are_flooding() -> None:
    clock, listener = FakeClock(1000.0), RecordingHubListener()
    hub = _hub(clock, listener)
    try:
        for _ in range(5):
            for _ in range(250):  # 50,000 short lines, read 200 at a time as the selector does
                _feed(hub, clock, b"0, 1, x\n" * 200)
            clock.advance(1.0)
        assert _flooded(listener)
        assert listener.lines <= 1200 * 5
    finally:
        hub.stop()


def test_sixty_kilobyte_lines_are_held_to_a_megabyte_a_second_and_then_called_flooding() -> None:
    clock, listener = FakeClock(1000.0), RecordingHubListener()
    hub = _hub(clock, listener)
    try:
        for _ in range(50):  # 100 lines of 60 KB every 0.1 s: 60 MB a second
            _feed(hub, clock, (b"y" * 60_000 + b"\n") * 10)
            clock.advance(0.1)
        assert _flooded(listener)
        assert listener.lines * 60_000 <= 2 * (1 << 20) + 5 * (1 << 20)  # the burst, then a MiB a second at most
    finally:
        hub.stop()


def test_a_busy_node_that_goes_over_its_budget_once_is_not_flooding() -> None:
    clock, listener = FakeClock(1000.0), RecordingHubListener()
    hub = _hub(clock, listener)
    try:
        _feed(hub, clock, b"0, 1, x\n" * 2000)  # one burst over the budget (a whole dmesg, a first document)
        for _ in range(20):
            clock.advance(1.0)
            _feed(hub, clock, b"0, 1, x\n" * 8)  # then eight GPUs a second
        assert not _flooded(listener) and hub._links["n1"].flooding_since is None
    finally:
        hub.stop()


def test_a_line_whose_index_contradicts_its_count_is_refused_in_words_and_the_real_gpu_kept() -> None:
    fleet = FleetModel(Inventory(Path("f.toml"), (NodeSpec(name="n1", host="h"),)))
    parser = NvidiaCsvParser()
    fleet.set_state("n1", NodeState.UP)
    fleet.ingest("n1", [parser.parse_line(nvidia_line(index="0", count="1"))], 0.0)
    fleet.ingest("n1", [parser.parse_line(nvidia_line(index=str(i), count="1")) for i in range(1, 500)], 1.0)
    view = fleet.view("n1")
    assert [a.sample.index for a in view.accelerators] == [0]
    assert view.lines_rejected == 499
    assert "says it has 1 accelerator(s) but reports index 499" in (view.error or "")
