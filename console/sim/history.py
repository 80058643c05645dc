"""A month of believable history for the simulated fleet, so a supervisor has a shift to review on a fresh
install (``./dev demo``): written once, through the console's own record (the store and the telemetry
archive), never over a record that already has incidents.

Generated from the simulator's own nodes and faults (console.sim.model): the XID-79 node's GPU 6 falls off
the bus every few days, the ECC node's GPU 5 piles up uncorrectable errors, the thermal-runaway node runs
hot, the flapping node drops off the network, the sick Ascend node raises its HBM alarm; now and then a
node elsewhere runs hot. Each incident's words fit its evidence (a node that does not answer has no GPU),
it is acknowledged before anyone acts, the hardware faults are drained with a ticket, rebooted, resolved
and resumed in that order, notes and tickets vary, and the last day leaves a few open.

The telemetry archive gets the same month: each accelerator's readings drawn from what the simulator's GPU
reads, an inference service busy by day and quieter at night, the jobs that hold the GPUs as the simulated
Slurm places them, and the incidents' evidence (a node that does not answer for as long as its incident
was open, a GPU out of service and a drained node without its job). The last hours are written per minute
and rolled up by the writer's own roll-up; the older hours go straight to hour rows and the tenants' days
through the same formula (console.core.records.rollup), so a month takes a second or two instead of minutes.
Deterministic for a seed: the same demo tells the same story.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from console.core.records.archive import ARCHIVE_FILE, TelemetryArchive
from console.core.records.incident_log import IncidentLog
from console.core.records.incident_types import AcceleratorRef
from console.core.records.rollup import ALLOCATED_BIT, STATE_CODE, UNHEALTHY_BIT, MinuteGrid, pack_values
from console.core.records.store import STORE_FILE, Store
from console.core.telemetry.samples import NodeState
from console.sim.model import (
    ECC_GPU,
    ECC_NODE,
    GPUS_PER_NODE,
    RUNAWAY_GPU,
    XID_GPU,
    XID_NODE,
    Role,
    SimNode,
    job_gpus,
)

DAYS: Final = 30
RECENT_S: Final = 6 * 3600  # an incident opened this recently is still being worked on
BETWEEN_JOBS_DAYS: Final = 4.0  # how often a training node's run ends and the next has not yet started
READING_STEP_S: Final = 397  # between them: across the checkpoint dips and the thermal runaway's cycle
TECHNICIANS: Final = ("dana.k", "lee.m", "ana.p", "omar.t")
SUPERVISORS: Final = ("sam.r", "ines.v")


@dataclass(frozen=True, slots=True)
class Fault:
    """One kind of trouble a simulated node has, as the console's rules name it and a person fixes it."""

    cause: str
    severity: str
    gpu: int | None  # None: the node as a whole (it does not answer, so no GPU is named)
    message: str
    mean_days: float  # how often it comes back on its node
    hardware: bool  # drained with a ticket, rebooted, resolved, resumed
    notes: tuple[str, ...]
    fixes: tuple[str, ...]


def _faults(node: SimNode) -> list[Fault]:
    """The faults the simulator gives ``node`` (console.sim.model), and a rare hot GPU anywhere."""
    out = []
    if node.index == XID_NODE:
        out.append(
            Fault(
                "xid_79", "critical", XID_GPU, f"XID 79 on GPU {XID_GPU}: GPU has fallen off the bus", 4.0, True,
                ("reseated the riser, GPU back on the bus", "third time this month on this slot", "RMA opened"),
                ("board swapped (RMA)", "riser replaced", "cleared after the reboot, watching it"),
            )
        )  # fmt: skip
    if node.index == ECC_NODE:
        out.append(
            Fault(
                "ecc_uncorrected", "critical", ECC_GPU,
                f"GPU {ECC_GPU}: uncorrectable volatile ECC errors and a row pending remap", 6.0, True,
                ("row remap pending: reset needed", "dcgmi diag -r 3 failed on memory", "vendor case opened"),
                ("remapped after a reset, diag passed", "GPU replaced", "reset, counters clean"),
            )
        )  # fmt: skip
    if node.role == Role.THERMAL_RUNAWAY:
        out.append(
            Fault(
                "temperature", "warning", RUNAWAY_GPU, f"GPU {RUNAWAY_GPU} at 92 °C, clocks throttled", 1.5, False,
                ("fan tray 2 louder than the others", "inlet 27 °C on this rack", "asked facilities for the CRAC"),
                ("cooled down by itself", "fan tray reseated", "CRAC set point lowered"),
            )
        )  # fmt: skip
    if node.role == Role.FLAPPING:
        out.append(
            Fault(
                "unreachable", "critical", None, "no route to host (the node does not answer)", 3.0, False,
                ("link light off on the ToR port", "swapped the DAC cable", "switch port errors rising"),
                ("back after the cable swap", "came back by itself", "ToR port moved"),
            )
        )  # fmt: skip
    if node.role == Role.SICK_NPU:
        out.append(
            Fault(
                "npu_health", "warning", 1, "npu-smi health: Alarm on NPU 1 (HBM)", 5.0, False,
                ("HBM ECC count rising", "npu-smi info -t health shows Alarm", "MindCluster case"),
                ("alarm cleared", "NPU reset", "board to be replaced at the next window"),
            )
        )  # fmt: skip
    hot_gpu = int(node.seed % GPUS_PER_NODE)
    out.append(
        Fault(
            "temperature", "warning", hot_gpu, f"GPU {hot_gpu} at 88 °C under load", 40.0, False,
            ("dusty filter on the front", "job pinned every GPU at once"), ("filter cleaned", "cooled down"),
        )
    )  # fmt: skip
    return out


