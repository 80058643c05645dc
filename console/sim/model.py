"""What the simulated fleet is doing: believable GPU behaviour as a pure function of (node, GPU, time).

Roles, chosen per node from a seed:
- training: all eight GPUs near 100 %, power near the cap, hot but steady, with a checkpoint dip every few
  minutes (utilisation and power fall for ~20 s);
- inference: bursty utilisation that wanders between 10 and 80 % on the four GPUs its service holds
  (the other four sit idle);
- idle: 0 %, a few MiB used, low power, cool;
- thermal runaway (one node): one GPU whose cooling fails — its temperature climbs past 90 °C, the
  driver throttles its clocks and power, then the fault clears and it cools down; this repeats;
- flapping (one node): drops off the network for a while, then comes back.
Readings come from the field list the caller asks for, in nvidia-smi's formats.
"""

from __future__ import annotations

import enum
import hashlib
import math
import struct
from dataclasses import dataclass
from typing import Final

# An inference node's service holds this many of its GPUs (its Slurm job's GRES); the rest sit idle.
INFERENCE_GPUS: Final = 4


class Role(enum.StrEnum):
    TRAINING = "training"
    INFERENCE = "inference"
    IDLE = "idle"
    THERMAL_RUNAWAY = "thermal runaway"
    FLAPPING = "flapping"
    SICK_NPU = "sick npu"


@dataclass(frozen=True, slots=True)
class GpuModel:
    name: str
    memory_total_mib: int
    power_limit_w: float
    idle_power_w: float
    max_sm_clock_mhz: int
    idle_sm_clock_mhz: int
    pci_device_id: str


H100: Final = GpuModel("NVIDIA H100 80GB HBM3", 81559, 700.0, 72.0, 1980, 345, "0x233010DE")
# Accelerators of the other vendors, with the numbers their tools print (npu-smi in MB, amd-smi in MB).
ASCEND_910B3: Final = GpuModel("910B3", 65536, 400.0, 90.0, 1800, 1800, "0xd802")
MI300X: Final = GpuModel("AMD Instinct MI300X", 196592, 750.0, 120.0, 2100, 120, "0x74a1")
A100: Final = GpuModel("NVIDIA A100-SXM4-80GB", 81920, 400.0, 58.0, 1410, 210, "0x20B210DE")
L40S: Final = GpuModel("NVIDIA L40S", 46068, 350.0, 36.0, 2520, 210, "0x26B910DE")

GPUS_PER_NODE: Final = 8
DRIVER_VERSION: Final = "565.57.01"
RUNAWAY_GPU: Final = 3
RUNAWAY_PERIOD_S: Final = 600.0
FLAP_PERIOD_S: Final = 180.0
FLAP_DOWN_S: Final = 40.0
CHECKPOINT_PERIOD_S: Final = 300.0
CHECKPOINT_S: Final = 20.0


