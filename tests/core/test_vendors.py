"""One module per vendor: each says its command, its parser, what its slow path reads and whether its kernel
log is followed; the slow path and the kernel follow ask the module, not a vendor list of their own."""

from __future__ import annotations

import pytest

from console.core.telemetry.details import detail_argv
from console.core.telemetry.samples import Vendor
from console.core.telemetry.sources import TELEMETRY_SCRIPT
from console.core.vendors import source_for


@pytest.mark.parametrize(
    ("vendor", "name", "follows", "parts"),
    [
        (Vendor.NVIDIA, "nvidia-smi", True, "nvidia kernel node"),
        (Vendor.AUTO, "auto-detect", True, "nvidia kernel node"),
        (Vendor.ASCEND, "npu-smi", False, "node"),
        (Vendor.AMD, "amd-smi", False, "node"),
    ],
)
def test_each_vendor_module_says_what_runs_and_what_is_read(
    vendor: Vendor, name: str, follows: bool, parts: str
) -> None:
    source = source_for(vendor)
    assert (source.name, source.vendor, source.follows_kernel_log) == (name, vendor, follows)
    assert detail_argv(vendor, 0)[-1] == parts
    assert detail_argv(vendor, 0, kernel_log=False)[-1] == parts.replace("kernel ", "")
    parser = source.make_parser()
    assert parser.parse_lines([]) == [] and parser.finish() == []


def test_tools_without_a_loop_of_their_own_run_the_shipped_script_with_their_vendor_as_an_argument() -> None:
    for vendor, word in ((Vendor.ASCEND, "ascend"), (Vendor.AMD, "amd"), (Vendor.AUTO, "auto")):
        stream, once = source_for(vendor).stream_argv, source_for(vendor).once_argv
        assert stream[:6] == ["sh", "-c", TELEMETRY_SCRIPT, "fleet-console", "stream", word]
        assert once[:6] == ["sh", "-c", TELEMETRY_SCRIPT, "fleet-console", "once", word]
    assert source_for(Vendor.NVIDIA).stream_argv[0] == "nvidia-smi"  # its own loop, no shell
