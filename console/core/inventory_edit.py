"""Changing the inventory file itself: a node's tenant after a move between tenants.

Why the file and not an override in the console's store: the inventory is the one place every console,
``poll``, ``tenants`` and teammate reads a node's tenant from; an override kept in one console's data
directory would make a second console, or the same command run on another machine, disagree in silence.

Why each guard (each was a lost edit once):
- **Links are written through.** ``fleet.toml -> /etc/fleet/dc1.toml`` (or a file in a config checkout) is
  the common layout; renaming a new file over the link would leave the real file with the old tenant while
  the move said "done". The real file is rewritten, in its own directory, with its mode and owner; where
  the owner cannot be kept the write is refused before anything runs.
- **One writer at a time, and no teammate's edit lost.** An exclusive lock on the file is held from the read
  to the rename (other consoles wait for it); editors do not lock, so the bytes on disk are compared with
  what was read just before the rename, and a difference refuses the write. The backup holds the bytes
  that were read, never a later copy.
- **The file as it was.** Edited with tomlkit (comments, order, layout kept), its line endings (CRLF stays
  CRLF) and byte-order mark kept; the result must load as an inventory with only the tenants changed.
- **Nothing half-done.** Written to a temporary file beside it, flushed and renamed over it; a full disk or a
  read-only directory leaves the original untouched and says so. A temporary file left by a console killed
  mid-write is removed the next time a console rewrites or plans a rewrite of that inventory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import tomlkit
from tomlkit.exceptions import TOMLKitError

from console.core.file_locks import held_by
from console.core.file_writes import TEMP_TAG, temp_beside, write_new_file
from console.core.inventory import Inventory, InventoryError, bytes_digest, decode_inventory, parse_inventory

LOCK_WAIT_S: Final = 10.0  # another console's rewrite takes well under a second
BOM: Final = b"\xef\xbb\xbf"


class InventoryEditError(RuntimeError):
    """The inventory could not be changed; the message names the file and the cause. The file is unchanged."""


def read_digest(path: Path) -> str:
    """The digest of the file's bytes as they are on disk now (InventoryEditError when it cannot be read)."""
    try:
        return bytes_digest(path.read_bytes())
    except OSError as exc:
        raise InventoryEditError(f"{path}: cannot read: {exc.strerror or exc}") from None


def real_file(path: Path) -> Path:
    """The file a rewrite of ``path`` changes: the end of its links (the link itself is never replaced)."""
    return Path(os.path.realpath(path))


def describe_rewrite(path: Path) -> str:
    """What the preview says is rewritten: the file, and where a link leads."""
    target = real_file(path)
    if target != path.absolute() and path.is_symlink():
        return f"{path} (a link: its target {target} is rewritten, the link stays)"
    return str(path)


def rewrite_problem(path: Path, expected_digest: str | None) -> str | None:
    """Why the inventory cannot be rewritten now (None when it can), checked before a move's first step:
    a file changed since it was loaded, a directory the console may not write, an owner it cannot keep."""
    target = real_file(path)
    try:
        raw = target.read_bytes()
        st = target.stat()
    except OSError as exc:
        return f"{path}: cannot read: {exc.strerror or exc}"
    if problem := _changed_since_loaded(path, raw, expected_digest):
        return problem
    if not os.access(target.parent, os.W_OK | os.X_OK):
        return f"the directory {target.parent} is not writable by this user, so {target.name} cannot be replaced"
    if problem := _owner_problem(target, st):
        return problem
    return None


def _changed_since_loaded(path: Path, raw: bytes, expected_digest: str | None) -> str | None:
    if expected_digest is None or bytes_digest(raw) == expected_digest:
        return None
    return f"{path} changed on disk since the console loaded it (reload the inventory and plan the move again)"


@dataclass(frozen=True, slots=True)
class TenantEdit:
    """What a write did: the new inventory, where the original was kept, and each node's tenant before."""

    inventory: Inventory
    backup: Path
    before: dict[str, str | None]


def set_tenants(path: Path, tenants: Mapping[str, str | None], expected_digest: str | None = None) -> TenantEdit:
    """Set ``tenant`` of each named node (None removes the key). Refused as a whole on any problem."""
    target = real_file(path)
    with _locked(target) as fd:
        remove_stale_temps(target, locked=True)
        raw = _read_fd(fd, target)
        if problem := _changed_since_loaded(path, raw, expected_digest):
            raise InventoryEditError(f"{problem}; nothing was written")
        new_raw, before = _edited(path, raw, tenants)
        try:
            inventory = parse_inventory(decode_inventory(path, new_raw), path, digest=bytes_digest(new_raw))
        except InventoryError as exc:
            raise InventoryEditError(f"the changed inventory would not load ({exc}); nothing was written") from None
        for spec in inventory.nodes:
            if spec.name in tenants and spec.tenant != tenants[spec.name]:
                raise InventoryEditError(f"{path}: node {spec.name!r} would not read back as {tenants[spec.name]!r}")
        st = os.fstat(fd)
        if problem := _owner_problem(target, st):
            raise InventoryEditError(f"{problem}; nothing was written")
        backup = _backup(target, raw, st.st_mode & 0o7777)
        temp = _write_temp(target, new_raw, st)
        try:
            _unchanged_or_refuse(path, target, raw)
            os.replace(temp, target)
        except InventoryEditError:
            _unlink(temp, backup)
            raise
        except OSError as exc:
            _unlink(temp, backup)
            raise InventoryEditError(f"cannot write {target}: {exc.strerror or exc}; the file is unchanged") from None
        _sync_directory(target.parent)
    return TenantEdit(inventory, backup, before)


