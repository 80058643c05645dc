"""Slurm text outputs (recorded from real clusters) and host lists."""

from __future__ import annotations

import hashlib

import pytest

from console.core.hostlist import HostlistError, compress, expand
from console.core.parsers.slurm import parse_show_node, parse_show_partitions, parse_squeue
from tests.paths import FIXTURES

SLURM = FIXTURES / "slurm"


def test_vendored_slurm_recordings_match_their_checksums() -> None:
    for line in (SLURM / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((SLURM / name).read_bytes()).hexdigest() == digest


def test_recorded_drained_node_with_reason_and_stamp() -> None:
    nodes = parse_show_node((SLURM / "scontrol-show-node_1node_IDLE+DRAIN_gres-rtx3090_slurm24.05.txt").read_text())
    node = nodes["yigou-dev-102-68"]
    assert (node.state, node.flags, node.drained, node.draining) == ("IDLE", frozenset({"DRAIN"}), True, False)
    assert node.reason == "gres/gpu count reported lower than configured (0 < 1)"
    assert (node.reason_by, node.reason_at) == ("slurm", "2024-12-19T11:03:34")
    assert node.partitions == ("compute100",)
    assert node.boot_time == "2024-11-18T20:46:45"


def test_one_line_node_output_with_a_hostile_reason_keeps_the_reason_whole() -> None:
    text = (
        "NodeName=node1 Arch=x86_64 CoresPerSocket=1 CPUAlloc=1 State=MIXED+DRAIN+REBOOT_REQUESTED "
        "Partitions=gpu,debug BootTime=2026-11-29T05:11:15 LastBusyTime=2026-11-29T06:19:50 "
        'Reason=alice: it\'s "hot"; $(x) `y` a=b Partitions=fake [alice@2026-11-29T06:19:50] Comment=(null)\n'
        "NodeName=node2 State=IDLE Partitions=gpu\n"
    )
    nodes = parse_show_node(text)
    node1 = nodes["node1"]
    assert node1.reason == 'alice: it\'s "hot"; $(x) `y` a=b Partitions=fake'
    assert node1.reason_by == "alice"
    assert node1.reboot_pending and node1.draining
    assert node1.partitions == ("gpu", "debug")
    assert nodes["node2"].reason is None and not nodes["node2"].drained


def test_recorded_partitions_one_line_per_partition() -> None:
    parts = parse_show_partitions((SLURM / "scontrol-show-part-oneliner_OSC-owens_14partitions.txt").read_text())
    # The recording holds 15 partitions (its file name says 14; "dynamic" is the fifteenth).
    assert len(parts) == 15 and list(parts)[-1] == "dynamic"
    batch = parts["batch"]
    assert batch.default
    assert batch.nodes_expr.startswith("o[0002-0006,0008-0011")
    assert "o0002" in batch.nodes and "o0007" not in batch.nodes and len(batch.nodes) == 810


def test_recorded_multiline_partitions() -> None:
    parts = parse_show_partitions((SLURM / "scontrol-show-partition_multiline_slurm17.11-era_HUJI.txt").read_text())
    assert list(parts)[:2] == ["short", "long"]
    assert parts["short"].nodes == tuple(f"node{i}" for i in range(1, 8))
    assert parts["long"].default and parts["short"].state == "UP"


def test_squeue_lines_with_a_bar_in_the_job_name() -> None:
    jobs = parse_squeue("17|alice|acme|RUNNING|1:02:03|gpu|node[1-2]|train|eval\n18|bob|(null)|PENDING|0:00|gpu||x\n")
    assert jobs[0].nodes == ("node1", "node2") and jobs[0].name == "train|eval" and jobs[0].account == "acme"
    assert jobs[1].nodes == () and jobs[1].state == "PENDING"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("node[1-3,7]", ["node1", "node2", "node3", "node7"]),
        ("gpu-a[01-03],login1", ["gpu-a01", "gpu-a02", "gpu-a03", "login1"]),
        ("rack[1-2]-n[1-2]", ["rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"]),
        ("single", ["single"]),
    ],
)
def test_hostlists_expand(text: str, names: list[str]) -> None:
    assert expand(text) == names


def test_hostlists_compress_back() -> None:
    assert compress(["node1", "node2", "node3", "node7", "node4"]) == "node[1-4,7]"
    assert compress(["gpu-a01", "gpu-a02", "gpu-a03"]) == "gpu-a[01-03]"
    assert compress(["node4", "node5", "node6"]) == "node[4-6]"
    assert compress(["login"]) == "login"
    for text in ("o[0002-0006,0008-0011]", "node[1-3,7],gpu-a[01-02]"):
        assert expand(compress(expand(text))) == expand(text)


@pytest.mark.parametrize("bad", ["node[1-", "node]1[", "node[3-1]", "node[a-b]", "n[0-999999999]"])
def test_bad_hostlists_are_refused(bad: str) -> None:
    with pytest.raises(HostlistError):
        expand(bad)


def test_the_gpu_gres_of_a_node_sums_its_types_and_ignores_other_gres_and_socket_bindings() -> None:
    from console.core.parsers.slurm import gres_gpus

    assert gres_gpus("gpu:8") == 8 and gres_gpus("gpu:nvidia-rtx-3090:1") == 1
    assert gres_gpus("gpu:h100:4(S:0),gpu:a100:4(S:0,1)") == 8
    assert gres_gpus("mps:100,gpu:a100:2,shard:a100:16") == 2
    assert gres_gpus("(null)") is None and gres_gpus("") is None and gres_gpus("gpu") is None


def test_the_rtx3090_node_of_the_fixture_has_one_gpu_by_its_gres() -> None:
    from console.core.parsers.slurm import parse_show_node

    text = (FIXTURES / "slurm" / "scontrol-show-node_1node_IDLE+DRAIN_gres-rtx3090_slurm24.05.txt").read_text()
    (node,) = parse_show_node(text).values()
    assert node.gpus == 1
