"""A real Slurm (Debian's slurm-wlm: munged, slurmctld, several slurmd) for tests, on loopback.

Must run inside a network namespace (slurmctld and slurmd listen on all interfaces): ./dev test runs the
whole session in one (see tests/conftest.py). Every daemon runs in the foreground, is found by its PID
file and stopped by PID. The RebootProgram records the reboot instead of rebooting and brings the node
back by restarting its slurmd with -b ("report node rebooted").
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REBOOT_PROGRAM = """#!/bin/bash
# Stand-in RebootProgram: record which node asked, then "boot" it by restarting its slurmd with -b.
conf_dir=$(dirname "$(readlink -f "$0")")
node=""
pid=$$
while [ "$pid" -gt 1 ] && [ -z "$node" ]; do
  for f in "$conf_dir"/run/slurmd-*.pid; do
    [ -f "$f" ] || continue
    if [ "$(cat "$f")" = "$pid" ]; then node=$(basename "$f" .pid); node=${node#slurmd-}; fi
  done
  pid=$(awk '/^PPid:/ {print $2}' /proc/$pid/status 2>/dev/null || echo 1)
done
echo "$(date +%s) ${node:-unknown} $*" >> "$conf_dir/reboots.log"
[ -n "$node" ] || exit 1
(
  sleep 1
  kill "$(cat "$conf_dir/run/slurmd-$node.pid")" 2>/dev/null
  for _ in $(seq 50); do [ -e "/proc/$(cat "$conf_dir/run/slurmd-$node.pid" 2>/dev/null)" ] || break; sleep 0.1; done
  rm -f "$conf_dir/run/slurmd-$node.pid"
  setsid /usr/sbin/slurmd -D -b -N "$node" -f "$conf_dir/slurm.conf" >>"$conf_dir/log/slurmd-$node.out" 2>&1 &
) >/dev/null 2>&1 &
exit 0
"""


@dataclass
class SlurmCluster:
    workdir: Path
    nodes: list[str] = field(default_factory=lambda: ["node1", "node2", "node3", "node4"])
    partitions: dict[str, list[str]] = field(
        default_factory=lambda: {"gpu": ["node1", "node2", "node3"], "debug": ["node4"]}
    )
    ctld_port: int = 16817
    first_node_port: int = 17001
    # GPUs per node as GRES on character devices standing for them (TESTING.md's recipe); 0: none.
    gpus_per_node: int = 0
    # Accounting (slurmdbd on a MariaDB of its own): the accounts to create (root may use them all); without
    # it a partition with AllowAccounts= runs no job at all. Partition name -> its AllowAccounts.
    accounts: tuple[str, ...] = ()
    allow_accounts: dict[str, str] = field(default_factory=dict)
    db_port: int = 13306
    dbd_port: int = 16819
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for sub in ("munge", "state", "spool", "run", "log"):
            (self.workdir / sub).mkdir(exist_ok=True)
        (self.workdir / "munge").chmod(0o700)
        self.munge_key = self.workdir / "munge" / "munge.key"
        self.munge_socket_dir = self.workdir / "munge-socket"
        self.munge_socket_dir.mkdir(exist_ok=True)
        self.munge_socket_dir.chmod(0o755)
        self.munge_socket = self.munge_socket_dir / "munge.socket"
        self.conf = self.workdir / "slurm.conf"
        self.reboot_program = self.workdir / "reboot-program"
        self.reboot_program.write_text(REBOOT_PROGRAM)
        self.reboot_program.chmod(0o755)
        self.reboots_log = self.workdir / "reboots.log"
        if self.gpus_per_node:
            self._write_gres()
        self._write_conf()

    @property
    def accounting(self) -> bool:
        return bool(self.accounts)

    def _write_gres(self) -> None:
        devices = self.workdir / "dev"
        devices.mkdir(exist_ok=True)
        for index in range(self.gpus_per_node):
            path = devices / f"fcgpu{index}"
            if not path.exists():
                os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # like /dev/null
        last = self.gpus_per_node - 1
        (self.workdir / "gres.conf").write_text(
            f"NodeName={','.join(self.nodes)} Name=gpu File={devices}/fcgpu[0-{last}]\n"
        )

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def _write_conf(self) -> None:
        ports = f"[{self.first_node_port}-{self.first_node_port + len(self.nodes) - 1}]"
        node_list = ",".join(self.nodes)
        partitions = "\n".join(
            f"PartitionName={name} Nodes={','.join(members)} Default={'YES' if i == 0 else 'NO'} "
            "MaxTime=INFINITE State=UP"
            + (f" AllowAccounts={self.allow_accounts[name]}" if name in self.allow_accounts else "")
            for i, (name, members) in enumerate(self.partitions.items())
        )
        if self.accounting:
            storage = (
                "AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=localhost\n"
                f"AccountingStoragePort={self.dbd_port}\nAccountingStoragePass={self.munge_socket}\n"
                "AccountingStorageTRES=gres/gpu\nAccountingStorageEnforce=associations\n"
            )
        else:
            storage = "AccountingStorageType=accounting_storage/none\n"
        w = self.workdir
        gres = f" Gres=gpu:{self.gpus_per_node}" if self.gpus_per_node else ""
        self.conf.write_text(
            f"""ClusterName=fleettest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={self.ctld_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={w / "state"}
SlurmdSpoolDir={w / "spool"}/%n
SlurmdPidFile={w / "run"}/slurmd-%n.pid
SlurmctldPidFile={w / "run"}/slurmctld.pid
SlurmctldLogFile={w / "log"}/slurmctld.log
SlurmdLogFile={w / "log"}/slurmd-%n.log
{"GresTypes=gpu" if self.gpus_per_node else ""}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
{storage}SelectType=select/cons_tres
SchedulerType=sched/backfill
RebootProgram={self.reboot_program}
ResumeTimeout=60
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
MpiDefault=none
NodeName={node_list} NodeHostname=localhost NodeAddr=127.0.0.1 Port={ports} CPUs=2 RealMemory=1000 State=UNKNOWN{gres}
{partitions}
"""
        )

    def start(self, timeout: float = 30.0) -> None:
        if not self.munge_key.exists():
            subprocess.run(["mungekey", "-c", "-k", str(self.munge_key)], check=True, capture_output=True)
            self.munge_key.chmod(0o600)
        self._spawn(
            [
                "munged",
                "--foreground",
                f"--socket={self.munge_socket}",
                f"--key-file={self.munge_key}",
                f"--pid-file={self.workdir / 'run' / 'munged.pid'}",
                f"--log-file={self.workdir / 'log' / 'munged.log'}",
                f"--seed-file={self.workdir / 'munge' / 'seed'}",
                "--force",
            ],
            "munged",
        )
        self._wait(self.munge_socket.exists, timeout, "munged socket")
        if self.accounting:
            self._start_accounting(timeout)
        self._spawn(["slurmctld", "-D", "-c", "-f", str(self.conf)], "slurmctld")
        self._wait(lambda: self.run("scontrol", "ping", check=False).returncode == 0, timeout, "slurmctld ping")
        for node in self.nodes:
            self._spawn(["slurmd", "-D", "-N", node, "-f", str(self.conf)], f"slurmd-{node}")
        self.wait_idle(timeout)

    def _start_accounting(self, timeout: float) -> None:
        """MariaDB on its own data directory and port, slurmdbd on it, the cluster and its accounts
        (TESTING.md's "Slurm with accounting")."""
        w = self.workdir
        data, socket = w / "mariadb", w / "run" / "mariadb.sock"
        if not (data / "mysql").exists():
            subprocess.run(
                [
                    "mariadb-install-db",
                    "--no-defaults",
                    "--user=root",
                    f"--datadir={data}",
                    "--auth-root-authentication-method=socket",
                    "--skip-test-db",
                    "--innodb-log-file-size=16M",
                ],
                check=True,
                capture_output=True,
            )
        self._spawn(
            [
                "mariadbd",
                "--no-defaults",
                "--user=root",
                f"--datadir={data}",
                f"--socket={socket}",
                f"--port={self.db_port}",
                "--bind-address=127.0.0.1",
                f"--pid-file={w / 'run' / 'mariadbd.pid'}",
                f"--log-error={w / 'log' / 'mariadbd.log'}",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=16M",
                "--innodb-log-file-size=16M",
            ],
            "mariadbd",
        )

        def sql(statement: str) -> bool:
            done = subprocess.run(
                ["mariadb", "-S", str(socket), "-uroot", "-e", statement], capture_output=True, check=False
            )
            return done.returncode == 0

        self._wait(lambda: sql("SELECT 1"), timeout, "mariadbd")
        password = "fleet-test"  # a throwaway database on the namespace's loopback
        assert sql(
            f"CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '{password}'; "
            "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;"
        ), "mariadb: cannot create the slurm user"
        dbd_conf = self.conf.parent / "slurmdbd.conf"  # slurmdbd has no -f: beside $SLURM_CONF
        dbd_conf.write_text(
            f"""AuthType=auth/munge
AuthInfo=socket={self.munge_socket}
DbdHost=localhost
DbdPort={self.dbd_port}
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={self.db_port}
StorageUser=slurm
StoragePass={password}
StorageLoc=slurm_acct_db
PidFile={w / "run" / "slurmdbd.pid"}
LogFile={w / "log" / "slurmdbd.log"}
"""
        )
        dbd_conf.chmod(0o600)
        self._spawn(["slurmdbd", "-D"], "slurmdbd")
        self._wait(
            lambda: self.run("sacctmgr", "-n", "-P", "list", "cluster", check=False).returncode == 0,
            timeout,
            "slurmdbd",
        )
        self.run("sacctmgr", "-i", "add", "cluster", "fleettest", check=False)
        self.run("sacctmgr", "-i", "add", "account", ",".join(self.accounts), "Cluster=fleettest")
        self.run(
            "sacctmgr",
            "-i",
            "add",
            "user",
            "root",
            f"Account={','.join(self.accounts)}",
            f"DefaultAccount={self.accounts[0]}",
            check=False,  # root may already exist (a restart): its associations are then in place
        )

    def wait_idle(self, timeout: float = 30.0) -> None:
        def all_idle() -> bool:
            out = self.run("sinfo", "-h", "-N", "-o", "%N %T", check=False).stdout
            states = dict(line.split() for line in out.splitlines() if line.strip())
            return all(states.get(n) == "idle" for n in self.nodes)

        self._wait(all_idle, timeout, "all nodes idle")

    def _spawn(self, argv: list[str], name: str) -> None:
        log = open(self.workdir / "log" / f"{name}.out", "ab")  # noqa: SIM115 - kept for the daemon's life
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        log.close()
        self.procs.append(proc)

    @staticmethod
    def _wait(check: object, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():  # type: ignore[operator]
                return
            time.sleep(0.1)
        raise RuntimeError(f"Slurm test cluster: timed out waiting for {what}")

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # Run in the cluster's directory: sbatch puts a job's slurm-<id>.out in its working directory.
        return subprocess.run(
            list(argv), capture_output=True, text=True, env=self.env, timeout=30, check=check, cwd=self.workdir
        )

    def node_field(self, node: str, key: str) -> str:
        out = self.run("scontrol", "show", "node", "-o", node).stdout
        marker = f" {key}="
        start = out.index(marker) + len(marker)
        rest = out[start:]
        ends = [rest.find(f" {k}=") for k in ("Comment", "ExtSensorsJoules", "Reason", "CfgTRES") if k != key]
        cut = min((e for e in ends if e >= 0), default=len(rest))
        return rest[:cut].strip()

    def node_state(self, node: str) -> set[str]:
        """``IDLE+DRAIN+REBOOT_REQUESTED`` → ``{"IDLE", "DRAIN", "REBOOT_REQUESTED"}``."""
        return set(self.node_field(node, "State").split()[0].split("+"))

    def pids(self) -> list[int]:
        pids = [p.pid for p in self.procs if p.poll() is None]
        # slurmd restarted by the RebootProgram is not our child: find it by its PID file.
        for pid_file in (self.workdir / "run").glob("*.pid"):
            with contextlib.suppress(ValueError, OSError):
                pids.append(int(pid_file.read_text().strip()))
        return sorted(set(pids))

    def stop(self) -> None:
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        self.procs.clear()
        # Job steps (slurmstepd and the job's processes) run in their own sessions; stop those of this cluster.
        import psutil

        marker = str(self.workdir)
        for proc in psutil.process_iter(["pid", "cmdline", "environ"]):
            try:
                text = (
                    " ".join(proc.info.get("cmdline") or [])
                    + " "
                    + (proc.info.get("environ") or {}).get("SLURM_CONF", "")
                )
            except (psutil.Error, AttributeError):
                continue
            if marker in text:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)


def slurm_available() -> bool:
    return all(shutil.which(tool) for tool in ("slurmctld", "slurmd", "munged", "mungekey", "scontrol"))
