"""Test harness: offscreen Qt that fails on warnings, real sshd fixtures, and no silent skips in CI."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from hypothesis import settings

# No per-example deadline: the suite shares two cores with real daemons, and a slow example is not a bug.
settings.register_profile("fleet", deadline=None, derandomize=False)
settings.load_profile("fleet")

# No test reads or writes the person's own data, config or preferences: commands that default to the
# platform's user dirs (streaming poll keeps incidents there) get a scratch home for the whole session.
_SCRATCH = Path(tempfile.mkdtemp(prefix="fleet-tests-home-"))
os.environ["XDG_DATA_HOME"] = str(_SCRATCH / "data")
os.environ["XDG_CONFIG_HOME"] = str(_SCRATCH / "config")
os.environ["FLEET_CONSOLE_PREFERENCES"] = str(_SCRATCH / "config" / "fleet-console" / "preferences.toml")

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# Shared fixtures that live beside their helpers: ``world`` (a move-tenant world on the simulator's Slurm).
pytest_plugins = ["tests.helpers.moves"]


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

    def make(addresses: list[str], extra_env: dict[str, str] | None = None, **replays: Path) -> Sshd:
        server = Sshd(tmp_path_factory.mktemp("sshd"), addresses, extra_env=extra_env or {})
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


IN_NETNS = os.environ.get("FLEET_TEST_NETNS") == "1"


def require_netns(why: str) -> None:
    """Slurm's daemons listen on all interfaces: they run only in the session's own network namespace."""
    if not IN_NETNS:
        message = f"needs the private network namespace that ./dev test provides ({why})"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real Slurm cluster (munged, slurmctld, six slurmd) for a test module; stopped by PID."""
    require_netns("slurmctld and slurmd listen on all interfaces")
    for tool in ("slurmctld", "slurmd", "munged", "mungekey", "scontrol", "sbatch"):
        require(tool, "the Slurm tests run a real Slurm from Debian's slurm-wlm and munge")
    from tests.helpers.slurm import SlurmCluster

    cluster = SlurmCluster(
        tmp_path_factory.mktemp("slurm"),
        nodes=[f"node{i}" for i in range(1, 7)],
        partitions={"gpu": ["node1", "node2", "node3", "node4"], "debug": ["node5", "node6"]},
    )
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def bmc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real Redfish emulator (sushy-emulator, fake driver) over HTTPS with basic auth; stopped by PID."""
    from tests.helpers.redfish import SushyEmulator

    emulator = SushyEmulator(tmp_path_factory.mktemp("bmc"), systems=["node1", "node2", "node3", "node4"])
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


# Fast tests and tests against real components, told apart at collection: `./dev test -m unit` runs the
# fast ones alone (a fake clock, fake ports, the real SQLite store in a temporary directory), `-m
# integration` the others. A test is an integration test when it uses a real component's fixture (sshd,
# Slurm, the Redfish emulator, or one built on them) or lives where every test starts one (the engines', the
# transport's, the simulator's and the command line's tests start daemons or the console in a child
# process; the laptop-screen test starts Xvfb and openbox).
REAL_COMPONENT_FIXTURES = frozenset({"sshd_factory", "slurm", "bmc", "world"})
INTEGRATION_PLACES = (
    "engines/",
    "transport/",
    "sim/",
    "cli/",
    "gui/test_laptop_screen.py",
    "gui/test_actions_window.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_dir = Path(__file__).parent
    for item in items:
        where = Path(str(item.fspath)).relative_to(tests_dir).as_posix()
        real = REAL_COMPONENT_FIXTURES & set(getattr(item, "fixturenames", ()))
        item.add_marker(pytest.mark.integration if real or where.startswith(INTEGRATION_PLACES) else pytest.mark.unit)
