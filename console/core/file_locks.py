"""Who holds a lock on a file: the words a refusal gives when the console cannot take a lock it needs.

Why: "database is locked" or "the inventory is locked" alone sends an operator hunting. Linux lists every
lock in ``/proc/locks`` (flock and POSIX locks alike, SQLite's among them) with the holder's PID, so the
message can say "held by PID 4242 (fleet-console incidents ack 7)". Where ``/proc`` is not there (another
system, a container without it), the words simply leave the holder out.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from console.core.text import escape_controls

PROC_LOCKS: Final = Path("/proc/locks")
MAX_LOCK_LINES: Final = 100_000  # a machine with more locks than this is not read to the end


def lock_holders(path: Path, locks_file: Path = PROC_LOCKS, writers_only: bool = False) -> list[int]:
    """The PIDs holding a lock on ``path`` (its device and inode), this process's own left out;
    ``writers_only``: write locks only (an SQLite reader holds read locks all the time)."""
    try:
        st = os.stat(path)
    except OSError:
        return []
    wanted = (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    holders: list[int] = []
    try:
        with locks_file.open(encoding="ascii", errors="replace") as handle:
            for count, line in enumerate(handle):
                if count >= MAX_LOCK_LINES:
                    break
                fields = line.split()
                # "1: POSIX  ADVISORY  WRITE 3595 fe:00:2155489 0 EOF"; a waiter's line has "->" after the id.
                if len(fields) < 6 or fields[1] == "->" or (writers_only and fields[3] != "WRITE"):
                    continue
                try:
                    pid = int(fields[4])
                    major, minor, inode = fields[5].split(":")
                    where = (int(major, 16), int(minor, 16), int(inode))
                except ValueError:
                    continue
                if where == wanted and pid != os.getpid() and pid not in holders:
                    holders.append(pid)
    except OSError:
        return []
    return holders


def process_words(pid: int, proc: Path = Path("/proc")) -> str:
    """``PID 4242 (fleet-console incidents ack 7)``: the PID and, where it can be read, its command line."""
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()[:400]
    except OSError:
        return f"PID {pid}"
    words = [w.decode("utf-8", "replace") for w in raw.split(b"\0") if w]
    if len(words) > 1 and Path(words[0]).name.startswith("python") and not words[1].startswith("-"):
        words = words[1:]  # "python /venv/bin/fleet-console …" says less than "fleet-console …"
    command = escape_controls(" ".join(Path(words[0]).name if i == 0 else w for i, w in enumerate(words)))
    return f"PID {pid} ({command[:120]})" if command else f"PID {pid}"


def held_by(*paths: Path, locks_file: Path = PROC_LOCKS, writers_only: bool = False) -> str:
    """Who holds a lock on any of ``paths``, as the words after "locked": "by PID 4242 (fleet-console
    incidents ack 7)", or "by another program" when the holder cannot be told. Several paths: a database and
    its companions (SQLite's write lock of a WAL database is on its ``-shm`` file)."""
    holders: list[int] = []
    for path in paths:
        holders += [p for p in lock_holders(path, locks_file, writers_only) if p not in holders]
    if not holders:
        return "by another program"
    return "by " + ", ".join(process_words(pid) for pid in holders[:3])
