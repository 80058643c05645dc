"""The node-side scripts (resources/scripts/) as shell: they parse under dash and bash, and run as the
console runs them (``sh -c TEXT fleet-console ARGS``) against stand-in tools on PATH, with the frames,
vendor lines, exit statuses and fallbacks the parsers expect."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from console.core.parsers import nvidia_csv
from console.core.resources import resource
from console.core.telemetry.details import DETAILS_SCRIPT, KERNEL_FOLLOW_SCRIPT, parse_detail_output
from console.core.telemetry.sources import NO_TOOL_MESSAGE, NO_TOOL_STATUS, TELEMETRY_SCRIPT

SCRIPTS = ["telemetry.sh", "details.sh", "kernel-follow.sh"]


@pytest.mark.parametrize("shell", ["dash", "bash"])
@pytest.mark.parametrize("name", SCRIPTS)
def test_each_script_parses_as_shell(shell: str, name: str) -> None:
    path = shutil.which(shell)
    assert path is not None, f"{shell} is needed"
    text = resource(f"scripts/{name}").read_text(encoding="utf-8")
    result = subprocess.run([path, "-n", "-c", text], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_the_scripts_the_console_sends_are_the_shipped_files() -> None:
    assert resource("scripts/telemetry.sh").read_text(encoding="utf-8") == TELEMETRY_SCRIPT
    assert resource("scripts/details.sh").read_text(encoding="utf-8") == DETAILS_SCRIPT
    assert resource("scripts/kernel-follow.sh").read_text(encoding="utf-8") == KERNEL_FOLLOW_SCRIPT


def test_auto_detection_asks_nvidia_smi_for_the_parsers_fields() -> None:
    fields = re.search(r"^NVIDIA_FIELDS=(\S+)$", TELEMETRY_SCRIPT, re.MULTILINE)
    assert fields is not None and fields.group(1).split(",") == list(nvidia_csv.STREAM_FIELDS)


def _tools(directory: Path, **tools: str) -> Path:
    """A PATH of stand-ins: each prints its text and exits 0 (``exit N`` in the text ends otherwise)."""
    directory.mkdir(exist_ok=True)
    for tool, body in tools.items():
        stub = directory / tool
        stub.write_text(f"#!/bin/sh\n{body}\n")
        stub.chmod(0o755)
    for needed in ("sh", "cat", "nproc", "df", "printf", "sleep"):
        found = shutil.which(needed)
        if found and not (directory / needed).exists():
            (directory / needed).symlink_to(found)
    return directory


def _run(script: str, path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", "-c", script, "fleet-console", *args],
        capture_output=True,
        text=True,
        env={"PATH": str(path)},
        timeout=30,
        check=False,
    )


def test_ascend_once_is_one_npu_smi_table_and_its_frame(tmp_path: Path) -> None:
    result = _run(TELEMETRY_SCRIPT, _tools(tmp_path / "bin", **{"npu-smi": "echo table"}), "once", "ascend")
    assert (result.returncode, result.stdout) == (0, "table\n\n@@fleet-console-frame npu-smi 0\n")


def test_amd_prefers_amd_smi_falls_back_to_rocm_smi_and_says_when_neither_is_there(tmp_path: Path) -> None:
    both = _tools(tmp_path / "both", **{"amd-smi": 'echo "{$1}"', "rocm-smi": "echo rocm"})
    out = _run(TELEMETRY_SCRIPT, both, "once", "amd").stdout
    assert (
        out
        == "{static}\n\n@@fleet-console-frame amd-smi-static 0\n{metric}\n\n@@fleet-console-frame amd-smi-metric 0\n"
    )
    rocm = _tools(tmp_path / "rocm", **{"rocm-smi": "echo rocm; exit 2"})
    assert _run(TELEMETRY_SCRIPT, rocm, "once", "amd").stdout == "rocm\n\n@@fleet-console-frame rocm-smi 2\n"
    none = _run(TELEMETRY_SCRIPT, _tools(tmp_path / "none"), "once", "amd")
    assert (none.returncode, none.stderr.strip()) == (NO_TOOL_STATUS, NO_TOOL_MESSAGE)


def test_auto_announces_the_tool_it_found_then_runs_it(tmp_path: Path) -> None:
    path = _tools(tmp_path / "bin", **{"nvidia-smi": 'echo "$@"', "npu-smi": "echo npu"})
    result = _run(TELEMETRY_SCRIPT, path, "once", "auto", "")
    first, second = result.stdout.splitlines()
    assert first == "@@fleet-console-vendor nvidia nvidia-smi"
    assert second == " ".join(nvidia_csv.once_argv()[1:])
    npu_only = _tools(tmp_path / "npu", **{"npu-smi": "echo npu"})
    assert _run(TELEMETRY_SCRIPT, npu_only, "once", "auto", "").stdout.startswith("@@fleet-console-vendor ascend")
    nothing = _run(TELEMETRY_SCRIPT, _tools(tmp_path / "none"), "stream", "auto", "")
    assert nothing.returncode == NO_TOOL_STATUS and NO_TOOL_MESSAGE in nothing.stderr


def test_an_unknown_vendor_is_refused_in_words(tmp_path: Path) -> None:
    result = _run(TELEMETRY_SCRIPT, _tools(tmp_path / "bin"), "once", "nvidia; reboot")
    assert result.returncode == 2 and "unknown vendor 'nvidia; reboot'" in result.stderr


def test_details_reads_only_the_parts_asked_for_and_falls_back_to_dmesg_without_a_journal(tmp_path: Path) -> None:
    path = _tools(
        tmp_path / "bin",
        journalctl="echo 'No journal files were found.' >&2; echo '-- No entries --'",
        dmesg='echo "kern  :err   : 2025-10-25T09:14:03,000000+00:00 NVRM: Xid (PCI:0000:3b:00): 79, lost"',
        **{"nvidia-smi": "echo '<nvidia_smi_log></nvidia_smi_log>'"},
    )
    node_only = _run(DETAILS_SCRIPT, path, "0", "node").stdout
    assert "@@fleet-console-frame proc" in node_only and "nvidia-xml" not in node_only and "dmesg" not in node_only
    every = parse_detail_output(_run(DETAILS_SCRIPT, path, "0", "nvidia kernel node").stdout, 0.0)
    assert every.kernel_log == "read" and [x.code for x in every.xids] == [79]
    followed = _run(DETAILS_SCRIPT, path, "0", "nvidia node").stdout
    assert "nvidia-xml" in followed and "journalctl" not in followed and "dmesg" not in followed


def test_the_kernel_follow_names_dmesg_where_journalctl_has_no_journal(tmp_path: Path) -> None:
    path = _tools(
        tmp_path / "bin",
        journalctl="echo 'No journal files were found.' >&2; echo '-- No entries --'",
        dmesg='echo "dmesg $*"',
    )
    result = _run(KERNEL_FOLLOW_SCRIPT, path, "1700000000")
    assert result.stdout.splitlines() == ["@@fleet-console-frame follow dmesg", "dmesg -w --decode --time-format=iso"]
    journal = _tools(tmp_path / "journal", journalctl='echo "journalctl $*"')
    assert _run(KERNEL_FOLLOW_SCRIPT, journal, "1700000000").stdout.splitlines()[-1] == (
        "journalctl -k -f -o short-iso --no-pager --since @1700000000"
    )


# nvidia-smi as a driver that knows only the older names (R460-R530): it refuses a query with a field it
# does not know, in nvidia-smi's words and exit status.
OLDER_DRIVER = """case "$1" in
--query-gpu=*clocks_event_reasons*) echo 'Field "clocks_event_reasons.active" is not a valid field to query.'; exit 2 ;;
--query-gpu=*) echo 'index, uuid, ecc.errors.uncorrected.volatile.total'; echo '0, GPU-a, 4' ;;
-q) echo '<nvidia_smi_log><driver_version>470.1</driver_version><gpu><uuid>GPU-a</uuid></gpu></nvidia_smi_log>' ;;
esac"""
ANCIENT_DRIVER = """case "$1" in
--query-gpu=*) echo 'Field "remapped_rows.correctable" is not a valid field to query.'; exit 2 ;;
-q) echo '<nvidia_smi_log><driver_version>410.73</driver_version><gpu><uuid>GPU-a</uuid></gpu></nvidia_smi_log>' ;;
esac"""


@pytest.mark.parametrize(
    ("driver", "details_from", "refused"), [(OLDER_DRIVER, "--query-gpu", False), (ANCIENT_DRIVER, "-q -x", True)]
)
def test_the_health_part_asks_recent_names_then_older_ones_then_the_whole_xml(
    tmp_path: Path, driver: str, details_from: str, refused: bool
) -> None:
    from console.core.telemetry.details import detail_argv
    from console.core.telemetry.samples import Vendor

    path = _tools(tmp_path / "bin", **{"nvidia-smi": driver})
    argv = detail_argv(Vendor.NVIDIA, 0, kernel_log=False, full=False)
    assert argv[5] == "nvidia-health node"
    out = _run(DETAILS_SCRIPT, path, *argv[4:]).stdout
    assert out.count("@@fleet-console-frame nvidia-health") == 2  # the recent names refused, then the older
    report = parse_detail_output(out, 0.0)
    assert (report.details_from, report.health_query_refused, len(report.gpus)) == (details_from, refused, 1)
    assert report.gpus[0].uuid == "GPU-a"
    if not refused:
        assert report.gpus[0].ecc_uncorrected_volatile == 4.0 and "nvidia-xml" not in out
