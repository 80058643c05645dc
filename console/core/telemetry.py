"""Which command gives a node's telemetry, and which parser reads it.

Transport runs whatever argv it is handed; this module decides what that is, per declared vendor:
- nvidia: ``nvidia-smi --query-gpu=… -lms 1000`` (one CSV line per GPU per second);
- ascend: ``npu-smi info`` once a second (it has no loop option), each table followed by a frame line;
- amd: ``amd-smi static --json`` once, then ``amd-smi metric --json`` once a second, or ``rocm-smi --json``
  on nodes without amd-smi, each followed by a frame line;
- auto: a detection script that looks for the tools once per connection, announces what it found on a
  vendor line, then runs that vendor's stream; a node with none says so and exits.
The scripts are constant text of this module (no operator or inventory text is ever spliced in) and are
sent as ``sh -c SCRIPT``, quoted with ``shlex.join`` like every other argv.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from console.core.nvml_probe import PROBE_SOURCE, ProbeLines
from console.core.parsers import nvidia_csv
from console.core.parsers.amd import parse_amd_smi_metric, parse_amd_smi_static, parse_rocm_smi_json
from console.core.parsers.common import excerpt, output_summary
from console.core.parsers.npu_smi import parse_npu_smi
from console.core.samples import AcceleratorSample, ParsedLine, Vendor

FRAME: Final = "@@fleet-console-frame"
VENDOR_LINE: Final = "@@fleet-console-vendor"
NO_TOOL_STATUS: Final = 3
NO_TOOL_MESSAGE: Final = (
    "fleet-console: no accelerator tool found on this node (looked for nvidia-smi, npu-smi, amd-smi, rocm-smi)"
)

_NVIDIA_STREAM: Final = " ".join(nvidia_csv.stream_argv())


# The frame line starts on a line of its own even when the tool's output does not end with a newline
# (JSON often does not), and carries the tool's exit status.
def frame_command(tool: str) -> str:
    """The shell command that ends a reading: a frame line naming the tool and its exit status."""
    return f"printf '\\n{FRAME} {tool} %s\\n' \"$?\""


_ASCEND_LOOP: Final = f"while :; do npu-smi info 2>&1; {frame_command('npu-smi')}; sleep 1; done"
_ASCEND_ONCE: Final = f"npu-smi info 2>&1; {frame_command('npu-smi')}"
_AMD_BODY: Final = (
    "if command -v amd-smi >/dev/null 2>&1; then "
    f"amd-smi static --json 2>&1; {frame_command('amd-smi-static')}; "
    f"{{loop}} amd-smi metric --json 2>&1; {frame_command('amd-smi-metric')}; {{end}} "
    "elif command -v rocm-smi >/dev/null 2>&1; then "
    f"{{loop}} rocm-smi --showmeminfo all -a --json 2>&1; {frame_command('rocm-smi')}; {{end}} "
    f'else echo "{NO_TOOL_MESSAGE}" >&2; exit {NO_TOOL_STATUS}; fi'
)
_AMD_LOOP: Final = _AMD_BODY.replace("{loop}", "while :; do").replace("{end}", "sleep 1; done;")
_AMD_ONCE: Final = _AMD_BODY.replace("{loop}", "").replace("{end}", "")


def _auto(nvidia: str, ascend: str, amd: str, probe: str) -> str:
    # The NVML probe (its source is $1) where the node's python3 has pynvml and NVML answers; else nvidia-smi.
    return (
        'if command -v python3 >/dev/null 2>&1 && python3 -c "$1" --check >/dev/null 2>&1; then '
        f'echo "{VENDOR_LINE} nvidia nvml-probe"; exec python3 -c "$1"{probe}; '
        f'elif command -v nvidia-smi >/dev/null 2>&1; then echo "{VENDOR_LINE} nvidia nvidia-smi"; exec {nvidia}; '
        f'elif command -v npu-smi >/dev/null 2>&1; then echo "{VENDOR_LINE} ascend npu-smi"; {ascend}; '
        "elif command -v amd-smi >/dev/null 2>&1 || command -v rocm-smi >/dev/null 2>&1; then "
        f'echo "{VENDOR_LINE} amd amd-smi"; {amd}; '
        f'else echo "{NO_TOOL_MESSAGE}" >&2; exit {NO_TOOL_STATUS}; fi'
    )


AUTO_STREAM_SCRIPT: Final = _auto(_NVIDIA_STREAM, _ASCEND_LOOP, _AMD_LOOP, "")
AUTO_ONCE_SCRIPT: Final = _auto(" ".join(nvidia_csv.once_argv()), _ASCEND_ONCE, _AMD_ONCE, " --once")


class StreamParser(Protocol):
    """Turns a stream's lines into parsed samples; may keep lines between calls (framed tools)."""

    def parse_lines(self, lines: Sequence[str]) -> list[ParsedLine]: ...

    def finish(self) -> list[ParsedLine]:
        """The stream ended: whatever the buffered lines still make."""
        ...


class CsvLines:
    """nvidia-smi CSV: every line stands alone."""

    def __init__(self) -> None:
        self.parser = nvidia_csv.NvidiaCsvParser()

    def parse_lines(self, lines: Sequence[str]) -> list[ParsedLine]:
        return [self.parser.parse_line(line) for line in lines if line.strip()]

    def finish(self) -> list[ParsedLine]:
        return []


