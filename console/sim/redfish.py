"""The simulated fleet's BMC: one Redfish service over HTTPS (certificate from a demo CA made on first run),
basic auth, one ComputerSystem per node, shaped like the DMTF mockups in the shared fixtures: PowerState,
IndicatorLED, ``#ComputerSystem.Reset`` with ``ResetType@Redfish.AllowableValues``. Powering a node off
takes it off the simulated network until it is powered on again.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import ipaddress
import json
import secrets
import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from console.sim.model import XID_GPU, SimNode, xid_window

ALLOWED_RESETS: Final = ("On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "PowerCycle", "Nmi")
POWER_DELAY_S: Final = 3.0
BOOT_S: Final = 20.0


def ensure_tls(directory: Path) -> tuple[Path, Path, Path]:
    """A demo CA and a certificate for 127.0.0.1 signed by it, made once: (ca, cert, key)."""
    ca_path, cert_path, key_path = directory / "bmc-ca.pem", directory / "bmc-cert.pem", directory / "bmc-key.pem"
    if ca_path.exists() and cert_path.exists() and key_path.exists():
        return ca_path, cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fleet Console demo BMC CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


def ensure_password(path: Path) -> str:
    if not path.exists():
        path.write_text(secrets.token_urlsafe(18) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


class SimBmc:
    """All the simulated nodes' BMCs behind one HTTPS port (each node's inventory entry names its system)."""

    def __init__(
        self,
        fleet: list[SimNode],
        state_dir: Path,
        set_power: Callable[[str, bool], None],
        user: str = "admin",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.user = user
        self.password = ensure_password(state_dir / "bmc-password")
        self.ca, cert, key = ensure_tls(state_dir / "tls")
        self.clock = clock
        self.set_power = set_power
        self._lock = threading.Lock()
        self.systems: dict[str, dict[str, Any]] = {
            n.name: {"PowerState": "On", "IndicatorLED": "Off", "pending": None} for n in fleet
        }
        # Each system's event log (Redfish LogService "Log1", entries as DMTF LogEntry), newest last.
        self.events: dict[str, list[dict[str, Any]]] = {n.name: [] for n in fleet}
        self.fleet = fleet
        self._fault_logged: dict[str, float] = {}
        for node in fleet:
            self.log_event(node.name, "OK", "The system was powered on.", "Base.1.8.PowerOn")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="sim-bmc", daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def log_event(self, name: str, severity: str, message: str, message_id: str) -> None:
        entries = self.events[name]
        number = len(entries) + 1
        stamp = dt.datetime.fromtimestamp(self.clock(), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        entries.append(
            {
                "@odata.id": f"/redfish/v1/Systems/{name}/LogServices/Log1/Entries/{number}",
                "@odata.type": "#LogEntry.v1_9_0.LogEntry",
                "Id": str(number),
                "Name": f"Log Entry {number}",
                "EntryType": "Event",
                "Severity": severity,
                "Created": stamp,
                "Message": message,
                "MessageId": message_id,
            }
        )
        del entries[:-500]

    def tick(self) -> None:
        """Carry out pending power changes (real BMCs take seconds too); log the XID node's PCIe faults, as a
        real BMC's event log shows a GPU that fell off the bus."""
        now = self.clock()
        with self._lock:
            for node in self.fleet:
                if xid_window(node, now):
                    window = (now + node.seed) // 600
                    if self._fault_logged.get(node.name) != window:
                        self._fault_logged[node.name] = window
                        self.log_event(
                            node.name,
                            "Critical",
                            f"PCIe fatal error on the slot of GPU {XID_GPU}: the device stopped responding.",
                            "PCIe.1.0.FatalError",
                        )
            for name, system in self.systems.items():
                pending = system["pending"]
                if pending is None or now < pending[0]:
                    continue
                target = pending[1]
                system["pending"] = None
                if target == "cycle-off":
                    system["PowerState"] = "Off"
                    self.set_power(name, False)
                    system["pending"] = (now + POWER_DELAY_S, "On")
                    self.log_event(name, "OK", "The system was powered off (power cycle).", "Base.1.8.PowerOff")
                else:
                    system["PowerState"] = target
                    self.set_power(name, target == "On")
                    self.log_event(name, "OK", f"The system was powered {target.lower()}.", f"Base.1.8.Power{target}")

    def _system_json(self, name: str) -> dict[str, Any]:
        system = self.systems[name]
        path = f"/redfish/v1/Systems/{name}"
        return {
            "@odata.type": "#ComputerSystem.v1_13_0.ComputerSystem",
            "@odata.id": path,
            "Id": name,
            "Name": name,
            "Manufacturer": "Fleet Console simulated BMC",
            "PowerState": system["PowerState"],
            "IndicatorLED": system["IndicatorLED"],
            "Status": {"State": "Enabled", "Health": "OK"},
            "LogServices": {"@odata.id": f"{path}/LogServices"},
            "Actions": {
                "#ComputerSystem.Reset": {
                    "target": f"{path}/Actions/ComputerSystem.Reset",
                    "ResetType@Redfish.AllowableValues": list(ALLOWED_RESETS),
                }
            },
        }

    def _log_json(self, name: str, rest: str) -> dict[str, Any] | None:
        base = f"/redfish/v1/Systems/{name}/LogServices"
        if rest == "LogServices":
            return {"@odata.id": base, "Members": [{"@odata.id": f"{base}/Log1"}], "Members@odata.count": 1}
        if rest == "LogServices/Log1":
            return {
                "@odata.id": f"{base}/Log1",
                "@odata.type": "#LogService.v1_3_0.LogService",
                "Id": "Log1",
                "Name": "System Event Log",
                "Entries": {"@odata.id": f"{base}/Log1/Entries"},
            }
        if rest == "LogServices/Log1/Entries":
            members = list(self.events[name])
            return {"@odata.id": f"{base}/Log1/Entries", "Members": members, "Members@odata.count": len(members)}
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        bmc = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "SimBMC/1.0"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any] | None = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, message: str) -> None:
                self._send(
                    status,
                    {
                        "error": {
                            "code": "Base.1.0.GeneralError",
                            "message": message,
                            "@Message.ExtendedInfo": [{"Message": message}],
                        }
                    },
                )

            def _authorised(self) -> bool:
                expected = "Basic " + base64.b64encode(f"{bmc.user}:{bmc.password}".encode()).decode()
                if hmac.compare_digest(self.headers.get("Authorization", ""), expected):
                    return True
                self._error(401, "Unauthorized")
                return False

            def _body(self) -> dict[str, Any]:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    data = json.loads(self.rfile.read(min(length, 65536)) or b"{}")
                except ValueError:
                    return {}
                return data if isinstance(data, dict) else {}

            def do_GET(self) -> None:
                path = self.path.rstrip("/")
                if path == "/redfish/v1":
                    self._send(
                        200,
                        {
                            "@odata.id": "/redfish/v1",
                            "RedfishVersion": "1.15.0",
                            "Systems": {"@odata.id": "/redfish/v1/Systems"},
                        },
                    )
                    return
                if not self._authorised():
                    return
                with bmc._lock:
                    if path == "/redfish/v1/Systems":
                        members = [{"@odata.id": f"/redfish/v1/Systems/{n}"} for n in bmc.systems]
                        self._send(
                            200,
                            {
                                "@odata.id": "/redfish/v1/Systems",
                                "Members": members,
                                "Members@odata.count": len(members),
                            },
                        )
                        return
                    name, _, rest = path.removeprefix("/redfish/v1/Systems/").partition("/")
                    if name in bmc.systems and not rest:
                        self._send(200, bmc._system_json(name))
                        return
                    if name in bmc.systems and rest.startswith("LogServices"):
                        found = bmc._log_json(name, rest)
                        if found is not None:
                            self._send(200, found)
                            return
                self._error(404, f"{self.path} not found")

            def do_PATCH(self) -> None:
                if not self._authorised():
                    return
                name = self.path.rstrip("/").removeprefix("/redfish/v1/Systems/")
                body = self._body()
                with bmc._lock:
                    if name not in bmc.systems:
                        self._error(404, f"{self.path} not found")
                        return
                    led = body.get("IndicatorLED")
                    if led not in ("Lit", "Blinking", "Off"):
                        self._error(400, f"IndicatorLED {led!r} is not one of Lit, Blinking, Off")
                        return
                    bmc.systems[name]["IndicatorLED"] = led
                self._send(204)

            def do_POST(self) -> None:
                if not self._authorised():
                    return
                path = self.path.rstrip("/")
                name = path.removeprefix("/redfish/v1/Systems/").removesuffix("/Actions/ComputerSystem.Reset")
                reset = self._body().get("ResetType")
                with bmc._lock:
                    if name not in bmc.systems or not path.endswith("/Actions/ComputerSystem.Reset"):
                        self._error(404, f"{self.path} not found")
                        return
                    if reset not in ALLOWED_RESETS:
                        self._error(400, f"ResetType {reset!r} is not allowed")
                        return
                    now = bmc.clock()
                    system = bmc.systems[name]
                    if reset in ("On",):
                        system["pending"] = (now + POWER_DELAY_S, "On")
                    elif reset in ("ForceOff", "GracefulShutdown"):
                        system["pending"] = (now + POWER_DELAY_S, "Off")
                    elif reset in ("PowerCycle", "ForceRestart", "GracefulRestart"):
                        system["pending"] = (now + 1.0, "cycle-off")
                self._send(204)

        return Handler
