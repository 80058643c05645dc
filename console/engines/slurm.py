"""Slurm, reached the way operators reach it: its own commands, run over SSH on the scheduler's host."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from console.core.hostlist import compress
from console.core.parsers.common import output_summary
from console.core.parsers.slurm import (
    SQUEUE_FORMAT,
    Job,
    Partition,
    SlurmNode,
    SlurmParseError,
    parse_show_node,
    parse_show_partitions,
    parse_squeue,
)
from console.core.tenants.accounting import SlurmGpuHours, accounting_problem, parse_sacct, sacct_argv
from console.core.tenants.allocation import (
    JobAllocation,
    Reservation,
    SchedulerAllocations,
    parse_show_jobs,
    parse_show_reservations,
)
from console.transport.remote import RemoteHost
from console.transport.ssh import ConnectError, ExecResult

READ_TIMEOUT_S: Final = 20.0


class SchedulerError(RuntimeError):
    """Slurm could not be asked or did not answer; the message names the host and the cause."""


class SlurmEngine:
    def __init__(self, remote: RemoteHost, timeout_s: float = READ_TIMEOUT_S) -> None:
        self.remote = remote
        self.timeout_s = timeout_s

    @property
    def host(self) -> str:
        return self.remote.label

    def _run(self, argv: Sequence[str]) -> ExecResult:
        try:
            return self.remote.run(argv, self.timeout_s)
        except ConnectError as exc:
            raise SchedulerError(f"scheduler host {self.host}: {exc.message}") from None

    def _checked(self, argv: Sequence[str]) -> str:
        result = self._run(argv)
        if result.exit_status != 0:
            words = output_summary(
                result.stderr.decode("utf-8", "replace").strip() or result.stdout.decode("utf-8", "replace")
            )
            raise SchedulerError(
                f"`{' '.join(argv[:3])}` on {self.host} failed ({result.describe_failure()})"
                if not words
                else f"`{' '.join(argv[:3])}` on {self.host} failed: {words}"
            )
        return result.stdout.decode("utf-8", "replace")

    def nodes(self, names: Sequence[str]) -> dict[str, SlurmNode]:
        if not names:
            return {}
        result = self._run(["scontrol", "show", "node", "-o", compress(names)])
        text = result.stdout.decode("utf-8", "replace")
        if result.exit_status != 0:
            stderr = result.stderr.decode("utf-8", "replace")
            if "not found" in stderr and len(names) > 1:
                # One unknown name fails the whole query: ask one by one so the known ones still show.
                found: dict[str, SlurmNode] = {}
                for name in names:
                    found.update(self.nodes([name]))
                return found
            if "not found" in stderr:
                return {}
            raise SchedulerError(f"scontrol show node on {self.host} failed: {output_summary(stderr or text)}")
        try:
            return parse_show_node(text)
        except SlurmParseError as exc:
            raise SchedulerError(f"unreadable scontrol output from {self.host}: {exc}") from None

    def jobs(self, names: Sequence[str]) -> list[Job]:
        if not names:
            return []
        text = self._checked(["squeue", "-h", "-w", compress(names), "-o", SQUEUE_FORMAT])
        try:
            return parse_squeue(text)
        except SlurmParseError as exc:
            raise SchedulerError(f"unreadable squeue output from {self.host}: {exc}") from None

    def partitions(self) -> dict[str, Partition]:
        text = self._checked(["scontrol", "show", "partition", "-o"])
        try:
            return parse_show_partitions(text)
        except SlurmParseError as exc:
            raise SchedulerError(f"unreadable partitions from {self.host}: {exc}") from None

    def allocations(self) -> SchedulerAllocations:
        """Slurm's view of tenancy: partitions (their AllowAccounts), reservations, running jobs with their
        GRES indices per node. Each part that cannot be read leaves it empty and says why in ``problem``."""
        problems: list[str] = []
        partitions: dict[str, Partition] = {}
        reservations: list[Reservation] = []
        jobs: list[JobAllocation] = []
        try:
            partitions = self.partitions()
        except SchedulerError as exc:
            problems.append(str(exc))
        try:
            reservations = parse_show_reservations(self._checked(["scontrol", "show", "reservation", "-o"]))
        except (SchedulerError, SlurmParseError) as exc:
            problems.append(f"reservations: {exc}")
        try:
            jobs = parse_show_jobs(self._checked(["scontrol", "show", "job", "-d", "-o"]))
        except (SchedulerError, SlurmParseError) as exc:
            problems.append(f"jobs: {exc}")
        return SchedulerAllocations(
            partitions=partitions,
            reservations=tuple(reservations),
            jobs=tuple(jobs),
            problem="; ".join(problems) or None,
        )

    def gpu_hours(self, since: float, until: float, now: float) -> SlurmGpuHours:
        """Slurm's own GPU-hours per account over [since, until) from slurmdbd (``sacct``); SchedulerError
        in words where Slurm keeps no accounting or cannot be asked."""
        result = self._run(sacct_argv(since, until))
        if result.exit_status != 0:
            raise SchedulerError(
                f"sacct on {self.host}: {accounting_problem(result.stderr.decode('utf-8', 'replace'))}"
            )
        return parse_sacct(result.stdout.decode("utf-8", "replace"), since, until, now)
