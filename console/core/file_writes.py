"""Writing a file whole, for the two places the console writes beside a user's file (the inventory rewrite,
the exports): a temporary name of the console's own beside it (so a killed console's leftovers can be told
apart and removed), and a new file created exclusively with all its bytes on disk before anyone renames it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Final

TEMP_TAG: Final = "fleet-console"


def temp_beside(path: Path) -> Path:
    """``.<name>.fleet-console-<pid>-<random>.tmp`` in the same directory (a rename stays on one file system)."""
    return path.with_name(f".{path.name}.{TEMP_TAG}-{os.getpid()}-{secrets.token_hex(4)}.tmp")


def write_new_file(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` (never an existing one), write ``data``, give it ``mode``, flush it to disk; OSError
    as the system says it (the caller removes a partly written file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)
