"""``nvidia-smi --query-gpu=… --format=csv[,noheader][,nounits]`` → :class:`AcceleratorSample`.

The console streams ``STREAM_FIELDS`` with ``noheader,nounits`` once a second; recorded outputs with a
header and units (``utilization.gpu [%]`` / ``100 %``) parse through :func:`parse_document`.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from console.core.parsers.common import FieldError, excerpt, not_available, parse_number, parse_text
from console.core.telemetry.samples import AcceleratorSample, NotAvailable, ParsedLine, Vendor

# Field names as nvidia-smi --help-query-gpu lists them. Every one exists since at least driver 410, so
# the stream works on old nodes too (nvidia-smi refuses the whole query if one field is unknown).
STREAM_FIELDS: Final[tuple[str, ...]] = (
    "timestamp",
    "count",
    "index",
    "uuid",
    "name",
    "pci.bus_id",
    "utilization.gpu",
    "memory.used",
    "memory.total",
    "temperature.gpu",
    "power.draw",
    "power.limit",
    "clocks.sm",
    "fan.speed",
    "pstate",
)

# nvidia-smi accepts several names for some fields and prints the long one in headers.
_ALIASES: Final = {
    "clocks.current.sm": "clocks.sm",
    "gpu_name": "name",
    "gpu_uuid": "uuid",
    "gpu_bus_id": "pci.bus_id",
}

STREAM_INTERVAL_MS: Final = 1000


def stream_argv(interval_ms: int = STREAM_INTERVAL_MS, fields: Sequence[str] = STREAM_FIELDS) -> list[str]:
    """The argv of the long-lived telemetry command (to be quoted with ``shlex.join``)."""
    return [
        "nvidia-smi",
        "--query-gpu=" + ",".join(fields),
        "--format=csv,noheader,nounits",
        "-lms",
        str(interval_ms),
    ]


def once_argv(fields: Sequence[str] = STREAM_FIELDS) -> list[str]:
    """One reading of every GPU, then exit: what ``poll --once`` runs."""
    return ["nvidia-smi", "--query-gpu=" + ",".join(fields), "--format=csv,noheader,nounits"]


def canonical_field(header: str) -> str:
    """``"clocks.current.sm [MHz]"`` → ``"clocks.sm"``."""
    name = header.strip().split(" [", 1)[0].strip()
    return _ALIASES.get(name, name)


def parse_timestamp(token: str, field: str) -> float | NotAvailable:
    """``2026/07/14 08:12:53.353`` (the node's local time) → epoch seconds."""
    missing = not_available(token)
    if missing is not None:
        return missing
    text = token.strip()
    try:
        return _timestamp_value(text)
    except (ValueError, OverflowError):
        raise FieldError(f"{field}: {excerpt(text)!r} is not a timestamp") from None


@functools.lru_cache(maxsize=256)
def _timestamp_value(text: str) -> float:
    """Every GPU of a node prints the same timestamp in a round: converted once (mktime is the slow part)."""
    date_part, time_part = text.split(" ")
    year, month, day = (int(p) for p in date_part.split("/"))
    hms, _, fraction = time_part.partition(".")
    hour, minute, second = (int(p) for p in hms.split(":"))
    whole = time.mktime((year, month, day, hour, minute, second, 0, 0, -1))
    return whole + (float("0." + fraction) if fraction else 0.0)


def _fast_number(token: str, field: str) -> float | NotAvailable:
    """``parse_number`` for what ``nounits`` output nearly always is — a plain number — without its checks;
    anything else (a unit, ``[N/A]``, ``nan``) goes the careful way, with the same answer."""
    try:
        value = float(token)
    except ValueError:
        return parse_number(token, field)
    if not math.isfinite(value):
        return parse_number(token, field)
    return value


def _integer(token: str, field: str) -> int | None:
    value = parse_number(token, field)
    if isinstance(value, NotAvailable):
        return None
    if value != int(value) or value < 0 or value > 1_000_000:
        raise FieldError(f"{field}: {excerpt(token.strip())!r} is not a small whole number")
    return int(value)


# field → (sample attribute, converter)
_Converter = Callable[[str, str], Any]
_FIELD_MAP: Final[dict[str, tuple[str, _Converter]]] = {
    "timestamp": ("node_time", parse_timestamp),
    "count": ("count", _integer),
    "index": ("index", _integer),
    "uuid": ("uuid", lambda token, _field: parse_text(token)),
    "name": ("model", lambda token, _field: parse_text(token)),
    "pci.bus_id": ("pci_bus_id", lambda token, _field: parse_text(token)),
    "utilization.gpu": ("utilization_pct", _fast_number),
    "memory.used": ("memory_used_mib", _fast_number),
    "memory.total": ("memory_total_mib", _fast_number),
    "temperature.gpu": ("temperature_c", _fast_number),
    "power.draw": ("power_w", _fast_number),
    "power.limit": ("power_limit_w", _fast_number),
    "clocks.sm": ("sm_clock_mhz", _fast_number),
    "fan.speed": ("fan_pct", _fast_number),
    "pstate": ("pstate", lambda token, _field: parse_text(token)),
}

# What nvidia-smi prints on stdout instead of CSV when it cannot talk to the driver or a GPU.
_TOOL_COMPLAINTS: Final = (
    "nvidia-smi has failed",
    "no devices were found",
    "unable to determine the device handle",
    "is not a valid field to query",
    "failed to initialize nvml",
    "driver/library version mismatch",
    "gpu is lost",
)


# The GPUs a parser remembers the last line of (a node has at most MAX_ACCELERATORS_PER_NODE; more indices
# than this are a broken or hostile tool).
MAX_REMEMBERED_GPUS: Final = 64


@dataclass(frozen=True, slots=True)
class NvidiaCsvParser:
    """Parses lines of one ``--query-gpu`` field list. Never raises on input: errors come back in words."""

    fields: tuple[str, ...] = STREAM_FIELDS
    # Per field, once: its sample attribute and converter (None: a field the console does not keep).
    _plan: tuple[tuple[str, str, _Converter] | None, ...] = field(default=(), init=False, repr=False, compare=False)
    # Per GPU (its line's index text), the last line's fields as text and as values: a field whose text is
    # the same as in that GPU's last line has the same value (the converters are pure), and from one second
    # to the next most are (UUID, name, bus id, limits, totals …). At 1,000 × 8 lines a second this took the
    # console from 0.48 to 0.40–0.42 of a core (docs/bench.md).
    _last: dict[str, tuple[list[str | None], list[Any]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _index_at: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if "index" not in self.fields:
            raise ValueError("the field list must include 'index'")
        object.__setattr__(self, "_index_at", self.fields.index("index"))
        plan = []
        for name in self.fields:
            mapped = _FIELD_MAP.get(canonical_field(name))
            plan.append(None if mapped is None else (name, mapped[0], mapped[1]))
        object.__setattr__(self, "_plan", tuple(plan))

    def parse_line(self, line: str) -> ParsedLine:
        stripped = line.strip()
        if not stripped:
            return ParsedLine(error="empty line")
        tokens = stripped.split(",")
        if len(tokens) != len(self.fields):
            lowered = stripped.lower()
            if any(complaint in lowered for complaint in _TOOL_COMPLAINTS):
                return ParsedLine(error=f"nvidia-smi: {excerpt(stripped)}")
            return ParsedLine(
                error=(
                    f"expected {len(self.fields)} comma-separated fields, got {len(tokens)} "
                    f"(truncated or foreign line?): {excerpt(stripped)!r}"
                )
            )
        values: dict[str, Any] = {}
        unreadable: list[str] = []
        key = tokens[self._index_at]
        remembered = self._last.get(key)
        if remembered is None:
            if len(self._last) >= MAX_REMEMBERED_GPUS:
                self._last.clear()  # a node naming ever new indices: bounded, as everything it says
            remembered = self._last[key] = ([None] * len(tokens), [None] * len(tokens))
        last_tokens, last_values = remembered
        for position, (step, token) in enumerate(zip(self._plan, tokens, strict=True)):
            if step is None:
                continue
            name, attribute, convert = step
            if token == last_tokens[position]:
                values[attribute] = last_values[position]
                continue
            try:
                values[attribute] = last_values[position] = convert(token, name)
                last_tokens[position] = token
            except FieldError as exc:
                if attribute == "index":
                    return ParsedLine(error=f"{exc} in line {excerpt(stripped)!r}")
                # One field in a format the console does not expect costs that field, not the line: it is
                # "not available" with the tool's own words, and the node says which field it was.
                values[attribute] = None if attribute == "count" else NotAvailable(excerpt(token.strip()))
                unreadable.append(str(exc))
        if values.get("index") is None:
            return ParsedLine(error=f"no GPU index in line {excerpt(stripped)!r}")
        return ParsedLine(
            sample=AcceleratorSample(vendor=Vendor.NVIDIA, **values),
            field_errors=tuple(unreadable),
        )


def parse_document(text: str, fields: Sequence[str] | None = None) -> list[ParsedLine]:
    """A whole ``--format=csv`` output. With ``fields=None`` the first line is the header."""
    lines = [line for line in text.splitlines() if line.strip()]
    if fields is None:
        if not lines:
            return []
        header, *lines = lines
        fields = [canonical_field(name) for name in header.split(",")]
    parser = NvidiaCsvParser(tuple(canonical_field(name) for name in fields))
    return [parser.parse_line(line) for line in lines]
