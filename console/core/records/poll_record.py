"""``poll`` output: the JSON record per node (a public contract: add fields, never rename) and a text table."""

from __future__ import annotations

from typing import Any, Final

from console.core.parsers.nvidia_xml import GpuDetail
from console.core.parsers.slurm import state_words
from console.core.telemetry.fleet import NodeView
from console.core.telemetry.samples import LIVE_STATES, AcceleratorSample, as_json
from console.core.when import iso_utc


def accelerator_record(
    sample: AcceleratorSample, detail: GpuDetail | None = None, xids: list[int] | None = None
) -> dict[str, Any]:
    """``detail`` and ``xids`` come from the slow path; until it has looked, those fields are null."""
    record: dict[str, Any] = {
        "index": sample.index,
        "vendor": sample.vendor.value,
        "model": as_json(sample.model),
        "uuid": as_json(sample.uuid),
        "utilization_pct": as_json(sample.utilization_pct),
        "memory_used_mib": as_json(sample.memory_used_mib),
        "memory_total_mib": as_json(sample.memory_total_mib),
        "temperature_c": as_json(sample.temperature_c),
        "power_w": as_json(sample.power_w),
        "power_limit_w": as_json(sample.power_limit_w),
        # Added beside the contract's first fields:
        "pci_bus_id": as_json(sample.pci_bus_id),
        "sm_clock_mhz": as_json(sample.sm_clock_mhz),
        "fan_pct": as_json(sample.fan_pct),
        "pstate": as_json(sample.pstate),
        "health": as_json(sample.health),
        "ecc_uncorrected_volatile": as_json(detail.ecc_uncorrected_volatile) if detail else None,
        "retired_or_remapped_pending": detail.retired_or_remapped_pending if detail else None,
        "throttle_reasons": list(detail.throttle_reasons)
        if detail
        else (list(sample.throttle_reasons) if sample.throttle_reasons is not None else None),
        "xid_recent": xids,
        "energy_j": as_json(sample.energy_j),
    }
    if sample.npu_id is not None:
        record["npu_id"] = sample.npu_id
        record["chip_id"] = sample.chip_id
    return record


def node_record(view: NodeView, now: float, locate_led: str | None = None) -> dict[str, Any]:
    """One line of ``poll --json``. Accelerators are listed only while the node's figures are current;
    ``locate_led`` the record's words where the node's locate LED was left lit."""
    live = view.state in LIVE_STATES
    return {
        "node": view.name,
        "state": view.state.value,
        "error": view.error,
        "time": iso_utc(view.last_sample_at if live and view.last_sample_at else now),
        "accelerators": [
            accelerator_record(
                a.sample,
                view.gpu_details.get(a.sample.index),
                view.recent_xids(a.sample.index, now) if view.report is not None else None,
            )
            for a in view.accelerators
        ]
        if live
        else [],
        # Added beside the contract's first fields:
        "source": view.telemetry_source,
        "rack": view.spec.rack,
        "tenant": view.spec.tenant,
        "alerts": [alert.as_json() for alert in view.alerts],
        "node_health": _node_health(view, now),
        "driver_version": as_json(view.report.driver_version) if view.report else None,
        "kernel_log": view.kernel_log,
        "locate_led": locate_led,
    }


def _node_health(view: NodeView, now: float) -> dict[str, Any] | None:
    if view.report is None:
        return None
    health = view.report.node
    boot = health.boot_time(view.report.taken_at)
    return {
        "load1": as_json(health.load1),
        "cpus": health.cpus,
        "memory_used_pct": as_json(health.memory_used_pct),
        "root_disk_used_pct": as_json(health.root_disk_used_pct),
        "uptime_s": as_json(health.uptime_s),
        "boot_time": iso_utc(boot) if boot is not None else None,
        "rebooted_at": iso_utc(view.rebooted_at) if view.rebooted_at else None,
        "checked": iso_utc(view.report.taken_at),
    }


def _num(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def power_words(watts: float | None) -> str:
    """Total power as the window shows it: kW from 1,000 W, W below."""
    if watts is None:
        return "-"
    return f"{watts / 1000:.2f} kW" if watts >= 1000 else f"{watts:.0f} W"


def alert_words(view: NodeView) -> str:
    """The worst alert and how many more, as the window's Alerts column says it."""
    if not view.alerts:
        return ""
    worst = view.alerts[0]
    more = f" +{len(view.alerts) - 1}" if len(view.alerts) > 1 else ""
    return f"{worst.severity.word}: {worst.rule.replace('_', ' ')}{more}"


TABLE_HEADER: Final = ("NODE", "STATE", "ALERTS", "SLURM", "ACCEL.", "UTIL avg/max", "TEMP max", "POWER", "ISSUE")


def table_rows(views: list[NodeView]) -> list[tuple[str, ...]]:
    """The terminal's table as the window's columns (state, alerts and Slurm first; kW as there)."""
    rows: list[tuple[str, ...]] = [TABLE_HEADER]
    for view in views:
        rows.append(
            (
                view.name,
                view.state.value,
                alert_words(view),
                state_words(view.scheduler_state or "").words,
                str(view.accelerator_count),
                f"{_num(view.mean_utilization, '%')}/{_num(view.max_utilization, '%')}",
                _num(view.max_temperature, "°C"),
                power_words(view.total_power),
                (view.error or "").split("\n", 1)[0],
            )
        )
    return rows


def format_rows(rows: list[tuple[str, ...]]) -> list[str]:
    """Columns padded to their widest cell; the last (the issue) left as long as it is."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        ("  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)) + "  " + row[-1]).rstrip()
        for row in rows
    ]


def text_table(views: list[NodeView]) -> str:
    return "\n".join(format_rows(table_rows(views)))
