"""Slurm's own record of GPU-hours per account (``sacct``), to show beside the console's figures.

The console counts accelerator-hours from its one-minute readings of Slurm's allocations; slurmdbd counts
them from each job's start, end and ``AllocTRES``. The two should agree within a few minutes per job
(the console reads Slurm every 30 s, and misses what ran while it was closed); a larger difference is
pointed out, never hidden: it means the console was not running, a job ran outside the tenant's nodes,
or an account is not the tenant's name.

``sacct`` is asked in UTC (``env TZ=UTC``) so that its ``-S``/``-E`` and its Start/End columns mean the
same days as the console's archive, whatever the scheduler host's own time zone.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from console.core.text import escape_controls

# The columns asked for, in order; -P separates them with "|", which no account or TRES contains.
SACCT_FIELDS: Final = ("JobID", "Account", "AllocTRES", "Start", "End", "State")
MAX_LINES: Final = 2_000_000  # a year of a busy cluster is well under this; past it the rest is dropped
MAX_LINE: Final = 4096
# A difference above both of these is pointed out.
DIFFERENCE_HOURS: Final = 1.0
DIFFERENCE_SHARE: Final = 0.05
_GPU_TRES: Final = re.compile(r"(?:^|,)gres/gpu(?::[^=,]*)?=(\d+)")
_UNTYPED_GPU: Final = re.compile(r"(?:^|,)gres/gpu=(\d+)")


@dataclass(slots=True)
class AccountGpuHours:
    """One account's GPU-hours inside the range, from the jobs that overlapped it."""

    account: str
    gpu_hours: float = 0.0
    jobs: int = 0


@dataclass(slots=True)
class SlurmGpuHours:
    """What ``sacct`` says of a range: GPU-hours per account, and what could not be counted."""

    since: float
    until: float
    accounts: dict[str, AccountGpuHours] = field(default_factory=dict)
    skipped: int = 0  # lines that were not a job (malformed, or past the bound)

    def hours(self, account: str) -> float:
        found = self.accounts.get(account)
        return found.gpu_hours if found is not None else 0.0


def sacct_argv(since: float, until: float) -> list[str]:
    """The command, for every job (``-a``) that overlapped [since, until), one line per allocation."""
    return [
        "env",
        "TZ=UTC",
        "sacct",
        "-X",
        "-a",
        "-n",
        "-P",
        "-o",
        ",".join(SACCT_FIELDS),
        "-S",
        _sacct_time(since),
        "-E",
        _sacct_time(until),
    ]


def _sacct_time(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _parse_time(text: str) -> float | None:
    if text in {"", "Unknown", "None", "N/A"}:
        return None
    try:
        return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC).timestamp()
    except ValueError:
        return None


def gpus_in_tres(tres: str) -> int:
    """``billing=1,cpu=1,gres/gpu=3,node=1`` → 3. Typed counts (``gres/gpu:a100=2``) are summed only where
    the untyped total is absent (Slurm lists both when types are configured)."""
    untyped = _UNTYPED_GPU.findall(tres)
    if untyped:
        return sum(int(n) for n in untyped)
    return sum(int(n) for n in _GPU_TRES.findall(tres))


def parse_sacct(text: str, since: float, until: float, now: float) -> SlurmGpuHours:
    """GPU-hours per account inside [since, until) from ``sacct -X -P`` lines of :data:`SACCT_FIELDS`.

    A running job (End ``Unknown``) counts up to ``now``; a job that never started counts nothing. Lines that
    are not a job are counted in ``skipped``, never guessed at."""
    out = SlurmGpuHours(since, until)
    for number, line in enumerate(text.splitlines()):
        if number >= MAX_LINES:
            out.skipped += 1
            continue
        if not line.strip():
            continue
        parts = line.split("|")
        if len(line) > MAX_LINE or len(parts) != len(SACCT_FIELDS):
            out.skipped += 1
            continue
        _job, account, tres, start_text, end_text, _state = parts
        start = _parse_time(start_text)
        if start is None:
            if start_text not in {"Unknown", "None"}:
                out.skipped += 1
            continue
        end = _parse_time(end_text)
        end = now if end is None else end
        overlap = min(end, until) - max(start, since)
        gpus = gpus_in_tres(tres)
        if overlap <= 0 or gpus <= 0:
            continue
        name = escape_controls(account.strip()) or "(no account)"
        row = out.accounts.setdefault(name, AccountGpuHours(name))
        row.gpu_hours += gpus * overlap / 3600.0
        row.jobs += 1
    return out


