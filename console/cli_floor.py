"""``fleet-console find``: find the box — from a node's name or address, a BMC, or a GPU's UUID, serial, PCI
bus id or NPU id to the hall row, rack, unit and the accelerator in the chassis."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Final

from console.core.text import escape_controls

EXIT_FOUND: Final = 0
EXIT_NOT_FOUND: Final = 1
EXIT_BAD: Final = 2


def add_find_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    find = sub.add_parser(
        "find",
        help="find the box: a node, address, BMC, GPU UUID, serial, PCI bus id or NPU id → hall row, rack, unit",
    )
    find.add_argument("text", help="the value to find, whole (case does not matter; a bus id also as 18:00.0)")
    find.add_argument("--inventory", type=Path, required=True, dest="find_inventory")
    find.add_argument("--json", action="store_true", help="one JSON object per match per line")
    find.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for each node's answer")
    find.add_argument("--ssh-config", type=Path, default=Path("~/.ssh/config"), dest="find_ssh_config")
    find.add_argument("--data-dir", type=Path, dest="find_data_dir", help="whose record says which locate LEDs are lit")
    return find


def recorded_leds(data_dir: Path, nodes: list[str]) -> dict[str, str]:
    """The locate LEDs the record says were left lit among ``nodes`` (said on stderr when unreadable), for
    ``find`` and ``poll``."""
    from console.services.audit import StoreError, lit_leds_in

    try:
        return lit_leds_in(data_dir, nodes)
    except StoreError as exc:
        print(escape_controls(f"fleet-console: the locate LEDs' record could not be read: {exc}"), file=sys.stderr)
        return {}


def run_find(args: argparse.Namespace, data_dir: Path) -> int:
    """One reading of every node (its GPUs' UUIDs, serials and bus ids come from the slow path), then the
    search; exit 1 when nothing matches."""
    from console.core.floor.find import find_boxes
    from console.core.inventory import InventoryError, load_inventory
    from console.services.one_shot import poll_once
    from console.transport.ssh import SshSettings

    try:
        inventory = load_inventory(args.find_inventory)
    except InventoryError as exc:
        print(escape_controls(f"fleet-console: bad inventory: {exc}"), file=sys.stderr)
        return EXIT_BAD
    # A node's own names need no reading: answer those at once, and read the fleet only for the rest.
    matches = find_boxes(args.text, inventory, [])
    if not matches:
        fleet = poll_once(inventory, SshSettings(ssh_config=args.find_ssh_config), timeout_s=args.timeout)
        matches = find_boxes(args.text, inventory, fleet.views())
        unread = [v.name for v in fleet.views() if not v.accelerators]
        if not matches and unread:
            print(
                escape_controls(
                    f"fleet-console: {len(unread)} node(s) could not be read, so their GPUs were not searched: "
                    + ", ".join(unread[:8])
                    + (" …" if len(unread) > 8 else "")
                ),
                file=sys.stderr,
            )
    leds = recorded_leds(data_dir, [m.node for m in matches])
    if args.json:
        sys.stdout.write(
            "".join(
                json.dumps({**m.as_json(), "locate_led": leds.get(m.node)}, separators=(",", ":")) + "\n"
                for m in matches
            )
        )
    else:
        for match in matches:
            print(escape_controls(f"{match.words()}   (matched its {match.what.replace('_', ' ')})"))
            if match.node in leds:
                print(escape_controls(f"    {leds[match.node]}"))
            if match.bmc:
                # A command that runs as printed, from where find was run: the same inventory, quoted.
                locate = shlex.join(
                    [
                        "fleet-console",
                        "action",
                        "locate",
                        match.node,
                        "--led",
                        "blink",
                        "--inventory",
                        str(args.find_inventory),
                    ]
                )
                print(escape_controls(f"    BMC {match.bmc}: `{locate}`"))
    if not matches:
        print(escape_controls(f"fleet-console: nothing in {inventory.path} is {args.text!r}"), file=sys.stderr)
    return EXIT_FOUND if matches else EXIT_NOT_FOUND
