"""Which command gives a node's telemetry, and which parser reads it.

Transport runs whatever argv it is handed; this module is where the console decides what that is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from console.core.parsers import nvidia_csv
from console.core.parsers.common import excerpt
from console.core.samples import ParsedLine, Vendor


class LineParser(Protocol):
    def parse_line(self, line: str) -> ParsedLine: ...


@dataclass(frozen=True, slots=True)
class TelemetrySource:
    name: str
    vendor: Vendor
    stream_argv: list[str]
    once_argv: list[str]
    make_parser: Callable[[], LineParser]


NVIDIA_SMI = TelemetrySource(
    name="nvidia-smi",
    vendor=Vendor.NVIDIA,
    stream_argv=nvidia_csv.stream_argv(),
    once_argv=nvidia_csv.once_argv(),
    make_parser=nvidia_csv.NvidiaCsvParser,
)


class UnsupportedVendor(LookupError):
    pass


def source_for(vendor: Vendor) -> TelemetrySource:
    """The telemetry source for a node's declared vendor.

    ``auto`` uses nvidia-smi until per-node detection exists; a node without it reports the shell's
    "command not found" as a command failure, which names the cause.
    """
    if vendor in (Vendor.NVIDIA, Vendor.AUTO):
        return NVIDIA_SMI
    raise UnsupportedVendor(
        f"{vendor.value} telemetry is not supported by this version of Fleet Console (NVIDIA only so far)"
    )


def describe_exit(command: str, status: int | None, stderr: str) -> str:
    """A sentence for a telemetry command that ended: what ran, how it ended, what it said."""
    stderr = excerpt(stderr.strip())
    if status == 127 or "command not found" in stderr or stderr.endswith(": not found"):
        return f"{command} not found on the node ({stderr or 'exit status 127'})"
    if status is None:
        return f"{command} stopped without an exit status" + (f": {stderr}" if stderr else "")
    return f"{command} exited with status {status}" + (f": {stderr}" if stderr else "")
