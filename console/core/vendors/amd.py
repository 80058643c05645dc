"""AMD: ``amd-smi static --json`` once, then ``amd-smi metric --json`` once a second, or ``rocm-smi --json`` on
nodes without amd-smi (resources/scripts/telemetry.sh), each document followed by a frame line. The slow
path reads the node's health only. Temperature limits: the ``amd`` entry of the alert rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from console.core.parsers.amd import parse_amd_smi_metric, parse_amd_smi_static, parse_rocm_smi_json
from console.core.telemetry.samples import AcceleratorSample, Vendor
from console.core.telemetry.sources import Frames, StreamParser, TelemetrySource, telemetry_argv


class _AmdDocuments:
    def __init__(self) -> None:
        self.static: dict[int, Any] = {}

    def __call__(self, tool: str, text: str) -> tuple[Sequence[AcceleratorSample], Sequence[str]]:
        if tool == "amd-smi-static":
            static, error = parse_amd_smi_static(text)
            self.static = dict(static)
            return (), ([f"static information unreadable: {error}"] if error else [])
        reading = parse_rocm_smi_json(text) if tool == "rocm-smi" else parse_amd_smi_metric(text, self.static)
        return reading.samples, reading.errors


def amd_parser() -> StreamParser:
    return Frames(_AmdDocuments())


AMD_SMI: Final = TelemetrySource(
    name="amd-smi",
    vendor=Vendor.AMD,
    stream_argv=telemetry_argv("stream", "amd"),
    once_argv=telemetry_argv("once", "amd"),
    make_parser=amd_parser,
)
