"""Writing a node's tenant into the inventory file: comments and order kept, a backup kept, refused as a
whole (the file untouched) when the file changed meanwhile, names an unknown node, or cannot be written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.core import inventory_edit
from console.core.inventory import load_inventory
from console.core.inventory_edit import (
    InventoryEditError,
    describe_rewrite,
    read_digest,
    remove_stale_temps,
    rewrite_problem,
    set_tenants,
)
from tests.helpers.locks import FLOCK, held

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


# --- second round of hardening (issue 21): links, a second writer, line endings, stale temporary files ------


def test_a_symlinked_inventory_is_written_through_to_its_target_and_stays_a_link(tmp_path: Path) -> None:
    etc = tmp_path / "etc" / "fleet"
    etc.mkdir(parents=True)
    real = etc / "dc1.toml"
    real.write_text(TEXT)
    real.chmod(0o640)
    link = tmp_path / "fleet.toml"
    link.symlink_to(real)
    edit = set_tenants(link, {"gpu-a02": "globex"}, read_digest(link))
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert {s.name: s.tenant for s in load_inventory(real).nodes}["gpu-a02"] == "globex"
    assert (real.stat().st_mode & 0o777) == 0o640
    assert edit.backup.parent == etc and edit.backup.read_text() == TEXT
    assert edit.inventory.path == link
    assert "a link: its target" in describe_rewrite(link) and str(real) in describe_rewrite(link)


def test_a_teammates_write_between_the_backup_and_the_rename_is_kept_and_the_rewrite_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The teammate is another process writing the file the way an editor does (no lock)."""
    path = tmp_path / "fleet.toml"
    path.write_text(TEXT)
    teammate = TEXT + "\n# a teammate's edit, saved mid-rewrite\n"
    real_write_temp = inventory_edit._write_temp

    def write_temp_then_teammate_saves(target: Path, data: bytes, st: os.stat_result) -> Path:
        temp = real_write_temp(target, data, st)
        code = "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text(sys.argv[2])"
        subprocess.run([sys.executable, "-c", code, str(path), teammate], check=True)
        return temp

    monkeypatch.setattr(inventory_edit, "_write_temp", write_temp_then_teammate_saves)
    with pytest.raises(InventoryEditError, match="changed by someone else while the console was rewriting it"):
        set_tenants(path, {"gpu-a01": "globex"}, read_digest(path))
    assert path.read_text() == teammate
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleet.toml"]  # no temporary file, no stale backup


def test_a_second_console_holding_the_lock_makes_the_rewrite_wait_then_refuse_naming_its_pid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(TEXT)
    monkeypatch.setattr(inventory_edit, "LOCK_WAIT_S", 0.2)
    with held(FLOCK, path) as pid:
        with pytest.raises(InventoryEditError, match=rf"is locked by PID {pid} \("):
            set_tenants(path, {"gpu-a01": "globex"}, read_digest(path))
        assert path.read_text() == TEXT
    set_tenants(path, {"gpu-a01": "globex"}, read_digest(path))  # the lock let go: the rewrite goes through
    assert load_inventory(path).node("gpu-a01").tenant == "globex"


def test_crlf_line_endings_and_a_byte_order_mark_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    original = b"\xef\xbb\xbf" + TEXT.replace("\n", "\r\n").encode()
    path.write_bytes(original)
    inventory = load_inventory(path)
    set_tenants(path, {"gpu-a01": "globex", "gpu-a02": "globex"}, inventory.digest)
    written = path.read_bytes()
    assert written.startswith(b"\xef\xbb\xbf")
    assert written.count(b"\n") == written.count(b"\r\n") == original.count(b"\r\n") + 1  # one tenant line added
    expected = original.replace(b'tenant = "acme"', b'tenant = "globex"').replace(
        b'rack = "R12"\r\n', b'rack = "R12"\r\ntenant = "globex"\r\n'
    )
    assert written == expected


def test_a_temporary_file_left_by_a_killed_rewrite_is_removed_and_other_files_are_not(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(TEXT)
    stale = [tmp_path / ".fleet.toml.fleet-console-4242-0badc0de.tmp", tmp_path / ".fleet.toml.k2j4_x9a.tmp"]
    kept = [tmp_path / ".fleet.toml.swp", tmp_path / "fleet.toml.tmp", tmp_path / ".other.toml.k2j4_x9a.tmp"]
    for extra in stale + kept:
        extra.write_text("x")
    assert remove_stale_temps(path) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["fleet.toml", *(p.name for p in kept)])


def test_the_inventory_remembers_the_digest_of_the_bytes_it_was_loaded_from(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_bytes(TEXT.replace("\n", "\r\n").encode())
    assert load_inventory(path).digest == read_digest(path)
    assert rewrite_problem(path, load_inventory(path).digest) is None
    path.write_text(TEXT)  # the same text with other line endings is another file
    assert "changed on disk since the console loaded it" in (rewrite_problem(path, read_digest(path) + "x") or "")
