"""Which alerts open incidents ([incidents] in the alert rules), the shift clock, a shift's figures,
acknowledged counters that stop re-alerting until they grow, the preferences file and times typed by a
person."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from console.core.actions.roles import (
    Permission,
    PreferencesError,
    Role,
    RoleRefused,
    allowed,
    load_preferences,
    require,
)
from console.core.alerts.config import AlertRulesError, Severity, load_rules
from console.core.alerts.incidents import IncidentSpan, ShiftClock, ShiftName, duration_words, shift_figures
from console.core.alerts.rules import Alert, AlertEngine, NodeFacts, XidRecord
from console.core.parsers.nvidia_xml import GpuDetail
from console.core.parsers.xid import XidEvent
from console.core.telemetry.counters import AcceleratorCounters, counters_of, new_since_acknowledged
from console.core.telemetry.samples import AcceleratorSample, NodeState, Vendor
from console.core.when import WhenError, parse_when
from tests.helpers.fakes import FakeClock

UTC = dt.UTC


def _alert(severity: Severity, first_seen: float, rule: str = "temperature") -> Alert:
    return Alert("n1", rule, 3, severity, "hot", {}, first_seen, first_seen)


def test_critical_alerts_open_at_once_warnings_after_ten_minutes_and_info_never() -> None:
    rules = load_rules().incidents
    assert rules.due(_alert(Severity.CRITICAL, 1000), 1000)
    assert not rules.due(_alert(Severity.WARNING, 1000), 1599)
    assert rules.due(_alert(Severity.WARNING, 1000), 1600)
    assert not rules.due(_alert(Severity.INFO, 0), 10**9)
    assert not rules.due(_alert(Severity.CRITICAL, 0, rule="rebooted"), 10**9)


def test_the_incident_rules_are_read_from_the_alert_rules_file_and_bad_ones_refused() -> None:
    rules = load_rules(
        '[incidents]\nopen_after_s = { warning = 60 }\nreopen_window_s = 10\nskip_rules = ["throttle"]\n'
    )
    assert rules.incidents.open_after_s == {Severity.WARNING: 60.0}
    assert rules.incidents.reopen_window_s == 10 and rules.incidents.skip_rules == frozenset({"throttle"})
    for text, words in (
        ("[incidents]\nopen_after_s = { severe = 1 }", "unknown severity 'severe'"),
        ("[incidents]\nopen_after_s = { critical = -1 }", "seconds ≥ 0"),
        ("[incidents]\nopen_after_s = 5", "must be a table"),
        ('[incidents]\nreopen_window_s = "soon"', "reopen_window_s"),
        ("[incidents]\nskip_rules = [1]", "list of rule names"),
        ("[incidents]\nopen_on = 1", "unknown key 'open_on'"),
    ):
        with pytest.raises(AlertRulesError, match=words):
            load_rules(text)


def test_a_night_shift_carries_the_date_it_starts_on() -> None:
    clock = ShiftClock(tz=UTC)
    day = dt.date(2026, 11, 29)
    assert clock.bounds(day, ShiftName.DAY) == (
        dt.datetime(2026, 11, 29, 7, tzinfo=UTC).timestamp(),
        dt.datetime(2026, 11, 29, 19, tzinfo=UTC).timestamp(),
    )
    start, end = clock.bounds(day, ShiftName.NIGHT)
    assert (end - start) == 12 * 3600 and dt.datetime.fromtimestamp(end, UTC).day == 30
    assert clock.shift_at(dt.datetime(2026, 11, 30, 3, tzinfo=UTC).timestamp()) == (day, ShiftName.NIGHT)
    assert clock.shift_at(dt.datetime(2026, 11, 29, 19, tzinfo=UTC).timestamp()) == (day, ShiftName.NIGHT)
    assert clock.shift_at(dt.datetime(2026, 11, 29, 18, 59, tzinfo=UTC).timestamp()) == (day, ShiftName.DAY)
    custom = ShiftClock(dt.time(6), dt.time(18), tz=UTC)
    assert custom.shift_at(dt.datetime(2026, 11, 29, 6, 30, tzinfo=UTC).timestamp()) == (day, ShiftName.DAY)


def test_shift_figures_count_medians_worst_hours_out_and_repeat_offenders() -> None:
    start, end = 0.0, 12 * 3600.0
    spans = [
        IncidentSpan(1, ("a",), 1, 8, 100.0, 160.0, 3700.0, "critical"),  # 1 GPU out for 3600 s
        IncidentSpan(2, ("b",), 0, 8, 200.0, 500.0, None, "critical"),  # still open: whole node to the end
        IncidentSpan(3, ("c",), 0, 8, 300.0, None, 900.0, "warning"),  # warnings take nothing out
        IncidentSpan(4, ("d",), 2, 8, -7200.0, -7000.0, 1800.0, "critical"),  # from the last shift: clipped
    ]
    figures = shift_figures(spans, start, end, {"a": 4, "b": 1, "c": 2})
    assert (figures.opened, figures.resolved, figures.still_open) == (3, 3, 1)
    assert figures.ack_median_s == 180.0 and figures.ack_worst_s == 300.0
    assert figures.resolve_median_s == 3600.0 and figures.resolve_worst_s == 9000.0  # #4 took 2.5 h
    expected = 1 * 1.0 + 8 * (end - 200) / 3600 + 2 * 0.5
    assert figures.accelerator_hours_out == pytest.approx(expected)
    assert figures.repeat_offenders == (("a", 4), ("c", 2))
    now_clipped = shift_figures(spans[1:2], start, end, {}, now=3800.0)
    assert now_clipped.accelerator_hours_out == pytest.approx(8 * 3600 / 3600)
    assert duration_words(None) == "—" and duration_words(45) == "45 s" and duration_words(7200) == "2.0 h"


def _detail(**values: object) -> GpuDetail:
    return GpuDetail(index=3, uuid="GPU-abc", **values)  # type: ignore[arg-type]


def _facts(
    detail: GpuDetail, acknowledged: dict[int, AcceleratorCounters], xids: tuple[XidRecord, ...] = ()
) -> NodeFacts:
    sample = AcceleratorSample(index=3, vendor=Vendor.NVIDIA, temperature_c=50.0, utilization_pct=10.0)
    return NodeFacts("n1", NodeState.UP, 0.0, None, (sample,), {3: detail}, xids, acknowledged=acknowledged)


def test_acknowledged_sticky_counters_alert_again_only_when_they_grow() -> None:
    clock = FakeClock(10_000.0)
    engine = AlertEngine(load_rules(), clock=clock)
    sick = _detail(ecc_uncorrected_volatile=2.0, ecc_uncorrected_aggregate=5.0, remapped_rows_pending="Yes")
    rules_of = lambda result: sorted(a.rule for a in result["n1"])  # noqa: E731
    assert rules_of(engine.evaluate([_facts(sick, {})])) == ["ecc_uncorrected", "remap_pending"]
    baseline = counters_of(sick, [], clock(), "n1")
    clock.advance(1)
    assert rules_of(engine.evaluate([_facts(sick, {3: baseline})])) == []
    worse = _detail(ecc_uncorrected_volatile=3.0, ecc_uncorrected_aggregate=6.0, remapped_rows_pending="Yes")
    clock.advance(1)
    assert rules_of(engine.evaluate([_facts(worse, {3: baseline})])) == ["ecc_uncorrected", "remap_pending"]
    assert new_since_acknowledged(baseline, worse) == [
        "ECC uncorrected (volatile) 2 → 3",
        "ECC uncorrected (aggregate) 5 → 6",
    ]
    assert new_since_acknowledged(baseline, sick) == []


def test_an_xid_seen_before_the_acknowledgement_stops_alerting_and_a_later_one_alerts() -> None:
    clock = FakeClock(10_000.0)
    engine = AlertEngine(load_rules(), clock=clock)
    event = XidEvent((0, 0x5D, 0), 79, "GPU has fallen off the bus", "2026-11-29T10:00:00")
    before = XidRecord(3, event, 9_990.0)
    detail = _detail()
    baseline = counters_of(detail, [79], 9_995.0, "n1")
    assert [a.rule for a in engine.evaluate([_facts(detail, {}, (before,))])["n1"]] == ["xid_79"]
    assert engine.evaluate([_facts(detail, {3: baseline}, (before,))])["n1"] == ()
    later = XidRecord(3, XidEvent((0, 0x5D, 0), 79, "again", "2026-11-29T10:05:00"), 9_999.0)
    assert [a.rule for a in engine.evaluate([_facts(detail, {3: baseline}, (before, later))])["n1"]] == ["xid_79"]
    assert new_since_acknowledged(baseline, detail, [79]) == ["XID 79 after the acknowledgement"]


def test_counters_survive_their_json_and_ignore_what_is_not_a_counter() -> None:
    detail = _detail(ecc_corrected_aggregate=12.0, retired_pages_pending="No", remapped_rows_failure="No")
    counters = counters_of(detail, [48, 48, 79], 5.0, "n1")
    assert counters.xids == (48, 79) and counters.counters == {"ecc_corrected_aggregate": 12.0}
    assert AcceleratorCounters.from_json(counters.as_json()) == counters
    hostile = AcceleratorCounters.from_json(
        {"index": 1, "counters": {"rm -rf": 1, "ecc_corrected_volatile": "x"}, "xids": ["a"]}
    )
    assert hostile.counters == {} and hostile.xids == ()


def test_roles_grant_what_the_issue_says() -> None:
    assert allowed(Role.TECHNICIAN, Permission.ACT) and allowed(Role.TECHNICIAN, Permission.INCIDENTS)
    assert not allowed(Role.TECHNICIAN, Permission.SIGN_OFF) and not allowed(Role.TECHNICIAN, Permission.AMEND)
    assert all(allowed(Role.SUPERVISOR, p) for p in Permission)
    assert not any(allowed(Role.LIAISON, p) for p in Permission)
    with pytest.raises(RoleRefused, match=r"the liaison role may not act on nodes \(allowed: technician, supervisor\)"):
        require(Role.LIAISON, Permission.ACT)


def test_a_desk_whose_role_opens_no_incidents_says_it_records_nothing() -> None:
    from console.core.actions.roles import records_nothing

    assert records_nothing(Role.TECHNICIAN) is None and records_nothing(Role.SUPERVISOR) is None
    assert records_nothing(Role.LIAISON) == (
        "this desk records nothing: incidents are opened by technicians' and supervisors' consoles "
        "(the liaison role reads only)"
    )


def test_the_preferences_file_gives_role_operator_and_shift_starts_and_bad_ones_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "preferences.toml"
    assert load_preferences(path).role is None
    path.write_text('role = "Supervisor"\noperator = "sue"\nday_shift_starts = "06:00"\nnight_shift_starts = "18:00"\n')
    prefs = load_preferences(path)
    assert (prefs.role, prefs.operator, prefs.day_shift_starts, prefs.night_shift_starts) == (
        Role.SUPERVISOR,
        "sue",
        dt.time(6),
        dt.time(18),
    )
    for text, words in (
        ('role = "boss"', "unknown role 'boss'"),
        ("colour = 1", "unknown key 'colour'"),
        ('day_shift_starts = "25:00"', "not a time of day"),
        ('day_shift_starts = "20:00"', "before night_shift_starts"),
        ("role = [", str(path)),
    ):
        path.write_text(text)
        with pytest.raises(PreferencesError, match=words):
            load_preferences(path)


def test_times_typed_by_a_person_are_read_strictly() -> None:
    now = dt.datetime(2026, 11, 29, 12, tzinfo=UTC).timestamp()
    assert parse_when("90s", now) == now - 90 and parse_when("30m", now) == now - 1800
    assert parse_when("12h", now) == now - 43200 and parse_when("7d", now) == now - 7 * 86400
    assert parse_when("2026-11-29T07:00Z", now) == dt.datetime(2026, 11, 29, 7, tzinfo=UTC).timestamp()
    assert parse_when("2026-11-29T07:00+01:00", now) == dt.datetime(2026, 11, 29, 6, tzinfo=UTC).timestamp()
    # The forms people type (issue 12.8), local where they name a day or a clock time.
    assert parse_when("1 hour", now) == parse_when("60 minutes", now) == parse_when("60min", now) == now - 3600
    assert parse_when("2 hours ago", now) == now - 7200 and parse_when("1 week", now) == now - 7 * 86400
    local = dt.datetime.fromtimestamp(now).astimezone()
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    assert parse_when("today", now) == midnight.timestamp()
    assert parse_when("yesterday", now) == (midnight - dt.timedelta(days=1)).timestamp()
    assert parse_when("00:30", now) == midnight.replace(minute=30).timestamp()
    for bad in ("last week", "1 fortnight", "11", "25:00", "2026-13-01", ""):
        with pytest.raises(WhenError, match=r"not a time|month must be|unknown unit|not a time of day"):
            parse_when(bad, now)
    with pytest.raises(WhenError, match="still to come"):
        parse_when("23:59", midnight.timestamp() + 60)
