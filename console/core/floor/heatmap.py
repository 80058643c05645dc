"""The whole floor at a glance (pure): one cell per accelerator, coloured by a chosen measure and grouped by
rack, tenant, Slurm partition or vendor — the heatmap's model — and the racks as elevations.

A cell's ``level`` is the measure scaled to 0..1 against its own limit (utilisation against 100 %,
temperature from 30 °C to the vendor's critical limit from the alert rules plus a margin, power against the
GPU's power limit, memory against its total); a reading past its limit (the critical temperature, the power
limit) is ``over_limit`` and drawn in a colour of its own, not as the ramp's top. A group carries its
figure for the measure (max and mean), so the hottest rack is found by reading, not by squinting. A node
that is not up never reads as idle: its cells are ``UNREACHABLE``
(or ``STALE`` while its last readings are only old), drawn apart from any value.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from console.core.alerts.config import AlertRules, Severity
from console.core.inventory import Inventory, NodeSpec
from console.core.telemetry.fleet import NodeView
from console.core.telemetry.samples import LIVE_STATES, AcceleratorSample, NodeState, NotAvailable, Vendor
from console.core.vendors.ascend import health_severity

NO_GROUP: Final = "(none)"
COLD_C: Final = 30.0  # the temperature scale's zero
# The temperature scale's top is the vendor's critical limit plus this: 76 °C and 100 °C are apart on it, and
# what passes the limit has its own colour.
TEMP_MARGIN_C: Final = 15.0


class ColorBy(enum.StrEnum):
    UTILIZATION = "utilization"
    TEMPERATURE = "temperature"
    POWER = "power"
    MEMORY = "memory"
    HEALTH = "health"
    STATE = "state"


class GroupBy(enum.StrEnum):
    RACK = "rack"
    TENANT = "tenant"
    PARTITION = "partition"
    VENDOR = "vendor"


class CellKind(enum.StrEnum):
    VALUE = "value"  # a reading, scaled to 0..1 in ``level``
    NO_READING = "no reading"  # the node is up but the tool printed no value (N/A) for this measure
    STALE = "stale"  # the node's last readings are old
    UNREACHABLE = "unreachable"  # the node is down, unreachable or refused: never drawn as idle


@dataclass(frozen=True, slots=True)
class Cell:
    node: str
    accelerator: int | None  # None: a node with no accelerator seen yet
    kind: CellKind
    level: float = 0.0  # 0..1 (may pass 1: over the limit)
    words: str = ""  # the value as a person reads it ("87 %", "91 °C of 92")
    updated_at: float | None = None
    value: float | None = None  # the reading in the measure's unit (FIGURE_UNITS), for the group's figure
    over_limit: bool = False  # past the vendor's critical temperature or the GPU's power limit


@dataclass(slots=True)
class CellGroup:
    name: str
    cells: list[Cell] = field(default_factory=list)

    @property
    def nodes(self) -> list[str]:
        return list(dict.fromkeys(c.node for c in self.cells))


def _number(value: float | str | NotAvailable | None) -> float | None:
    if value is None or isinstance(value, NotAvailable | str):
        return None
    return float(value)


def node_cells(view: NodeView, color_by: ColorBy, rules: AlertRules) -> list[Cell]:
    """The node's cells, one per accelerator (one for a node never read)."""
    if view.state not in LIVE_STATES and view.state != NodeState.STALE:
        count = max(1, len(view.accelerators))
        indices: list[int | None] = [a.sample.index for a in view.accelerators] or [None]
        return [
            Cell(view.name, indices[i] if i < len(indices) else None, CellKind.UNREACHABLE, words=view.state.value)
            for i in range(count)
        ]
    if not view.accelerators:
        return [Cell(view.name, None, CellKind.NO_READING, words="no accelerator read yet")]
    severity: dict[int | None, Severity] = {}
    for alert in view.alerts:
        known = severity.get(alert.accelerator)
        if known is None or alert.severity > known:
            severity[alert.accelerator] = alert.severity
    limits = rules.limits(view.vendor if view.vendor != Vendor.AUTO else view.spec.vendor)
    cells = []
    for accelerator in view.accelerators:
        sample = accelerator.sample
        if view.state == NodeState.STALE or accelerator.stale:
            cells.append(
                Cell(view.name, sample.index, CellKind.STALE, words="stale", updated_at=accelerator.updated_at)
            )
            continue
        level, words, value, over = _measure(sample, color_by, limits.critical_c, severity, view)
        kind = CellKind.NO_READING if level is None else CellKind.VALUE
        cells.append(Cell(view.name, sample.index, kind, level or 0.0, words, accelerator.updated_at, value, over))
    return cells


