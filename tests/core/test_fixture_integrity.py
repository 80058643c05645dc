"""The vendored recordings are the real outputs, unedited: every fixture folder's SHA256SUMS matches its
files, and every recording in a folder is listed there."""

import hashlib

import pytest

from tests.paths import FIXTURES

FOLDERS = sorted(p.parent.name for p in FIXTURES.glob("*/SHA256SUMS"))
NOT_RECORDINGS = {"SHA256SUMS", "README.md", "SOURCES.md"}


def test_every_vendor_and_tool_has_a_checksummed_fixture_folder() -> None:
    assert set(FOLDERS) >= {"nvidia", "ascend", "amd", "kernel", "slurm"}


@pytest.mark.parametrize("folder", FOLDERS)
def test_vendored_recordings_match_their_checksums_and_none_is_unlisted(folder: str) -> None:
    directory = FIXTURES / folder
    listed = {}
    for line in (directory / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    assert listed, f"{folder}/SHA256SUMS lists nothing"
    for name, digest in listed.items():
        data = (directory / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, f"{folder}/{name} was edited"
    present = {p.name for p in directory.iterdir() if p.is_file() and p.name not in NOT_RECORDINGS}
    assert present <= set(listed), f"{folder}: not in SHA256SUMS: {sorted(present - set(listed))}"