@dataclass(frozen=True, slots=True)
class AccountingComparison:
    """The console's allocated accelerator-hours of a tenant beside Slurm's GPU-hours of its account."""

    tenant: str
    console_hours: float
    slurm_hours: float | None  # None: Slurm's accounting could not be read
    slurm_jobs: int = 0
    problem: str | None = None

    @property
    def difference(self) -> float | None:
        return None if self.slurm_hours is None else self.console_hours - self.slurm_hours

    @property
    def differs(self) -> bool:
        diff = self.difference
        if diff is None:
            return False
        scale = max(self.console_hours, self.slurm_hours or 0.0)
        return abs(diff) > DIFFERENCE_HOURS and abs(diff) > DIFFERENCE_SHARE * scale

    def words(self) -> str:
        """One sentence for a report or the window."""
        if self.slurm_hours is None:
            return f"Slurm's accounting could not be read: {self.problem or 'no answer'}"
        said = (
            f"Slurm's accounting (sacct) gives account {self.tenant} {self.slurm_hours:.1f} GPU-hours "
            f"({self.slurm_jobs} jobs); the console counted {self.console_hours:.1f} accelerator-hours "
            "allocated to jobs"
        )
        if not self.differs:
            return said + " — they agree."
        diff = self.difference or 0.0
        more = "more" if diff > 0 else "fewer"
        return (
            f"{said}. They differ by {abs(diff):.1f} h (the console counted {more}): the console was closed "
            "for part of the range, jobs of the account ran on nodes the tenant does not hold, or the "
            "account's name is not the tenant's."
        )


def compare(
    tenant: str, console_hours: float, slurm: SlurmGpuHours | None, problem: str | None
) -> AccountingComparison:
    if slurm is None:
        return AccountingComparison(tenant, console_hours, None, problem=problem)
    found = slurm.accounts.get(tenant)
    return AccountingComparison(
        tenant, console_hours, found.gpu_hours if found else 0.0, found.jobs if found else 0, problem
    )


def accounting_problem(stderr: str) -> str:
    """sacct's refusal in the words an operator acts on."""
    if "disabled" in stderr or "accounting_storage/none" in stderr:
        return "Slurm keeps no accounting here (AccountingStorageType is none: no slurmdbd)"
    return stderr.strip().splitlines()[0][:300] if stderr.strip() else "sacct gave no answer"


def day_bounds(since_day: str, until_day: str) -> tuple[float, float]:
    """UTC days [since_day, until_day) as epoch seconds (the archive's days)."""
    since = dt.datetime.fromisoformat(since_day).replace(tzinfo=dt.UTC).timestamp()
    until = dt.datetime.fromisoformat(until_day).replace(tzinfo=dt.UTC).timestamp()
    return since, until


def compare_with(
    tenant: str,
    since_day: str,
    until_day: str,
    console_hours: float,
    ask: Callable[[float, float, float], SlurmGpuHours] | None,
    now: float,
) -> AccountingComparison:
    """The console's allocated hours beside ``ask(since, until, now)`` (a scheduler's ``gpu_hours``); its
    failure, or a missing scheduler, is said in the comparison's words, never raised."""
    if ask is None:
        return compare(tenant, console_hours, None, "no [scheduler] in the inventory: Slurm was not asked")
    since, until = day_bounds(since_day, until_day)
    try:
        answer = ask(since, min(until, now), now)
    except Exception as exc:  # noqa: BLE001 - any failure is said beside the figures
        return compare(tenant, console_hours, None, str(exc))
    return compare(tenant, console_hours, answer, None)