def _noise(*key: int) -> float:
    """Deterministic pseudo-random number in [0, 1) for a tuple of integers (stable across runs)."""
    digest = hashlib.blake2b(struct.pack(f"<{len(key)}q", *key), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64


def _smooth(seed: int, t: float, period: float) -> float:
    """A smooth wander in [0, 1): cosine interpolation between per-period random points."""
    step = t / period
    k = math.floor(step)
    frac = step - k
    a, b = _noise(seed, k), _noise(seed, k + 1)
    w = (1 - math.cos(frac * math.pi)) / 2
    return a * (1 - w) + b * w


@dataclass(frozen=True, slots=True)
class SimNode:
    index: int
    name: str
    role: Role
    model: GpuModel
    rack: str
    slot: int
    tenant: str | None
    seed: int
    vendor: str = "nvidia"  # nvidia | ascend | amd: which tool the node has

    def npu_health(self, t: float) -> str:
        """Ascend health word; the sick Ascend node reads Alarm for 2 minutes in every 8 (an HBM fault)."""
        if self.role == Role.SICK_NPU and (t + self.seed) % 480 < 120:
            return "Alarm"
        return "OK"

    def offline(self, t: float) -> bool:
        """Whether the node is off the network at time ``t`` (only the flapping node ever is)."""
        if self.role != Role.FLAPPING:
            return False
        return (t % FLAP_PERIOD_S) > FLAP_PERIOD_S - FLAP_DOWN_S

    def gpu(self, gpu: int, t: float) -> GpuReading:
        return GpuReading.compute(self, gpu, t)


@dataclass(frozen=True, slots=True)
class GpuReading:
    index: int
    utilization_pct: float
    memory_used_mib: float
    temperature_c: float
    power_w: float
    sm_clock_mhz: float
    fan_pct: float | None
    pstate: str
    throttled: bool

    @staticmethod
    def compute(node: SimNode, gpu: int, t: float) -> GpuReading:
        model = node.model
        seed = node.seed * 31 + gpu
        jitter = _noise(seed, int(t)) - 0.5  # per-second wobble
        role = node.role
        if role in (Role.FLAPPING, Role.SICK_NPU):
            role = Role.TRAINING
        throttled = False
        if role in (Role.TRAINING, Role.THERMAL_RUNAWAY):
            in_checkpoint = (t + node.seed * 17) % CHECKPOINT_PERIOD_S < CHECKPOINT_S
            util = 3.0 + 4 * abs(jitter) if in_checkpoint else min(100.0, 96.0 + 8 * jitter)
            load = util / 100
            memory = 0.88 * model.memory_total_mib + 1500 * _smooth(seed, t, 120)
            temp = 58.0 + 16 * load + 3 * _smooth(seed + 7, t, 90) + jitter
        elif role == Role.INFERENCE and gpu < INFERENCE_GPUS:  # the service's GPUs; the others sit idle
            util = 10 + 70 * _smooth(seed, t, 45) + 6 * jitter
            util = max(0.0, min(100.0, util))
            load = util / 100
            memory = 0.35 * model.memory_total_mib + 0.2 * model.memory_total_mib * _smooth(seed + 3, t, 300)
            temp = 38.0 + 24 * load + jitter
        else:
            util, load = 0.0, 0.0
            memory = 1.0 if gpu % 3 else 4.0
            temp = 29.0 + 4 * _smooth(seed, t, 600) + 0.5 * jitter

        power = model.idle_power_w + (model.power_limit_w - model.idle_power_w) * (0.92 * load) + 6 * jitter
        clock = model.idle_sm_clock_mhz if load < 0.02 else model.max_sm_clock_mhz - 30 * abs(jitter)

        if node.role == Role.THERMAL_RUNAWAY and gpu == RUNAWAY_GPU:
            # Fan/cold-plate failure: +25 °C over ~4 min, a plateau near 96 °C, then repaired.
            phase = (t + node.seed) % RUNAWAY_PERIOD_S
            if phase < 240:
                temp += 25 * phase / 240
            elif phase < 420:
                temp += 25
            else:
                temp += 25 * max(0.0, 1 - (phase - 420) / 60)
            if temp >= 90:
                throttled = True
                clock = model.max_sm_clock_mhz * 0.55
                power = min(power, model.power_limit_w * 0.6)

        has_fan = model is L40S
        fan = min(100.0, 30 + temp * 0.8) if has_fan else None
        return GpuReading(
            index=gpu,
            utilization_pct=round(util),
            memory_used_mib=round(memory),
            temperature_c=round(temp),
            power_w=round(power, 2),
            sm_clock_mhz=round(clock),
            fan_pct=None if fan is None else round(fan),
            pstate="P0" if load >= 0.02 or model is H100 else "P8",
            throttled=throttled,
        )


# The slow path's faults (console.sim.details): on gpu-012 GPU 5 picks up uncorrectable ECC errors and a
# row pending remap for ten minutes in every fifteen (two at first, one more every three minutes: what an
# acknowledgement's "new since acknowledged" is for); on gpu-003 GPU 6 falls off the bus (XID 79) for half
# a minute in every ten.
ECC_NODE: Final = 11
ECC_GPU: Final = 5
XID_NODE: Final = 2
XID_GPU: Final = 6


def ecc_fault(node: SimNode, t: float) -> bool:
    return node.index == ECC_NODE and (t + node.seed) % 900 >= 300


def xid_window(node: SimNode, t: float) -> bool:
    return node.index == XID_NODE and (t + node.seed) % 600 < 30


@dataclass(frozen=True, slots=True)
class EccCounts:
    """One GPU's ECC and row-remapping counters at a time, the same in -q -x and in --query-gpu."""

    corrected_volatile: int
    corrected_aggregate: int
    uncorrected: int
    remapped_uncorrectable: int
    pending: bool


def ecc_counts(node: SimNode, gpu: int, t: float) -> EccCounts:
    if not (ecc_fault(node, t) and gpu == ECC_GPU):
        return EccCounts(0, 3, 0, 0, False)
    uncorrected = 2 + int(((t + node.seed) % 900 - 300) // 180)
    return EccCounts(41, 41, uncorrected, 1, True)


def job_gpus(node: SimNode) -> int:
    """How many of the node's GPUs its tenant's Slurm job holds (0: none): a training job all eight, an
    inference service four; idle nodes and the sick Ascend node run no job."""
    if not node.tenant or node.role not in (Role.TRAINING, Role.THERMAL_RUNAWAY, Role.FLAPPING, Role.INFERENCE):
        return 0
    return INFERENCE_GPUS if node.role == Role.INFERENCE else GPUS_PER_NODE


TENANTS: Final = ("acme-ai", "borealis-labs", "cobalt-research", "delta-vision")


def build_fleet(count: int, seed: int = 7) -> list[SimNode]:
    """``count`` nodes: four 8-GPU servers per rack, a mix of roles, one thermal runaway, one flapping node."""
    nodes = []
    for i in range(count):
        draw = _noise(seed, i, 1)
        if i == 3 % count:
            role = Role.THERMAL_RUNAWAY
        elif count > 8 and i == 9:
            role = Role.FLAPPING
        elif draw < 0.55:
            role = Role.TRAINING
        elif draw < 0.75:
            role = Role.INFERENCE
        else:
            role = Role.IDLE
        model_draw = _noise(seed, i, 2)
        model = H100 if model_draw < 0.7 else (A100 if model_draw < 0.9 else L40S)
        # A mixed fleet: every fifth node is an Ascend 910B3 server, every seventh an AMD MI300X one.
        vendor = "nvidia"
        if i % 5 == 4:
            vendor, model = "ascend", ASCEND_910B3
            if i == 4:
                role = Role.SICK_NPU
        elif i % 7 == 6:
            vendor, model = "amd", MI300X
        rack = f"R{i // 4 + 1:03d}"
        slot = 4 + 10 * (i % 4)
        tenant = None if role == Role.IDLE and _noise(seed, i, 3) < 0.5 else TENANTS[int(_noise(seed, i, 4) * 4)]
        nodes.append(
            SimNode(
                index=i,
                name=f"gpu-{i + 1:03d}" if count < 1000 else f"gpu-{i + 1:04d}",
                role=role,
                model=model,
                rack=rack,
                slot=slot,
                tenant=tenant,
                seed=seed * 1_000_003 + i,
                vendor=vendor,
            )
        )
    return nodes
