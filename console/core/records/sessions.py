"""Which consoles are running: each holds a lock file named for its session in the data directory while it
runs, so a later console can tell an action whose console died (outcome unknown) from one still running."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from console.core.records.sqlite_files import (
    FILE_MODE,
    explain,
    secure_directory,
)
from console.core.records.store_error import StoreError

# The store's file in the console's data directory.


class SessionLock:
    """Marks this console as alive for as long as its process lives: an exclusive flock on a file named
    after its session. The kernel drops the lock when the process dies, ``kill -9`` included."""

    def __init__(self, directory: Path, session: str) -> None:
        secure_directory(directory)
        self.directory = directory
        self.session = session
        try:
            fd = os.open(directory / f"{session}.lock", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        except OSError as exc:
            raise StoreError(explain(directory / f"{session}.lock", exc)) from None
        self._file = os.fdopen(fd, "w")
        fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def alive(self, session: str) -> bool:
        return session == self.session or session_alive(self.directory, session)

    def release(self) -> None:
        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()
        (self.directory / f"{self.session}.lock").unlink(missing_ok=True)


def session_alive(directory: Path, session: str) -> bool:
    """Whether the console that owns ``session`` still runs (its lock file is still locked)."""
    path = directory / f"{session}.lock"
    if not path.exists():
        return False
    with open(path, "a") as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(probe, fcntl.LOCK_UN)
    path.unlink(missing_ok=True)
    return False
