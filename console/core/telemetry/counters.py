"""The sticky counters of an accelerator (ECC, retired pages, remapped rows, XIDs seen) as an acknowledgement
records them, and what grew since. These counters only fall with a GPU reset or a repair: once a person has
acknowledged them, the rules alert again only when they grow past the acknowledged values."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from console.core.parsers.nvidia_xml import GpuDetail
from console.core.telemetry.samples import NotAvailable

# --- acknowledgement counters -------------------------------------------------------------------------------

COUNTER_FIELDS: Final[tuple[str, ...]] = (
    "ecc_corrected_volatile",
    "ecc_uncorrected_volatile",
    "ecc_corrected_aggregate",
    "ecc_uncorrected_aggregate",
    "retired_pages_single",
    "retired_pages_double",
    "remapped_rows_correctable",
    "remapped_rows_uncorrectable",
)
FLAG_FIELDS: Final[tuple[str, ...]] = ("retired_pages_pending", "remapped_rows_pending", "remapped_rows_failure")
COUNTER_WORDS: Final = {
    "ecc_corrected_volatile": "ECC corrected (volatile)",
    "ecc_uncorrected_volatile": "ECC uncorrected (volatile)",
    "ecc_corrected_aggregate": "ECC corrected (aggregate)",
    "ecc_uncorrected_aggregate": "ECC uncorrected (aggregate)",
    "retired_pages_single": "retired pages (single-bit)",
    "retired_pages_double": "retired pages (double-bit)",
    "remapped_rows_correctable": "remapped rows (correctable)",
    "remapped_rows_uncorrectable": "remapped rows (uncorrectable)",
    "retired_pages_pending": "retired pages pending",
    "remapped_rows_pending": "remapped rows pending",
    "remapped_rows_failure": "row remapping failed",
}


@dataclass(frozen=True, slots=True)
class AcceleratorCounters:
    """The sticky counters of one accelerator at one moment (what only a reset or a repair clears)."""

    index: int
    uuid: str | None
    taken_at: float
    counters: Mapping[str, float]
    flags: Mapping[str, str]
    xids: tuple[int, ...]
    node: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "uuid": self.uuid,
            "taken_at": self.taken_at,
            "counters": dict(self.counters),
            "flags": dict(self.flags),
            "xids": list(self.xids),
            "node": self.node,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AcceleratorCounters:
        """Raises KeyError, TypeError or ValueError for what is not a counters record (a damaged row)."""
        if not isinstance(data, Mapping):
            raise TypeError(f"a counters record is an object, not {type(data).__name__}")
        counters = data.get("counters") or {}
        flags = data.get("flags") or {}
        return cls(
            index=int(data["index"]),
            uuid=data.get("uuid") if isinstance(data.get("uuid"), str) else None,
            taken_at=float(data.get("taken_at") or 0.0),
            counters={k: float(v) for k, v in counters.items() if k in COUNTER_FIELDS and _finite(v)},
            flags={k: str(v) for k, v in flags.items() if k in FLAG_FIELDS},
            xids=tuple(int(x) for x in data.get("xids") or () if isinstance(x, int)),
            node=data.get("node") if isinstance(data.get("node"), str) else None,
        )


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def counters_of(
    detail: GpuDetail, xids: Iterable[int], taken_at: float, node: str | None = None
) -> AcceleratorCounters:
    counters: dict[str, float] = {}
    for name in COUNTER_FIELDS:
        value = getattr(detail, name)
        if not isinstance(value, NotAvailable) and _finite(value):
            counters[name] = float(value)
    flags = {name: str(getattr(detail, name)) for name in FLAG_FIELDS if isinstance(getattr(detail, name), str)}
    uuid = detail.uuid if isinstance(detail.uuid, str) else None
    return AcceleratorCounters(detail.index, uuid, taken_at, counters, flags, tuple(sorted(set(xids))), node)


def grown(baseline: AcceleratorCounters, current: GpuDetail) -> dict[str, tuple[float, float]]:
    """Counters that grew past the acknowledged values: name → (acknowledged, now)."""
    out = {}
    for name in COUNTER_FIELDS:
        value = getattr(current, name)
        if isinstance(value, NotAvailable) or not _finite(value):
            continue
        before = baseline.counters.get(name)
        if before is not None and float(value) > before:
            out[name] = (before, float(value))
    return out


def new_since_acknowledged(
    baseline: AcceleratorCounters, current: GpuDetail | None, xids_since: Sequence[int] = ()
) -> list[str]:
    """In words, what changed on the accelerator since the acknowledgement (empty: nothing new)."""
    words = []
    if current is not None:
        for name, (before, now) in grown(baseline, current).items():
            words.append(f"{COUNTER_WORDS[name]} {before:.0f} → {now:.0f}")
        for name in FLAG_FIELDS:
            value = getattr(current, name)
            if isinstance(value, str) and value.lower() == "yes" and baseline.flags.get(name, "").lower() != "yes":
                words.append(f"{COUNTER_WORDS[name]} (was {baseline.flags.get(name) or 'not reported'})")
    for code in sorted(set(xids_since)):
        words.append(f"XID {code} after the acknowledgement")
    return words
