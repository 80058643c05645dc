"""The BMC password goes only to the BMC's own origin: a hostile BMC that redirects, or hands out links to
another host or to plain http://, gets a refusal naming the BMC, the target and why; the other host never
sees a request, let alone the Authorization header. Plain HTTP and verify_tls = false show in the preview
and in the audit row.

The hostile BMC is a small HTTP server of the test's own (no real BMC misbehaves on purpose); a second
server stands for the attacker's host and records every request it gets.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from console.core.actions.planning import ActionKind, ActionRequest, plan_action
from console.core.actions.runs import RunnerSettings
from console.core.inventory import BmcSpec, parse_inventory
from console.core.records.store import Store
from console.engines.redfish import BmcError, RedfishClient
from console.engines.registry import EngineExecutor, Engines
from console.services.action_runner import ActionRunner
from console.transport.ssh import SshSettings

PASSWORD = "s3cret-bmc-password"


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.seen = []  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def seen(self) -> list[tuple[str, str, str | None]]:
        return self.httpd.seen  # type: ignore[attr-defined,no-any-return]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class _Recorder(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.server.seen.append((self.command, self.path, self.headers.get("Authorization")))  # type: ignore[attr-defined]
        body = b'{"Members": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = _answer

    def log_message(self, *_args: Any) -> None:
        pass


def _hostile(behaviour: str, elsewhere: str) -> type[BaseHTTPRequestHandler]:
    class Hostile(BaseHTTPRequestHandler):
        def _json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(data).encode()
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _answer(self) -> None:
            self.server.seen.append((self.command, self.path, self.headers.get("Authorization")))  # type: ignore[attr-defined]
            if behaviour == "redirect":
                self._json({}, 302, {"Location": elsewhere + self.path})
            elif self.path == "/redfish/v1/Systems":
                member = {
                    "foreign-member": elsewhere + "/redfish/v1/Systems/1",
                    "userinfo-target": "/redfish/v1/Systems/1",
                    "good": "/redfish/v1/Systems/1",
                }[behaviour]
                self._json({"Members": [{"@odata.id": member}]})
            elif self.path == "/redfish/v1/Systems/1":
                target = "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset"
                if behaviour == "userinfo-target":
                    # Glued to the BMC's URL as text, "@host" would make the BMC's address a user name.
                    target = "@" + elsewhere.removeprefix("http://") + "/steal"
                self._json(
                    {
                        "Id": "1",
                        "PowerState": "On",
                        "IndicatorLED": "Off",
                        "Actions": {
                            "#ComputerSystem.Reset": {
                                "target": target,
                                "ResetType@Redfish.AllowableValues": ["On", "ForceOff", "ForceRestart"],
                            }
                        },
                    }
                )
            else:
                self._json({}, 204)

        do_GET = do_POST = do_PATCH = _answer

        def log_message(self, *_args: Any) -> None:
            pass

    return Hostile


@pytest.fixture
def attacker() -> Iterator[_Server]:
    server = _Server(_Recorder)
    yield server
    server.stop()


def _bmc(behaviour: str, elsewhere: str) -> _Server:
    return _Server(_hostile(behaviour, elsewhere))


def _client(server: _Server) -> RedfishClient:
    spec = BmcSpec(url=server.url, user="admin", password_env="BMC_PW")
    return RedfishClient(spec, "node1", environ={"BMC_PW": PASSWORD})


@pytest.mark.parametrize("behaviour", ["redirect", "foreign-member", "userinfo-target"])
def test_a_bmc_that_points_elsewhere_never_gets_the_password_sent_there(behaviour: str, attacker: _Server) -> None:
    bmc = _bmc(behaviour, attacker.url)
    try:
        client = _client(bmc)
        with pytest.raises(BmcError) as caught:
            client.reset_call("ForceRestart")
        message = str(caught.value)
        assert bmc.url in message and "node1" in message and "not" in message
        assert "password is sent only to" in message
        assert attacker.url.removeprefix("http://") in message  # the refused target is named
        assert attacker.seen == []
        assert bmc.seen and all(auth is not None for _, _, auth in bmc.seen)  # its own origin does get it
    finally:
        bmc.stop()


def test_a_plain_http_link_from_an_https_bmc_is_refused() -> None:
    client = RedfishClient(BmcSpec(url="https://bmc.dc1:8443"), "node1")
    for link in ("http://bmc.dc1:8443/x", "https://bmc.dc1/x", "https://evil/x", "//evil/x", "https://a@bmc.dc1:8443/"):
        with pytest.raises(BmcError, match="not its own origin"):
            client.resolve(link)
    assert client.resolve("/redfish/v1") == "https://bmc.dc1:8443/redfish/v1"
    assert client.resolve("https://BMC.dc1:8443/redfish/v1/Systems/1") == "https://BMC.dc1:8443/redfish/v1/Systems/1"


def test_plain_http_and_unverified_tls_show_in_the_preview_and_the_audit_row(tmp_path: Path) -> None:
    bmc = _bmc("good", "http://127.0.0.1:9")
    try:
        inventory = parse_inventory(
            f"""
