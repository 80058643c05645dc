"""The BMC's event log (Redfish LogServices → Entries) for a node's timeline: read from the demo's
simulated BMC, bounded and oldest first; the real Redfish emulator (sushy), which has no LogServices, is
a clear "no event log", not an error page; hostile entries are cut or skipped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import pytest

from console.core.inventory import BmcSpec
from console.engines.redfish import BmcError, RedfishClient
from console.sim.model import XID_GPU, XID_NODE, build_fleet
from console.sim.redfish import SimBmc
from tests.helpers.fakes import FakeClock


@pytest.fixture
def sim_bmc(tmp_path: Path) -> Iterator[tuple[SimBmc, FakeClock]]:
    clock = FakeClock(1_790_000_000.0)
    bmc = SimBmc(build_fleet(4), tmp_path, set_power=lambda _name, _on: None, clock=clock)
    bmc.start()
    yield bmc, clock
    bmc.stop()


def _client(bmc: SimBmc, node: str) -> RedfishClient:
    spec = BmcSpec(url=bmc.url, user=bmc.user, password_env="PW", ca_file=bmc.ca, system=node)
    return RedfishClient(spec, node, environ={"PW": bmc.password})


def test_the_simulated_bmc_event_log_is_read_oldest_first_with_the_gpu_fault(sim_bmc: tuple[SimBmc, FakeClock]) -> None:
    bmc, clock = sim_bmc
    sick = f"gpu-{XID_NODE + 1:03d}"
    node = next(n for n in bmc.fleet if n.name == sick)
    while not __import__("console.sim.details", fromlist=["xid_window"]).xid_window(node, clock()):
        clock.advance(10)
    bmc.tick()
    entries = _client(bmc, sick).event_log()
    assert [e[1] for e in entries] == ["ok", "critical"]
    assert entries[0][0] <= entries[1][0] and entries[1][2] == (
        f"Log1: PCIe fatal error on the slot of GPU {XID_GPU}: the device stopped responding."
    )
    assert [e[1] for e in _client(bmc, "gpu-001").event_log()] == ["ok"]


def test_the_real_redfish_emulator_has_no_event_log_and_says_so(bmc: Any) -> None:
    spec = BmcSpec(url=bmc.url, user=bmc.user, password_env="PW", ca_file=bmc.ca, system="node1")
    client = RedfishClient(spec, "node1", environ={"PW": bmc.password})
    with pytest.raises(BmcError, match=r"has no event log \(its system lists no LogServices\)"):
        client.event_log()


class _Hostile(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        bodies = {
            "/redfish/v1/Systems": {"Members": [{"@odata.id": "/redfish/v1/Systems/n1"}]},
            "/redfish/v1/Systems/n1": {"Id": "n1", "LogServices": {"@odata.id": "/redfish/v1/Systems/n1/LogServices"}},
            "/redfish/v1/Systems/n1/LogServices": {
                "Members": [{"@odata.id": "/redfish/v1/Systems/n1/LogServices/L"}, "x"]
            },
            "/redfish/v1/Systems/n1/LogServices/L": {
                "Id": "L",
                "Entries": {"@odata.id": "/redfish/v1/Systems/n1/LogServices/L/E"},
            },
            "/redfish/v1/Systems/n1/LogServices/L/E": {
                "Members": [
                    {"Created": "2026-11-29T10:00:00Z", "Severity": "Warning", "Message": "x" * 5000},
                    {"Created": "yesterday", "Message": "no time: skipped"},
                    {"Created": "2026-11-29T09:00:00+00:00", "MessageId": "Only.An.Id"},
                    "not an entry",
                    *[{"Created": f"2026-11-28T{h:02d}:00:00Z", "Message": f"old {h}"} for h in range(24)],
                ]
            },
        }
        body = json.dumps(bodies.get(self.path, {})).encode()
        self.send_response(200 if self.path in bodies else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_hostile_entries_are_cut_skipped_and_bounded() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = RedfishClient(BmcSpec(url=f"http://127.0.0.1:{server.server_address[1]}"), "n1", environ={})
        entries = client.event_log(limit=5)
    finally:
        server.shutdown()
        server.server_close()
    assert len(entries) == 5 and entries == sorted(entries)
    newest = entries[-1]
    assert newest[1] == "warning" and len(newest[2]) == len("L: ") + 400
    assert entries[-2][2] == "L: Only.An.Id"
    assert all("no time" not in e[2] for e in entries)
