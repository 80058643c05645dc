"""Changing the inventory file itself: a node's tenant after a move between tenants.

Why the file and not an override in the console's store: the inventory is the one place every console,
``poll``, ``tenants`` and teammate reads a node's tenant from; an override kept in one console's data
directory would make a second console, or the same command run on another machine, disagree in silence.

The write is safe: the file is re-read and must be the one the console loaded (else someone changed it
meanwhile, and nothing is written); it is edited with tomlkit, so comments, order and layout stay; the
result must load as an inventory with only the tenants changed; it is written to a temporary file beside
it, flushed to disk and renamed over the original, keeping the file's mode; the original is kept first as
``<name>.<UTC time>.bak``. A full disk or a read-only directory leaves the original untouched and says so.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import tomlkit
from tomlkit.exceptions import TOMLKitError

from console.core.inventory import Inventory, InventoryError, parse_inventory


class InventoryEditError(RuntimeError):
    """The inventory could not be changed; the message names the file and the cause. The file is unchanged."""


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_digest(path: Path) -> str:
    """The digest of the file as it is on disk now (InventoryEditError when it cannot be read)."""
    try:
        return digest(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryEditError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None


@dataclass(frozen=True, slots=True)
class TenantEdit:
    """What a write did: the new inventory, where the original was kept, and each node's tenant before."""

    inventory: Inventory
    backup: Path
    before: dict[str, str | None]


def set_tenants(path: Path, tenants: Mapping[str, str | None], expected_digest: str | None = None) -> TenantEdit:
    """Set ``tenant`` of each named node (None removes the key). Refused as a whole on any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryEditError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    if expected_digest is not None and digest(text) != expected_digest:
        raise InventoryEditError(
            f"{path} changed on disk since the console loaded it; nothing was written (reload the inventory and "
            "plan the move again)"
        )
    try:
        document = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise InventoryEditError(f"{path}: cannot be edited: {exc}") from None
    tables = {str(t.get("name")): t for t in document.get("node", []) if hasattr(t, "get")}
    missing = [n for n in tenants if n not in tables]
    if missing:
        raise InventoryEditError(f"{path}: no [[node]] named {', '.join(sorted(missing))}; nothing was written")
    before: dict[str, str | None] = {}
    for name, tenant in tenants.items():
        table = tables[name]
        old = table.get("tenant")
        before[name] = None if old is None else str(old)
        if tenant is None:
            if "tenant" in table:
                del table["tenant"]
        else:
            table["tenant"] = tenant
    new_text = tomlkit.dumps(document)
    try:
        inventory = parse_inventory(new_text, path)
    except InventoryError as exc:
        raise InventoryEditError(f"the changed inventory would not load ({exc}); nothing was written") from None
    for spec in inventory.nodes:
        if spec.name in tenants and spec.tenant != tenants[spec.name]:
            raise InventoryEditError(f"{path}: node {spec.name!r} would not read back as {tenants[spec.name]!r}")
    backup = _backup(path)
    _replace(path, new_text)
    return TenantEdit(inventory, backup, before)


def _backup(path: Path) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    backup = path.with_name(f"{path.name}.{stamp}.bak")
    try:
        shutil.copy2(path, backup)
    except OSError as exc:
        with contextlib.suppress(OSError):
            backup.unlink()
        raise InventoryEditError(
            f"cannot keep a backup of {path} as {backup.name}: {exc.strerror or exc}; nothing was written"
        ) from None
    return backup


def _replace(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o7777
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise InventoryEditError(f"cannot write {path}: {exc.strerror or exc}; the file is unchanged") from None
    with contextlib.suppress(OSError):  # the rename itself is durable once the directory is
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