# The unit each measure's group figure is given in (health and state have no figure).
FIGURE_UNITS: Final = {
    ColorBy.UTILIZATION: "%",
    ColorBy.TEMPERATURE: "°C",
    ColorBy.POWER: "W",
    ColorBy.MEMORY: "% of memory",
}


@dataclass(frozen=True, slots=True)
class GroupFigure:
    """A group's figure for the measure: the highest and the mean reading of its cells that have one."""

    top: float | None
    mean: float | None
    unit: str

    def words(self) -> str:
        """``max 97 °C · mean 81 °C``; empty where the measure has no figure or no cell a reading."""
        if self.top is None or self.mean is None:
            return ""
        return f"max {self.top:.0f} {self.unit} · mean {self.mean:.0f} {self.unit}"


def group_figure(group: CellGroup, color_by: ColorBy) -> GroupFigure:
    values = [c.value for c in group.cells if c.kind == CellKind.VALUE and c.value is not None]
    unit = FIGURE_UNITS.get(color_by)
    if unit is None or not values:
        return GroupFigure(None, None, unit or "")
    return GroupFigure(max(values), sum(values) / len(values), unit)


class GroupOrder(enum.StrEnum):
    NAME = "by name"
    TOP = "highest first"
    MEAN = "highest mean first"


def ordered_groups(groups: Sequence[CellGroup], color_by: ColorBy, order: GroupOrder) -> list[CellGroup]:
    """Groups by name (the unnamed last), or by their figure for the measure, highest first (groups without
    a figure after them, by name)."""
    by_name = sorted(groups, key=lambda g: (g.name == NO_GROUP, g.name))
    if order == GroupOrder.NAME:
        return by_name
    figures = {id(g): group_figure(g, color_by) for g in by_name}

    def key(group: CellGroup) -> tuple[bool, float]:
        figure = figures[id(group)]
        value = figure.top if order == GroupOrder.TOP else figure.mean
        return value is None, -(value or 0.0)

    return sorted(by_name, key=key)


class Measured(NamedTuple):
    """A cell's reading for the measure: its level on the scale (None: no reading), its words, the value in
    the measure's unit (FIGURE_UNITS; None where the measure has no figure) and whether it is past its limit."""

    level: float | None
    words: str
    value: float | None = None
    over: bool = False


def _measure(
    sample: AcceleratorSample,
    color_by: ColorBy,
    critical_c: float,
    severity: Mapping[int | None, Severity],
    view: NodeView,
) -> Measured:
    match color_by:
        case ColorBy.UTILIZATION:
            util = _number(sample.utilization_pct)
            return Measured(None, "N/A") if util is None else Measured(util / 100.0, f"{util:.0f} %", util)
        case ColorBy.TEMPERATURE:
            temp = _number(sample.temperature_c)
            if temp is None:
                return Measured(None, "N/A")
            # From a cold GPU (30 °C) to past the vendor's critical limit: 76 and 100 °C apart on the scale.
            over = temp >= critical_c
            level = (temp - COLD_C) / (critical_c + TEMP_MARGIN_C - COLD_C)
            words = f"{temp:.0f} °C of {critical_c:.0f}" + (" — over the critical limit" if over else "")
            return Measured(level, words, temp, over)
        case ColorBy.POWER:
            power, limit = _number(sample.power_w), _number(sample.power_limit_w)
            if power is None or not limit:
                return Measured(None, "N/A" if power is None else f"{power:.0f} W (no limit read)")
            over = power > limit
            words = f"{power:.0f} of {limit:.0f} W" + (" — over the limit" if over else "")
            return Measured(power / limit, words, power, over)
        case ColorBy.MEMORY:
            used, total = _number(sample.memory_used_mib), _number(sample.memory_total_mib)
            if used is None or not total:
                return Measured(None, "N/A")
            return Measured(used / total, f"{used / 1024:.1f} of {total / 1024:.0f} GiB", 100.0 * used / total)
        case ColorBy.HEALTH:
            worst = max(
                (severity.get(sample.index), severity.get(None)),
                key=lambda s: -1 if s is None else int(s),
            )
            level = {None: 0.0, Severity.INFO: 0.0, Severity.WARNING: 0.5, Severity.CRITICAL: 1.0}[worst]
            word = sample.health
            said = health_severity(word)  # the same words and severities as the accelerator_health alert
            if said is not None:
                level = max(level, 1.0 if said == "critical" else 0.5)
            words = "healthy" if worst in (None, Severity.INFO) else worst.word
            if said is not None:
                words += f" (npu-smi: {word})"
            return Measured(level, words)
        case ColorBy.STATE:
            slurm = view.scheduler_state or ""
            out = "DRAIN" in slurm or slurm.startswith("DOWN")
            return Measured((0.5 if out else 0.0), (slurm.lower() or view.state.value))
    return Measured(None, "")


