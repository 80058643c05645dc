"""NVIDIA: ``nvidia-smi --query-gpu=… -lms 1000`` (its own loop, one CSV line per GPU per second), read line
by line; the slow path reads ``nvidia-smi -q -x`` and the kernel log (XIDs), which is also followed live.
Temperature limits: the ``nvidia`` entry of the alert rules (resources/alert-rules.toml)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from console.core.parsers import nvidia_csv
from console.core.telemetry.samples import ParsedLine, Vendor
from console.core.telemetry.sources import TelemetrySource


class CsvLines:
    """nvidia-smi CSV: every line stands alone."""

    def __init__(self) -> None:
        self.parser = nvidia_csv.NvidiaCsvParser()

    def parse_lines(self, lines: Sequence[str]) -> list[ParsedLine]:
        return [self.parser.parse_line(line) for line in lines if line.strip()]

    def finish(self) -> list[ParsedLine]:
        return []


NVIDIA_SMI: Final = TelemetrySource(
    name="nvidia-smi",
    vendor=Vendor.NVIDIA,
    stream_argv=nvidia_csv.stream_argv(),
    once_argv=nvidia_csv.once_argv(),
    make_parser=CsvLines,
    detail_parts=("nvidia", "kernel", "node"),
    follows_kernel_log=True,
)
