"""What every telemetry source shares: the frame and vendor lines of the node-side script, the parser
protocol, framed documents (tools that print a whole table or JSON per reading) and exit messages.

Each vendor's own command, parser and slow-path parts live in ``console.core.vendors`` (one module per
vendor). The node-side script (resources/scripts/telemetry.sh), for tools without a loop of their own and
for auto-detection, is a file shipped with the console; its text is constant (no operator or inventory
text is ever spliced in), its mode and vendor are arguments, and it is sent as ``sh -c SCRIPT
fleet-console MODE VENDOR``, quoted with ``shlex.join`` like every other argv.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from console.core.parsers.common import excerpt, output_summary
from console.core.resources import read_resource
from console.core.telemetry.samples import AcceleratorSample, ParsedLine, Vendor

FRAME: Final = "@@fleet-console-frame"
VENDOR_LINE: Final = "@@fleet-console-vendor"
NO_TOOL_STATUS: Final = 3
NO_TOOL_MESSAGE: Final = (
    "fleet-console: no accelerator tool found on this node (looked for nvidia-smi, npu-smi, amd-smi, rocm-smi)"
)

# The node-side script for tools without a loop of their own, and for detection (resources/scripts/).
TELEMETRY_SCRIPT: Final = read_resource("scripts/telemetry.sh")


def telemetry_argv(mode: str, vendor: str, *extra: str) -> list[str]:
    """``sh -c SCRIPT fleet-console MODE VENDOR …``: the script's text is constant, its arguments are words."""
    return ["sh", "-c", TELEMETRY_SCRIPT, "fleet-console", mode, vendor, *extra]


class StreamParser(Protocol):
    """Turns a stream's lines into parsed samples; may keep lines between calls (framed tools)."""

    def parse_lines(self, lines: Sequence[str]) -> list[ParsedLine]: ...

    def finish(self) -> list[ParsedLine]:
        """The stream ended: whatever the buffered lines still make."""
        ...


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


@dataclass(frozen=True, slots=True)
class TelemetrySource:
    name: str
    vendor: Vendor
    stream_argv: list[str]
    once_argv: list[str]
    make_parser: Callable[[], StreamParser]
    # What the slow path reads on such a node (resources/scripts/details.sh), and whether its kernel log is
    # followed live (XIDs are NVIDIA's).
    detail_parts: tuple[str, ...] = ("node",)
    follows_kernel_log: bool = False


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
