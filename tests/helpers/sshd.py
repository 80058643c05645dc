"""A real OpenSSH sshd on loopback for tests: own config, host key, port, authorized_keys and stand-ins.

Each node is a distinct 127.0.0.x address of the same sshd (at most 16 per sshd). Stand-ins find the
node they play from ``$SSH_CONNECTION``. sshd runs in its own session so that stopping it by its PID
(``killpg`` on that PID) takes its per-connection children with it, like a node losing its sshd.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
REPO = Path(__file__).resolve().parents[2]
STANDINS = REPO / "tests" / "standins"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def keygen(path: Path, kind: str = "ed25519") -> str:
    """Create a key pair; returns the public key line."""
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", kind, "-N", "", "-C", "fleet-console-test", "-f", str(path)],
        check=True,
        timeout=30,
    )
    return Path(str(path) + ".pub").read_text().strip()


@dataclass
class Sshd:
    workdir: Path
    addresses: list[str]
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    host_key: Path = field(init=False)
    client_key: Path = field(init=False)
    replay_dir: Path = field(init=False)
    bin_dir: Path = field(init=False)
    user: str = field(default_factory=getpass.getuser)
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self.host_key = self.workdir / "ssh_host_ed25519_key"
        self.client_key = self.workdir / "client_ed25519"
        self.replay_dir = self.workdir / "replay"
        self.bin_dir = self.workdir / "bin"
        self.home = self.workdir / "home"
        for d in (self.replay_dir, self.bin_dir, self.home):
            d.mkdir(exist_ok=True)
        keygen(self.host_key)
        client_pub = keygen(self.client_key)
        (self.workdir / "authorized_keys").write_text(client_pub + "\n")
        self._install_standins()
        self._write_config()

    # --- set-up ----------------------------------------------------------------------------------------

    def _install_standins(self) -> None:
        wrapper = self.bin_dir / "nvidia-smi"
        wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} {STANDINS / "replay_nvidia_smi.py"} "$@"\n')
        wrapper.chmod(0o755)
        # Stand-in systemctl: records what it was asked (per node address) instead of rebooting this machine.
        systemctl = self.bin_dir / "systemctl"
        systemctl.write_text(
            "#!/bin/sh\n"
            'node=$(echo "$SSH_CONNECTION" | cut -d" " -f3)\n'
            'echo "$(id -un) $*" >> "$FLEET_REPLAY_DIR/$node.systemctl"\n'
        )
        systemctl.chmod(0o755)
        # Stand-ins for the kernel log: this machine's own journal and ring buffer are not the test's business.
        for tool in ("journalctl", "dmesg"):
            wrapper = self.bin_dir / tool
            wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} {STANDINS / "replay_kernel_log.py"} {tool} "$@"\n')
            wrapper.chmod(0o755)
        # Stand-in sudo: the real one resets PATH (secure_path) and would run this machine's own systemctl.
        # This one behaves as sudo -n does for an account allowed to run the command without a password.
        sudo = self.bin_dir / "sudo"
        sudo.write_text('#!/bin/sh\n[ "$1" = "-n" ] && shift\nexec "$@"\n')
        sudo.chmod(0o755)

    def install_tool(self, tool: str) -> None:
        """Put a replaying stand-in for ``npu-smi``, ``amd-smi`` or ``rocm-smi`` on this sshd's PATH."""
        wrapper = self.bin_dir / tool
        wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} {STANDINS / "replay_document.py"} {tool} "$@"\n')
        wrapper.chmod(0o755)

    def remove_tool(self, tool: str) -> None:
        (self.bin_dir / tool).unlink(missing_ok=True)

    def kernel_log(self, address: str, recording: Path | None, journal: bool = False) -> None:
        """What the node's kernel log holds: a dmesg recording (journalctl then says it has no journal), or
        with ``journal`` the same lines through journalctl; ``None``: neither may be read (no permission)."""
        target = self.replay_dir / f"{address}.kernel.json"
        target.write_text(json.dumps({"recording": str(recording) if recording else None, "journal": journal}))

    def replay_tool(self, address: str, tool: str, recording: Path, mode: str = "normal", **extra: object) -> None:
        target = self.replay_dir / f"{address}.{tool}.json"
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps({"recording": str(recording), "mode": mode, **extra}))
        tmp.replace(target)

    def sudo_requires_password(self) -> None:
        """Put a stand-in sudo first on PATH that answers as sudo does for an account without NOPASSWD."""
        sudo = self.bin_dir / "sudo"
        sudo.write_text("#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n")
        sudo.chmod(0o755)

    def systemctl_hangs(self) -> None:
        """Make systemctl record its call and then hang, trickling a byte every half second (never exits
        while the client stays), as a reboot stuck behind a unit that will not stop."""
        systemctl = self.bin_dir / "systemctl"
        systemctl.write_text(
            "#!/bin/sh\n"
            'node=$(echo "$SSH_CONNECTION" | cut -d" " -f3)\n'
            'echo "$(id -un) $*" >> "$FLEET_REPLAY_DIR/$node.systemctl"\n'
            "while printf .; do sleep 0.5; done\n"
        )
        systemctl.chmod(0o755)

    def trickling(self, address: str) -> bool:
        """Whether a trickling stand-in started on ``address`` (see replay mode ``trickle``)."""
        return (self.replay_dir / f"{address}.trickling").exists()

    def systemctl_calls(self, address: str) -> list[str]:
        path = self.replay_dir / f"{address}.systemctl"
        return path.read_text().splitlines() if path.exists() else []

    def _write_config(self) -> None:
        listen = "\n".join(f"ListenAddress {a}:{self.port}" for a in self.addresses)
        env = (
            f"PATH={self.bin_dir}:/usr/bin:/bin:/usr/sbin HOME={self.home} "
            f"FLEET_REPLAY_DIR={self.replay_dir} FLEET_SOURCE_ROOT={REPO}"
        )
        env += "".join(f" {key}={value}" for key, value in self.extra_env.items())
        self.config = self.workdir / "sshd_config"
        self.config.write_text(
            f"""Port {self.port}
{listen}
HostKey {self.host_key}
AuthorizedKeysFile {self.workdir / "authorized_keys"}
PidFile {self.workdir / "sshd.pid"}
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowTcpForwarding yes
MaxStartups 1000:30:2000
MaxSessions 100
LogLevel ERROR
SetEnv {env}
"""
        )

    def known_hosts_line(self, address: str, key: Path | None = None) -> str:
        pub = Path(str(key or self.host_key) + ".pub").read_text().split()
        return f"[{address}]:{self.port} {pub[0]} {pub[1]}"

    def write_known_hosts(self, path: Path, addresses: list[str] | None = None) -> Path:
        path.write_text("".join(self.known_hosts_line(a) + "\n" for a in addresses or self.addresses))
        return path

    def replay(self, address: str, recording: Path, mode: str = "normal", **extra: object) -> None:
        """Choose what the node at ``address`` answers; takes effect at its next period."""
        target = self.replay_dir / f"{address}.json"
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps({"recording": str(recording), "mode": mode, **extra}))
        tmp.replace(target)

    # --- life cycle ----------------------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / "sshd.log", "ab")  # noqa: SIM115 - lives as long as sshd
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-f", str(self.config), "-E", str(self.workdir / "sshd.log")],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        pending = set(self.addresses)
        while pending:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.proc.returncode}: {self.log_tail()}")
            for address in list(pending):
                with socket.socket() as s:
                    s.settimeout(0.2)
                    if s.connect_ex((address, self.port)) == 0:
                        pending.discard(address)
            if time.monotonic() > deadline:
                raise RuntimeError(f"sshd not listening on {pending} after {timeout} s: {self.log_tail()}")
            time.sleep(0.02)

    def kill(self) -> None:
        """Kill sshd and every connection it serves, like a node losing its sshd.

        Per-connection sshd processes call setsid(), so they are found as descendants of the listener's
        PID and killed by their own PIDs, children first.
        """
        if self.proc is None:
            return
        try:
            family = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            family = []
        for proc in [self.proc.pid, *(p.pid for p in reversed(family))]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None
        self._kill_orphans()

    def stop(self) -> None:
        self.kill()

    def _kill_orphans(self) -> None:
        """Stand-ins whose connection died exit on their own; stop any that did not, by PID."""
        marker = str(self.replay_dir)
        for proc in psutil.process_iter(["pid", "environ"]):
            try:
                environ = proc.info.get("environ") or {}
            except (psutil.Error, AttributeError):
                continue
            if environ.get("FLEET_REPLAY_DIR") == marker:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)

    def log_tail(self) -> str:
        path = self.workdir / "sshd.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""
