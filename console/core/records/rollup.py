"""The archive's numbers: how one accelerator's minute is packed (12 bytes), and how a node's minutes become
its hour and its tenant's accelerator-minutes. One formula, used by the writer's hourly roll-up of what the
console streamed and by generators that hand the archive hours it never streamed (the demo's month).

Minutes are handled as a grid, [node, minute, slot], a slot being one of the node's accelerators that hour:
numpy reduces over the minute axis for the hour and over the slots for the tenancy. An hour of a 1,000-node
fleet (480,000 accelerator-minutes) rolls up in tens of milliseconds, where a loop over the items took
seconds of the interpreter the readers need.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from console.core.pacing import no_pace
from console.core.telemetry.samples import LIVE_STATES, NodeState

# An accelerator above this mean utilisation (%) in a minute was busy that minute; at or below it while a
# job holds it, idle while allocated.
BUSY_PCT: Final = 10.0

# The node state as a small number (its position here; new states are only ever appended).
STATE_CODES: Final[tuple[NodeState, ...]] = tuple(NodeState)
STATE_CODE: Final = {state: i for i, state in enumerate(STATE_CODES)}
LIVE_CODES: Final = tuple(sorted(STATE_CODE[state] for state in LIVE_STATES))

# One accelerator's minute: NA is the type's largest value.
MINUTE_DTYPE: Final = np.dtype(
    [
        ("index", "u1"),
        ("util_mean", "<u2"),  # hundredths of a percent
        ("util_max", "u1"),
        ("temp_max", "u1"),  # °C
        ("power_mean", "<u2"),  # W
        ("mem_max", "<u4"),  # MiB
        ("samples", "u1"),
    ]
)
# One accelerator's hour: as a minute, plus the minutes it was busy and the minutes it reported at all.
HOUR_DTYPE: Final = np.dtype(
    [
        ("index", "u1"),
        ("util_mean", "<u2"),
        ("util_max", "u1"),
        ("temp_max", "u1"),
        ("power_mean", "<u2"),
        ("mem_max", "<u4"),
        ("busy_minutes", "u1"),
        ("live_minutes", "u1"),
    ]
)
NA_U1: Final = 255
NA_U2: Final = 65535
NA_U4: Final = 2**32 - 1

# A minute's flags, one byte per accelerator: a job held it; it had an open warning or critical alert.
ALLOCATED_BIT: Final = 1
UNHEALTHY_BIT: Final = 2
NO_TENANT_ID: Final = 0
# A tenant's accelerator-minutes, in this order (usage_day's columns).
TALLY_FIELDS: Final = (
    "held",
    "healthy",
    "allocated",
    "busy",
    "idle_allocated",
    "out_of_service",
    "util_sum",
    "util_n",
)


def _packed(value: npt.ArrayLike, scale: float, na: int) -> npt.NDArray[np.int64]:
    """Scaled, rounded and clipped below NA; NaN (the tool gave none) as NA."""
    array = np.asarray(value, dtype=np.float64)
    missing = np.isnan(array)
    if not missing.any():
        return np.clip(np.round(array * scale), 0, na - 1).astype(np.int64)
    clipped = np.clip(np.round(np.where(missing, 0.0, array) * scale), 0, na - 1).astype(np.int64)
    return np.where(missing, na, clipped)


def pack_values(
    index: npt.ArrayLike,
    util_mean: npt.ArrayLike,
    util_max: npt.ArrayLike,
    temp_max: npt.ArrayLike,
    power_mean: npt.ArrayLike,
    mem_max: npt.ArrayLike,
    samples: npt.ArrayLike,
) -> npt.NDArray[Any]:
    """Minutes of accelerators (arrays of one shape, NaN where the tool gave none) as MINUTE_DTYPE."""
    shape = np.broadcast(
        np.asarray(index), np.asarray(util_mean), np.asarray(temp_max), np.asarray(mem_max), np.asarray(samples)
    ).shape
    out = np.zeros(shape, dtype=MINUTE_DTYPE)
    out["index"] = np.minimum(np.asarray(index, dtype=np.int64), 254)
    out["util_mean"] = _packed(util_mean, 100, NA_U2)
    out["util_max"] = _packed(util_max, 1, NA_U1)
    out["temp_max"] = _packed(temp_max, 1, NA_U1)
    out["power_mean"] = _packed(power_mean, 1, NA_U2)
    out["mem_max"] = _packed(mem_max, 1, NA_U4)
    out["samples"] = np.minimum(np.asarray(samples, dtype=np.int64), 254)
    return out


def pack_minute(accelerators: Sequence[tuple[int, tuple[float, float, float, float, float, int]]]) -> bytes:
    """One node's minute, (index, (util mean, util max, temperature max, power mean, memory max, samples))
    per accelerator, packed."""
    if not accelerators:
        return b""
    columns = list(zip(*((index, *figures) for index, figures in accelerators), strict=True))
    return bytes(pack_values(*columns).tobytes())


def unpack(blob: bytes, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    if len(blob) % dtype.itemsize:
        return np.zeros(0, dtype=dtype)
    return np.frombuffer(blob, dtype=dtype)


# A minute row as the archive stores it: (node id, minute start, state code, packed data, tenant id, flags).
MinuteRow = tuple[int, int, int, bytes, int | None, bytes | None]


@dataclass(frozen=True, slots=True)
class MinuteGrid:
    """Node-minutes of one hour as arrays: ``N`` nodes, ``M`` minutes from the hour's start, ``K`` slots.

    ``present`` says which node-minutes exist at all; ``reported`` which slots are in a minute's data;
    ``held`` which count for the tenant (those reported, and the node's known accelerators in a minute it
    did not answer); ``marks`` the flags bits. ``indices`` is each slot's accelerator index, ascending."""

    nodes: npt.NDArray[np.int64]  # [N] node ids
    indices: npt.NDArray[np.uint8]  # [N, K]
    present: npt.NDArray[np.bool_]  # [N, M]
    state: npt.NDArray[np.uint8]  # [N, M]
    tenant: npt.NDArray[np.int64]  # [N, M] tenant ids, NO_TENANT_ID for none
    values: npt.NDArray[Any]  # [N, M, K] MINUTE_DTYPE
    reported: npt.NDArray[np.bool_]  # [N, M, K]
    held: npt.NDArray[np.bool_]  # [N, M, K]
    marks: npt.NDArray[np.uint8]  # [N, M, K]

    @classmethod
    def empty(cls, nodes: Sequence[int], minutes: int, slots: int) -> MinuteGrid:
        """Nothing present yet; every value not available."""
        n = len(nodes)
        values = np.zeros((n, minutes, slots), dtype=MINUTE_DTYPE)
        for field, na in (("util_mean", NA_U2), ("util_max", NA_U1), ("temp_max", NA_U1), ("power_mean", NA_U2)):
            values[field] = na
        values["mem_max"] = NA_U4
        return cls(
            nodes=np.asarray(nodes, dtype=np.int64),
            indices=np.zeros((n, slots), dtype=np.uint8),
            present=np.zeros((n, minutes), dtype=np.bool_),
            state=np.zeros((n, minutes), dtype=np.uint8),
            tenant=np.zeros((n, minutes), dtype=np.int64),
            values=values,
            reported=np.zeros((n, minutes, slots), dtype=np.bool_),
            held=np.zeros((n, minutes, slots), dtype=np.bool_),
            marks=np.zeros((n, minutes, slots), dtype=np.uint8),
        )

    @classmethod
    def from_rows(cls, start: int, rows: Sequence[MinuteRow], pace: Callable[[], None] = no_pace) -> MinuteGrid:
        """The archive's minute rows of the hour from ``start`` (any order); ``pace`` called per node."""
        per_node: dict[int, list[_Row]] = {}
        for node, t, state, data, tenant, flags in rows:
            minute = (int(t) - start) // 60
            if 0 <= minute < 60:
                answered = bool(data) and not len(data) % MINUTE_DTYPE.itemsize
                per_node.setdefault(node, []).append(
                    _Row(minute, min(max(state, 0), 255), data, tenant or NO_TENANT_ID, flags, answered)
                )
        nodes = sorted(per_node)
        placed = [_NodeHour.of(per_node[node]) for node in nodes]
        grid = cls.empty(nodes, 60, max((p.slots for p in placed), default=0))
        for n, node_hour in enumerate(placed):
            node_hour.place(grid, n)
            pace()
        return grid

    def rows(self, start: int) -> list[MinuteRow]:
        """The present node-minutes as the archive stores them (the inverse of :meth:`from_rows`)."""
        out: list[MinuteRow] = []
        for n, m in zip(*np.nonzero(self.present), strict=True):
            reported = self.reported[n, m]
            if reported.any():
                data, flags = self.values[n, m][reported].tobytes(), self.marks[n, m][reported].tobytes()
            else:
                data, flags = b"", self.marks[n, m][self.held[n, m]].tobytes()
            tenant = int(self.tenant[n, m])
            out.append((int(self.nodes[n]), start + 60 * int(m), int(self.state[n, m]), data, tenant, flags))
        return out


