"""A benchmark fleet: one real sshd in this network namespace serving N nodes at 127.1.x.y, each streaming
8 GPUs at 1 Hz through a bash stand-in for ``nvidia-smi`` (no Python per node, so the node side stays small).

The stand-in's values are the recorded 8x H100 table from tests/fixtures/nvidia/, rendered once into the
console's CSV field order; only the timestamp is live (it is what the latency figures are measured from).
"""

from __future__ import annotations

import contextlib
import csv
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from console.core.parsers.nvidia_csv import STREAM_FIELDS, stream_argv
from console.core.parsers.nvidia_health import HEALTH_FIELDS_RECENT
from console.core.telemetry.samples import NotAvailable
from tests.standins.nvidia_table import parse_table

REPO = Path(__file__).resolve().parents[1]
RECORDING = (
    REPO / "tests" / "fixtures" / "nvidia" / "table_8xH100-SXM-80GB-HBM3_driver565.57.01_idle_no-timestamp-line.txt"
)
PORT = 2222
XML = REPO / "tests" / "fixtures" / "nvidia" / "q-x_4xTeslaK80_driver430.26.xml"
HEALTH = REPO / "tests" / "fixtures" / "nvidia" / "query-gpu-allfields_1xH100-80GB-HBM3_driver590_idle.csv"

STANDIN = r"""#!/bin/bash
# Bench stand-in for nvidia-smi: replays the rendered recording; -lms N loops, otherwise prints once.
if [ "$1" = "-q" ]; then cat "$FLEET_BENCH_XML"; exit 0; fi  # the slow path's -q -x: a recorded XML
case "$1" in *ecc.mode.current*) cat "$FLEET_BENCH_HEALTH"; exit 0 ;; esac  # its health fields (recorded)
mapfile -t lines < "$FLEET_BENCH_TEMPLATE"
loop=0
for ((i = 1; i <= $#; i++)); do [ "${!i}" = "-lms" ] && loop=1; done
exec {sleep_fd}<> <(:)
while :; do
  now=$EPOCHREALTIME
  printf -v ts '%(%Y/%m/%d %H:%M:%S)T' "${now%.*}"
  frac=${now#*.}
  out=""
  for l in "${lines[@]}"; do out+="$ts.${frac:0:3}, $l"$'\n'; done
  printf '%s' "$out" || exit 0
  [ $loop = 1 ] || exit 0
  read -t 1 -u $sleep_fd
done
"""


def address(i: int) -> str:
    return f"127.1.{i // 250}.{i % 250 + 1}"


def render_template() -> list[str]:
    """Each GPU's CSV values after the timestamp, in STREAM_FIELDS order, from the recorded table."""
    table = parse_table(RECORDING.read_text())

    def text(value: object) -> str:
        if isinstance(value, NotAvailable):
            return "[N/A]"
        if isinstance(value, float):
            return f"{value:.2f}" if value != int(value) else f"{value:.0f}"
        return str(value)

    lines = []
    for gpu in table.gpus:
        s = gpu.sample
        values = {
            "count": str(len(table.gpus)),
            "index": str(s.index),
            "uuid": f"GPU-bench-{s.index}",
            "name": text(s.model),
            "pci.bus_id": text(s.pci_bus_id),
            "utilization.gpu": text(s.utilization_pct),
            "memory.used": text(s.memory_used_mib),
            "memory.total": text(s.memory_total_mib),
            "temperature.gpu": text(s.temperature_c),
            "power.draw": text(s.power_w),
            "power.limit": text(s.power_limit_w),
            "clocks.sm": "[N/A]",
            "fan.speed": text(s.fan_pct),
            "pstate": text(s.pstate),
        }
        lines.append(", ".join(values[f] for f in STREAM_FIELDS[1:]))
    assert STREAM_FIELDS[0] == "timestamp" and stream_argv()[0] == "nvidia-smi"
    return lines


def render_xml() -> str:
    """The full look's answer: the recorded K80's first GPU eight times (a real 8-GPU -q -x is about this
    size, ~110 KB), with the stream's UUIDs and bus ids, so a full look and the health query agree."""
    import copy
    import xml.etree.ElementTree as ET

    root = ET.fromstring(XML.read_text(encoding="utf-8"))
    first = root.findall("gpu")[0]
    for gpu in root.findall("gpu"):
        root.remove(gpu)
    for index, bus in enumerate(_bus_ids()):
        gpu = copy.deepcopy(first)
        gpu.set("id", bus)
        for path, value in (("uuid", f"GPU-bench-{index}"), ("pci/pci_bus_id", bus), ("minor_number", str(index))):
            element = gpu.find(path)
            if element is not None:
                element.text = value
        root.append(gpu)
    return ET.tostring(root, encoding="unicode")


