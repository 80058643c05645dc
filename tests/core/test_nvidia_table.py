"""The default ``nvidia-smi`` table, on every recorded layout."""

from __future__ import annotations

import pytest

from console.core.telemetry.samples import NotAvailable
from tests.paths import NVIDIA
from tests.standins.nvidia_table import parse_table


def _read(name: str) -> str:
    return (NVIDIA / name).read_text(encoding="utf-8")


def test_eight_h100_idle_table_gives_eight_gpus_with_their_values() -> None:
    table = parse_table(_read("table_8xH100-SXM-80GB-HBM3_driver565.57.01_idle_no-timestamp-line.txt"))
    assert table.errors == ()
    assert (table.driver_version, table.cuda_version) == ("565.57.01", "12.7")
    assert [g.sample.index for g in table.gpus] == list(range(8))
    assert [g.sample.pci_bus_id for g in table.gpus] == [
        "00000000:18:00.0",
        "00000000:2A:00.0",
        "00000000:3A:00.0",
        "00000000:5D:00.0",
        "00000000:9A:00.0",
        "00000000:AB:00.0",
        "00000000:BA:00.0",
        "00000000:DB:00.0",
    ]
    assert [g.sample.power_w for g in table.gpus] == [100, 82, 85, 85, 84, 85, 86, 75]
    assert [g.sample.temperature_c for g in table.gpus] == [30, 30, 31, 30, 28, 30, 29, 29]
    first = table.gpus[0]
    assert first.sample.memory_used_mib == 1 and first.sample.memory_total_mib == 81559
    assert first.sample.utilization_pct == 0 and first.sample.power_limit_w == 700
    assert isinstance(first.sample.fan_pct, NotAvailable)
    assert first.ecc_uncorrected_volatile == 0 and first.mig_mode == "Disabled"
    assert table.processes == ()


def test_h100_under_load_with_processes() -> None:
    table = parse_table(_read("table_1xH100-80GB-HBM3_driver590_load.txt"))
    (gpu,) = table.gpus
    assert (gpu.sample.utilization_pct, gpu.sample.temperature_c, gpu.sample.power_w) == (100, 59, 629)
    assert gpu.sample.memory_used_mib == 19818
    assert [(p.pid, p.name, p.memory_mib) for p in table.processes] == [
        (11327, "/root/tools/memhog", 2566),
        (11328, "/root/tools/memhog", 1542),
        (11345, "./gpu_burn", 15690),
    ]


def test_mig_enabled_gpu_has_no_utilisation_and_ecc_cell_shows_mode() -> None:
    table = parse_table(_read("table_1xH100-MIG-enabled_driver590_load.txt"))
    (gpu,) = table.gpus
    assert isinstance(gpu.sample.utilization_pct, NotAvailable)
    assert isinstance(gpu.ecc_uncorrected_volatile, NotAvailable)
    assert gpu.mig_mode == "Enabled"
    assert len(table.processes) == 3


def test_consumer_card_with_fan_and_truncated_name() -> None:
    table = parse_table(_read("table_1xRTX4080SUPER_driver595_load.txt"))
    (gpu,) = table.gpus
    assert gpu.sample.fan_pct == 0 and gpu.sample.pstate == "P2"
    assert gpu.sample.model == "NVIDIA GeForce RTX 4080 ..."
    assert [p.kind for p in table.processes][:2] == ["C+G", "G"]


def test_four_a100_without_date_line() -> None:
    table = parse_table(_read("table_4xA100-SXM_driver555.42.02_no-timestamp-line.txt"))
    assert [g.sample.model for g in table.gpus] == ["NVIDIA A100-SXM4-80GB"] * 4
    assert [g.sample.temperature_c for g in table.gpus] == [25, 22, 23, 23]


@pytest.mark.parametrize("cut", [0.2, 0.5, 0.8])
def test_a_cut_table_reports_errors_instead_of_raising(cut: float) -> None:
    text = _read("table_8xH100-SXM-80GB-HBM3_driver565.57.01_idle_no-timestamp-line.txt")
    table = parse_table(text[: int(len(text) * cut)])
    assert len(table.gpus) <= 8
