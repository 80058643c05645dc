"""The simulated fleet's Slurm: ``scontrol`` and ``squeue`` on a simulated scheduler host, answering in
Slurm 22.05's formats (see tests/fixtures/slurm and the real-Slurm tests), with a state machine behind
them: drain/resume, reboot ASAP (the node goes off the network and comes back), cancel_reboot, and live
partition changes. The console reaches it through the same Slurm engine it uses for a real cluster.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from console.core.hostlist import HostlistError, compress, expand
from console.sim.model import Role, SimNode, job_gpus

REBOOT_S: Final = 25.0  # how long a simulated reboot keeps the node off the network


@dataclass(slots=True)
class _Node:
    name: str
    base: str = "IDLE"
    flags: set[str] = field(default_factory=set)
    reason: str | None = None
    reason_stamp: str = ""
    boot_time: float = 0.0
    next_state: str = "RESUME"
    reboot_at: float | None = None


@dataclass(slots=True)
class _Job:
    job_id: int
    user: str
    account: str
    name: str
    partition: str
    node: str
    started: float
    gpus: int = 8


@dataclass(slots=True)
class _Reservation:
    name: str
    nodes: list[str]
    account: str
    start: float


def _stamp(when: float) -> str:
    return dt.datetime.fromtimestamp(when).strftime("%Y-%m-%dT%H:%M:%S")


class SimSlurm:
    """Thread-safe; ``tick()`` advances reboots. ``set_offline(node, until)`` is the SSH server's hook."""

    def __init__(
        self,
        fleet: list[SimNode],
        set_offline: Callable[[str, float], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.set_offline = set_offline
        self._lock = threading.Lock()
        now = clock()
        self.nodes = {n.name: _Node(n.name, boot_time=now - 86400 * (3 + n.index % 20)) for n in fleet}
        self.partitions: dict[str, list[str]] = {"gpu": [], "inference": [], "debug": []}
        # Partition -> the accounts it admits (AllowAccounts=); the others admit every account.
        self.allow_accounts: dict[str, str] = {}
        self.jobs: list[_Job] = []
        next_id = 41000
        for node in fleet:
            part = "inference" if node.role == Role.INFERENCE else "gpu"
            if node.index % 16 == 15:
                part = "debug"
            self.partitions[part].append(node.name)
            gpus = job_gpus(node)
            if gpus and node.tenant:
                account = node.tenant
                user = f"{account.split('-')[0]}-{'svc' if node.role == Role.INFERENCE else 'ml'}"
                name = "serve-llama-70b" if node.role == Role.INFERENCE else f"pretrain-{account.split('-')[0]}-7b"
                self.jobs.append(
                    _Job(next_id, user, account, name, part, node.name, now - 3600 * (1 + node.index % 9), gpus)
                )
                self.nodes[node.name].base = "ALLOCATED"
                next_id += 1
        self._next_job = next_id
        # Each tenant's own partition, admitting only its account (how neoclouds fence tenants in Slurm).
        for node in fleet:
            if node.tenant:
                self.partitions.setdefault(node.tenant, []).append(node.name)
                self.allow_accounts[node.tenant] = node.tenant
        # A tenant's reservation on an idle node another tenant holds in the inventory: the disagreement the
        # Tenants view must show, not hide.
        self.reservations: list[_Reservation] = []
        tenants = sorted({n.tenant for n in fleet if n.tenant})
        for node in fleet:
            if node.role == Role.IDLE and node.tenant and len(tenants) > 1:
                other = tenants[(tenants.index(node.tenant) + 1) % len(tenants)]
                self.reservations.append(_Reservation(f"{other}-burst", [node.name], other, now - 7200))
                break

    # --- commands -------------------------------------------------------------------------------------------

    def run(self, argv: list[str]) -> tuple[str, str, int]:
        """(stdout, stderr, exit status) of one scontrol/squeue/sinfo call."""
        with self._lock:
            self._tick()
            while argv[:1] == ["env"] or (argv and "=" in argv[0]):
                argv = argv[1:]  # ``env TZ=UTC sacct …``
            program = argv[0].rsplit("/", 1)[-1] if argv else ""
            try:
                if program == "sacct":
                    return self._sacct(argv[1:])
                if program == "scontrol":
                    return self._scontrol(argv[1:])
                if program == "squeue":
                    return self._squeue(argv[1:])
            except HostlistError as exc:
                return "", f"{program}: error: {exc}\n", 1
            return "", f"sh: 1: {program}: not found\n", 127

    def _scontrol(self, args: list[str]) -> tuple[str, str, int]:
        if args[:2] == ["show", "node"] or args[:2] == ["show", "nodes"]:
            names = [a for a in args[2:] if not a.startswith("-")]
            wanted = expand(names[0]) if names else list(self.nodes)
            missing = [n for n in wanted if n not in self.nodes]
            if missing:
                return "", f"Node {missing[0]} not found\n", 1
            return "".join(self._node_line(self.nodes[n]) + "\n" for n in wanted), "", 0
        if args[:2] == ["show", "partition"]:
            lines = []
            for i, (name, members) in enumerate(self.partitions.items()):
                lines.append(
                    f"PartitionName={name} AllowGroups=ALL AllowAccounts={self.allow_accounts.get(name, 'ALL')} "
                    "AllowQos=ALL AllocNodes=ALL "
                    f"Default={'YES' if i == 0 else 'NO'} QoS=N/A DefaultTime=NONE DisableRootJobs=NO "
                    f"ExclusiveUser=NO GraceTime=0 Hidden=NO MaxNodes=UNLIMITED MaxTime=UNLIMITED MinNodes=0 "
                    f"LLN=NO MaxCPUsPerNode=UNLIMITED Nodes={compress(members) or '(null)'} PriorityJobFactor=1 "
                    f"PriorityTier=1 RootOnly=NO ReqResv=NO OverSubscribe=NO OverTimeLimit=NONE PreemptMode=OFF "
                    f"State=UP TotalCPUs={224 * len(members)} TotalNodes={len(members)}"
                )
            return "".join(line + "\n" for line in lines), "", 0
        if args[:2] == ["show", "job"]:
            return "".join(self._job_line(job) + "\n" for job in self.jobs) or "No jobs in the system\n", "", 0
        if args[:2] == ["show", "reservation"]:
            if not self.reservations:
                return "No reservations in the system\n", "", 0
            return "".join(self._reservation_line(r) + "\n" for r in self.reservations), "", 0
        if args[:1] == ["update"]:
            fields = dict(a.split("=", 1) for a in args[1:] if "=" in a)
            if "PartitionName" in fields:
                return self._update_partition(fields)
            if "ReservationName" in fields:
                return self._update_reservation(fields)
            if "NodeName" in fields:
                return self._update_node(fields)
        if args[:1] == ["reboot"]:
            return self._reboot(args[1:])
        if args[:1] == ["cancel_reboot"] and len(args) > 1:
            for name in expand(args[1]):
                node = self.nodes.get(name)
                if node is None:
                    return "", f"Node {name} not found\n", 1
                node.flags -= {"REBOOT_REQUESTED", "REBOOT_ISSUED"}
                node.reboot_at = None
            return "", "", 0
        return "", f"scontrol: error: Invalid command: {' '.join(args[:2])}\n", 1

    def _update_node(self, fields: dict[str, str]) -> tuple[str, str, int]:
        state = fields.get("State", "").upper()
        for name in expand(fields["NodeName"]):
            node = self.nodes.get(name)
            if node is None:
                return "", "slurm_update error: Invalid node name specified\n", 1
            if state == "DRAIN":
                if "Reason" not in fields:
                    return "", "You must specify a reason when DOWNING or DRAINING a node. Request denied\n", 1
                node.flags.add("DRAIN")
                node.reason = fields["Reason"]
                node.reason_stamp = f"root@{_stamp(self.clock())}"
            elif state in ("RESUME", "UNDRAIN"):
                if "DRAIN" not in node.flags and node.base != "DOWN":
                    return "", "slurm_update error: Invalid node state specified\n", 1
                node.flags.discard("DRAIN")
                if state == "RESUME" and node.base == "DOWN":
                    node.base = "IDLE"
                node.reason = None
            else:
                return "", "slurm_update error: Invalid node state specified\n", 1
        return "", "", 0

    def _update_partition(self, fields: dict[str, str]) -> tuple[str, str, int]:
        name = fields["PartitionName"]
        if name not in self.partitions:
            return "", "slurm_update error: Invalid partition name specified\n", 1
        if "Nodes" in fields:
            members = expand(fields["Nodes"])
            unknown = [n for n in members if n not in self.nodes]
            if unknown:
                return "", "slurm_update error: Invalid node name specified\n", 1
            self.partitions[name] = members
        return "", "", 0

    def _update_reservation(self, fields: dict[str, str]) -> tuple[str, str, int]:
        found = next((r for r in self.reservations if r.name == fields["ReservationName"]), None)
        if found is None:
            return "", "Error updating the reservation: Requested reservation is invalid\n", 1
        if "Nodes" in fields:
            members = expand(fields["Nodes"])
            if not members or any(n not in self.nodes for n in members):
                return "", "Error updating the reservation: Invalid node name specified\n", 1
            found.nodes = members
        return "Reservation updated.\n", "", 0

    def _sacct(self, args: list[str]) -> tuple[str, str, int]:
        """``sacct -X -a -n -P -o JobID,Account,AllocTRES,Start,End,State`` for the running jobs (the only
        ones the simulator keeps), in UTC as the console asks for it."""
        lines = []
        for job in self.jobs:
            start = dt.datetime.fromtimestamp(job.started, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
            tres = f"billing=224,cpu=224,gres/gpu={job.gpus},node=1"
            lines.append(f"{job.job_id}|{job.account}|{tres}|{start}|Unknown|RUNNING")
        return "".join(line + "\n" for line in lines), "", 0

    def _reboot(self, args: list[str]) -> tuple[str, str, int]:
        asap = "ASAP" in args
        nextstate = "RESUME"
        reason = None
        targets: list[str] = []
        for arg in args:
            if arg == "ASAP":
                continue
            if arg.lower().startswith("nextstate="):
                nextstate = arg.split("=", 1)[1].upper()
            elif arg.lower().startswith("reason="):
                reason = arg.split("=", 1)[1]
            else:
                targets = expand(arg)
        now = self.clock()
        for name in targets:
            node = self.nodes.get(name)
            if node is None:
                return "", f"Node {name} not found\n", 1
            node.next_state = nextstate
            if asap:
                node.flags.add("DRAIN")
                node.reason = reason or "Reboot ASAP"
                node.reason_stamp = f"root@{_stamp(now)}"
            node.flags.add("REBOOT_REQUESTED")
        return "", "", 0

    def _squeue(self, args: list[str]) -> tuple[str, str, int]:
        nodes: set[str] | None = None
        fmt = "%.18i %.9P %.8j %.8u %.2t %.10M %.6D %R"
        header = True
        i = 0
        while i < len(args):
            if args[i] == "-w":
                nodes = set(expand(args[i + 1]))
                i += 1
            elif args[i] == "-o":
                fmt = args[i + 1]
                i += 1
            elif args[i] == "-h":
                header = False
            i += 1
        out = []
        now = self.clock()
        for job in self.jobs:
            if nodes is not None and job.node not in nodes:
                continue
            values = {
                "i": str(job.job_id),
                "u": job.user,
                "a": job.account,
                "T": "RUNNING",
                "j": job.name,
                "P": job.partition,
                "N": job.node,
                "M": _elapsed(now - job.started),
            }
            line, j = "", 0
            while j < len(fmt):
                if fmt[j] == "%" and j + 1 < len(fmt):
                    k = j + 1
                    while k < len(fmt) and (fmt[k].isdigit() or fmt[k] == "."):
                        k += 1
                    line += values.get(fmt[k], "") if k < len(fmt) else ""
                    j = k + 1
                else:
                    line += fmt[j]
                    j += 1
            out.append(line)
        text = "".join(line + "\n" for line in out)
        return ("JOBID PARTITION NAME USER ST TIME NODES NODELIST(REASON)\n" if header else "") + text, "", 0

    # --- time -------------------------------------------------------------------------------------------------

    def tick(self) -> None:
        with self._lock:
            self._tick()

    def _tick(self) -> None:
        now = self.clock()
        for node in self.nodes.values():
            busy = any(job.node == node.name for job in self.jobs)
            if "REBOOT_REQUESTED" in node.flags and not busy:
                node.flags.discard("REBOOT_REQUESTED")
                node.flags.add("REBOOT_ISSUED")
                node.reboot_at = now
                self.set_offline(node.name, now + REBOOT_S)
            if "REBOOT_ISSUED" in node.flags and node.reboot_at is not None and now >= node.reboot_at + REBOOT_S:
                node.flags.discard("REBOOT_ISSUED")
                node.boot_time = now
                node.reboot_at = None
                if node.next_state == "DOWN":
                    node.base = "DOWN"
                    node.flags.discard("DRAIN")
                else:
                    node.flags.discard("DRAIN")
                    node.reason = None
                    node.base = "IDLE"
            if not busy and node.base in ("ALLOCATED", "MIXED"):
                node.base = "IDLE"

    def _job_line(self, job: _Job) -> str:
        """``scontrol show job -d -o`` in Slurm 22.05's words (the detail part carries the GRES indices)."""
        return (
            f"JobId={job.job_id} JobName={job.name} UserId={job.user}(1{job.job_id % 1000:03d}) GroupId=users(100) "
            f"MCS_label=N/A Priority=1 Nice=0 Account={job.account} QOS=normal JobState=RUNNING Reason=None "
            f"Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 "
            f"RunTime={_elapsed(self.clock() - job.started)} TimeLimit=UNLIMITED StartTime={_stamp(job.started)} "
            f"Partition={job.partition} AllocNode:Sid=login1:4242 ReqNodeList=(null) ExcNodeList=(null) "
            f"NodeList={job.node} BatchHost={job.node} NumNodes=1 NumCPUs=224 NumTasks=8 CPUs/Task=28 "
            f"TRES=cpu=224,node=1,billing=224,gres/gpu={job.gpus} JOB_GRES=gpu:{job.gpus} "
            f"  Nodes={job.node} CPU_IDs=0-223 Mem=0 GRES=gpu:{job.gpus}(IDX:0-{job.gpus - 1}) "
            f"MinCPUsNode=28 MinMemoryNode=0 MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 "
            f"OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) Command=/home/{job.user}/run.sh "
            f"WorkDir=/home/{job.user} TresPerNode=gres:gpu:{job.gpus}"
        )

    def _reservation_line(self, reservation: _Reservation) -> str:
        return (
            f"ReservationName={reservation.name} StartTime={_stamp(reservation.start)} "
            f"EndTime={_stamp(reservation.start + 7 * 86400)} Duration=7-00:00:00 Nodes={compress(reservation.nodes)} "
            f"NodeCnt={len(reservation.nodes)} CoreCnt=224 Features=(null) PartitionName=(null) Flags=SPEC_NODES "
            "TRES=cpu=224 "
            f"Users=(null) Groups=(null) Accounts={reservation.account} Licenses=(null) State=ACTIVE "
            f"BurstBuffer=(null) Watts=n/a MaxStartDelay=(null)"
        )

    def _node_line(self, node: _Node) -> str:
        state = "+".join([node.base, *sorted(node.flags)])
        parts = [name for name, members in self.partitions.items() if node.name in members]
        reason = f" Reason={node.reason} [{node.reason_stamp}]" if node.reason else ""
        return (
            f"NodeName={node.name} Arch=x86_64 CoresPerSocket=56 CPUAlloc={224 if node.base == 'ALLOCATED' else 0} "
            f"CPUEfctv=224 CPUTot=224 CPULoad=1.00 AvailableFeatures=h100 ActiveFeatures=h100 Gres=gpu:h100:8 "
            f"NodeAddr={node.name} NodeHostName={node.name} Version=22.05.8 OS=Linux 6.1.0-28-amd64 "
            f"RealMemory=2000000 AllocMem=0 FreeMem=1900000 Sockets=2 Boards=1 State={state} ThreadsPerCore=2 "
            f"TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A Partitions={','.join(parts)} "
            f"BootTime={_stamp(node.boot_time)} SlurmdStartTime={_stamp(node.boot_time + 30)} "
            f"LastBusyTime={_stamp(self.clock())} CfgTRES=cpu=224,mem=2000000M,billing=224,gres/gpu=8 AllocTRES= "
            f"CapWatts=n/a CurrentWatts=0 AveWatts=0 ExtSensorsJoules=n/s ExtSensorsWatts=0 ExtSensorsTemp=n/s"
            f"{reason}"
        )


def _elapsed(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}-{hours:02d}:{minutes:02d}:{secs:02d}"
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"
