"""AMD outputs: rocm-smi --json (Vega 20), amd-smi monitor (8x MI300X), amd-smi static --json (MI210)."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.core.parsers.amd import (
    parse_amd_smi_metric,
    parse_amd_smi_monitor,
    parse_amd_smi_static,
    parse_rocm_smi_json,
)
from console.core.telemetry.samples import NotAvailable, Vendor
from tests.paths import FIXTURES

AMD = FIXTURES / "amd"


def test_vendored_amd_recordings_match_their_checksums() -> None:
    for line in (AMD / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((AMD / name).read_bytes()).hexdigest() == digest


def test_rocm_smi_json_two_vega20_cards_in_card_order() -> None:
    reading = parse_rocm_smi_json((AMD / "rocm-smi_json_2xVega20.json").read_text())
    assert reading.errors == ()
    first, second = reading.samples
    assert (first.index, first.vendor, first.model, first.pci_bus_id) == (0, Vendor.AMD, "Vega 20", "0000:03:00.0")
    assert first.uuid == "7c96610172fc1a8d" and second.pci_bus_id == "0000:06:00.0"
    assert (first.utilization_pct, first.temperature_c, first.power_w, first.power_limit_w) == (0.0, 33.0, 34.0, 250.0)
    assert first.memory_used_mib == pytest.approx(325533696 / 2**20)
    assert first.memory_total_mib == pytest.approx(17163091968 / 2**20)
    assert (first.sm_clock_mhz, first.fan_pct) == (808.0, 20.0)


def test_amd_smi_monitor_eight_mi300x_with_units_in_cells() -> None:
    reading = parse_amd_smi_monitor((AMD / "amd-smi-monitor-putm_8xMI300X.txt").read_text(encoding="utf-8"))
    assert reading.errors == () and [s.index for s in reading.samples] == list(range(8))
    first = reading.samples[0]
    assert (first.power_w, first.temperature_c, first.utilization_pct, first.sm_clock_mhz) == (
        182.0,
        42.0,
        83.0,
        1613.0,
    )
    assert isinstance(first.memory_total_mib, NotAvailable)  # -putm has no VRAM columns


def test_amd_smi_static_gives_names_and_limits_for_metrics() -> None:
    static, error = parse_amd_smi_static((AMD / "amd-smi-static_json_1xMI210_gfx90a.json").read_text())
    assert error is None and list(static) == [0]
    # amd-smi metric --json: no real recording exists in the shared set (a gap); this is its documented
    # shape (values as {"value", "unit"} objects, "N/A" strings, a gpu_data list).
    metric = json.dumps(
        {
            "gpu_data": [
                {
                    "gpu": 0,
                    "usage": {"gfx_activity": {"value": 97, "unit": "%"}},
                    "power": {"socket_power": {"value": 287, "unit": "W"}},
                    "temperature": {"edge": {"value": 61, "unit": "C"}, "hotspot": {"value": 74, "unit": "C"}},
                    "mem_usage": {
                        "total_vram": {"value": 65520, "unit": "MB"},
                        "used_vram": {"value": 51200, "unit": "MB"},
                    },
                    "clock": {"gfx_0": {"clk": {"value": 1700, "unit": "MHz"}}},
                    "fan": {"usage": "N/A"},
                }
            ]
        }
    )
    (sample,) = parse_amd_smi_metric(metric, static).samples
    assert (sample.model, sample.power_limit_w) == ("AMD Instinct MI210", 300.0)
    assert (sample.utilization_pct, sample.power_w, sample.temperature_c) == (97.0, 287.0, 74.0)
    assert (sample.memory_used_mib, sample.memory_total_mib, sample.sm_clock_mhz) == (51200.0, 65520.0, 1700.0)
    assert isinstance(sample.fan_pct, NotAvailable)


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"gpu_data": "x"}', '{"card1": 5}'])
def test_bad_amd_outputs_are_errors_in_words(text: str) -> None:
    assert parse_amd_smi_metric(text).errors
    assert parse_rocm_smi_json(text).errors


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
        max_leaves=30,
    )
)
def test_any_json_shape_gives_readings_or_an_error_in_words_never_an_exception(data: object) -> None:
    text = json.dumps(data)
    for reading in (parse_amd_smi_metric(text), parse_rocm_smi_json(text)):
        assert reading.samples or reading.errors
        assert all(isinstance(e, str) and e for e in reading.errors)
    static, error = parse_amd_smi_static(text)
    assert all(isinstance(record, dict) for record in static.values()) and (error is None or error)


@given(st.text(max_size=500))
def test_any_monitor_text_gives_readings_or_an_error_in_words_never_an_exception(text: str) -> None:
    reading = parse_amd_smi_monitor(text)
    assert reading.samples or reading.errors
    assert all(isinstance(e, str) and e for e in reading.errors)
