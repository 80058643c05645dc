"""The slow path's health query (``--query-gpu`` with the health fields) and which looks read the whole
``-q -x``: recorded drivers, hostile answers, a fake clock."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from console.core.parsers.nvidia_health import (
    HEALTH_FIELDS_OLDER,
    HEALTH_FIELDS_RECENT,
    MAX_GPUS,
    parse_health_csv,
    throttle_names,
)
from console.core.parsers.nvidia_xml import GpuDetail, parse_nvidia_xml
from console.core.telemetry.details import FULL_LOOK_EVERY_S, FullLooks, HealthReport, parse_detail_output
from console.core.telemetry.samples import NA
from console.core.telemetry.sources import FRAME
from tests.paths import NVIDIA

RECORDED = sorted(NVIDIA.glob("query-gpu-allfields_*.csv"))


def _answer(recording: Path, fields: tuple[str, ...]) -> str:
    """What the recorded driver prints for ``--query-gpu=FIELDS --format=csv,nounits``: the recording's
    columns, in the asked order, units dropped from the values (nvidia-smi keeps them in the header)."""
    rows = list(csv.reader(recording.read_text(encoding="utf-8").splitlines()))
    names = [h.strip().split(" [")[0] for h in rows[0]]
    at = [names.index(f) for f in fields]
    header = ", ".join(rows[0][i].strip() for i in at)
    body = [
        ", ".join(r[i].strip().split(" ")[0] if r[i].strip()[:1].isdigit() else r[i].strip() for i in at)
        for r in rows[1:]
    ]
    return "\n".join([header, *body]) + "\n"


@pytest.mark.parametrize("recording", RECORDED, ids=lambda p: p.stem)
def test_every_recent_health_field_is_known_to_the_recorded_drivers(recording: Path) -> None:
    known = {
        h.strip().split(" [")[0] for h in next(csv.reader([recording.read_text(encoding="utf-8").splitlines()[0]]))
    }
    assert set(HEALTH_FIELDS_RECENT) - known == set()
    assert set(HEALTH_FIELDS_OLDER) - known == {"clocks_throttle_reasons.active"}  # the older name


def test_the_recorded_h100_answers_its_health_in_the_same_words_as_its_table_and_xml_would() -> None:
    query = parse_health_csv(
        _answer(NVIDIA / "query-gpu-allfields_1xH100-80GB-HBM3_driver590_idle.csv", HEALTH_FIELDS_RECENT)
    )
    assert (query.error is None and query.driver_version == "590.44.01") or query.driver_version != NA
    (gpu,) = query.gpus
    assert (gpu.index, gpu.uuid, gpu.pci_bus_id, gpu.module_id) == (
        0,
        "GPU-00000000-0000-0000-0000-000000000000",
        "00000000:00:09.0",
        7.0,
    )
    assert (gpu.ecc_mode, gpu.ecc_uncorrected_volatile, gpu.ecc_corrected_aggregate) == ("Enabled", 0.0, 0.0)
    assert (gpu.remapped_rows_pending, gpu.remapped_rows_failure, gpu.retired_or_remapped_pending) == (
        "No",
        "No",
        False,
    )
    assert gpu.retired_pages_single == NA.__class__("[N/A]")
    assert (gpu.power_limit_w, gpu.pcie_gen_current, gpu.pcie_width_max, gpu.mig_mode) == (700.0, 5.0, 16.0, "Disabled")
    assert gpu.throttle_reasons == ()  # idle only (0x1), which -q -x's reader leaves out too


def test_a_geforce_without_ecc_says_not_available_rather_than_zero() -> None:
    query = parse_health_csv(
        _answer(NVIDIA / "query-gpu-allfields_1xRTX4080SUPER_driver595_load.csv", HEALTH_FIELDS_RECENT)
    )
    (gpu,) = query.gpus
    assert gpu.ecc_uncorrected_volatile == NA.__class__("[N/A]") and gpu.retired_or_remapped_pending is None
    assert gpu.module_id == 1.0


@pytest.mark.parametrize(
    ("mask", "names"),
    [
        ("0x0000000000000001", ()),
        ("0x0000000000000048", ("hw_slowdown", "hw_thermal_slowdown")),
        ("0x0000000000000004", ("sw_power_cap",)),
        ("0x0000000000000400", ("other (0x400)",)),
        ("not hex", ()),
        ("[N/A]", ()),
    ],
)
def test_throttle_bitmasks_read_as_the_xml_names_them(mask: str, names: tuple[str, ...]) -> None:
    assert throttle_names(mask) == names


def test_the_query_and_the_xml_read_the_same_throttle_names() -> None:
    xml = parse_nvidia_xml((NVIDIA / "q-x_4xTeslaK80_driver430.26.xml").read_text(encoding="utf-8"))
    assert xml.gpus[0].throttle_reasons == ("applications_clocks_setting",)
    assert throttle_names("0x2") == ("applications_clocks_setting",)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "printed nothing"),
        ("Failed to initialize NVML: Driver/library version mismatch\n", "not a --query-gpu answer"),
        ("index, uuid\n0, GPU-a, extra\n", "row 1: 3 values for 2 fields"),
        ("index, uuid\nzero, GPU-a\n", "row 1: no GPU index"),
        ("index, uuid\n-1, GPU-a\n", "row 1: no GPU index"),
        ("index, uuid\n" + "".join(f"{i}, GPU-{i}\n" for i in range(MAX_GPUS + 1)), f"at most {MAX_GPUS}"),
        ("index, uuid\n0, " + "x" * 10_000 + "\n", "row 1"),
    ],
)
def test_hostile_or_broken_answers_are_errors_in_words(text: str, words: str) -> None:
    query = parse_health_csv(text)
    assert query.error is not None and words in query.error


def test_a_bad_row_does_not_lose_the_good_ones_and_control_characters_are_not_kept_raw() -> None:
    query = parse_health_csv("index, uuid, name\n0, GPU-a, ok\n1, GPU-b\n2, GPU-c, \x1b[31mred\n")
    assert [g.index for g in query.gpus] == [0, 2] and "row 2" in (query.error or "")
    assert "\x1b" not in str(query.gpus[1].product_name)


def _report(
    details_from: str,
    uuids: tuple[str, ...] = ("GPU-a",),
    at: float = 0.0,
    refused: bool = False,
    cuda: str | None = None,
    driver: str = "590",
) -> HealthReport:
    gpus = tuple(GpuDetail(index=i, uuid=u) for i, u in enumerate(uuids)) if details_from else ()
    return HealthReport(
        at,
        driver_version=driver,
        cuda_version=cuda or NA,
        gpus=gpus,
        details_from=details_from,
        health_query_refused=refused,
    )


def test_the_first_look_is_full_then_the_health_fields_until_ten_minutes_have_passed() -> None:
    looks = FullLooks()
    assert looks.wants_full("n", 0.0)
    looks.record("n", _report("-q -x", at=0.0, cuda="13.1"))
    assert not looks.wants_full("n", 50.0)
    carried = looks.record("n", _report("--query-gpu", at=50.0))
    assert carried.cuda_version == "13.1"  # the query does not say it: the full look's, same driver
    assert not looks.wants_full("n", FULL_LOOK_EVERY_S - 1)
    assert looks.wants_full("n", FULL_LOOK_EVERY_S)
    assert looks.wants_full("other", 50.0)  # each node on its own


def test_a_new_gpu_in_the_health_answer_brings_a_full_look_next() -> None:
    looks = FullLooks()
    looks.record("n", _report("-q -x", ("GPU-a", "GPU-b"), at=0.0))
    looks.record("n", _report("--query-gpu", ("GPU-a",), at=30.0))  # one GPU gone: nothing new to read
    assert not looks.wants_full("n", 60.0)
    looks.record("n", _report("--query-gpu", ("GPU-a", "GPU-c"), at=60.0))  # a swapped board
    assert looks.wants_full("n", 90.0)
    looks.record("n", _report("-q -x", ("GPU-a", "GPU-c"), at=90.0))
    assert not looks.wants_full("n", 120.0)


def test_a_driver_that_refuses_the_query_is_asked_for_the_xml_and_tried_again_later() -> None:
    looks = FullLooks()
    looks.record("n", _report("-q -x", at=0.0))
    looks.record("n", _report("-q -x", at=30.0, refused=True))
    assert looks.wants_full("n", 60.0) and looks.wants_full("n", 30.0 + FULL_LOOK_EVERY_S - 1)
    looks.record("n", _report("-q -x", at=60.0))
    assert looks.wants_full("n", 30.0 + FULL_LOOK_EVERY_S - 1)  # still refused: the XML, not two refusals
    assert not looks.wants_full("n", 30.0 + FULL_LOOK_EVERY_S)  # the query is tried again


def test_the_cuda_version_is_not_carried_over_a_driver_change() -> None:
    looks = FullLooks()
    looks.record("n", _report("-q -x", cuda="12.4", driver="550"))
    assert looks.record("n", _report("--query-gpu", at=30.0, driver="590")).cuda_version == NA


def test_a_look_whose_health_answer_is_unreadable_says_so_and_reads_no_gpus() -> None:
    text = f"garbage, more\nnot a row\n{FRAME} nvidia-health 0\n"
    report = parse_detail_output(text, 0.0)
    assert report.details_from == "--query-gpu" and report.gpus == ()
    assert any("nvidia-smi --query-gpu: not a --query-gpu answer" in e for e in report.errors)
