"""A month of believable history for the simulated fleet, so a supervisor has a shift to review on a fresh
install (``./dev demo``): written once, through the console's own record (the store and the telemetry
archive), never over a record that already has incidents.

Generated from the simulator's own nodes and faults (console.sim.model): the XID-79 node's GPU 6 falls off
the bus every few days, the ECC node's GPU 5 piles up uncorrectable errors, the thermal-runaway node runs
hot, the flapping node drops off the network, the sick Ascend node raises its HBM alarm; now and then a
node elsewhere runs hot. Each incident's words fit its evidence (a node that does not answer has no GPU),
it is acknowledged before anyone acts, the hardware faults are drained with a ticket, rebooted, resolved
and resumed in that order, notes and tickets vary, and the last day leaves a few open. The archive gets
the last hours per minute, with the daily rhythm of an inference service (busy by day, quieter at night).
Deterministic for a seed: the same demo tells the same story.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from console.core.archive import ARCHIVE_FILE, MinuteTenancy, TelemetryArchive
from console.core.fleet import NodeMinute
from console.core.incident_log import AcceleratorRef, IncidentLog
from console.core.samples import NodeState
from console.core.store import STORE_FILE, Store
from console.sim.model import (
    ECC_GPU,
    ECC_NODE,
    GPUS_PER_NODE,
    RUNAWAY_GPU,
    XID_GPU,
    XID_NODE,
    Role,
    SimNode,
)

DAYS: Final = 30
RECENT_S: Final = 6 * 3600  # an incident opened this recently is still being worked on
ARCHIVE_HOURS: Final = 8  # per-minute telemetry for the last hours: the node timelines of the current shift
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


def seed_history(data_dir: Path, nodes: list[SimNode], now: float, days: int = DAYS, seed: int = 7) -> int:
    """Write ``days`` of incidents, notes and actions into the store in ``data_dir`` and the last hours of
    telemetry into its archive; the number of incidents written (0: the record has incidents already, and
    nothing is written)."""
    store = Store(data_dir / STORE_FILE)
    try:
        if store.query("SELECT 1 FROM incidents LIMIT 1", []):
            return 0
        log = IncidentLog(store, clock=lambda: now)
        rng = random.Random(seed)
        written = 0
        for node in nodes:
            faults = _faults(node)
            for fault in faults:
                at = now - days * 86400 + rng.expovariate(1 / (fault.mean_days * 86400))
                while at < now - RECENT_S:
                    written += _incident(store, log, rng, node, fault, at, now)
                    at += rng.expovariate(1 / (fault.mean_days * 86400)) + 3600
            # The shift under way has its own: the XID node's GPU fell off the bus 90 minutes ago (being worked
            # on), the flapping node dropped off 25 minutes ago (nobody has looked yet).
            if node.index == XID_NODE or node.role == Role.FLAPPING:
                written += _incident(
                    store, log, rng, node, faults[0], now - (5400 if node.index == XID_NODE else 1500), now
                )
    finally:
        store.close()
    _seed_archive(data_dir, nodes, now)
    return written


def _incident(
    store: Store, log: IncidentLog, rng: random.Random, node: SimNode, fault: Fault, at: float, now: float
) -> int:
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
        return 1  # still open, nobody has looked yet
    log.acknowledge(incident, technician, None, at=acknowledged)
    log.add_note(incident, technician, rng.choice(fault.notes), at=acknowledged + rng.uniform(60, 900))
    ticket = f"INC-{4000 + rng.randrange(6000)}" if fault.hardware else None
    resolved = acknowledged + rng.uniform(1800, 6 * 3600)
    if fault.hardware:
        drained = acknowledged + rng.uniform(60, 600)
        _action(store, technician, "drain", node.name, f"{fault.cause} on GPU {fault.gpu}", ticket, drained)
        _action(
            store, technician, "reboot", node.name, "reset after the drain", ticket, drained + rng.uniform(300, 1200)
        )
    if resolved > now or at > now - RECENT_S:
        return 1  # acknowledged, being worked on
    log.resolve(incident, technician, rng.choice(fault.fixes), at=resolved)
    if fault.hardware:
        _action(store, technician, "resume", node.name, "passed diagnostics", ticket, resolved + rng.uniform(60, 600))
    return 1


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


def _seed_archive(data_dir: Path, nodes: list[SimNode], now: float) -> None:
    """The last hours per minute, from the simulator's own readings, with an inference service's day and
    night (busier from 9:00 to 21:00); rolled up by the hour as the writer does."""
    archive = TelemetryArchive(data_dir / ARCHIVE_FILE)
    try:
        end = int(now) // 60 * 60
        start = end - ARCHIVE_HOURS * 3600
        for hour in range(start, end, 3600):
            minutes = []
            tenancy: dict[int, dict[str, MinuteTenancy]] = {}
            for t in range(hour, min(hour + 3600, end), 60):
                rows = []
                for node in nodes:
                    if node.offline(t):
                        rows.append(NodeMinute(node.name, NodeState.UNREACHABLE, ()))
                        continue
                    day = 0.5 + 0.5 * math.sin((t % 86400 - 9 * 3600) / 86400 * 2 * math.pi)
                    stats = []
                    for g in range(GPUS_PER_NODE):
                        reading = node.gpu(g, t)
                        util = reading.utilization_pct * (0.4 + 0.6 * day if node.role == Role.INFERENCE else 1.0)
                        stats.append((g, (util, min(100.0, util + 5), reading.temperature_c, reading.power_w,
                                          reading.memory_used_mib, 60)))  # fmt: skip
                    rows.append(NodeMinute(node.name, NodeState.UP, tuple(stats)))
                minutes.append((t, rows))
                tenancy[t] = {
                    n.name: MinuteTenancy(n.tenant, frozenset(range(GPUS_PER_NODE)) if n.tenant else frozenset(),
                                          indices=tuple(range(GPUS_PER_NODE)))
                    for n in nodes
                }  # fmt: skip
            archive.write(minutes, [], tenancy)
            if hour + 3600 <= end:
                archive.roll_up(hour)
    finally:
        archive.close()
