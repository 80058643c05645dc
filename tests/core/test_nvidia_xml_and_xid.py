"""``nvidia-smi -q -x`` across driver generations (410 … 535) and XID lines from the kernel log."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from console.core.parsers.nvidia_xml import parse_nvidia_xml
from console.core.parsers.xid import CRITICAL, bus_key, parse_xid_line
from console.core.telemetry.samples import NotAvailable
from tests.paths import FIXTURES, NVIDIA

KERNEL = FIXTURES / "kernel"


def _xml(name: str) -> str:
    return (NVIDIA / name).read_text(encoding="utf-8")


def test_vendored_kernel_recordings_match_their_checksums() -> None:
    for line in (KERNEL / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((KERNEL / name).read_bytes()).hexdigest() == digest


def test_k80_driver_430_old_ecc_schema_retired_pages_and_out_of_order_domains() -> None:
    query = parse_nvidia_xml(_xml("q-x_4xTeslaK80_driver430.26.xml"))
    assert query.error is None and query.driver_version == "430.26" and len(query.gpus) == 4
    assert isinstance(query.cuda_version, NotAvailable) and query.cuda_version.reason == "Not Found"
    first = query.gpus[0]
    assert first.pci_bus_id == "00001580:00:00.0" and query.gpus[1].pci_bus_id == "00002DF7:00:00.0"
    assert (first.ecc_mode, first.ecc_corrected_volatile, first.ecc_uncorrected_volatile) == ("Enabled", 0.0, 0.0)
    assert (first.retired_pages_single, first.retired_pages_double, first.retired_pages_pending) == (1.0, 1.0, "No")
    assert first.retired_or_remapped_pending is False
    assert first.throttle_reasons == ("applications_clocks_setting",)
    assert (first.pcie_gen_current, first.pcie_width_current, first.power_limit_w) == (3.0, 16.0, 149.0)


def test_rtx4090_driver_535_new_element_names() -> None:
    (gpu,) = parse_nvidia_xml(_xml("q-x_1xRTX4090_driver535.86.05.xml")).gpus
    assert gpu.product_name == "NVIDIA GeForce RTX 4090" and gpu.power_limit_w == 450.0  # gpu_power_readings
    assert gpu.ecc_mode == "Disabled" and isinstance(gpu.ecc_uncorrected_volatile, NotAvailable)
    assert (gpu.remapped_rows_correctable, gpu.remapped_rows_pending, gpu.remapped_rows_failure) == (0.0, "No", "No")
    assert gpu.retired_or_remapped_pending is False and gpu.throttle_reasons == ()


def test_a100_with_mig_and_everything_not_available() -> None:
    (gpu,) = parse_nvidia_xml(_xml("q-x_1xA100-SXM4-40GB-MIG_driver510.47.03.xml")).gpus
    assert gpu.mig_mode == "Enabled" and gpu.ecc_mode == "Enabled"
    assert isinstance(gpu.ecc_uncorrected_volatile, NotAvailable)
    assert isinstance(gpu.retired_pages_pending, NotAvailable)
    assert gpu.retired_or_remapped_pending is None  # unknown, not "no"


def test_p100_tab_indented_and_2080ti_without_trailing_newline() -> None:
    (p100,) = parse_nvidia_xml(_xml("q-x_1xTeslaP100-PCIE-16GB_driver510.47.03.xml")).gpus
    assert p100.ecc_uncorrected_aggregate == 0.0 and p100.retired_pages_pending == "No"
    ti = parse_nvidia_xml(_xml("q-x_2xRTX2080Ti_driver410.73_ecc-unsupported.xml"))
    assert [g.pci_bus_id for g in ti.gpus] == ["00000000:02:00.0", "00000000:03:00.0"]
    assert isinstance(ti.gpus[0].ecc_mode, NotAvailable)
    assert ti.gpus[1].throttle_reasons == ("sw_power_cap",)


def test_cut_and_foreign_xml_are_errors_in_words() -> None:
    text = _xml("q-x_4xTeslaK80_driver430.26.xml")
    assert "unreadable nvidia-smi -q -x output" in (parse_nvidia_xml(text[: len(text) // 2]).error or "")
    assert "not an nvidia-smi log" in (parse_nvidia_xml("<html><body/></html>").error or "")
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;'
        '&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><nvidia_smi_log>&c;</nvidia_smi_log>'
    )
    assert parse_nvidia_xml(bomb).gpus == ()


@given(st.binary(max_size=3000))
def test_no_bytes_make_the_xml_parser_raise(data: bytes) -> None:
    parse_nvidia_xml(data.decode("utf-8", "replace"))


def test_recorded_dmesg_xids_map_to_the_gpu_by_bus_id() -> None:
    events = [
        e
        for line in (KERNEL / "dmesg-decode-iso_xid13_xid43.log").read_text().splitlines()
        if (e := parse_xid_line(line))
    ]
    assert [e.code for e in events] == [13] * 16 + [43]
    assert {e.bus for e in events} == {bus_key("00000000:38:00.0")}
    assert events[0].when == "2025-01-21T04:41:44"
    assert events[-1].detail.startswith("pid=2924364, name=pt_main_thread")
    assert "application fault" in events[-1].meaning and not events[-1].critical


def test_journalctl_short_iso_and_plain_dmesg_lines() -> None:
    journal = (
        "2026-11-29T05:11:12+0000 gpu-a01 kernel: NVRM: Xid (PCI:0000:9a:00): 79, pid=0, GPU has fallen off the bus."
    )
    event = parse_xid_line(journal)
    assert event is not None and event.code == 79 and event.critical and event.bus == (0, 0x9A, 0)
    plain = "[ 8123.456] NVRM: Xid (PCI:0000:18:00): 48, pid=1234, name=python, An uncorrectable double bit error"
    assert (parse_xid_line(plain) or event).code == 48
    assert parse_xid_line("NVRM: loading NVIDIA UNIX x86_64 Kernel Module 565.57.01") is None
    assert {48, 79, 94, 95, 119} <= CRITICAL


def test_a_journalctl_without_a_journal_is_not_taken_as_a_read_kernel_log() -> None:
    """The real journalctl on a node without journald exits 0 after saying it found no journal."""
    from console.core.telemetry.details import parse_detail_output
    from console.core.telemetry.sources import FRAME

    no_journal = f"No journal files were found.\n-- No entries --\n{FRAME} journalctl 0\n"
    report = parse_detail_output(no_journal, 0.0)
    assert report.kernel_log != "read" and "No journal files were found" in report.kernel_log
    with_dmesg = no_journal + (
        "2024-03-01T10:00:00,000000+00:00 NVRM: Xid (PCI:0000:18:00): 79, pid=1, GPU has fallen off the bus.\n"
        f"{FRAME} dmesg 0\n"
    )
    report = parse_detail_output(with_dmesg, 0.0)
    assert report.kernel_log == "read" and [x.code for x in report.xids] == [79]


FALLEN_THREE_LINES_JOURNAL = """\
2025-10-25T09:14:03+0000 gpu-b07 kernel: NVRM: The NVIDIA GPU 0000:b3:00.0
                                        NVRM: (PCI ID: 10de:26b5) installed in this system has
                                        NVRM: fallen off the bus and is not responding to commands.
