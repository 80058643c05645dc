"""Slurm's own GPU-hours per account from ``sacct -X -P`` (as Slurm 22.05 with slurmdbd prints it), clipped
to the range, and compared with the console's figures: a difference is pointed out, never hidden."""

from __future__ import annotations

import datetime as dt

from console.core.slurm_accounting import (
    AccountingComparison,
    accounting_problem,
    compare,
    gpus_in_tres,
    parse_sacct,
    sacct_argv,
)


def _t(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


SINCE, UNTIL = _t("2026-11-01T00:00:00"), _t("2026-11-02T00:00:00")


def test_gpu_hours_are_counted_per_account_and_clipped_to_the_range() -> None:
    text = (
        # 3 GPUs from 23:00 the day before to 01:00: one hour inside.
        "11|acme|billing=1,cpu=1,gres/gpu=3,mem=100M,node=1|2026-10-31T23:00:00|2026-11-01T01:00:00|COMPLETED\n"
        # Still running at "now" (12:00): 2 GPUs x 2 h.
        "12|acme|billing=1,cpu=1,gres/gpu=2,node=1|2026-11-01T10:00:00|Unknown|RUNNING\n"
        # Typed and untyped both listed: the untyped total counts once.
        "13|globex|cpu=4,gres/gpu=4,gres/gpu:h100=4,node=1|2026-11-01T00:00:00|2026-11-01T00:30:00|COMPLETED\n"
        # No GPUs; pending (never started); a line that is not a job.
        "14|globex|cpu=1,node=1|2026-11-01T00:00:00|2026-11-01T05:00:00|COMPLETED\n"
        "15|globex||Unknown|Unknown|PENDING\n"
        "garbage without fields\n"
    )
    out = parse_sacct(text, SINCE, UNTIL, now=_t("2026-11-01T12:00:00"))
    assert round(out.hours("acme"), 6) == 3.0 + 4.0
    assert out.accounts["acme"].jobs == 2
    assert round(out.hours("globex"), 6) == 2.0 and out.accounts["globex"].jobs == 1
    assert out.hours("initech") == 0.0 and out.skipped == 1


def test_typed_only_gres_is_summed() -> None:
    assert gpus_in_tres("cpu=2,gres/gpu:a100=2,gres/gpu:h100=1") == 3
    assert gpus_in_tres("cpu=2,gres/gpu=8,gres/gpu:h100=8") == 8
    assert gpus_in_tres("cpu=2,node=1") == 0


def test_sacct_is_asked_in_utc_for_every_users_allocations() -> None:
    argv = sacct_argv(SINCE, UNTIL)
    assert argv[:3] == ["env", "TZ=UTC", "sacct"] and "-a" in argv and "-X" in argv
    assert argv[-4:] == ["-S", "2026-11-01T00:00:00", "-E", "2026-11-02T00:00:00"]


def test_an_account_name_with_terminal_escapes_is_kept_inert() -> None:
    out = parse_sacct(
        "1|ev\x1b]0;x\x07il|gres/gpu=1|2026-11-01T00:00:00|2026-11-01T01:00:00|COMPLETED\n", SINCE, UNTIL, UNTIL
    )
    (name,) = out.accounts
    assert "\x1b" not in name and "\x07" not in name


def test_a_difference_beyond_an_hour_and_five_percent_is_pointed_out() -> None:
    agree = AccountingComparison("acme", 100.0, 98.0, 4)
    assert not agree.differs and "they agree" in agree.words()
    differ = AccountingComparison("acme", 60.0, 100.0, 4)
    assert differ.differs and differ.difference == -40.0
    assert "differ by 40.0 h (the console counted fewer)" in differ.words()
    small = AccountingComparison("acme", 0.5, 0.0, 0)
    assert not small.differs


def test_no_accounting_is_said_in_words() -> None:
    assert "no slurmdbd" in accounting_problem("sacct: error: Slurm accounting storage is disabled\n")
    unread = compare("acme", 12.0, None, "sacct on ctl: timed out")
    assert unread.slurm_hours is None and not unread.differs
    assert unread.words() == "Slurm's accounting could not be read: sacct on ctl: timed out"