def group_name(spec: NodeSpec, group_by: GroupBy, partitions: Mapping[str, str]) -> str:
    match group_by:
        case GroupBy.RACK:
            return spec.rack or NO_GROUP
        case GroupBy.TENANT:
            return spec.tenant or NO_GROUP
        case GroupBy.PARTITION:
            return partitions.get(spec.scheduler_name, NO_GROUP)
        case GroupBy.VENDOR:
            return spec.vendor.value
    return NO_GROUP


def floor_groups(
    views: Sequence[NodeView],
    color_by: ColorBy,
    group_by: GroupBy,
    rules: AlertRules,
    partitions: Mapping[str, str] | None = None,
    tenants: Mapping[str, str] | None = None,
    cache: CellCache | None = None,
    order: GroupOrder | None = None,
) -> list[CellGroup]:
    """Every accelerator's cell, grouped and in order (groups by name, the unnamed last; nodes by rack unit
    then name). ``partitions``: Slurm node name → its first partition; ``tenants``: node → the tenant that
    holds it (Slurm's where it names one), else the inventory's. With a ``cache``, a node whose view did not
    change since the last call keeps its cells (a refresh then costs what changed). ``order``: by name, or
    by the groups' figure for the measure (the hottest rack first)."""
    groups: dict[str, CellGroup] = {}
    ordered = sorted(views, key=lambda v: (v.spec.rack or "", v.spec.slot or 0, v.name))
    for view in ordered:
        if group_by == GroupBy.TENANT and tenants is not None:
            name = tenants.get(view.name) or NO_GROUP
        elif group_by == GroupBy.VENDOR and view.vendor != Vendor.AUTO:
            name = view.vendor.value
        else:
            name = group_name(view.spec, group_by, partitions or {})
        cells = cache.cells(view, color_by, rules) if cache is not None else node_cells(view, color_by, rules)
        groups.setdefault(name, CellGroup(name)).cells.extend(cells)
    return ordered_groups(list(groups.values()), color_by, order or GroupOrder.NAME)


class CellCache:
    """Each node's cells, kept while its view is the same: same version (the model bumps it on every change),
    state and staleness, and the same measure. Staleness is in the key because it grows with time alone."""

    def __init__(self) -> None:
        self._cells: dict[str, tuple[tuple[object, ...], list[Cell]]] = {}

    def cells(self, view: NodeView, color_by: ColorBy, rules: AlertRules) -> list[Cell]:
        key = (view.version, view.state, color_by, tuple(a.stale for a in view.accelerators), id(rules))
        known = self._cells.get(view.name)
        if known is not None and known[0] == key:
            return known[1]
        cells = node_cells(view, color_by, rules)
        self._cells[view.name] = (key, cells)
        return cells


def first_partitions(partitions: Iterable[tuple[str, Sequence[str]]]) -> dict[str, str]:
    """Slurm node name → the first partition (by name) that holds it."""
    out: dict[str, str] = {}
    for name, nodes in sorted(partitions):
        for node in nodes:
            out.setdefault(node, name)
    return out


# --- racks as elevations ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RackSlot:
    node: str
    unit: int  # the lowest unit the chassis takes
    height: int


@dataclass(slots=True)
class RackElevation:
    name: str
    row: str | None
    position: int | None
    units: int
    slots: list[RackSlot] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)  # nodes of the rack with no (or a clashing) unit


def elevations(inventory: Inventory) -> list[RackElevation]:
    """Each rack's chassis at their units (the inventory's ``rack``, ``slot``, ``height`` and ``[[rack]]``);
    racks ordered by hall row, position, then name. A node whose units overlap another's, or that runs off
    the top of its rack, is listed as unplaced rather than drawn over another."""
    racks: dict[str, RackElevation] = {}
    for spec in inventory.racks:
        racks[spec.name] = RackElevation(spec.name, spec.row, spec.position, spec.units)
    for node in sorted(inventory.nodes, key=lambda n: (n.rack or "", n.slot or 0, n.name)):
        if node.rack is None:
            continue
        rack = racks.setdefault(node.rack, RackElevation(node.rack, None, None, 42))
        if node.slot is None:
            rack.unplaced.append(node.name)
            continue
        taken = {u for s in rack.slots for u in range(s.unit, s.unit + s.height)}
        wanted = set(range(node.slot, node.slot + node.height))
        if wanted & taken or node.slot + node.height - 1 > rack.units:
            rack.unplaced.append(node.name)
            continue
        rack.slots.append(RackSlot(node.name, node.slot, node.height))
    return sorted(
        racks.values(),
        key=lambda r: (r.row is None, r.row or "", r.position if r.position is not None else 1 << 30, r.name),
    )
