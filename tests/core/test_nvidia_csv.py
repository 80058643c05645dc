"""``nvidia-smi --query-gpu`` CSV → samples, on every recorded output and on hostile input."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.core.parsers.nvidia_csv import (
    STREAM_FIELDS,
    NvidiaCsvParser,
    canonical_field,
    parse_document,
    stream_argv,
)
from console.core.telemetry.samples import NotAvailable, Vendor
from tests.helpers.fakes import nvidia_line
from tests.paths import NVIDIA

# (fixture, expected values) — read off the recordings by eye, not computed by the parser.
EXPECTED = {
    "query-gpu-allfields_1xH100-80GB-HBM3_driver590_idle.csv": dict(
        model="NVIDIA H100 80GB HBM3",
        uuid="GPU-00000000-0000-0000-0000-000000000000",
        pci_bus_id="00000000:00:09.0",
        utilization_pct=0.0,
        memory_used_mib=0.0,
        memory_total_mib=81559.0,
        temperature_c=41.0,
        power_w=69.85,
        power_limit_w=700.0,
        sm_clock_mhz=345.0,
        pstate="P0",
        count=1,
    ),
    "query-gpu-allfields_1xH100-80GB-HBM3_driver590_load.csv": dict(
        model="NVIDIA H100 80GB HBM3",
        utilization_pct=100.0,
        memory_used_mib=19818.0,
        memory_total_mib=81559.0,
        temperature_c=59.0,
        power_w=631.95,
        power_limit_w=700.0,
        sm_clock_mhz=1980.0,
        pstate="P0",
    ),
    "query-gpu-allfields_1xL40S_driver595.80_load.csv": dict(
        model="NVIDIA L40S",
        pci_bus_id="00000000:01:00.0",
        utilization_pct=9.0,
        memory_used_mib=1235.0,
        memory_total_mib=46068.0,
        temperature_c=54.0,
        power_w=110.23,
        power_limit_w=350.0,
        sm_clock_mhz=2520.0,
        pstate="P0",
    ),
    "query-gpu-allfields_1xRTX4080SUPER_driver595_load.csv": dict(
        model="NVIDIA GeForce RTX 4080 SUPER",
        utilization_pct=7.0,
        memory_used_mib=1474.0,
        memory_total_mib=16376.0,
        temperature_c=46.0,
        power_w=84.24,
        power_limit_w=320.0,
        sm_clock_mhz=2805.0,
        fan_pct=0.0,
        pstate="P2",
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_recorded_query_gpu_csv_parses_to_the_recorded_values(name: str) -> None:
    parsed = parse_document((NVIDIA / name).read_text(encoding="utf-8"))
    assert len(parsed) == 1
    assert parsed[0].error is None
    sample = parsed[0].sample
    assert sample is not None
    assert sample.index == 0
    assert sample.vendor is Vendor.NVIDIA
    for attribute, value in EXPECTED[name].items():
        assert getattr(sample, attribute) == value, attribute


def test_recorded_datacenter_fan_is_not_available_with_the_tools_words_never_zero() -> None:
    parsed = parse_document((NVIDIA / "query-gpu-allfields_1xH100-80GB-HBM3_driver590_load.csv").read_text())
    fan = parsed[0].sample.fan_pct  # type: ignore[union-attr]
    assert isinstance(fan, NotAvailable)
    assert fan.reason == "[N/A]"
    assert fan != 0


def test_recorded_timestamp_becomes_epoch_seconds_with_milliseconds() -> None:
    parsed = parse_document((NVIDIA / "query-gpu-allfields_1xL40S_driver595.80_load.csv").read_text())
    node_time = parsed[0].sample.node_time  # type: ignore[union-attr]
    assert isinstance(node_time, float)
    assert math.isclose(node_time % 1, 0.415, abs_tol=1e-6)


def test_headers_with_units_and_aliases_map_to_stream_fields() -> None:
    assert canonical_field(" clocks.current.sm [MHz]") == "clocks.sm"
    assert canonical_field("utilization.gpu [%]") == "utilization.gpu"
    assert canonical_field("memory.used [MiB]") == "memory.used"


def test_stream_command_is_the_documented_nvidia_smi_loop() -> None:
    argv = stream_argv()
    assert argv[0] == "nvidia-smi"
    assert argv[1] == "--query-gpu=" + ",".join(STREAM_FIELDS)
    assert argv[2:] == ["--format=csv,noheader,nounits", "-lms", "1000"]


def _line(**overrides: str) -> str:
    return nvidia_line(**overrides)


def test_a_stream_line_becomes_a_sample() -> None:
    sample = NvidiaCsvParser().parse_line(_line()).sample
    assert sample is not None
    assert (sample.index, sample.count, sample.utilization_pct, sample.power_w) == (3, 8, 87.0, 312.5)
    assert sample.model == "NVIDIA H100 80GB HBM3"


@pytest.mark.parametrize(
    "token",
    [
        "[N/A]",
        "[Not Supported]",
        "[Unknown Error]",
        "[GPU is lost]",
        "[Insufficient Permissions]",
        "[Requested functionality has been deprecated]",
        "N/A",
        "[Some future driver words]",
    ],
)
def test_every_not_available_token_is_explicit_not_available_never_zero(token: str) -> None:
    sample = NvidiaCsvParser().parse_line(_line(**{"temperature.gpu": token, "power.draw": token})).sample
    assert sample is not None
    assert isinstance(sample.temperature_c, NotAvailable)
    assert isinstance(sample.power_w, NotAvailable)
    assert sample.temperature_c.reason == token
    assert not sample.temperature_c


def test_a_truncated_line_is_an_error_naming_the_problem_not_an_exception() -> None:
    line = _line()
    parsed = NvidiaCsvParser().parse_line(line[: len(line) // 2])
    assert parsed.sample is None
    assert parsed.error is not None and "expected 15 comma-separated fields" in parsed.error


@pytest.mark.parametrize(
    ("override", "attribute", "words"),
    [
        ({"temperature.gpu": "hot"}, "temperature_c", "temperature.gpu: 'hot' is not a number"),
        ({"power.draw": "1e999"}, "power_w", "not a finite number"),
        ({"power.draw": "nan"}, "power_w", "power.draw: 'nan' is not a number"),
        ({"timestamp": "yesterday"}, "node_time", "is not a timestamp"),
        ({"timestamp": "2026-07-14T08:12:53.353+02:00"}, "node_time", "is not a timestamp"),
    ],
)
def test_an_unreadable_field_is_not_available_and_the_rest_of_the_line_counts(
    override: dict[str, str], attribute: str, words: str
) -> None:
    parsed = NvidiaCsvParser().parse_line(_line(**override))
    assert parsed.sample is not None and parsed.error is None
    value = getattr(parsed.sample, attribute)
    assert isinstance(value, NotAvailable) and value.reason == next(iter(override.values()))  # the tool's words
    assert any(words in problem for problem in parsed.field_errors)
    assert parsed.sample.index == 3 and isinstance(parsed.sample.utilization_pct, float)


@pytest.mark.parametrize(
    ("override", "words"),
    [({"index": "-1"}, "is not a small whole number"), ({"index": "[N/A]"}, "no GPU index")],
)
def test_a_line_without_a_readable_gpu_index_is_an_error_naming_the_field(override: dict[str, str], words: str) -> None:
    parsed = NvidiaCsvParser().parse_line(_line(**override))
    assert parsed.sample is None
    assert parsed.error is not None and words in parsed.error


def test_a_node_whose_timestamps_come_in_another_format_keeps_its_values_and_says_which_field() -> None:
    from pathlib import Path

    from console.core.inventory import parse_inventory
    from console.core.telemetry.fleet import FleetModel
    from console.core.telemetry.samples import NodeState

    fleet = FleetModel(parse_inventory('[[node]]\nname = "n"\nhost = "h"\n', Path("/x/f.toml")))
    fleet.set_state("n", NodeState.UP)
    parser = NvidiaCsvParser()
    fleet.ingest("n", [parser.parse_line(_line(timestamp="2026-07-14T08:12:53Z")) for _ in range(3)], 0.0)
    view = fleet.view("n")
    assert view.lines_parsed == 3 and view.lines_rejected == 0
    assert view.accelerators and view.max_temperature is not None
    assert view.state == NodeState.PARSE_ERROR and view.error is not None and "timestamp" in view.error


@pytest.mark.parametrize(
    "line",
    [
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.",
        "No devices were found",
        "Unable to determine the device handle for GPU0000:3B:00.0: Unknown Error",
    ],
)
def test_nvidia_smi_complaints_are_quoted_in_the_error(line: str) -> None:
    parsed = NvidiaCsvParser().parse_line(line)
    assert parsed.error == f"nvidia-smi: {line}"


def test_huge_numbers_are_kept_not_crashed_on() -> None:
    sample = NvidiaCsvParser().parse_line(_line(**{"memory.used": "9" * 300})).sample
    assert sample is not None and sample.memory_used_mib == float("9" * 300)


def test_error_excerpts_are_bounded_and_printable() -> None:
    parsed = NvidiaCsvParser().parse_line("\x1b[31m" + "x" * 10_000)
    assert parsed.error is not None
    assert len(parsed.error) < 400
    assert "\x1b" not in parsed.error


@given(st.text(max_size=400))
def test_no_text_makes_the_parser_raise(text: str) -> None:
    parsed = NvidiaCsvParser().parse_line(text)
    assert (parsed.sample is None) != (parsed.error is None)


@given(
    st.lists(st.one_of(st.text(max_size=20), st.from_regex(r"-?[0-9]{1,30}(\.[0-9]{0,5})?")), min_size=15, max_size=15)
)
def test_any_fifteen_fields_give_a_sample_or_an_error(tokens: list[str]) -> None:
    parsed = NvidiaCsvParser().parse_line(",".join(t.replace(",", ";") for t in tokens))
    assert (parsed.sample is None) != (parsed.error is None)


@given(
    st.one_of(
        st.text(max_size=12),
        st.floats(allow_nan=True).map(str),
        st.sampled_from(
            ["87", " 312.50", "nan", "inf", "-inf", "1_000", "[N/A]", "87 %", "", "  ", "N/A", "1e3", "0x10", "59C"]
        ),
    )
)
def test_the_fast_number_path_answers_as_the_careful_one(token: str) -> None:
    from console.core.parsers.common import FieldError, parse_number
    from console.core.parsers.nvidia_csv import _fast_number

    try:
        careful: object = parse_number(token, "f")
    except FieldError:
        careful = FieldError
    try:
        fast: object = _fast_number(token, "f")
    except FieldError:
        fast = FieldError
    assert fast == careful or (careful is not FieldError and str(fast) == str(careful))


def test_a_timestamp_is_converted_once_per_text_and_a_bad_one_still_refused() -> None:
    from console.core.parsers.common import FieldError
    from console.core.parsers.nvidia_csv import parse_timestamp

    assert parse_timestamp("2024/11/14 07:00:14.123", "t") == parse_timestamp(" 2024/11/14 07:00:14.123 ", "t")
    with pytest.raises(FieldError, match="is not a timestamp"):
        parse_timestamp("2024-11-14T07:00:14", "t")


_TOKEN = st.one_of(
    st.sampled_from(["0", "1", " 87", " 312.50", "[N/A]", "", " ", "x", "2024/11/14 07:00:14.123", "P0", "-3"]),
    st.text(alphabet="0123456789. []NA/", max_size=8),
)


@given(st.lists(st.lists(_TOKEN, min_size=15, max_size=15), min_size=1, max_size=6))
def test_a_parser_that_remembers_each_gpus_last_line_answers_every_line_as_a_fresh_parser_would(
    lines: list[list[str]],
) -> None:
    """The per-GPU memo of unchanged fields: lines that repeat fields (and bad ones) parse as they would alone,
    field errors included (a refused field is not remembered)."""
    remembering = NvidiaCsvParser()
    for tokens in lines:
        line = ",".join(tokens)
        assert remembering.parse_line(line) == NvidiaCsvParser().parse_line(line)


def test_a_gpus_unchanged_fields_are_not_converted_again() -> None:
    parser = NvidiaCsvParser()
    converted: list[str] = []

    def counting(convert: Any) -> Any:
        def wrapped(token: str, name: str) -> object:
            converted.append(name)
            return convert(token, name)

        return wrapped

    plan = tuple(None if step is None else (step[0], step[1], counting(step[2])) for step in parser._plan)
    object.__setattr__(parser, "_plan", plan)
    parser.parse_line(nvidia_line(index="3", utilization_gpu="40", temperature_gpu="61"))
    converted.clear()
    sample = parser.parse_line(nvidia_line(index="3", utilization_gpu="41", temperature_gpu="61")).sample
    assert sample is not None and sample.utilization_pct == 41.0 and sample.temperature_c == 61.0
    assert "utilization.gpu" in converted and "temperature.gpu" not in converted  # same text: not converted
    converted.clear()
    other = parser.parse_line(nvidia_line(index="4", utilization_gpu="41", temperature_gpu="61")).sample
    assert other is not None and other.index == 4 and "temperature.gpu" in converted  # another GPU: its own
