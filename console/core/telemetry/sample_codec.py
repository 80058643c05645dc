"""Parsed lines in a compact form for the pipe between a telemetry worker process and the console.

Why: pickling 8,000 parsed lines a second as objects (21 fields each, the same UUID, model and bus id every
second) cost a worker and the console about 0.18 of a core together — more than parsing them. Most
fields of an accelerator do not change from one second to the next, so each line travels as its index and
the fields that changed since the last line of the same accelerator (positions in AcceleratorSample's
field order); the first line of an accelerator carries every field. The decoder keeps the last sample of
each accelerator and rebuilds the next from it. Lines without a sample (errors, detections) travel whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any, Final

from console.core.telemetry.samples import AcceleratorSample, ParsedLine

FIELDS: Final = tuple(f.name for f in fields(AcceleratorSample))

# One encoded line: a ParsedLine (no sample), or (index, every value | {position: changed value}, field_errors)
Encoded = ParsedLine | tuple[int, tuple[Any, ...] | dict[int, Any], tuple[str, ...]]


def _values(sample: AcceleratorSample) -> tuple[Any, ...]:
    return tuple(getattr(sample, name) for name in FIELDS)


class SampleEncoder:
    """The worker's side: remembers what it last sent of each accelerator of each node."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, int], tuple[Any, ...]] = {}

    def encode(self, node: str, parsed: Sequence[ParsedLine]) -> list[Encoded]:
        out: list[Encoded] = []
        for line in parsed:
            sample = line.sample
            if sample is None or line.error is not None or line.detected is not None:
                out.append(line)
                continue
            values = _values(sample)
            key = (node, sample.index)
            last = self._last.get(key)
            self._last[key] = values
            if last is None:
                out.append((sample.index, values, line.field_errors))
            else:
                changed = {
                    i: v
                    for i, (v, was) in enumerate(zip(values, last, strict=True))
                    if v != was or type(v) is not type(was)
                }
                out.append((sample.index, changed, line.field_errors))
        return out


class SampleDecoder:
    """The console's side: rebuilds each line from the accelerator's last sample and what changed."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, int], tuple[Any, ...]] = {}

    def reset(self) -> None:
        """The worker started again: its encoder remembers nothing, and sends every field first."""
        self._last.clear()

    def decode(self, node: str, encoded: Sequence[Encoded]) -> list[ParsedLine]:
        out: list[ParsedLine] = []
        for item in encoded:
            if isinstance(item, ParsedLine):
                out.append(item)
                continue
            index, values, field_errors = item
            key = (node, index)
            if isinstance(values, dict):
                last = self._last.get(key)
                if last is None:
                    out.append(
                        ParsedLine(error="a reading arrived without the accelerator's first (worker restarted?)")
                    )
                    continue
                merged = list(last)
                for position, value in values.items():
                    merged[position] = value
                full = tuple(merged)
            else:
                full = values
            self._last[key] = full
            out.append(ParsedLine(sample=AcceleratorSample(*full), field_errors=field_errors))
        return out
