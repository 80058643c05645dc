"""Slurm's own GPU-hours per account from ``sacct -X -P`` (as Slurm 22.05 with slurmdbd prints it), clipped
to the range, and compared with the console's figures: a difference is pointed out, never hidden."""

from __future__ import annotations

import datetime as dt

from console.core.tenants.accounting import (
    AccountingComparison,
    accounting_problem,
    compare,
    compare_with,
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


def test_the_comparison_asks_the_scheduler_for_the_reports_utc_days_and_says_any_failure() -> None:
    from tests.helpers.fakes import FakeSlurm

    slurm = FakeSlurm()
    no_accounting = compare_with("acme", "2026-11-01", "2026-11-02", 10.0, slurm.gpu_hours, now=UNTIL + 10)
    assert no_accounting.slurm_hours is None and "no slurmdbd" in no_accounting.words()
    slurm.sacct = "7|acme|gres/gpu=4|2026-11-01T00:00:00|2026-11-01T03:00:00|COMPLETED\n"
    asked = compare_with("acme", "2026-11-01", "2026-11-02", 12.0, slurm.gpu_hours, now=UNTIL + 10)
    assert asked.slurm_hours == 12.0 and asked.slurm_jobs == 1 and not asked.differs
    unscheduled = compare_with("acme", "2026-11-01", "2026-11-02", 1.0, None, now=UNTIL)
    assert "no [scheduler] in the inventory" in unscheduled.words()


def test_the_tenant_report_shows_slurms_figure_beside_the_consoles_and_points_out_a_difference() -> None:
    from console.core.records.archive_types import Usage
    from console.core.records.tenant_report import build_tenant_report, render_tenant_csv, render_tenant_html

    rows = [Usage("acme", "n1", 48.0, 48.0, 40.0, 30.0, 10.0, 0.0, 55.0)]
    differing = AccountingComparison("acme", 40.0, 100.0, 3)
    report = build_tenant_report("acme", "2026-11-01", "2026-11-03", rows, "now", "lia", differing)
    html = render_tenant_html(report)
    assert "Slurm&#x27;s own accounting" in html or "Slurm's own accounting" in html
    assert "differ by 60.0 h" in html and "color:#b00020" in html
    assert report["slurm"]["difference_hours"] == -60.0
    assert render_tenant_csv(report).splitlines()[-1] == "acme,2026-11-01,2026-11-03,(slurm sacct),,,100.0,,,,"
    unasked = build_tenant_report("acme", "2026-11-01", "2026-11-03", rows, "now", "lia")
    assert unasked["slurm"] is None and any("was not asked" in n for n in unasked["notes"])
