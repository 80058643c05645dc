"""The NVML probe: a self-contained program the console runs on a node with the node's own ``python3``
when ``nvidia-ml-py`` (module ``pynvml``) is installed there, or locally on a GPU host. It prints one JSON
line per second with the nvidia-smi stream's fields plus what only NVML gives cheaply: the throttle-reason
bitmask, total energy, per-process GPU memory.

``PROBE_SOURCE`` is the program text (sent as an argument, never spliced into a shell string); the same
module reads its lines back (:class:`ProbeLines`). With ``--check`` the probe only initialises NVML and
exits 0 if it can, so the detection script falls back to nvidia-smi where it cannot.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, Final

from console.core.parsers.common import excerpt
from console.core.telemetry.samples import NA, AcceleratorSample, NotAvailable, ParsedLine, Reading, Vendor

PROBE_SOURCE: Final = r"""
import json, sys, time
try:
    import pynvml as N
except Exception as exc:
    print(json.dumps({"error": "pynvml is not importable: %s" % exc}), flush=True)
    sys.exit(3)
try:
    N.nvmlInit()
except Exception as exc:
    print(json.dumps({"error": "NVML: %s" % exc}), flush=True)
    sys.exit(3)
if "--check" in sys.argv:
    sys.exit(0)

def get(call, *args):
    try:
        return call(*args)
    except Exception:
        return None

def text(value):
    return value.decode() if isinstance(value, bytes) else value

interval = 1.0
once = "--once" in sys.argv
while True:
    t = time.time()
    gpus = []
    count = get(N.nvmlDeviceGetCount) or 0
    for i in range(count):
        h = get(N.nvmlDeviceGetHandleByIndex, i)
        if h is None:
            gpus.append({"index": i, "error": "no handle"})
            continue
        util = get(N.nvmlDeviceGetUtilizationRates, h)
        mem = get(N.nvmlDeviceGetMemoryInfo, h)
        pci = get(N.nvmlDeviceGetPciInfo, h)
        power = get(N.nvmlDeviceGetPowerUsage, h)
        limit = get(N.nvmlDeviceGetEnforcedPowerLimit, h)
        pstate = get(N.nvmlDeviceGetPerformanceState, h)
        procs = get(N.nvmlDeviceGetComputeRunningProcesses, h) or []
        gpus.append({
            "index": i,
            "uuid": text(get(N.nvmlDeviceGetUUID, h)),
            "name": text(get(N.nvmlDeviceGetName, h)),
            "bus": text(pci.busId) if pci is not None else None,
            "util": util.gpu if util is not None else None,
            "mem_used_mib": mem.used / 1048576 if mem is not None else None,
            "mem_total_mib": mem.total / 1048576 if mem is not None else None,
            "temp": get(N.nvmlDeviceGetTemperature, h, N.NVML_TEMPERATURE_GPU),
            "power_w": power / 1000 if power is not None else None,
            "power_limit_w": limit / 1000 if limit is not None else None,
            "sm_clock": get(N.nvmlDeviceGetClockInfo, h, N.NVML_CLOCK_SM),
            "fan": get(N.nvmlDeviceGetFanSpeed, h),
            "pstate": "P%d" % pstate if pstate is not None else None,
            "throttle_mask": get(N.nvmlDeviceGetCurrentClocksThrottleReasons, h),
            "energy_mj": get(N.nvmlDeviceGetTotalEnergyConsumption, h),
            "processes": [{"pid": p.pid, "used_mib": (p.usedGpuMemory or 0) / 1048576} for p in procs],
        })
    try:
        print(json.dumps({"t": t, "count": count, "gpus": gpus}), flush=True)
    except BrokenPipeError:
        sys.exit(0)
    if once:
        sys.exit(0)
    time.sleep(max(0.0, interval - (time.time() - t)))
"""

# NVML's clocks throttle/event reason bits (nvml.h), named as nvidia-smi names them.
THROTTLE_BITS: Final = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}


def throttle_reasons(mask: int) -> tuple[str, ...]:
    return tuple(name for bit, name in THROTTLE_BITS.items() if mask & bit and name != "gpu_idle")


def _reading(value: Any) -> Reading:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return NA if value is None else NotAvailable(excerpt(str(value), 40))
    return float(value)


def _text(value: Any) -> str | NotAvailable:
    return value if isinstance(value, str) and value else NA


class ProbeLines:
    """Reads the probe's JSON lines into samples (a StreamParser)."""

    def parse_lines(self, lines: Sequence[str]) -> list[ParsedLine]:
        out: list[ParsedLine] = []
        for line in lines:
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except ValueError:
                out.append(ParsedLine(error=f"nvml probe: not JSON: {excerpt(line)!r}"))
                continue
            if not isinstance(data, dict):
                out.append(ParsedLine(error=f"nvml probe: unexpected line {excerpt(line)!r}"))
            elif "error" in data:
                out.append(ParsedLine(error=f"nvml probe: {excerpt(str(data['error']))}"))
            else:
                out += self._gpus(data)
        return out

    def finish(self) -> list[ParsedLine]:
        return []

    @staticmethod
    def _gpus(data: dict[str, Any]) -> list[ParsedLine]:
        gpus = data.get("gpus")
        count = data.get("count")
        node_time = _reading(data.get("t"))
        if not isinstance(gpus, list):
            return [ParsedLine(error="nvml probe: a line without gpus")]
        out = []
        for gpu in gpus:
            if not isinstance(gpu, dict) or not isinstance(gpu.get("index"), int) or gpu["index"] < 0:
                out.append(ParsedLine(error=f"nvml probe: GPU entry without an index: {excerpt(str(gpu))!r}"))
                continue
            if "error" in gpu:
                out.append(ParsedLine(error=f"nvml probe: GPU {gpu['index']}: {excerpt(str(gpu['error']))}"))
                continue
            mask = gpu.get("throttle_mask")
            out.append(
                ParsedLine(
                    sample=AcceleratorSample(
                        index=gpu["index"],
                        vendor=Vendor.NVIDIA,
                        uuid=_text(gpu.get("uuid")),
                        model=_text(gpu.get("name")),
                        pci_bus_id=_text(gpu.get("bus")),
                        utilization_pct=_reading(gpu.get("util")),
                        memory_used_mib=_reading(gpu.get("mem_used_mib")),
                        memory_total_mib=_reading(gpu.get("mem_total_mib")),
                        temperature_c=_reading(gpu.get("temp")),
                        power_w=_reading(gpu.get("power_w")),
                        power_limit_w=_reading(gpu.get("power_limit_w")),
                        sm_clock_mhz=_reading(gpu.get("sm_clock")),
                        fan_pct=_reading(gpu.get("fan")),
                        pstate=_text(gpu.get("pstate")),
                        node_time=node_time,
                        count=count if isinstance(count, int) else None,
                        throttle_reasons=throttle_reasons(mask) if isinstance(mask, int) else None,
                        energy_j=_reading(gpu["energy_mj"] / 1000)
                        if isinstance(gpu.get("energy_mj"), int | float)
                        else NA,
                    )
                )
            )
        return out
