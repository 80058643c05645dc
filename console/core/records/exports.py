"""What every export (the handover report, the tenant report, the idle finder, any new one) does with foreign
text and with the file it writes. One place, so a new export cannot forget a rule.

- **Foreign text is shown, never obeyed** (``export_text``): control characters (ESC, NUL) and the bidi
  controls that reorder what follows (a tenant named ``acme`` U+202E ``gnp.exe`` read backwards over a PDF's dates) are
  written as visible escapes (``\\x1b``, ``\\u202e``), as the terminal output already does.
- **A CSV cell is never a formula** (``inert_cell``, ``csv_text``): a cell whose text starts with ``=``,
  ``+``, ``-``, ``@``, TAB or CR gets a leading ``'`` (OWASP's CSV-injection rule); numbers stay numbers.
- **A file is never clobbered by surprise** (``OutputTarget``): an existing file is refused unless the
  caller forces it, a symbolic link is never written through (its target is never overwritten), a
  directory is refused, ``-`` (or a path that is this process's stdout, such as ``/dev/stdout``) means
  standard output, and a file is written to a temporary file beside it and renamed into place, so a full
  disk or a kill never leaves half a report under the asked name.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final

from console.core.file_writes import temp_beside, write_new_file
from console.core.text import escape_controls

FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
STDOUT_NAME: Final = "-"


def export_text(value: Any) -> str:
    """A foreign value as text for a report: None is empty, control and bidi characters visible escapes."""
    return "" if value is None else escape_controls(str(value))


def inert_cell(value: Any) -> str | int | float:
    """One CSV cell: numbers as they are; text made visible (``export_text``) and never a formula."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    raw = "" if value is None else str(value)
    text = export_text(raw)
    return "'" + text if raw.startswith(FORMULA_STARTS) or text.startswith(FORMULA_STARTS) else text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """The one CSV writer of every export: a header row, then each row's cells through ``inert_cell``."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([inert_cell(h) for h in header])
    for row in rows:
        writer.writerow([inert_cell(v) for v in row])
    return out.getvalue()


class OutputError(Exception):
    """The output cannot be written; the message names the path and the cause. Nothing was written."""


@dataclass(frozen=True, slots=True)
class OutputTarget:
    """Where an export goes: ``path`` None is standard output; ``stream`` a FIFO or device written as is."""

    path: Path | None
    replace: bool = False
    stream: bool = False

    @property
    def to_stdout(self) -> bool:
        return self.path is None

    @property
    def words(self) -> str:
        return "standard output" if self.path is None else str(self.path)

    @classmethod
    def check(cls, given: str | Path, force: bool = False, stdout_fd: int = 1) -> OutputTarget:
        """The target for ``-o given``, or OutputError saying why it is refused (before any work is done)."""
        text = str(given)
        if text == STDOUT_NAME:
            return cls(None)
        if not text:
            raise OutputError("the output path is empty: name a file, or - for standard output")
        path = Path(text)
        if _is_stdout(path, stdout_fd):
            return cls(None)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            raise OutputError(f"{path}: cannot be looked at: {exc.strerror or exc}") from None
        if st is None:
            parent = path.parent
            if not parent.is_dir():
                raise OutputError(f"{path}: the directory {parent} does not exist")
            return cls(path)
        if stat.S_ISLNK(st.st_mode):
            raise OutputError(
                f"{path} is a symbolic link (to {os.readlink(path)}): the console never writes through a link, so its "
                "target is not overwritten; remove the link or name another file"
            )
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"{path} is a directory: name a file in it")
        if stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode):
            return cls(path, stream=True)
        if not stat.S_ISREG(st.st_mode):
            raise OutputError(f"{path} is not a regular file (a socket or a device): name a file")
        if not force:
            raise OutputError(f"{path} exists: add --force to replace it, or name another file")
        return cls(path, replace=True)

    def write(self, data: bytes, stdout: BinaryIO | None = None) -> None:
        """Write the whole export (OutputError when it cannot be; a file is then left as it was)."""
        if self.path is None:
            assert stdout is not None, "standard output needs its binary stream"
            stdout.write(data)
            stdout.flush()
            return
        if self.stream:
            try:
                with open(self.path, "wb") as handle:  # a FIFO or device: nothing to rename
                    handle.write(data)
            except OSError as exc:
                raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None
            return
        _write_into_place(self.path, data, self.replace)


def _is_stdout(path: Path, stdout_fd: int) -> bool:
    """``/dev/stdout``, ``/proc/self/fd/1``, or the very file stdout is redirected to: all of them are the
    report's own stream, where a "wrote …" line would corrupt it."""
    try:
        out = os.fstat(stdout_fd)
        st = os.stat(path)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (out.st_dev, out.st_ino)


def _write_into_place(path: Path, data: bytes, replace: bool) -> None:
    """A temporary file beside ``path``, flushed, then linked (never clobbering a file that appeared
    meanwhile) or, when replacing was asked for, renamed over it."""
    temp = temp_beside(path)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write_new_file(temp, data, 0o666 & ~umask)  # a new file's usual mode
        if replace:
            os.replace(temp, path)
        else:
            try:
                os.link(temp, path)  # fails if the name was taken meanwhile: nothing is clobbered
            except FileExistsError:
                raise OutputError(f"{path} appeared while the report was written: add --force to replace it") from None
            except OSError:
                if os.path.lexists(path):  # a file system without hard links: check, then rename
                    raise OutputError(f"{path} exists: add --force to replace it, or name another file") from None
                os.replace(temp, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}; nothing was written there") from None
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()
