"""The simulated nodes' answer to the console's slow-path script: ``nvidia-smi -q -x`` (the v12 DTD element
names of recent drivers) or the health fields of ``--query-gpu`` (sim.nvidia_smi), kernel-log lines in
``journalctl -o short-iso`` form, /proc and df.

Faults, so the demo shows what the console catches: the thermal-runaway node's hot GPU reports
``hw_thermal_slowdown`` while throttled; on gpu-012 GPU 5 picks up uncorrectable ECC errors and a row
pending remap for ten minutes in every fifteen (two at first, one more every three minutes); on gpu-003
GPU 6 falls off the bus (XID 79) for half a minute in every ten (sim.model has the fault model).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from xml.sax.saxutils import escape

from console.core.telemetry.sources import FRAME
from console.sim import nvidia_smi
from console.sim.model import DRIVER_VERSION, GPUS_PER_NODE, XID_GPU, SimNode, ecc_counts, xid_window
from console.sim.nvidia_smi import _bus_id, _uuid


def nvidia_xml(node: SimNode, t: float) -> str:
    gpus = []
    for gpu in range(GPUS_PER_NODE):
        reading = node.gpu(gpu, t)
        ecc = ecc_counts(node, gpu, t)
        thermal = "Active" if reading.throttled else "Not Active"
        idle = "Active" if reading.utilization_pct < 2 else "Not Active"
        pending = "Yes" if ecc.pending else "No"
        gpus.append(f"""\t<gpu id="{_bus_id(gpu)}">
