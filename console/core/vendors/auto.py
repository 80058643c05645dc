"""Auto-detection: resources/scripts/telemetry.sh looks for the tools once per connection (the NVML probe,
nvidia-smi, npu-smi, amd-smi or rocm-smi), announces what it found on a vendor line, then runs that
vendor's stream; the parser hands the rest to that vendor's parser. Until a node is known, the slow path
and the kernel follow treat it as NVIDIA (the other tools' nodes answer them harmlessly)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from console.core.parsers.common import excerpt
from console.core.telemetry.nvml_probe import PROBE_SOURCE, ProbeLines
from console.core.telemetry.samples import ParsedLine, Vendor
from console.core.telemetry.sources import VENDOR_LINE, StreamParser, TelemetrySource, telemetry_argv
from console.core.vendors.amd import amd_parser
from console.core.vendors.ascend import ascend_parser
from console.core.vendors.nvidia import CsvLines


class AutoDetect:
    """Reads the detection script's vendor line, then hands the rest to that vendor's parser."""

    def __init__(self) -> None:
        self.delegate: StreamParser | None = None

    def parse_lines(self, lines: Sequence[str]) -> list[ParsedLine]:
        out: list[ParsedLine] = []
        pending: list[str] = []
        for line in lines:
            if line.startswith(VENDOR_LINE):
                if self.delegate is not None and pending:
                    out += self.delegate.parse_lines(pending)
                pending = []
                words = line.split()
                vendor = Vendor(words[1]) if len(words) > 1 and words[1] in Vendor._value2member_map_ else None
                tool = words[2] if len(words) > 2 else "?"
                if vendor is None:
                    out.append(ParsedLine(error=f"unknown vendor line {excerpt(line)!r}"))
                    continue
                parsers: dict[Vendor, Callable[[], StreamParser]] = {
                    Vendor.NVIDIA: ProbeLines if tool == "nvml-probe" else CsvLines,
                    Vendor.ASCEND: ascend_parser,
                    Vendor.AMD: amd_parser,
                }
                self.delegate = parsers[vendor]()
                out.append(ParsedLine(detected=(tool, vendor)))
            else:
                pending.append(line)
        if pending:
            if self.delegate is None:
                out += [ParsedLine(error=f"output before the vendor was known: {excerpt(pending[0])!r}")]
            else:
                out += self.delegate.parse_lines(pending)
        return out

    def finish(self) -> list[ParsedLine]:
        return self.delegate.finish() if self.delegate is not None else []


AUTO: Final = TelemetrySource(
    name="auto-detect",
    vendor=Vendor.AUTO,
    stream_argv=telemetry_argv("stream", "auto", PROBE_SOURCE),
    once_argv=telemetry_argv("once", "auto", PROBE_SOURCE),
    make_parser=AutoDetect,
    detail_parts=("nvidia", "kernel", "node"),
    follows_kernel_log=True,
)