@dataclass(frozen=True, slots=True)
class _Row:
    minute: int
    state: int
    data: bytes
    tenant: int
    flags: bytes | None
    answered: bool  # it lists accelerators (a blob that is not a whole number of them lists none)


@dataclass(frozen=True, slots=True)
class _NodeHour:
    """One node's rows of the hour, read for placing: its accelerators (the union over the hour, ascending)
    and, in the usual hour that lists the same accelerators every minute it answers, all of them decoded
    in one copy (rows that differ, an accelerator gone or back, are placed one by one)."""

    rows: list[_Row]
    union: npt.NDArray[np.uint8]
    stacked: npt.NDArray[Any] | None  # [answered row, accelerator] in ``union`` order, when regular
    order: npt.NDArray[np.intp]
    slots: int

    @classmethod
    def of(cls, rows: list[_Row]) -> _NodeHour:
        size = MINUTE_DTYPE.itemsize
        answered = [r for r in rows if r.answered]
        silent = max((len(r.flags or b"") for r in rows if not r.answered), default=0)
        width = len(answered[0].data) // size if answered else 0
        stacked = None
        order = np.zeros(0, dtype=np.intp)
        if answered and all(len(r.data) == width * size for r in answered):
            block = np.frombuffer(b"".join(r.data for r in answered), MINUTE_DTYPE).reshape(len(answered), width)
            first = block[0]["index"]
            order = np.argsort(first, kind="stable")
            union = first[order].astype(np.uint8)
            if (block["index"] == first).all() and (np.diff(union.astype(np.int64)) > 0).all():
                stacked = block[:, order]
        if stacked is None:
            every = [unpack(r.data, MINUTE_DTYPE)["index"] for r in answered]
            union = np.unique(np.concatenate(every)).astype(np.uint8) if every else np.zeros(0, np.uint8)
        return cls(rows, union, stacked, order, max(len(union), silent))

    def place(self, grid: MinuteGrid, n: int) -> None:
        width = len(self.union)
        grid.indices[n, :width] = self.union
        answered = [r for r in self.rows if r.answered]
        every = [r.minute for r in self.rows]
        grid.present[n, every] = True
        grid.state[n, every] = [r.state for r in self.rows]
        grid.tenant[n, every] = [r.tenant for r in self.rows]
        for row in self.rows:
            if row.flags and not row.answered:  # did not answer: its known accelerators, held
                grid.held[n, row.minute, : len(row.flags)] = True
                grid.marks[n, row.minute, : len(row.flags)] = np.frombuffer(row.flags, dtype=np.uint8)
        if self.stacked is not None:
            minutes = [r.minute for r in answered]
            marks = b"".join(
                r.flags if r.flags is not None and len(r.flags) == width else bytes(width) for r in answered
            )
            grid.values[n, minutes, :width] = self.stacked
            grid.reported[n, minutes, :width] = True
            grid.held[n, minutes, :width] = True
            grid.marks[n, minutes, :width] = np.frombuffer(marks, np.uint8).reshape(-1, width)[:, self.order]
            return
        slot_of = np.zeros(256, dtype=np.int64)
        slot_of[self.union] = np.arange(width)
        for row in answered:
            array = unpack(row.data, MINUTE_DTYPE)
            slots = slot_of[array["index"]]
            grid.values[n, row.minute, slots] = array
            grid.reported[n, row.minute, slots] = True
            grid.held[n, row.minute, slots] = True
            if row.flags is not None and len(row.flags) == len(array):
                grid.marks[n, row.minute, slots] = np.frombuffer(row.flags, dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class HourRollup:
    """An hour rolled up: per node (id, minutes live, minutes seen, packed HOUR_DTYPE per accelerator that
    reported), and per (tenant, node) the accelerator-minutes in TALLY_FIELDS' order."""

    hours: list[tuple[int, int, int, bytes]]
    usage: list[tuple[int, int, tuple[float, ...]]]


def _masked_max(values: npt.NDArray[Any], ok: npt.NDArray[np.bool_], na: int) -> npt.NDArray[np.int64]:
    found = np.where(ok, values, 0).max(axis=1, initial=0).astype(np.int64)
    return np.where(np.count_nonzero(ok, axis=1) > 0, found, na)


def _masked_mean(values: npt.NDArray[Any], ok: npt.NDArray[np.bool_], na: int) -> npt.NDArray[np.int64]:
    count = np.count_nonzero(ok, axis=1)
    total = np.where(ok, values, 0).sum(axis=1, dtype=np.float64)
    mean = np.round(total / np.maximum(count, 1)).astype(np.int64)
    return np.where(count > 0, mean, na)


def roll_hour(grid: MinuteGrid) -> HourRollup:
    """The hour of every node in ``grid``, and its tenants' accelerator-minutes."""
    values, reported, held = grid.values, grid.reported, grid.held
    util = np.ascontiguousarray(values["util_mean"])
    util_ok = reported & (util != NA_U2)
    busy_reading = util_ok & (util > BUSY_PCT * 100)

    hour = np.zeros(grid.indices.shape, dtype=HOUR_DTYPE)
    hour["index"] = grid.indices
    hour["util_mean"] = _masked_mean(util, util_ok, NA_U2)
    for field, na in (("util_max", NA_U1), ("temp_max", NA_U1), ("mem_max", NA_U4)):
        hour[field] = _masked_max(values[field], reported & (values[field] != na), na)
    hour["power_mean"] = _masked_mean(values["power_mean"], reported & (values["power_mean"] != NA_U2), NA_U2)
    hour["busy_minutes"] = np.count_nonzero(busy_reading, axis=1)
    live_minutes = np.count_nonzero(reported, axis=1)
    hour["live_minutes"] = live_minutes
    node_live = np.count_nonzero(grid.present & (grid.state == STATE_CODE[NodeState.UP]), axis=1)
    node_seen = np.count_nonzero(grid.present, axis=1)
    hours = [
        (int(grid.nodes[n]), int(node_live[n]), int(node_seen[n]), hour[n][live_minutes[n] > 0].tobytes())
        for n in range(len(grid.nodes))
        if node_seen[n]
    ]

    # Per node-minute tallies, then summed per (tenant, node) over the minutes present.
    live = held & reported & np.isin(grid.state, LIVE_CODES)[..., None]
    allocated = held & (grid.marks & ALLOCATED_BIT != 0)
    healthy = live & (grid.marks & UNHEALTHY_BIT == 0)
    busy = live & busy_reading
    measured = live & util_ok
    per_minute = np.stack(
        [
            np.count_nonzero(held, axis=2),
            np.count_nonzero(healthy, axis=2),
            np.count_nonzero(allocated, axis=2),
            np.count_nonzero(busy, axis=2),
            np.count_nonzero(live & allocated & ~busy, axis=2),
            np.count_nonzero(held & ~healthy, axis=2),  # out of service: down, or up with an open alert
            np.where(measured, util, 0).sum(axis=2, dtype=np.float64) / 100.0,
            np.count_nonzero(measured, axis=2),
        ],
        axis=-1,
    ).astype(np.float64)
    n_index, m_index = np.nonzero(grid.present)
    if not len(n_index):
        return HourRollup(hours, [])
    # One key per (tenant, node): a node's tenant may change within the hour (a move).
    keys = grid.tenant[n_index, m_index] * len(grid.nodes) + n_index
    unique, inverse = np.unique(keys, return_inverse=True)
    rows = per_minute[n_index, m_index]
    sums = np.stack(
        [np.bincount(inverse, weights=rows[:, f], minlength=len(unique)) for f in range(len(TALLY_FIELDS))], axis=1
    )
    usage = [
        (int(key // len(grid.nodes)), int(grid.nodes[key % len(grid.nodes)]), tuple(float(x) for x in sums[i]))
        for i, key in enumerate(unique.tolist())
    ]
    return HourRollup(hours, usage)
