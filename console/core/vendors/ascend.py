"""Huawei Ascend: ``npu-smi info`` once a second (it has no loop option; resources/scripts/telemetry.sh loops),
each table followed by a frame line and parsed whole. The slow path reads the node's health only.
Temperature limits: the ``ascend`` entry of the alert rules (resources/alert-rules.toml). npu-smi's health
words, and the severity each raises, are here and only here: the alerts and the heatmap both read them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from console.core.parsers.npu_smi import parse_npu_smi
from console.core.telemetry.samples import AcceleratorSample, Vendor
from console.core.telemetry.sources import Frames, StreamParser, TelemetrySource, telemetry_argv


def _ascend_document(tool: str, text: str) -> tuple[Sequence[AcceleratorSample], Sequence[str]]:
    table = parse_npu_smi(text)
    return table.chips, table.errors


def ascend_parser() -> StreamParser:
    return Frames(_ascend_document)


# npu-smi's health words (the table's Health column, ``-t health``'s Health Status), lower-cased, and the
# alert severity each raises. "OK" (and nothing) is healthy; a word not listed here raises a warning that
# quotes it, so a word a newer npu-smi adds is never read as healthy.
HEALTH_SEVERITY: Final = {
    "warning": "warning",
    "general warning": "warning",
    "important warning": "warning",
    "alarm": "critical",
    "critical": "critical",
}


def health_severity(word: object) -> str | None:
    """``"warning"`` or ``"critical"`` for an npu-smi health word; None where it says healthy (or nothing)."""
    if not isinstance(word, str) or word.strip().lower() in ("ok", ""):
        return None
    return HEALTH_SEVERITY.get(" ".join(word.lower().split()), "warning")


NPU_SMI: Final = TelemetrySource(
    name="npu-smi",
    vendor=Vendor.ASCEND,
    stream_argv=telemetry_argv("stream", "ascend"),
    once_argv=telemetry_argv("once", "ascend"),
    make_parser=ascend_parser,
)