2025-10-25T09:14:03+0000 gpu-b07 kernel: NVRM: The NVIDIA probe routine failed for 1 device(s).
"""
FALLEN_DMESG = """\
[ 1843.308145] NVRM: The NVIDIA GPU 0000:b3:00.0
               NVRM: installed in this system has
               NVRM: fallen off the bus and is not responding to commands.
"""
FALLEN_ONE_LINE = (
    "2025-10-25T09:20:00,000000+00:00 NVRM: The NVIDIA GPU 0000:05:00.0 installed in this system has fallen off the "
    "bus and is not responding to commands."
)
FALLEN_DEVICE = "2025-10-25T09:21:00+0000 node kernel: NVRM: GPU 0000:3b:00.0: GPU has fallen off the bus."


def test_a_gpu_that_falls_off_the_bus_without_an_xid_line_is_an_xid_79_event() -> None:
    from console.core.parsers.xid import parse_kernel_log

    for text, bus in (
        (FALLEN_THREE_LINES_JOURNAL, (0, 0xB3, 0)),
        (FALLEN_DMESG, (0, 0xB3, 0)),
        (FALLEN_ONE_LINE, (0, 0x05, 0)),
        (FALLEN_DEVICE, (0, 0x3B, 0)),
    ):
        [event] = parse_kernel_log(text.splitlines())
        assert (event.bus, event.code, event.critical) == (bus, 79, True)
        assert "without an Xid" in event.detail
    [event] = parse_kernel_log(FALLEN_THREE_LINES_JOURNAL.splitlines())
    assert event.when == "2025-10-25T09:14:03"
    # The probe line alone, or a GPU named and then unrelated lines, is not a fall.
    unrelated = "NVRM: The NVIDIA GPU 0000:b3:00.0\nNVRM: a\nNVRM: b\nNVRM: c\nNVRM: fallen off the bus later\n"
    assert parse_kernel_log(unrelated.splitlines()) == []


def test_a_fall_without_an_xid_reaches_the_gpu_by_bus_id_through_the_slow_path() -> None:
    from console.core.telemetry.details import parse_detail_output
    from console.core.telemetry.sources import FRAME

    report = parse_detail_output(f"{FALLEN_THREE_LINES_JOURNAL}{FRAME} journalctl 0\n", 0.0)
    assert [(x.bus, x.code) for x in report.xids] == [((0, 0xB3, 0), 79)]


def test_a_followed_log_catches_a_fallen_off_message_whose_continuation_comes_in_a_later_batch() -> None:
    from console.core.parsers.xid import KernelLogReader

    first, *rest = FALLEN_THREE_LINES_JOURNAL.splitlines()
    reader = KernelLogReader()
    assert reader.feed([first]) == []
    [event] = reader.feed(rest)
    assert (event.code, event.bus, event.when) == (79, (0, 0xB3, 0), "2025-10-25T09:14:03")
    assert reader.feed(rest) == []  # continuation lines alone name no GPU
