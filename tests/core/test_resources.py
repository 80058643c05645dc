"""The files the console ships (resources/, installed as console.resources) are found and are what the
console uses: the default alert rules, the example inventory, the desktop entry and the icon."""

from __future__ import annotations

import configparser
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from console.core.alerts.config import DEFAULT_RULES, load_rules
from console.core.inventory import parse_inventory
from console.core.resources import read_resource, resource
from tests.paths import REPO


def test_the_default_alert_rules_are_the_shipped_file_and_load() -> None:
    assert (REPO / "resources" / "alert-rules.toml").read_text(encoding="utf-8") == DEFAULT_RULES
    assert load_rules(DEFAULT_RULES).xid_window_s > 0


def test_fleet_console_alert_rules_prints_the_shipped_file() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "console", "alert-rules"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out == read_resource("alert-rules.toml")


def test_the_example_inventory_loads_with_every_vendor_a_scheduler_and_a_bmc() -> None:
    inventory = parse_inventory(read_resource("example-inventory.toml"), Path("example-inventory.toml"))
    assert {n.vendor.value for n in inventory.nodes} == {"nvidia", "ascend", "amd"}
    assert inventory.scheduler is not None and any(n.bmc is not None for n in inventory.nodes)


def test_the_desktop_entry_starts_the_console_with_its_icon() -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.read_string(read_resource("fleet-console.desktop"))
    section = entry["Desktop Entry"]
    assert section["Type"] == "Application" and section["Exec"].split()[0] == "fleet-console"
    assert section["Icon"] == "fleet-console" and resource("icons/fleet-console.svg").is_file()


def test_the_icon_is_well_formed_svg() -> None:
    root = ET.fromstring(resource("icons/fleet-console.svg").read_bytes())
    assert root.tag.endswith("svg") and root.get("viewBox") == "0 0 64 64"


def test_every_package_of_the_console_is_listed_for_installation() -> None:
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(REPO).parts) for init in (REPO / "console").rglob("__init__.py")}
    # resources/ is installed as console.resources, each of its folders of shipped files as a package of it.
    root = REPO / "resources"
    found |= {
        ".".join(("console", "resources", *folder.relative_to(root).parts))
        for folder in [root, *root.rglob("*")]
        if folder.is_dir() and folder.name != "__pycache__"
    }
    assert found == listed, f"not installed: {sorted(found - listed)}; listed but gone: {sorted(listed - found)}"


def test_every_shipped_file_is_in_the_package_data() -> None:
    import fnmatch
    import tomllib

    data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    root = REPO / "resources"
    files = [p.relative_to(root) for p in root.rglob("*") if p.is_file() and p.suffix != ".py"]
    files = [f for f in files if "__pycache__" not in f.parts]
    left_out = [
        f.as_posix()
        for f in files
        if not any(
            fnmatch.fnmatch(f.name, pattern)
            for pattern in data.get(".".join(("console", "resources", *f.parent.parts)), [])
        )
    ]
    assert files and not left_out, f"not installed with the package: {left_out}"
