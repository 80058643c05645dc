"""The world the action tests act on: a real sshd standing for Slurm's control host and six nodes (their
nvidia-smi replays a recording), the real Slurm and the Redfish emulator (their fixtures), and the
inventory that joins them. One place for the three test files that used to set it up on their own."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEDULER = "127.0.0.10"
NODES = {f"node{i}": f"127.0.0.{10 + i}" for i in range(1, 7)}
PASSWORD_ENV = "FLEET_TEST_BMC_PASSWORD"
WITH_BMC = {"node1", "node2", "node3", "node4"}


def write_inventory(path: Path, sshd: Any, bmc: Any, scheduler: str | None = SCHEDULER, extra: str = "") -> Path:
    """An inventory of the six nodes on ``sshd`` (four with a BMC on the emulator), with Slurm's host."""
    text = textwrap.dedent(f"""\
        [defaults]
        user = "{sshd.user}"
        identity_file = "{sshd.client_key}"
        known_hosts = "{sshd.workdir / "known_hosts"}"
        [policy]
        max_nodes_per_action = 8
        max_fraction_per_action = 0.5
        """)
    if scheduler:
        text += f'[scheduler]\nkind = "slurm"\nhost = "{scheduler}"\nport = {sshd.port}\n'
    for name, address in NODES.items():
        text += f'[[node]]\nname = "{name}"\nhost = "{address}"\nport = {sshd.port}\ntenant = "tenant-{name[-1]}"\n'
        if bmc is not None and name in WITH_BMC:
            text += (
                f'bmc = {{ url = "{bmc.url}", user = "{bmc.user}", password_env = "{PASSWORD_ENV}", '
                f'ca_file = "{bmc.ca}", system = "{name}" }}\n'
            )
    path.write_text(text + extra)
    return path


@contextmanager
def world_sshd(slurm: Any, bmc: Any, directory: Path) -> Iterator[Any]:
    """The sshd of the scheduler host and the six nodes, started and stopped by PID; the BMC password in
    the environment the inventory names."""
    from tests.conftest import DEFAULT_RECORDING
    from tests.helpers.sshd import Sshd

    os.environ[PASSWORD_ENV] = bmc.password
    sshd = Sshd(directory, [SCHEDULER, *NODES.values()], extra_env={"SLURM_CONF": str(slurm.conf)})
    for address in [SCHEDULER, *NODES.values()]:
        sshd.replay(address, DEFAULT_RECORDING)
    sshd.write_known_hosts(sshd.workdir / "known_hosts")
    sshd.start()
    try:
        yield sshd
    finally:
        sshd.stop()
