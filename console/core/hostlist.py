"""Slurm host lists: ``node[1-3,07],gpu-a[01-02]`` ⇄ names, as Slurm writes and reads them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

_RANGE_RE: Final = re.compile(r"^(\d+)(?:-(\d+))?$")
_TAIL_NUMBER_RE: Final = re.compile(r"^(.*?)(\d+)$")
MAX_EXPANSION: Final = 100_000


class HostlistError(ValueError):
    pass


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside brackets."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise HostlistError(f"unbalanced ']' in {text!r}")
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth:
        raise HostlistError(f"unbalanced '[' in {text!r}")
    parts.append("".join(current))
    return [p for p in (p.strip() for p in parts) if p]


def expand(text: str) -> list[str]:
    """``node[1-3,7]`` → ``['node1', 'node2', 'node3', 'node7']``; zero padding is kept (``[01-03]``)."""
    names: list[str] = []
    for part in _split_top_level(text.strip()):
        match = re.match(r"^([^\[]*)\[([^\]]*)\](.*)$", part)
        if not match:
            names.append(part)
            continue
        prefix, ranges, suffix = match.groups()
        tails = expand(suffix) if "[" in suffix else [suffix]
        for item in ranges.split(","):
            found = _RANGE_RE.match(item.strip())
            if not found:
                raise HostlistError(f"bad range {item!r} in {part!r}")
            low_text, high_text = found.group(1), found.group(2) or found.group(1)
            low, high = int(low_text), int(high_text)
            if high < low or high - low > MAX_EXPANSION:
                raise HostlistError(f"bad range {item!r} in {part!r}")
            width = len(low_text)
            for number in range(low, high + 1):
                for tail in tails:
                    names.append(f"{prefix}{number:0{width}d}{tail}")
            if len(names) > MAX_EXPANSION:
                raise HostlistError(f"{text!r} expands to more than {MAX_EXPANSION} names")
    return names


def compress(names: Iterable[str]) -> str:
    """The inverse of :func:`expand`, keeping the given order of prefixes; duplicates are dropped."""
    groups: dict[tuple[str, int], list[int]] = {}
    plain: list[str] = []
    order: list[tuple[str, int] | str] = []
    seen: set[str] = set()
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        match = _TAIL_NUMBER_RE.match(name)
        if not match:
            plain.append(name)
            order.append(name)
            continue
        prefix, digits = match.groups()
        width = len(digits) if digits.startswith("0") else 0
        key = (prefix, width)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(int(digits))
    out: list[str] = []
    for item in order:
        if isinstance(item, str):
            out.append(item)
            continue
        prefix, width = item
        numbers = sorted(set(groups[item]))
        if len(numbers) == 1:
            out.append(f"{prefix}{numbers[0]:0{width}d}")
            continue
        spans: list[str] = []
        start = prev = numbers[0]
        for number in [*numbers[1:], None]:
            if number is not None and number == prev + 1:
                prev = number
                continue
            spans.append(f"{start:0{width}d}" if start == prev else f"{start:0{width}d}-{prev:0{width}d}")
            if number is not None:
                start = prev = number
        out.append(f"{prefix}[{','.join(spans)}]")
    return ",".join(out)
