"""Run the simulated fleet: keys on first run, a listening port per node, and the inventory that reaches it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from console.sim.model import SimNode, build_fleet
from console.sim.redfish import SimBmc
from console.sim.server import SimServer, ensure_ed25519_key


@dataclass(frozen=True, slots=True)
class SimFiles:
    inventory: Path
    known_hosts: Path
    client_key: Path
    bmc_password: Path


BMC_PASSWORD_ENV = "FLEET_DEMO_BMC_PASSWORD"  # noqa: S105 - the name of the variable, not a password


def start_sim(
    nodes: int,
    state_dir: Path,
    inventory_out: Path,
    known_hosts_out: Path | None = None,
    seed: int = 7,
    user: str = "ops",
) -> tuple[SimServer, SimFiles]:
    """Start serving ``nodes`` virtual nodes on 127.0.0.1 and write the inventory and known_hosts for them."""
    state_dir = state_dir.resolve()
    inventory_out = inventory_out.resolve()
    known_hosts_out = known_hosts_out.resolve() if known_hosts_out else None
    state_dir.mkdir(parents=True, exist_ok=True)
    client_key_path = state_dir / "client_ed25519"
    client_key = ensure_ed25519_key(client_key_path)
    fleet = build_fleet(nodes, seed=seed)
    server = SimServer(fleet, state_dir / "host_keys", authorized_keys=[client_key], with_scheduler=True)
    server.bmc = SimBmc(fleet, state_dir, server.set_power)
    server.bmc.start()
    ports = server.start()
    known_hosts = known_hosts_out or inventory_out.with_name(inventory_out.stem + ".known_hosts")
    keys = server.host_keys()
    known_hosts.write_text(
        "".join(
            f"[127.0.0.1]:{port} {keys[name].get_name()} {keys[name].get_base64()}\n" for name, port in ports.items()
        )
    )
    inventory_out.write_text(
        inventory_toml(fleet, ports, client_key_path, known_hosts, user, server.bmc.url, server.bmc.ca)
    )
    return server, SimFiles(inventory_out, known_hosts, client_key_path, state_dir / "bmc-password")


def inventory_toml(
    fleet: list[SimNode],
    ports: dict[str, int],
    client_key: Path,
    known_hosts: Path,
    user: str,
    bmc_url: str | None = None,
    bmc_ca: Path | None = None,
) -> str:
    def q(text: str) -> str:
        return json.dumps(text)  # a JSON string is a valid TOML basic string

    lines = [
        "# Written by `fleet-console sim`: the simulated fleet on this machine.",
        "[defaults]",
        f"user = {q(user)}",
        f"identity_file = {q(str(client_key))}",
        f"known_hosts = {q(str(known_hosts))}",
        "",
    ]
    if "scheduler" in ports:
        lines += ["[scheduler]", 'kind = "slurm"', 'host = "127.0.0.1"', f"port = {ports['scheduler']}", ""]
    # The hall: ten racks a row (A, B, …), each rack's place in its row.
    for position, rack in enumerate(dict.fromkeys(node.rack for node in fleet)):
        row = chr(ord("A") + position // 10) if position < 260 else f"Z{position // 10}"
        lines += ["[[rack]]", f"name = {q(rack)}", f"row = {q(row)}", f"position = {position % 10 + 1}", ""]
    for node in fleet:
        lines += [
            "[[node]]",
            f"name = {q(node.name)}",
            'host = "127.0.0.1"',
            f"port = {ports[node.name]}",
            'vendor = "auto"',  # the console finds out, as on a real mixed fleet
            f"rack = {q(node.rack)}",
            f"slot = {node.slot}",
            "height = 8",  # an 8-GPU server
        ]
        if node.tenant:
            lines.append(f"tenant = {q(node.tenant)}")
        if bmc_url is not None:
            lines.append(
                f'bmc = {{ url = {q(bmc_url)}, user = "admin", password_env = "{BMC_PASSWORD_ENV}", '
                f"ca_file = {q(str(bmc_ca))}, system = {q(node.name)} }}"
            )
        lines.append("")
    return "\n".join(lines)
