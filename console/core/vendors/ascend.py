"""Huawei Ascend: ``npu-smi info`` once a second (it has no loop option; resources/scripts/telemetry.sh loops),
each table followed by a frame line and parsed whole. The slow path reads the node's health only.
Temperature limits: the ``ascend`` entry of the alert rules (resources/alert-rules.toml)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from console.core.parsers.npu_smi import parse_npu_smi
from console.core.samples import AcceleratorSample, Vendor
from console.core.telemetry import Frames, StreamParser, TelemetrySource, telemetry_argv


def _ascend_document(tool: str, text: str) -> tuple[Sequence[AcceleratorSample], Sequence[str]]:
    table = parse_npu_smi(text)
    return table.chips, table.errors


def ascend_parser() -> StreamParser:
    return Frames(_ascend_document)


NPU_SMI: Final = TelemetrySource(
    name="npu-smi",
    vendor=Vendor.ASCEND,
    stream_argv=telemetry_argv("stream", "ascend"),
    once_argv=telemetry_argv("once", "ascend"),
    make_parser=ascend_parser,
)
