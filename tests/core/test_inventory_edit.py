"""Writing a node's tenant into the inventory file: comments and order kept, a backup kept, refused as a
whole (the file untouched) when the file changed meanwhile, names an unknown node, or cannot be written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from console.core.inventory import load_inventory
from console.core.inventory_edit import InventoryEditError, read_digest, set_tenants

TEXT = """# Hall B, row 3 — owned by the platform team
[defaults]
user = "ops"

[[node]]
name = "gpu-a01"   # the one with the loud fan
host = "10.0.0.11"
tenant = "acme"

[[node]]
name = "gpu-a02"
host = "10.0.0.12"
rack = "R12"
"""


def test_the_tenant_is_changed_and_added_keeping_comments_order_and_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(TEXT)
    path.chmod(0o640)
    edit = set_tenants(path, {"gpu-a01": "globex", "gpu-a02": "globex"}, read_digest(path))
    text = path.read_text()
    assert "# Hall B, row 3 — owned by the platform team" in text and "# the one with the loud fan" in text
    assert text.index("gpu-a01") < text.index("gpu-a02")
    assert text.replace('tenant = "globex"\n', "", 2).replace('tenant = "acme"\n', "") == TEXT.replace(
        'tenant = "acme"\n', ""
    )
    assert {s.name: s.tenant for s in load_inventory(path).nodes} == {"gpu-a01": "globex", "gpu-a02": "globex"}
    assert edit.before == {"gpu-a01": "acme", "gpu-a02": None}
    assert edit.backup.read_text() == TEXT and edit.backup.name.startswith("fleet.toml.")
    assert (path.stat().st_mode & 0o777) == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_file_changed_since_it_was_loaded_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(TEXT)
    loaded = read_digest(path)
    path.write_text(TEXT + "\n# a teammate's edit\n")
    with pytest.raises(InventoryEditError, match="changed on disk since the console loaded it"):
        set_tenants(path, {"gpu-a01": "globex"}, loaded)
    assert path.read_text().endswith("# a teammate's edit\n")


def test_an_unknown_node_refuses_the_whole_write(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(TEXT)
    with pytest.raises(InventoryEditError, match="no \\[\\[node\\]\\] named gpu-zz"):
        set_tenants(path, {"gpu-a01": "globex", "gpu-zz": "globex"})
    assert path.read_text() == TEXT and list(tmp_path.iterdir()) == [path]


def test_a_full_disk_at_the_rename_leaves_the_file_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(TEXT)

    def full(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(InventoryEditError, match="No space left on device; the file is unchanged"):
        set_tenants(path, {"gpu-a01": "globex"})
    assert path.read_text() == TEXT
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
