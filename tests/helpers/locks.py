"""Another process holding a real lock (flock on a file, BEGIN EXCLUSIVE on an SQLite store) until the block
ends: what a second console, an sqlite3 shell or a backup does to the console."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FLOCK = "import fcntl, sys; f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX)"
SQLITE_EXCLUSIVE = (
    "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN EXCLUSIVE')"
)


@contextmanager
def held(code: str, path: Path) -> Iterator[int]:
    """Run ``code`` (which takes the lock on ``sys.argv[1]``) in a child process; yields its PID once the lock
    is held, and ends it (by closing its stdin, then by PID) when the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", f"{code}; print('locked', flush=True); sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert holder.stdout.readline() == "locked\n"
        yield holder.pid
    finally:
        holder.stdin.close()
        try:
            holder.wait(timeout=10)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait(timeout=10)
        holder.stdout.close()
