"""Helpers for tests that run the console's live path against a real sshd."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from console.app import LiveFleet
from console.core.alerts.config import AlertRules
from console.core.inventory import Inventory, parse_inventory
from console.transport.hub_links import HubSettings
from console.transport.ssh import SshSettings
from tests.helpers.sshd import Sshd

T = TypeVar("T")

# Real timings where the issue fixes them (3 s to stale); short backoff so recovery tests are quick.
FAST = HubSettings(stale_after_s=3.0, restart_after_s=20.0, backoff_base_s=0.2, backoff_cap_s=1.0)
NO_USER_CONFIG = SshSettings(ssh_config=None, allow_agent=False, look_for_keys=False)


def inventory_for(
    sshd: Sshd,
    directory: Path,
    nodes: dict[str, str],
    known_hosts: Path | None = None,
    node_extra: str = "",
    defaults_extra: str = "",
) -> Inventory:
    """An inventory reaching ``nodes`` (name → address) on ``sshd``, with a correct known_hosts by default."""
    known_hosts = known_hosts or sshd.write_known_hosts(directory / "known_hosts")
    text = (
        f'[defaults]\nuser = "{sshd.user}"\nidentity_file = "{sshd.client_key}"\nknown_hosts = "{known_hosts}"\n'
        f"{defaults_extra}\n"
    )
    for name, address in nodes.items():
        text += f'[[node]]\nname = "{name}"\nhost = "{address}"\nport = {sshd.port}\n{node_extra}\n'
    path = directory / "fleet.toml"
    path.write_text(text)
    return parse_inventory(text, path)


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 20.0, interval: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last!r}")


@contextmanager
def running(
    inventory: Inventory,
    ssh: SshSettings = NO_USER_CONFIG,
    settings: HubSettings = FAST,
    alert_rules: AlertRules | None = None,
) -> Iterator[LiveFleet]:
    live = LiveFleet(inventory, ssh, settings, alert_rules=alert_rules)
    live.start()
    try:
        yield live
    finally:
        live.stop()


def poll_once_json(inventory: Path, *extra: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``fleet-console poll --once --json`` as a script runs it (a real process; no user ssh config)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "console",
            "poll",
            "--ssh-config",
            "/dev/null",
            "--inventory",
            str(inventory),
            "--once",
            "--json",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
