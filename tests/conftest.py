"""Test harness: offscreen Qt that fails on warnings, real sshd fixtures, and no silent skips in CI."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(tool: str, why: str) -> str:
    """Path of ``tool``; in CI a missing tool fails the test (the install step is the bug), elsewhere skips."""
    found = shutil.which(tool) or (f"/usr/sbin/{tool}" if Path(f"/usr/sbin/{tool}").exists() else None)
    if found is None:
        message = f"{tool} is not installed ({why}); .ci/run installs it"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture
def sshd_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Start real sshd instances; each is stopped by PID at the end of the test."""
    require("sshd", "tests run a real OpenSSH server on loopback")
    require("ssh-keygen", "tests make their own host and client keys")
    from tests.helpers.sshd import Sshd

    started: list[Sshd] = []

    def make(addresses: list[str], **replays: Path) -> Sshd:
        server = Sshd(tmp_path_factory.mktemp("sshd"), addresses)
        for address in addresses:
            server.replay(address, replays.get(address.replace(".", "_"), DEFAULT_RECORDING))
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


from tests.paths import NVIDIA  # noqa: E402

DEFAULT_RECORDING = NVIDIA / "query-gpu-allfields_1xH100-80GB-HBM3_driver590_load.csv"
