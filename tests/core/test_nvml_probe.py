"""The NVML probe: it refuses cleanly where NVML is missing (this machine has no GPU), and its JSON lines
read back into samples. A run on a real GPU needs the device machine, which this task was not lent."""

from __future__ import annotations

import json
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from console.core.parsers.nvidia_csv import parse_document
from console.core.telemetry.nvml_probe import PROBE_SOURCE, ProbeLines, throttle_reasons
from console.core.telemetry.samples import NotAvailable
from tests.paths import NVIDIA


def test_probe_without_an_nvidia_driver_says_why_and_exits_3() -> None:
    for extra in ([], ["--check"]):
        result = subprocess.run(
            [sys.executable, "-c", PROBE_SOURCE, *extra], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 3
        assert json.loads(result.stdout)["error"].startswith(("NVML: ", "pynvml is not importable"))


def test_probe_lines_read_back_values_of_a_recorded_h100_with_nvml_only_fields() -> None:
    (recorded,) = parse_document((NVIDIA / "query-gpu-allfields_1xH100-80GB-HBM3_driver590_load.csv").read_text())
    s = recorded.sample
    assert s is not None
    line = json.dumps(
        {
            "t": 1_784_016_773.353,
            "count": 1,
            "gpus": [
                {
                    "index": 0,
                    "uuid": s.uuid,
                    "name": s.model,
                    "bus": s.pci_bus_id,
                    "util": s.utilization_pct,
                    "mem_used_mib": s.memory_used_mib,
                    "mem_total_mib": s.memory_total_mib,
                    "temp": s.temperature_c,
                    "power_w": s.power_w,
                    "power_limit_w": s.power_limit_w,
                    "sm_clock": s.sm_clock_mhz,
                    "fan": None,
                    "pstate": "P0",
                    "throttle_mask": 0x1 | 0x40 | 0x80,
                    "energy_mj": 987_654_321,
                    "processes": [],
                }
            ],
        }
    )
    (parsed,) = ProbeLines().parse_lines([line])
    sample = parsed.sample
    assert sample is not None
    assert (sample.utilization_pct, sample.memory_used_mib, sample.power_w, sample.count) == (100.0, 19818.0, 631.95, 1)
    assert sample.throttle_reasons == ("hw_thermal_slowdown", "hw_power_brake_slowdown")
    assert sample.energy_j == 987654.321 and isinstance(sample.fan_pct, NotAvailable)


def test_probe_errors_and_garbage_are_errors_in_words() -> None:
    parsed = ProbeLines().parse_lines(
        [
            '{"error": "NVML: Driver Not Loaded"}',
            "not json",
            "[]",
            '{"gpus": [{"index": 2, "error": "GPU is lost"}]}',
            '{"gpus": [{"util": 5}]}',
        ]
    )
    assert [p.error for p in parsed] == [
        "nvml probe: NVML: Driver Not Loaded",
        "nvml probe: not JSON: 'not json'",
        "nvml probe: unexpected line '[]'",
        "nvml probe: GPU 2: GPU is lost",
        "nvml probe: GPU entry without an index: " + repr("{'util': 5}"),
    ]
    assert throttle_reasons(0x1) == ()


@given(st.text(max_size=300))
def test_no_line_makes_the_probe_reader_raise(text: str) -> None:
    ProbeLines().parse_lines(text.splitlines())
