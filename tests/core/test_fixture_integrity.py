"""The vendored recordings are the real outputs, unedited."""

import hashlib

from tests.paths import FIXTURES


def test_vendored_nvidia_recordings_match_their_checksums() -> None:
    sums = (FIXTURES / "nvidia" / "SHA256SUMS").read_text().splitlines()
    assert len(sums) >= 10
    for line in sums:
        digest, name = line.split("  ", 1)
        data = (FIXTURES / "nvidia" / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, f"{name} was edited"