[[node]]
name = "node1"
host = "127.0.0.1"
bmc = {{ url = "{bmc.url}", user = "admin", password_env = "BMC_PW" }}
[[node]]
name = "node2"
host = "127.0.0.1"
bmc = {{ url = "https://127.0.0.1:9", verify_tls = false }}
""",
            tmp_path / "f.toml",
        )
        engines = Engines(inventory, SshSettings(ssh_config=None), environ={"BMC_PW": PASSWORD})
        plan = plan_action(
            ActionRequest(ActionKind.LOCATE, ("node1",), operator="alice", led="blink"), inventory, engines
        )
        assert plan.allowed, plan.refusals
        assert any("plain HTTP" in w and "node1" in w for w in plan.warnings)
        assert "plain HTTP" in plan.describe()
        store = Store(tmp_path / "data" / "console.sqlite3")
        runner = ActionRunner(
            store, EngineExecutor(engines), engines, inventory, settings=RunnerSettings(verify_timeout_s=1, poll_s=0.1)
        )
        [status] = runner.submit(plan)
        assert runner.wait([status.id], timeout=30)
        runner.shutdown()
        assert "plain HTTP" in store.row(status.id).params["bmc_security"]
        assert any(method == "PATCH" for method, _, _ in bmc.seen)
        store.close()

        unverified = plan_action(
            ActionRequest(ActionKind.LOCATE, ("node2",), operator="alice", led="on"), inventory, engines
        )
        assert any("TLS verification is OFF" in w for w in unverified.warnings)
        engines.close()
    finally:
        bmc.stop()


class _Trickler(BaseHTTPRequestHandler):
    """A BMC that never finishes an answer: headers slowly, or a body a byte at a time, for ever."""

    def do_GET(self) -> None:
        try:
            if self.path.endswith("/headers"):
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                while True:
                    self.wfile.write(b"X")
                    self.wfile.flush()
                    threading.Event().wait(0.2)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            while True:
                self.wfile.write(b" ")
                self.wfile.flush()
                threading.Event().wait(0.2)
        except OSError:
            return

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.mark.parametrize("path", ["/redfish/v1/body", "/redfish/v1/headers"])
def test_a_bmc_that_trickles_its_answer_is_cut_at_the_deadline_of_the_whole_call(path: str) -> None:
    server = _Server(_Trickler)
    try:
        client = RedfishClient(BmcSpec(url=server.url), "gpu-001", environ={}, timeout_s=1.0)
        errors: list[BaseException] = []

        def call() -> None:
            try:
                client.request("GET", path)
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                errors.append(exc)

        caller = threading.Thread(target=call, daemon=True)
        caller.start()
        caller.join(timeout=20)  # a hang detector: before the fix this call never ended
        assert not caller.is_alive(), "the call to a trickling BMC was still running after 20 s"
        (error,) = errors
        assert isinstance(error, BmcError) and "gave no complete answer within 1 s" in str(error)
    finally:
        server.stop()


def _rewriting_proxy(emulator: Any, elsewhere: str) -> _Server:
    """The real emulator behind a BMC gone bad: every request is passed on to sushy-emulator (credentials
    and all), and every ComputerSystem it returns names a reset target on ``elsewhere``."""
    import ssl
    import urllib.error
    import urllib.request

    context = ssl.create_default_context(cafile=str(emulator.ca))

    class Proxy(BaseHTTPRequestHandler):
        def _pass_on(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k in ("Authorization", "Content-Type", "Accept")}
            request = urllib.request.Request(emulator.url + self.path, body, headers, method=self.command)
            try:
                with urllib.request.urlopen(request, timeout=10, context=context) as answer:
                    status, data = answer.status, answer.read()
            except urllib.error.HTTPError as exc:
                status, data = exc.code, exc.read()
            if self.command == "GET" and b"#ComputerSystem.Reset" in data:
                document = json.loads(data)
                document["Actions"]["#ComputerSystem.Reset"]["target"] = elsewhere + "/redfish/v1/steal"
                data = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _pass_on

        def log_message(self, *_args: Any) -> None:
            pass

    return _Server(Proxy)


def test_a_foreign_reset_target_from_the_real_emulator_is_refused_in_words_with_exit_3_and_an_audit_row(
    bmc: Any, attacker: _Server, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from console.cli import main
    from console.core.records.store import Store
    from tests.helpers.sshd import free_port

    proxy = _rewriting_proxy(bmc, attacker.url)
    try:
        inventory = tmp_path / "fleet.toml"
        inventory.write_text(
            f'[[node]]\nname = "node1"\nhost = "127.0.0.1"\nport = {free_port()}\n'
            f'bmc = {{ url = "{proxy.url}", user = "{bmc.user}", password_env = "BMC_PW", system = "node1" }}\n'
        )
        monkeypatch.setenv("BMC_PW", bmc.password)
        monkeypatch.setenv("FLEET_CONSOLE_PREFERENCES", str(tmp_path / "preferences.toml"))
        data = tmp_path / "data"
        status = main(
            [
                "action",
                "power",
                "node1",
                "--reset-type",
                "ForceRestart",
                "--reason",
                "hung at POST",
                "--inventory",
                str(inventory),
                "--data-dir",
                str(data),
                "--ssh-config",
                "/dev/null",
                "--operator",
                "alice",
                "--yes",
            ]
        )
        out = capsys.readouterr()
        assert status == 3, out.out + out.err
        refusal = f"REFUSED: node1: the ForceRestart reset cannot be sent to BMC {proxy.url}"
        assert refusal in out.out and attacker.url.removeprefix("http://") in out.out
        assert "password is sent only to" in out.out and "Traceback" not in out.err
        assert attacker.seen == []  # the password never went to the other origin
        store = Store(data / "console.sqlite3", readonly=True)
        [row] = store.rows()
        store.close()
        assert (row.kind, row.node, row.operator, row.state) == ("power", "node1", "alice", "refused")
        assert row.message is not None and "not its own origin" in row.message and row.reason == "hung at POST"
    finally:
        proxy.stop()
