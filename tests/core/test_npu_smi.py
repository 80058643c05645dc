"""``npu-smi info`` tables from real Ascend machines (910B2C, 910B3, two-chip Atlas A3) and hostile input."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.core.parsers.npu_smi import parse_npu_smi
from console.core.telemetry.samples import NotAvailable, Vendor
from tests.paths import FIXTURES

ASCEND = FIXTURES / "ascend"
B2C = "npu-smi-info_4x910B2C_npusmi23.0.3_with-processes.txt"
B3 = "npu-smi-info_8x910B3_npusmi25.2.0_one-process.txt"
A3 = "npu-smi-info_8x2chip-Ascend910-A3_npusmi25.2.0_busy-multiproc.txt"


def _read(name: str) -> str:
    return (ASCEND / name).read_text(encoding="utf-8")


def test_vendored_ascend_recordings_match_their_checksums() -> None:
    for line in (ASCEND / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((ASCEND / name).read_bytes()).hexdigest() == digest


def test_910b2c_with_non_contiguous_npu_ids_and_processes() -> None:
    table = parse_npu_smi(_read(B2C))
    assert table.errors == () and table.version == "23.0.3"
    assert [(c.index, c.npu_id, c.chip_id) for c in table.chips] == [(0, 12, 0), (1, 13, 0), (2, 14, 0), (3, 15, 0)]
    first = table.chips[0]
    assert first.vendor is Vendor.ASCEND and first.model == "910B2C" and first.health == "OK"
    assert (first.power_w, first.temperature_c, first.utilization_pct) == (91.3, 53.0, 0.0)
    assert (first.memory_used_mib, first.memory_total_mib) == (52675.0, 65536.0)  # HBM, "52675/ 65536"
    assert first.pci_bus_id == "0000:D9:00.0"
    assert [(p.npu_id, p.pid, p.name, p.memory_mib) for p in table.processes] == [
        (12, 78617, "python", 49385.0),
        (13, 79095, "python", 49379.0),
        (14, 79096, "python", 49379.0),
        (15, 79097, "python", 49379.0),
    ]


def test_910b3_one_busy_npu_and_no_process_lines() -> None:
    table = parse_npu_smi(_read(B3))
    assert table.errors == () and len(table.chips) == 8
    busy = table.chips[4]
    assert (busy.npu_id, busy.utilization_pct, busy.memory_used_mib, busy.power_w, busy.temperature_c) == (
        4,
        25.0,
        21784.0,
        139.7,
        45.0,
    )
    assert [(p.npu_id, p.chip_id, p.pid, p.memory_mib) for p in table.processes] == [(4, 0, 1601114, 18429.0)]


def test_a3_two_chips_per_npu_with_phy_id_and_dash_power() -> None:
    table = parse_npu_smi(_read(A3))
    assert table.errors == () and len(table.chips) == 16
    assert [(c.npu_id, c.chip_id) for c in table.chips[:4]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert [c.index for c in table.chips] == list(range(16))
    second_chip = table.chips[1]
    assert isinstance(second_chip.power_w, NotAvailable) and second_chip.power_w.reason == "-"
    assert second_chip.temperature_c == 44.0 and second_chip.pci_bus_id == "0000:9F:00.0"
    assert table.chips[0].power_w == 211.3 and table.chips[0].memory_used_mib == 61609.0
    assert len(table.processes) == 23 and table.processes[0].name == ""
    assert sum(1 for p in table.processes if p.npu_id == 0) == 9


def test_310p_style_layout_without_hbm_uses_memory_usage_and_finds_columns_by_header() -> None:
    # Shaped like the 310P table (no HBM column, "Device" in the second header, wider cells).
    text = (
        "+--------------------------------------------------------------------------------------------------------+\n"
        "| npu-smi 23.0.rc2                 Version: 23.0.rc2                                                     |\n"
        "+-------------------------------+-----------------+------------------------------------------------------+\n"
        "| NPU     Name                  | Health          | Power(W)     Temp(C)           Hugepages-Usage(page) |\n"
        "| Chip    Device                | Bus-Id          | AICore(%)    Memory-Usage(MB)                        |\n"
        "+===============================+=================+======================================================+\n"
        "| 2       310P3                 | Alarm           | NA           61                0     / 0             |\n"
        "| 0       0                     | 0000:01:00.0    | 37           8302 / 21534                            |\n"
        "+===============================+=================+======================================================+\n"
        "| 5       310P3                 | OK              | NA           49                0     / 0             |\n"
        "| 0       1                     | 0000:02:00.0    | 0            1702 / 21534                            |\n"
        "+===============================+=================+======================================================+\n"
    )
    table = parse_npu_smi(text)
    assert table.errors == ()
    assert [(c.npu_id, c.health) for c in table.chips] == [(2, "Alarm"), (5, "OK")]
    assert (table.chips[0].memory_used_mib, table.chips[0].memory_total_mib) == (8302.0, 21534.0)
    assert isinstance(table.chips[0].power_w, NotAvailable)
    assert table.chips[0].utilization_pct == 37.0


@pytest.mark.parametrize("cut", [0.3, 0.55, 0.8])
def test_cut_output_is_reported_not_raised(cut: float) -> None:
    text = _read(A3)
    table = parse_npu_smi(text[: int(len(text) * cut)])
    assert len(table.chips) < 16 or table.errors  # a cut is noticed: missing chips or a reported row
    assert all(c.npu_id is not None for c in table.chips)


def test_garbage_is_an_error_in_words() -> None:
    table = parse_npu_smi("dcmi module initialize failed. ret is -8005\n")
    assert table.chips == () and table.errors == ("no npu-smi table header found",)


@given(st.text(max_size=2000))
def test_no_text_makes_the_parser_raise_and_each_gives_chips_or_an_error(text: str) -> None:
    table = parse_npu_smi(text)
    assert table.chips or table.errors


@given(st.integers(min_value=0, max_value=3000), st.binary(max_size=64))
def test_recordings_with_bytes_spliced_in_give_chips_or_an_error_never_an_exception(position: int, junk: bytes) -> None:
    text = _read(B3)
    table = parse_npu_smi(text[:position] + junk.decode("utf-8", "replace") + text[position:])
    assert table.chips or table.errors