@dataclass(frozen=True, slots=True)
class Episode:
    """What one incident left in the telemetry: from its opening to its resolution (or now) the fault's GPU
    out of service, or the node silent; while it was drained, no job on it."""

    node: str
    fault: Fault
    start: float
    end: float
    drained: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class HistoryWritten:
    incidents: int  # 0: the record had incidents already, and nothing was written
    days: int
    telemetry_days: int  # 0: the archive had telemetry already

    def words(self) -> str:
        return f"{self.incidents} incidents over {self.days} days and {self.telemetry_days} days of telemetry"


@dataclass(frozen=True, slots=True)
class TelemetryScale:
    """How much telemetry the history writes: for the default demo's 32 nodes, ``days`` of hours, the last
    ``minute_hours`` per minute (the node timelines of the shift under way) and ``readings`` of each GPU
    to draw the minutes from, in a few seconds. A larger simulated fleet gets less of each, in proportion
    and never under two days, one hour and four readings, so that it starts about as quickly."""

    days: int
    minute_hours: int
    readings: int

    @classmethod
    def of(cls, nodes: int, days: int = DAYS) -> TelemetryScale:
        share = 32 / max(nodes, 1)
        return cls(
            days=min(days, max(2, int(days * share))),
            minute_hours=min(8, max(1, int(8 * share))),
            readings=min(16, max(4, int(16 * share))),
        )


def seed_history(data_dir: Path, nodes: list[SimNode], now: float, days: int = DAYS, seed: int = 7) -> HistoryWritten:
    """Write ``days`` of incidents, notes and actions into the store in ``data_dir``, and of telemetry
    (less of it for a large fleet: :class:`TelemetryScale`) into its archive."""
    store = Store(data_dir / STORE_FILE)
    episodes: list[Episode] = []
    try:
        if store.query("SELECT 1 FROM incidents LIMIT 1", []):
            return HistoryWritten(0, days, 0)
        log = IncidentLog(store, clock=lambda: now)
        rng = random.Random(seed)
        for node in nodes:
            faults = _faults(node)
            for fault in faults:
                at = now - days * 86400 + rng.expovariate(1 / (fault.mean_days * 86400))
                while at < now - RECENT_S:
                    episodes.append(_incident(store, log, rng, node, fault, at, now))
                    at += rng.expovariate(1 / (fault.mean_days * 86400)) + 3600
            # The shift under way has its own: the XID node's GPU fell off the bus 90 minutes ago (being worked
            # on), the flapping node dropped off 25 minutes ago (nobody has looked yet).
            if node.index == XID_NODE or node.role == Role.FLAPPING:
                opened = now - (5400 if node.index == XID_NODE else 1500)
                episodes.append(_incident(store, log, rng, node, faults[0], opened, now))
    finally:
        store.close()
    written = _seed_archive(data_dir, nodes, now, TelemetryScale.of(len(nodes), days), episodes, seed)
    return HistoryWritten(len(episodes), days, written)