Document = Callable[[str, str], tuple[Sequence[AcceleratorSample], Sequence[str]]]


class Frames:
    """Tools that print a whole table or JSON document per reading: lines are kept until the frame line,
    whose words name the tool and its exit status, and then the document is parsed at once."""

    MAX_LINES: Final = 20_000
    # Counted in bytes too: 20,000 lines of 60 KB without a frame line cost a gigabyte.
    MAX_BYTES: Final = 1 << 20

    def __init__(self, parse: Document) -> None:
        self.parse = parse
        self.buffer: list[str] = []
        self.buffered_bytes = 0

    def parse_lines(self, lines: Sequence[str]) -> list[ParsedLine]:
        out: list[ParsedLine] = []
        for raw in lines:
            line = raw
            if FRAME in raw and not raw.startswith(FRAME):
                before, _, after = raw.partition(FRAME)
                self._keep(before)
                line = FRAME + after
            if line.startswith(FRAME):
                out += self._document(line)
                self.buffered_bytes = 0
            elif len(self.buffer) < self.MAX_LINES and self.buffered_bytes + len(line) <= self.MAX_BYTES:
                self._keep(line)
            else:
                out.append(
                    ParsedLine(
                        error=(
                            f"no frame end after {len(self.buffer)} lines and {self.buffered_bytes} bytes (limits "
                            f"{self.MAX_LINES} lines, {self.MAX_BYTES} bytes): output is not what the console expects"
                        )
                    )
                )
                self.buffer.clear()
                self.buffered_bytes = 0
        return out

    def _keep(self, line: str) -> None:
        self.buffer.append(line)
        self.buffered_bytes += len(line)

    def finish(self) -> list[ParsedLine]:
        self.buffered_bytes = 0
        if not any(line.strip() for line in self.buffer):
            self.buffer.clear()
            return []
        self.buffer.clear()
        return [ParsedLine(error="the output stopped in the middle of a reading (truncated)")]

    def _document(self, frame: str) -> list[ParsedLine]:
        words = frame.split()
        tool = words[1] if len(words) > 1 else "?"
        status = words[2] if len(words) > 2 else "?"
        text = "\n".join(self.buffer)
        self.buffer.clear()
        samples, errors = self.parse(tool, text)
        if status not in ("0", "?") and not samples:
            return [ParsedLine(error=f"{tool} exited with status {status}: {output_summary(text) or 'no output'}")]
        return [ParsedLine(sample=s) for s in samples] + [ParsedLine(error=f"{tool}: {e}") for e in errors]


def _ascend_document(tool: str, text: str) -> tuple[Sequence[AcceleratorSample], Sequence[str]]:
    table = parse_npu_smi(text)
    return table.chips, table.errors


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


def ascend_parser() -> StreamParser:
    return Frames(_ascend_document)


def amd_parser() -> StreamParser:
    return Frames(_AmdDocuments())


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


@dataclass(frozen=True, slots=True)
class TelemetrySource:
    name: str
    vendor: Vendor
    stream_argv: list[str]
    once_argv: list[str]
    make_parser: Callable[[], StreamParser]


NVIDIA_SMI: Final = TelemetrySource(
    name="nvidia-smi",
    vendor=Vendor.NVIDIA,
    stream_argv=nvidia_csv.stream_argv(),
    once_argv=nvidia_csv.once_argv(),
    make_parser=CsvLines,
)
NPU_SMI: Final = TelemetrySource(
    name="npu-smi",
    vendor=Vendor.ASCEND,
    stream_argv=["sh", "-c", _ASCEND_LOOP],
    once_argv=["sh", "-c", _ASCEND_ONCE],
    make_parser=ascend_parser,
)
AMD_SMI: Final = TelemetrySource(
    name="amd-smi",
    vendor=Vendor.AMD,
    stream_argv=["sh", "-c", _AMD_LOOP],
    once_argv=["sh", "-c", _AMD_ONCE],
    make_parser=amd_parser,
)
AUTO: Final = TelemetrySource(
    name="auto-detect",
    vendor=Vendor.AUTO,
    stream_argv=["sh", "-c", AUTO_STREAM_SCRIPT, "fleet-console", PROBE_SOURCE],
    once_argv=["sh", "-c", AUTO_ONCE_SCRIPT, "fleet-console", PROBE_SOURCE],
    make_parser=AutoDetect,
)


def source_for(vendor: Vendor) -> TelemetrySource:
    """The telemetry source for a node's declared vendor (``auto`` detects the tool on the node)."""
    return {Vendor.NVIDIA: NVIDIA_SMI, Vendor.ASCEND: NPU_SMI, Vendor.AMD: AMD_SMI, Vendor.AUTO: AUTO}[vendor]


def describe_exit(command: str, status: int | None, stderr: str) -> str:
    """A sentence for a telemetry command that ended: what ran, how it ended, what it said."""
    stderr = excerpt(stderr.strip())
    if status == NO_TOOL_STATUS and "no accelerator tool found" in stderr:
        return stderr.removeprefix("fleet-console: ")
    if status == 127 or "command not found" in stderr or stderr.endswith(": not found"):
        return f"{command} not found on the node ({stderr or 'exit status 127'})"
    if status is None:
        return f"{command} stopped without an exit status" + (f": {stderr}" if stderr else "")
    return f"{command} exited with status {status}" + (f": {stderr}" if stderr else "")