def _edited(path: Path, raw: bytes, tenants: Mapping[str, str | None]) -> tuple[bytes, dict[str, str | None]]:
    """The file's bytes with the tenants set, in its own line endings and byte-order mark."""
    try:
        text = decode_inventory(path, raw)
    except InventoryError as exc:
        raise InventoryEditError(str(exc)) from None
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
    if _uses_crlf(raw):  # tomlkit keeps the lines it read, but writes the lines it adds with "\n"
        new_text = re.sub(r"(?<!\r)\n", "\r\n", new_text)
    return (BOM if raw.startswith(BOM) else b"") + new_text.encode("utf-8"), before


def _uses_crlf(raw: bytes) -> bool:
    crlf = raw.count(b"\r\n")
    return crlf > 0 and crlf * 2 >= raw.count(b"\n")


# --- the file on disk ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(target: Path, wait_s: float | None = None, sleep: Callable[[float], None] = time.sleep) -> Iterator[int]:
    """An exclusive lock on the file itself, held until the block ends (the lock of a file that was replaced
    meanwhile is let go and the new file locked instead)."""
    wait_s = LOCK_WAIT_S if wait_s is None else wait_s
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fd = os.open(target, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise InventoryEditError(f"{target}: cannot read: {exc.strerror or exc}") from None
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise InventoryEditError(f"{target}: cannot be locked: {exc.strerror or exc}") from None
                    if time.monotonic() >= deadline:
                        raise InventoryEditError(
                            f"{target} is locked {held_by(target)} (another console rewriting it?) for more than "
                            f"{wait_s:g} s; nothing was written: try again when it is done"
                        ) from None
                    sleep(0.05)
            try:
                same = os.fstat(fd).st_ino == os.stat(target).st_ino
            except OSError:
                same = False
            if same:
                yield fd
                return
        finally:
            os.close(fd)  # lets go of the lock


def _read_fd(fd: int, target: Path) -> bytes:
    chunks = []
    offset = 0
    try:
        while chunk := os.pread(fd, 1 << 20, offset):
            chunks.append(chunk)
            offset += len(chunk)
    except OSError as exc:
        raise InventoryEditError(f"{target}: cannot read: {exc.strerror or exc}") from None
    return b"".join(chunks)


def _owner_problem(target: Path, st: os.stat_result) -> str | None:
    euid = os.geteuid()
    if euid == 0 or (st.st_uid == euid and (st.st_gid == os.getegid() or st.st_gid in os.getgroups())):
        return None
    return (
        f"{target} belongs to user {st.st_uid}, group {st.st_gid}; this console runs as user {euid} and could not "
        "give the rewritten file the same owner: run the move as the file's owner, or change the file by hand"
    )


def _backup(target: Path, raw: bytes, mode: int) -> Path:
    """The bytes that were read (not a later copy), beside the file, with its mode."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    backup = target.with_name(f"{target.name}.{stamp}.bak")
    try:
        write_new_file(backup, raw, mode)
    except OSError as exc:
        _unlink(backup)
        raise InventoryEditError(
            f"cannot keep a backup of {target} as {backup.name}: {exc.strerror or exc}; nothing was written"
        ) from None
    return backup


def _write_temp(target: Path, data: bytes, st: os.stat_result) -> Path:
    """The new content in a temporary file beside the file, with its mode and owner, on disk."""
    temp = temp_beside(target)
    try:
        write_new_file(temp, data, st.st_mode & 0o7777)
        if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
            os.chown(temp, st.st_uid, st.st_gid)
            os.chmod(temp, st.st_mode & 0o7777)  # chown clears set-id bits
    except OSError as exc:
        _unlink(temp)
        raise InventoryEditError(f"cannot write {target}: {exc.strerror or exc}; the file is unchanged") from None
    return temp


def _unchanged_or_refuse(path: Path, target: Path, read: bytes) -> None:
    """Editors do not take the lock: the bytes on disk must still be the ones read, just before the rename."""
    try:
        now = target.read_bytes()
    except OSError as exc:
        raise InventoryEditError(f"{target}: cannot read it again before writing: {exc.strerror or exc}") from None
    if now != read:
        raise InventoryEditError(
            f"{path} was changed by someone else while the console was rewriting it; nothing was written and their "
            "change is kept (reload the inventory and plan the move again)"
        )


def _sync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # the rename itself is durable once the directory is
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _unlink(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


def stale_temps(target: Path) -> list[Path]:
    """Temporary files of this console's naming beside ``target`` (older versions' ``.<name>.XXXXXXXX.tmp``
    too)."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(?:{TEMP_TAG}-\d+-[0-9a-f]+|[a-z0-9_]{{8}})\.tmp")
    try:
        return sorted(p for p in target.parent.iterdir() if pattern.fullmatch(p.name))
    except OSError:
        return []


def remove_stale_temps(path: Path, locked: bool = False) -> list[Path]:
    """Remove the temporary files a console killed mid-rewrite left beside the inventory. Only under the
    file's lock (a console writing one holds it): without ``locked``, the lock is tried once and, when
    another console holds it, nothing is removed."""
    target = real_file(path)
    if not locked:
        try:
            with _locked(target, wait_s=0.0):
                return remove_stale_temps(target, locked=True)
        except InventoryEditError:
            return []
    removed = []
    for temp in stale_temps(target):
        with contextlib.suppress(OSError):
            temp.unlink()
            removed.append(temp)
    return removed