def _incident(
    store: Store, log: IncidentLog, rng: random.Random, node: SimNode, fault: Fault, at: float, now: float
) -> Episode:
    """One occurrence of ``fault``: opened by its rule, acknowledged, worked on, resolved (unless recent)."""
    accelerators = [AcceleratorRef(node.name, fault.gpu, None)] if fault.gpu is not None else []
    incident, _ = log.open(
        nodes=[node.name],
        cause=fault.cause,
        severity=fault.severity,
        opened_by=f"rule:{fault.cause}",
        message=fault.message,
        accelerators=accelerators,
        tenants=[node.tenant] if node.tenant else [],
        at=at,
    )
    technician = TECHNICIANS[int(at // (12 * 3600)) % len(TECHNICIANS)]  # who was on shift
    acknowledged = at + rng.uniform(120, 2400) if at < now - 1800 else now + 1
    if acknowledged > now:
        return Episode(node.name, fault, at, now)  # still open, nobody has looked yet
    log.acknowledge(incident, technician, None, at=acknowledged)
    log.add_note(incident, technician, rng.choice(fault.notes), at=acknowledged + rng.uniform(60, 900))
    ticket = f"INC-{4000 + rng.randrange(6000)}" if fault.hardware else None
    resolved = acknowledged + rng.uniform(1800, 6 * 3600)
    drained = None
    if fault.hardware:
        drained = acknowledged + rng.uniform(60, 600)
        _action(store, technician, "drain", node.name, f"{fault.cause} on GPU {fault.gpu}", ticket, drained)
        _action(
            store, technician, "reboot", node.name, "reset after the drain", ticket, drained + rng.uniform(300, 1200)
        )
    if resolved > now or at > now - RECENT_S:
        return Episode(node.name, fault, at, now, None if drained is None else (drained, now))  # being worked on
    log.resolve(incident, technician, rng.choice(fault.fixes), at=resolved)
    if drained is None:
        return Episode(node.name, fault, at, resolved)
    resumed = resolved + rng.uniform(60, 600)
    _action(store, technician, "resume", node.name, "passed diagnostics", ticket, resumed)
    return Episode(node.name, fault, at, resolved, (drained, resumed))


def _action(store: Store, operator: str, kind: str, node: str, reason: str, ticket: str | None, at: float) -> None:
    action = store.record_intent(
        operator=operator,
        kind=kind,
        node=node,
        params={},
        reason=reason,
        ticket=ticket,
        engine="slurm",
        host="demo-scheduler",
        command=None,
        session="demo-history",
        at=at,
    )
    store.record_outcome(action, state="done", message="Slurm confirmed it (demo history)", duration_s=8.0, at=at + 8)


@dataclass(frozen=True, slots=True)
class _Readings:
    """Readings of every simulated GPU that its minutes are drawn from: [node, GPU, reading, figure], the
    figures utilisation, temperature, power and memory; and each GPU's coolest and most frugal reading."""

    figures: npt.NDArray[np.float32]
    coolest: npt.NDArray[np.float32]  # [node, GPU]
    least_power: npt.NDArray[np.float32]

    @classmethod
    def of(cls, nodes: list[SimNode], now: float, count: int) -> _Readings:
        figures = np.zeros((len(nodes), GPUS_PER_NODE, count, 4), dtype=np.float32)
        for n, node in enumerate(nodes):
            for g in range(GPUS_PER_NODE):
                for k in range(count):
                    reading = node.gpu(g, now - k * READING_STEP_S)
                    figures[n, g, k] = (
                        reading.utilization_pct,
                        reading.temperature_c,
                        reading.power_w,
                        reading.memory_used_mib,
                    )
        return cls(figures, figures[..., 1].min(axis=2), figures[..., 2].min(axis=2))


class _ArchiveHistory:
    """The month's minutes of the simulated fleet, an hour at a time, as the archive's grids."""

    def __init__(
        self,
        archive: TelemetryArchive,
        nodes: list[SimNode],
        now: float,
        episodes: list[Episode],
        seed: int,
        readings: int,
    ) -> None:
        self.nodes = nodes
        self.ids = archive.node_ids([n.name for n in nodes])
        self.tenants = np.array(archive.tenant_ids([n.tenant for n in nodes]), dtype=np.int64)
        self.readings = _Readings.of(nodes, now, readings)
        self.rng = np.random.default_rng(seed)
        self.inference = np.array([n.role == Role.INFERENCE for n in nodes])
        slots = np.arange(GPUS_PER_NODE)
        self.allocated = np.array([slots < job_gpus(n) for n in nodes])  # [node, GPU]
        row = {n.name: i for i, n in enumerate(nodes)}
        # Each window under the hours it touches, so that an hour looks only at its own.
        self.episodes: dict[int, list[tuple[int, Episode]]] = {}
        for e in episodes:
            if e.node in row:
                for hour in _hours(e.start, e.end):
                    self.episodes.setdefault(hour, []).append((row[e.node], e))
        # Without a job for a while: drained for an incident, or a training run ended and the next one had
        # not started (every few days, one to six hours; never in the last hours, where Slurm's jobs began).
        idle = [(row[e.node], *e.drained) for e in episodes if e.node in row and e.drained is not None]
        gaps = random.Random(seed + 1)
        for n, node in enumerate(nodes):
            if node.role != Role.TRAINING or not job_gpus(node):
                continue
            at = now - (DAYS + 1) * 86400
            while (at := at + gaps.expovariate(1 / (BETWEEN_JOBS_DAYS * 86400))) < now - 12 * 3600:
                idle.append((n, at, at + gaps.uniform(3600, 6 * 3600)))
        self.idle: dict[int, list[tuple[int, float, float]]] = {}
        for window in idle:
            for hour in _hours(window[1], window[2]):
                self.idle.setdefault(hour, []).append(window)

    def hour(self, start: int, minutes: int) -> MinuteGrid:
        n_nodes, readings = len(self.nodes), self.readings
        times = start + 60 * np.arange(minutes)
        pick = self.rng.integers(0, readings.figures.shape[2], (n_nodes, minutes, GPUS_PER_NODE))
        node_axis, gpu_axis = np.arange(n_nodes)[:, None, None], np.arange(GPUS_PER_NODE)[None, None, :]
        drawn = readings.figures[node_axis, gpu_axis, pick]  # [node, minute, GPU, figure]
        util, temp, power, memory = (drawn[..., f] for f in range(4))
        # An inference service follows its users: busier from 9:00 to 21:00 and on weekdays, and its GPUs cool
        # down with it.
        day = 0.5 + 0.5 * np.sin((times % 86400 - 9 * 3600) / 86400 * 2 * np.pi)
        weekend = (times // 86400 + 3) % 7 >= 5  # 1970-01-01 was a Thursday
        users = (np.where(weekend, 0.7, 1.0) * (0.4 + 0.6 * day)).astype(np.float32)
        load = np.where(self.inference[:, None], users[None, :], np.float32(1.0))[..., None]
        for n, since, end in self.idle.get(start, ()):
            load[n, (times >= since) & (times < end)] = 0.0
        cool, frugal = readings.coolest[:, None, :], readings.least_power[:, None, :]
        util, temp, power = util * load, cool + (temp - cool) * load, frugal + (power - frugal) * load
        grid = MinuteGrid.empty(self.ids, minutes, GPUS_PER_NODE)
        grid.indices[:] = np.arange(GPUS_PER_NODE)
        grid.present[:] = True
        grid.state[:] = STATE_CODE[NodeState.UP]
        grid.tenant[:] = self.tenants[:, None]
        grid.reported[:] = True
        grid.held[:] = True
        grid.marks[:] = np.where(self.allocated[:, None, :] & (load > 0), ALLOCATED_BIT, 0)
        for n, episode in self.episodes.get(start, ()):
            during = (times >= episode.start) & (times < episode.end)
            gpu = episode.fault.gpu
            if gpu is None:  # the node did not answer: its accelerators known, none reported
                grid.state[n, during] = STATE_CODE[NodeState.UNREACHABLE]
                grid.reported[n, during] = False
                continue
            grid.marks[n, during, gpu] |= np.uint8(UNHEALTHY_BIT)
            if episode.fault.cause == "temperature":
                temp[n, during, gpu] = self.rng.uniform(86, 93, int(during.sum()))
        grid.values[:] = pack_values(gpu_axis, util, np.minimum(util + 5, 100), temp, power, memory, 60)
        return grid


def _hours(start: float, end: float) -> range:
    """The starts of the hours that [start, end) touches."""
    return range(int(start) // 3600 * 3600, math.ceil(end), 3600)


def _seed_archive(
    data_dir: Path, nodes: list[SimNode], now: float, scale: TelemetryScale, episodes: list[Episode], seed: int
) -> int:
    """``scale.days`` of telemetry: hour rows for the older days, minute rows for the last hours (rolled up by the
    writer's roll-up as streamed minutes are); the days written, 0 where the archive has telemetry already
    (it is left alone)."""
    archive = TelemetryArchive(data_dir / ARCHIVE_FILE)
    try:
        if archive.has_telemetry():
            return 0
        history = _ArchiveHistory(archive, nodes, now, episodes, seed, scale.readings)
        end = int(now) // 60 * 60
        first = (end - scale.days * 86400) // 3600 * 3600
        recent = (end - scale.minute_hours * 3600) // 3600 * 3600

        def older() -> Iterator[tuple[int, MinuteGrid]]:
            for hour in range(first, recent, 3600):
                yield hour, history.hour(hour, 60)

        archive.import_hours(older())
        for hour in range(recent, end, 3600):
            archive.write_grid(hour, history.hour(hour, min(60, (end - hour) // 60)))
            if hour + 3600 <= end:
                archive.roll_up(hour)
        return scale.days
    finally:
        archive.close()
