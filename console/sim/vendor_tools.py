"""The simulated nodes' Ascend and AMD tools: ``npu-smi info`` (the 910B3 layout of npu-smi 25.2, as in the
shared recordings) and ``amd-smi static/metric --json`` (amd-smi's value/unit JSON)."""

from __future__ import annotations

import json

from console.sim.model import GPUS_PER_NODE, SimNode

_BUS = (
    "0000:C1:00.0",
    "0000:C2:00.0",
    "0000:81:00.0",
    "0000:82:00.0",
    "0000:01:00.0",
    "0000:02:00.0",
    "0000:41:00.0",
    "0000:42:00.0",
)


def npu_smi_info(node: SimNode, t: float) -> str:
    rule = "+===========================+===============+====================================================+"
    lines = [
        "+------------------------------------------------------------------------------------------------+",
        "| npu-smi 25.2.0                   Version: 25.2.0                                               |",
        "+---------------------------+---------------+----------------------------------------------------+",
        "| NPU   Name                | Health        | Power(W)    Temp(C)           Hugepages-Usage(page)|",
        "| Chip                      | Bus-Id        | AICore(%)   Memory-Usage(MB)  HBM-Usage(MB)        |",
        rule,
    ]
    health = node.npu_health(t)
    for npu in range(GPUS_PER_NODE):
        reading = node.gpu(npu, t)
        word = health if npu == 3 else "OK"
        lines.append(
            f"| {npu:<5} {node.model.name:<19} | {word:<13} | {reading.power_w:<11.1f} "
            f"{reading.temperature_c:<17.0f} {'0    / 0':<21}|"
        )
        hbm = f"{reading.memory_used_mib:.0f}/ {node.model.memory_total_mib}"
        lines.append(f"| {0:<25} | {_BUS[npu]:<13} | {reading.utilization_pct:<11.0f} {'0    / 0':<17} {hbm:<21}|")
        lines.append(rule)
    lines += [
        "+---------------------------+---------------+----------------------------------------------------+",
        "| NPU     Chip              | Process id    | Process name             | Process memory(MB)      |",
        rule,
    ]
    for npu in range(GPUS_PER_NODE):
        if node.gpu(npu, t).utilization_pct > 5:
            lines.append(f"| {npu:<7} {0:<17} | {200000 + npu:<13} | {'python':<24} | {'58500':<23} |")
        else:
            lines.append(f"| No running processes found in NPU {npu:<61}|")
        lines.append(rule)
    return "\n".join(lines) + "\n"


def amd_smi_static(node: SimNode) -> str:
    return json.dumps(
        {
            "gpu_data": [
                {
                    "gpu": gpu,
                    "asic": {
                        "market_name": node.model.name,
                        "vendor_id": "0x1002",
                        "device_id": node.model.pci_device_id,
                        "asic_serial": f"0x{node.seed:08X}{gpu:02X}",
                    },
                    "bus": {"bdf": f"0000:{0x05 + 0x10 * gpu:02x}:00.0"},
                    "limit": {"socket_power": {"value": node.model.power_limit_w, "unit": "W"}},
                    "vram": {"size": {"value": node.model.memory_total_mib, "unit": "MB"}},
                }
                for gpu in range(GPUS_PER_NODE)
            ]
        },
        indent=4,
    )


def amd_smi_metric(node: SimNode, t: float) -> str:
    gpus = []
    for gpu in range(GPUS_PER_NODE):
        reading = node.gpu(gpu, t)
        gpus.append(
            {
                "gpu": gpu,
                "usage": {"gfx_activity": {"value": reading.utilization_pct, "unit": "%"}},
                "power": {"socket_power": {"value": reading.power_w, "unit": "W"}},
                "clock": {"gfx_0": {"clk": {"value": reading.sm_clock_mhz, "unit": "MHz"}}},
                "temperature": {
                    "edge": {"value": reading.temperature_c - 8, "unit": "C"},
                    "hotspot": {"value": reading.temperature_c, "unit": "C"},
                },
                "mem_usage": {
                    "total_vram": {"value": node.model.memory_total_mib, "unit": "MB"},
                    "used_vram": {"value": reading.memory_used_mib, "unit": "MB"},
                },
                "fan": {"usage": "N/A"},
            }
        )
    return json.dumps({"gpu_data": gpus}, indent=4)