def render_health() -> str:
    """The health query's answer (console.core.parsers.nvidia_health's recent field list), from the
    recorded H100 driver 590's values, for the stream's eight GPUs."""
    rows = list(csv.reader(HEALTH.read_text(encoding="utf-8").splitlines()))
    names = [h.strip().split(" [")[0] for h in rows[0]]
    at = [names.index(f) for f in HEALTH_FIELDS_RECENT]
    out = [", ".join(rows[0][i].strip() for i in at)]
    for index, bus in enumerate(_bus_ids()):
        values = {
            names[i]: rows[1][i].strip().split(" ")[0] if rows[1][i].strip()[:1].isdigit() else rows[1][i].strip()
            for i in at
        }
        values.update({"index": str(index), "uuid": f"GPU-bench-{index}", "pci.bus_id": bus})
        out.append(", ".join(values[f] for f in HEALTH_FIELDS_RECENT))
    return "\n".join(out) + "\n"


def _bus_ids() -> list[str]:
    return [str(gpu.sample.pci_bus_id) for gpu in parse_table(RECORDING.read_text()).gpus]


@dataclass
class BenchFleet:
    workdir: Path
    nodes: int
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.user = getpass.getuser()
        self.host_key = self.workdir / "host_ed25519"
        self.client_key = self.workdir / "client_ed25519"
        for key in (self.host_key, self.client_key):
            if not key.exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        (self.workdir / "authorized_keys").write_text(Path(str(self.client_key) + ".pub").read_text())
        bin_dir = self.workdir / "bin"
        bin_dir.mkdir(exist_ok=True)
        (bin_dir / "nvidia-smi").write_text(STANDIN)
        (bin_dir / "nvidia-smi").chmod(0o755)
        # The kernel log: followed (journalctl -k -f) from a per-node file the bench writes kernel lines into
        # "on the node"; asked once (the probe, the slow path), a quiet journal that prints nothing.
        self.kernel_dir = self.workdir / "kernel"
        self.kernel_dir.mkdir(exist_ok=True)
        (bin_dir / "journalctl").write_text(
            "#!/bin/sh\n"
            'for a in "$@"; do [ "$a" = "-f" ] || continue\n'
            '  node=$(echo "$SSH_CONNECTION" | cut -d" " -f3)\n'
            # --pid: gone with its session, as journalctl -f exits when its reader hangs up (an idle tail
            # would otherwise outlive the console and load the next run).
            '  exec tail -q -n +1 -F --pid="$PPID" "$FLEET_BENCH_KERNEL_DIR/$node.log" 2>/dev/null\n'
            "done\nexit 0\n"
        )
        (bin_dir / "journalctl").chmod(0o755)
        template = self.workdir / "template.csv"
        template.write_text("\n".join(render_template()) + "\n")
        xml = self.workdir / "details.xml"
        xml.write_text(render_xml())
        health = self.workdir / "health.csv"
        health.write_text(render_health())
        home = self.workdir / "home"
        home.mkdir(exist_ok=True)
        self.config = self.workdir / "sshd_config"
        environment = (
            f"PATH={bin_dir}:/usr/bin:/bin HOME={home} FLEET_BENCH_TEMPLATE={template} FLEET_BENCH_XML={xml} "
            f"FLEET_BENCH_HEALTH={health} "
            f"FLEET_BENCH_KERNEL_DIR={self.kernel_dir}"
        )
        self.config.write_text(
            f"""Port {PORT}
ListenAddress 0.0.0.0
HostKey {self.host_key}
AuthorizedKeysFile {self.workdir / "authorized_keys"}
PidFile {self.workdir / "sshd.pid"}
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
MaxStartups 2000:30:4000
MaxSessions 10
LogLevel ERROR
SetEnv {environment}
"""
        )
        for i in range(self.nodes):
            (self.kernel_dir / f"{address(i)}.log").touch()
        pub = Path(str(self.host_key) + ".pub").read_text().split()
        self.known_hosts = self.workdir / "known_hosts"
        self.known_hosts.write_text("".join(f"[{address(i)}]:{PORT} {pub[0]} {pub[1]}\n" for i in range(self.nodes)))

    def inventory(self, count: int) -> Path:
        path = self.workdir / f"inventory-{count}.toml"
        lines = [
            "[defaults]",
            f'user = "{self.user}"',
            f'identity_file = "{self.client_key}"',
            f'known_hosts = "{self.known_hosts}"',
            "",
        ]
        for i in range(count):
            lines += [
                "[[node]]",
                f'name = "node-{i + 1:04d}"',
                f'host = "{address(i)}"',
                f"port = {PORT}",
                'vendor = "nvidia"',
                f'rack = "R{i // 4 + 1:03d}"',
                "",
            ]
        path.write_text("\n".join(lines))
        return path

    def start(self) -> None:
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        self.proc = subprocess.Popen(
            [sshd, "-D", "-f", str(self.config), "-E", str(self.workdir / "sshd.log")], start_new_session=True
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex((address(0), PORT)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("sshd did not start")

    def sshd_pids(self) -> list[int]:
        import psutil

        if self.proc is None:
            return []
        try:
            parent = psutil.Process(self.proc.pid)
            return [parent.pid, *(p.pid for p in parent.children(recursive=True))]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        if self.proc is None:
            return
        for pid in reversed(self.sshd_pids()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None