\t\t<product_name>{escape(node.model.name)}</product_name>
\t\t<persistence_mode>Enabled</persistence_mode>
\t\t<mig_mode><current_mig>Disabled</current_mig><pending_mig>Disabled</pending_mig></mig_mode>
\t\t<serial>{1650923000000 + node.index * 8 + gpu:013d}</serial>
\t\t<uuid>{_uuid(node, gpu)}</uuid>
\t\t<vbios_version>96.00.89.00.01</vbios_version>
\t\t<gpu_module_id>{gpu + 1}</gpu_module_id>
\t\t<pci>
\t\t\t<pci_bus_id>{_bus_id(gpu)}</pci_bus_id>
\t\t\t<pci_gpu_link_info>
\t\t\t\t<pcie_gen><max_link_gen>5</max_link_gen><current_link_gen>5</current_link_gen></pcie_gen>
\t\t\t\t<link_widths><max_link_width>16x</max_link_width><current_link_width>16x</current_link_width></link_widths>
\t\t\t</pci_gpu_link_info>
\t\t</pci>
\t\t<performance_state>{reading.pstate}</performance_state>
\t\t<clocks_event_reasons>
\t\t\t<clocks_event_reason_gpu_idle>{idle}</clocks_event_reason_gpu_idle>
\t\t\t<clocks_event_reason_sw_power_cap>Not Active</clocks_event_reason_sw_power_cap>
\t\t\t<clocks_event_reason_hw_slowdown>{thermal}</clocks_event_reason_hw_slowdown>
\t\t\t<clocks_event_reason_hw_thermal_slowdown>{thermal}</clocks_event_reason_hw_thermal_slowdown>
\t\t\t<clocks_event_reason_hw_power_brake_slowdown>Not Active</clocks_event_reason_hw_power_brake_slowdown>
\t\t\t<clocks_event_reason_sw_thermal_slowdown>Not Active</clocks_event_reason_sw_thermal_slowdown>
\t\t</clocks_event_reasons>
\t\t<ecc_mode><current_ecc>Enabled</current_ecc><pending_ecc>Enabled</pending_ecc></ecc_mode>
\t\t<ecc_errors>
\t\t\t<volatile>
\t\t\t\t<sram_correctable>0</sram_correctable><sram_uncorrectable>0</sram_uncorrectable>
\t\t\t\t<dram_correctable>{ecc.corrected_volatile}</dram_correctable><dram_uncorrectable>{ecc.uncorrected}</dram_uncorrectable>
\t\t\t</volatile>
\t\t\t<aggregate>
\t\t\t\t<sram_correctable>0</sram_correctable><sram_uncorrectable>0</sram_uncorrectable>
\t\t\t\t<dram_correctable>{ecc.corrected_aggregate}</dram_correctable><dram_uncorrectable>{ecc.uncorrected}</dram_uncorrectable>
\t\t\t</aggregate>
\t\t</ecc_errors>
\t\t<retired_pages>
\t\t\t<multiple_single_bit_retirement><retired_count>N/A</retired_count></multiple_single_bit_retirement>
\t\t\t<double_bit_retirement><retired_count>N/A</retired_count></double_bit_retirement>
\t\t\t<pending_blacklist>N/A</pending_blacklist><pending_retirement>N/A</pending_retirement>
\t\t</retired_pages>
\t\t<remapped_rows>
\t\t\t<remapped_row_corr>0</remapped_row_corr><remapped_row_unc>{ecc.remapped_uncorrectable}</remapped_row_unc>
\t\t\t<remapped_row_pending>{pending}</remapped_row_pending><remapped_row_failure>No</remapped_row_failure>
\t\t</remapped_rows>
\t\t<gpu_power_readings>
\t\t\t<power_state>{reading.pstate}</power_state><power_draw>{reading.power_w:.2f} W</power_draw>
\t\t\t<current_power_limit>{node.model.power_limit_w:.2f} W</current_power_limit>
\t\t</gpu_power_readings>
\t</gpu>""")
    stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(t))
    return (
        f'<?xml version="1.0" ?>\n<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">\n<nvidia_smi_log>\n'
        f"\t<timestamp>{stamp}</timestamp>\n\t<driver_version>{DRIVER_VERSION}</driver_version>\n"
        f"\t<cuda_version>12.7</cuda_version>\n\t<attached_gpus>{GPUS_PER_NODE}</attached_gpus>\n"
        + "\n".join(gpus)
        + "\n</nvidia_smi_log>\n"
    )


def kernel_log(node: SimNode, since: float, t: float) -> str:
    """journalctl -k -o short-iso lines since ``since``: XID 79 once a second while the fault lasts."""
    lines = []
    start = max(since, t - 600)
    for second in range(int(start) + 1, int(t) + 1):
        if xid_window(node, float(second)) and second % 10 == 0:
            when = dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
            bus = _bus_id(XID_GPU)[4:14].lower()  # "00000000:BA:00.0" → "0000:ba:00", as the kernel writes it
            lines.append(
                f"{when} {node.name} kernel: NVRM: Xid (PCI:{bus}): 79, pid='<unknown>', name=<unknown>, "
                "GPU has fallen off the bus."
            )
    return "".join(line + "\n" for line in lines)


def proc_and_df(node: SimNode, t: float, boot_time: float) -> str:
    load = sum(node.gpu(g, t).utilization_pct for g in range(GPUS_PER_NODE)) / 100 * 3 + 0.4
    total_kib = 2_113_929_216
    available = int(total_kib * (0.35 if load > 5 else 0.9))
    return (
        f"{load:.2f} {load * 0.9:.2f} {load * 0.8:.2f} 3/2211 {400000 + node.index}\n"
        f"{t - boot_time:.2f} {(t - boot_time) * 200:.2f}\n"
        f"MemTotal:       {total_kib} kB\nMemFree:        {available - 1000} kB\nMemAvailable:   {available} kB\n"
        "224\n"
        f"\n{FRAME} proc 0\n"
        "Filesystem     1024-blocks      Used Available Capacity Mounted on\n"
        f"/dev/nvme0n1p2   936799232 {int(936799232 * 0.41)} 552712196      41% /\n"
        f"\n{FRAME} df 0\n"
    )


def health_answer(node: SimNode, t: float, field_lists: Sequence[str]) -> str:
    """The details script's ``nvidia-health`` part: each field list asked in turn as the script asks it
    (nvidia-smi refuses a list with a field it does not know), then -q -x if every list was refused."""
    out = ""
    for fields in field_lists:
        try:
            query = nvidia_smi.parse_argv(["nvidia-smi", f"--query-gpu={fields}", "--format=csv,nounits"])
        except nvidia_smi.UsageError as exc:
            out += f"{exc}\n{FRAME} nvidia-health {exc.status}\n"
            continue
        answer = "\n".join([nvidia_smi.header_line(query), *nvidia_smi.rows(node, query, t)])
        return out + answer + f"\n{FRAME} nvidia-health 0\n"
    return out + nvidia_xml(node, t) + f"\n{FRAME} nvidia-xml 0\n"


def detail_output(
    node: SimNode,
    nvidia: str | None,
    since: float,
    t: float,
    boot_time: float,
    kernel: bool = True,
    field_lists: Sequence[str] = (),
) -> str:
    """The slow path's answer: ``nvidia`` is the NVIDIA part asked ("nvidia": the whole -q -x,
    "nvidia-health": the health fields, None: neither); without ``kernel`` where the console follows the
    kernel log instead."""
    out = ""
    if nvidia == "nvidia":
        out += nvidia_xml(node, t) + f"\n{FRAME} nvidia-xml 0\n"
    elif nvidia == "nvidia-health":
        out += health_answer(node, t, field_lists)
    if nvidia is not None and kernel:
        out += kernel_log(node, since, t) + f"\n{FRAME} journalctl 0\n"
    return out + proc_and_df(node, t, boot_time)
