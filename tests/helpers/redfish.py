"""A real Redfish BMC emulator (sushy-tools' sushy-emulator, fake driver) on 127.0.0.1 for tests.

HTTPS with a certificate from a CA made in the test's directory (by the simulator's own CA maker),
basic auth from an htpasswd (bcrypt) file, one ComputerSystem per node name. Stopped by PID.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt

from console.sim.redfish import ensure_tls
from tests.helpers.sshd import free_port


@dataclass
class SushyEmulator:
    workdir: Path
    systems: list[str]
    user: str = "admin"
    password: str = "correct horse battery"
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    ids: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self.ca, cert, key = ensure_tls(self.workdir / "tls")
        htpasswd = self.workdir / "htpasswd"
        hashed = bcrypt.hashpw(self.password.encode(), bcrypt.gensalt(rounds=4)).decode()
        htpasswd.write_text(f"{self.user}:{hashed}\n")
        self.ids = {name: str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.fleet-console.test")) for name in self.systems}
        systems = ",\n".join(
            f"  {{'uuid': '{self.ids[name]}', 'name': '{name}', 'power_state': 'On', 'external_notifier': False, "
            f"'nics': [{{'mac': '00:5c:52:31:3a:{i:02x}', 'ip': '172.22.130.{i + 10}'}}]}}"
            for i, name in enumerate(self.systems)
        )
        self.config = self.workdir / "emulator.conf.py"
        self.config.write_text(
            f"""SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'
SUSHY_EMULATOR_LISTEN_PORT = {self.port}
SUSHY_EMULATOR_SSL_CERT = '{cert}'
SUSHY_EMULATOR_SSL_KEY = '{key}'
SUSHY_EMULATOR_AUTH_FILE = '{htpasswd}'
SUSHY_EMULATOR_FAKE_DRIVER = True
SUSHY_EMULATOR_STATE_DIR = '{self.workdir / "state"}'
SUSHY_EMULATOR_FAKE_SYSTEMS = [
{systems}
]
"""
        )

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        emulator = shutil.which("sushy-emulator") or str(Path(sys.executable).parent / "sushy-emulator")
        log = open(self.workdir / "emulator.log", "ab")  # noqa: SIM115 - lives as long as the emulator
        self.proc = subprocess.Popen(
            [emulator, "--config", str(self.config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        context = ssl.create_default_context(cafile=str(self.ca))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sushy-emulator exited: {(self.workdir / 'emulator.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(self.url + "/redfish/v1/", timeout=1, context=context).read()
                return
            time.sleep(0.1)
        raise RuntimeError("sushy-emulator did not answer")

    def get(self, path: str) -> dict:  # type: ignore[type-arg]
        import base64
        import json

        request = urllib.request.Request(
            self.url + path,
            headers={"Authorization": "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()},
        )
        context = ssl.create_default_context(cafile=str(self.ca))
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def system(self, name: str) -> dict:  # type: ignore[type-arg]
        return self.get(f"/redfish/v1/Systems/{self.ids[name]}")

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None
