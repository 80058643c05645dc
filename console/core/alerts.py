"""Alert rules over the live fleet: what is wrong, since when, and the readings that show it.

Each rule looks at node views once a second. A condition must hold for ``for_s`` before an alert is
raised, and must be gone for ``clear_s`` (and, for temperatures, below the limit minus a margin) before
it clears: hysteresis, so an alert does not flap. Alerts carry a severity, first-seen and last-seen times,
and evidence. Rules and limits come from a TOML file; every default is documented in DEFAULT_RULES.
"""

from __future__ import annotations

import enum
import math
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from console.core.resources import read_resource
from console.core.samples import LIVE_STATES, NodeState, NotAvailable, Vendor

# The default rules, documented: resources/alert-rules.toml, shipped with the package
# (``fleet-console alert-rules`` prints it).
DEFAULT_RULES: Final = read_resource("alert-rules.toml")

UNREACHABLE_STATES: Final = frozenset(
    {
        NodeState.UNREACHABLE,
        NodeState.AUTH_FAILED,
        NodeState.HOST_KEY_UNKNOWN,
        NodeState.HOST_KEY_CHANGED,
        NodeState.COMMAND_FAILED,
    }
)
HEALTH_SEVERITY: Final = {
    "warning": "warning",
    "alarm": "critical",
    "critical": "critical",
    "general warning": "warning",
    "important warning": "warning",
}


class Severity(enum.IntEnum):
    INFO = 0
    WARNING = 1
    CRITICAL = 2

    @property
    def word(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Alert:
    node: str
    rule: str
    accelerator: int | None
    severity: Severity
    message: str
    evidence: dict[str, Any]
    first_seen: float
    last_seen: float

    @property
    def key(self) -> tuple[str, str, int | None]:
        return (self.node, self.rule, self.accelerator)

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.word,
            "accelerator": self.accelerator,
            "message": self.message,
            "evidence": self.evidence,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
        }


class AlertRulesError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class TemperatureLimits:
    warning_c: float
    critical_c: float


@dataclass(frozen=True, slots=True)
class AlertRules:
    temperature_for_s: float = 30
    temperature_clear_margin_c: float = 5
    temperature_clear_s: float = 30
    temperature: dict[Vendor, TemperatureLimits] = field(default_factory=dict)
    unreachable_after_s: float = 60
    unreachable_severity: Severity = Severity.CRITICAL
    stale_after_s: float = 30
    stale_severity: Severity = Severity.WARNING
    health_for_s: float = 0
    health_clear_s: float = 30
    parse_error_after_s: float = 30
    parse_error_severity: Severity = Severity.WARNING
    ecc_severity: Severity = Severity.CRITICAL
    remap_pending_severity: Severity = Severity.WARNING
    remap_failure_severity: Severity = Severity.CRITICAL
    xid_critical: frozenset[int] = frozenset({48, 62, 63, 64, 74, 79, 92, 94, 95, 119, 120})
    xid_window_s: float = 600
    throttle_reasons: frozenset[str] = frozenset(
        {"hw_thermal_slowdown", "hw_power_brake_slowdown", "sw_thermal_slowdown"}
    )
    throttle_for_s: float = 60
    reboot_window_s: float = 600
    allocated_idle_for_s: float = 600
    allocated_idle_severity: Severity = Severity.WARNING

    def limits(self, vendor: Vendor) -> TemperatureLimits:
        return self.temperature.get(vendor) or self.temperature.get(Vendor.NVIDIA) or TemperatureLimits(85, 92)


def load_rules(text: str = DEFAULT_RULES, source: str = "alert rules") -> AlertRules:
    """Rules from TOML; keys missing from ``text`` keep their defaults. Bad files are refused in words."""
    try:
        data = tomllib.loads(text)
        defaults = tomllib.loads(DEFAULT_RULES)
    except tomllib.TOMLDecodeError as exc:
        raise AlertRulesError(f"{source}: {exc}") from None
    except RecursionError:
        raise AlertRulesError(f"{source}: arrays or tables are nested too deeply to be alert rules") from None
    known = {section: set(values) for section, values in defaults.items()}
    for section, values in data.items():
        if section not in known:
            raise AlertRulesError(f"{source}: unknown section [{section}] (known: {', '.join(known)})")
        if not isinstance(values, dict):
            raise AlertRulesError(f"{source}: [{section}] must be a table")
        for key in values:
            if key not in known[section]:
                raise AlertRulesError(f"{source}: unknown key {key!r} in [{section}]")
    merged = {section: {**defaults[section], **data.get(section, {})} for section in defaults}

    def number(value: Any) -> float | None:
        """A finite int or float (not true/false, not a string, not nan or inf)."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None
        return float(value)

    def seconds(section: str, key: str) -> float:
        value = number(merged[section][key])
        if value is None or value < 0:
            raise AlertRulesError(
                f"{source}: [{section}] {key} must be a number of seconds ≥ 0 (finite), not {merged[section][key]!r}"
            )
        return value

    def severity(section: str, key: str = "severity") -> Severity:
        value = merged[section][key]
        if not isinstance(value, str) or value.upper() not in Severity.__members__:
            raise AlertRulesError(f"{source}: [{section}] {key} must be info, warning or critical, not {value!r}")
        return Severity[value.upper()]

    def words(section: str, key: str) -> list[str]:
        value = merged[section][key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise AlertRulesError(f"{source}: [{section}] {key} must be a list of strings, not {value!r}")
        return list(value)

    temperature: dict[Vendor, TemperatureLimits] = {}
    for vendor in (Vendor.NVIDIA, Vendor.ASCEND, Vendor.AMD):
        limits = merged["temperature"][vendor.value]
        where = f"{source}: [temperature] {vendor.value}"
        if not isinstance(limits, dict):
            raise AlertRulesError(f"{where} must be a table {{ warning_c = …, critical_c = … }}, not {limits!r}")
        unknown = sorted(set(limits) - {"warning_c", "critical_c"})
        if unknown:
            raise AlertRulesError(f"{where}: unknown key {unknown[0]!r} (known: warning_c, critical_c)")
        warning, critical = (number(limits.get(key)) for key in ("warning_c", "critical_c"))
        if warning is None or critical is None:
            raise AlertRulesError(f"{where} needs warning_c and critical_c as finite numbers in °C, not {limits!r}")
        if warning > critical:
            raise AlertRulesError(f"{where}: warning_c is above critical_c")
        temperature[vendor] = TemperatureLimits(warning, critical)
    return AlertRules(
        temperature_for_s=seconds("temperature", "for_s"),
        temperature_clear_margin_c=seconds("temperature", "clear_margin_c"),
        temperature_clear_s=seconds("temperature", "clear_s"),
        temperature=temperature,
        unreachable_after_s=seconds("unreachable", "after_s"),
        unreachable_severity=severity("unreachable"),
        stale_after_s=seconds("stale", "after_s"),
        stale_severity=severity("stale"),
        health_for_s=seconds("accelerator_health", "for_s"),
        health_clear_s=seconds("accelerator_health", "clear_s"),
        parse_error_after_s=seconds("parse_error", "after_s"),
        parse_error_severity=severity("parse_error"),
        ecc_severity=severity("ecc"),
        remap_pending_severity=severity("remapped_rows", "pending_severity"),
        remap_failure_severity=severity("remapped_rows", "failure_severity"),
        xid_critical=frozenset(_ints(merged["xid"]["critical"], source)),
        xid_window_s=seconds("xid", "window_s"),
        throttle_reasons=frozenset(words("throttle", "reasons")),
        throttle_for_s=seconds("throttle", "for_s"),
        reboot_window_s=seconds("reboot", "window_s"),
        allocated_idle_for_s=seconds("allocated_idle", "for_s"),
        allocated_idle_severity=severity("allocated_idle"),
    )


def _ints(values: Any, source: str) -> list[int]:
    if not isinstance(values, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise AlertRulesError(f"{source}: [xid] critical must be a list of XID numbers")
    return list(values)


def load_rules_file(path: Path) -> AlertRules:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise AlertRulesError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise AlertRulesError(f"{path}: {exc.strerror}") from None
    return load_rules(text, str(path))


@dataclass(slots=True)
class _Track:
    since: float | None = None  # when the condition started holding
    clear_since: float | None = None  # when it stopped holding (for an active alert)
    alert: Alert | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """A condition seen now: what, how bad, and the readings that show it."""

    rule: str
    accelerator: int | None
    severity: Severity
    message: str
    evidence: dict[str, Any]
    for_s: float
    clear_s: float


class AlertEngine:
    """Keeps the state of every rule for every node; ``evaluate`` is called about once a second."""

    def __init__(self, rules: AlertRules | None = None, clock: Callable[[], float] = time.time) -> None:
        self.rules = rules or load_rules()
        self.clock = clock
        self._tracks: dict[tuple[str, str, int | None], _Track] = {}
        self._findings_of: dict[tuple[str, str, int | None], Finding] = {}

    def evaluate(self, views: Iterable[Any]) -> dict[str, tuple[Alert, ...]]:
        """Active alerts per node after looking at ``views`` (NodeView objects)."""
        now = self.clock()
        seen: set[tuple[str, str, int | None]] = set()
        result: dict[str, list[Alert]] = {}
        for view in views:
            result.setdefault(view.name, [])
            for finding in self._findings(view, now):
                key = (view.name, finding.rule, finding.accelerator)
                seen.add(key)
                track = self._tracks.setdefault(key, _Track())
                if track.since is None:
                    track.since = now
                track.clear_since = None
                if track.alert is None and now - track.since >= finding.for_s:
                    track.alert = Alert(
                        view.name,
                        finding.rule,
                        finding.accelerator,
                        finding.severity,
                        finding.message,
                        finding.evidence,
                        track.since,
                        now,
                    )
                elif track.alert is not None:
                    severity = max(track.alert.severity, finding.severity)
                    track.alert = replace(
                        track.alert,
                        last_seen=now,
                        message=finding.message,
                        evidence=finding.evidence,
                        severity=severity,
                    )
                self._findings_of[key] = finding
        for key, track in list(self._tracks.items()):
            if key in seen:
                continue
            last = self._findings_of.get(key)
            if track.alert is None:
                del self._tracks[key]
                self._findings_of.pop(key, None)
                continue
            if track.clear_since is None:
                track.clear_since = now
            clear_s = last.clear_s if last else 0.0
            if now - track.clear_since >= clear_s:
                del self._tracks[key]
                self._findings_of.pop(key, None)
        for (node, _rule, _acc), track in self._tracks.items():
            if track.alert is not None:
                result.setdefault(node, []).append(track.alert)
        return {
            node: tuple(sorted(alerts, key=lambda a: (-a.severity, a.first_seen))) for node, alerts in result.items()
        }

    def _findings(self, view: Any, now: float) -> list[Finding]:
        rules = self.rules
        findings: list[Finding] = []
        state: NodeState = view.state
        age = now - view.state_since
        if state in UNREACHABLE_STATES and age >= rules.unreachable_after_s:
            findings.append(
                Finding(
                    "unreachable",
                    None,
                    rules.unreachable_severity,
                    f"{state.value} for {age:.0f} s: {view.error or ''}".strip(),
                    {"state": state.value, "since": view.state_since},
                    0.0,
                    0.0,
                )
            )
        elif state == NodeState.STALE and age >= rules.stale_after_s:
            findings.append(
                Finding(
                    "stale",
                    None,
                    rules.stale_severity,
                    f"no telemetry for {age:.0f} s",
                    {"state": state.value, "since": view.state_since},
                    0.0,
                    0.0,
                )
            )
        elif state == NodeState.PARSE_ERROR:
            findings.append(
                Finding(
                    "parse_error",
                    None,
                    rules.parse_error_severity,
                    f"unreadable telemetry: {view.error or ''}",
                    {"error": view.error},
                    rules.parse_error_after_s,
                    10.0,
                )
            )
        rebooted = getattr(view, "rebooted_at", None)
        if rebooted is not None and now - rebooted <= rules.reboot_window_s:
            findings.append(
                Finding(
                    "rebooted",
                    None,
                    Severity.INFO,
                    "the node rebooted (boot time changed, seen "
                    f"{time.strftime('%H:%M:%S', time.localtime(rebooted))})",
                    {"seen_at": rebooted},
                    0.0,
                    0.0,
                )
            )
        if state not in LIVE_STATES:
            return findings
        for record in getattr(view, "xids", ()):
            # XIDs whose PCI bus id matched no GPU in the stream still count, for the node.
            if record.accelerator is None and now - record.seen_at <= rules.xid_window_s:
                critical = record.event.code in rules.xid_critical
                domain, bus, device = record.event.bus
                findings.append(
                    Finding(
                        f"xid_{record.event.code}",
                        None,
                        Severity.CRITICAL if critical else Severity.INFO,
                        f"XID {record.event.code} on PCI {domain:04x}:{bus:02x}:{device:02x}, {record.event.meaning}",
                        {
                            "xid": record.event.code,
                            "detail": record.event.detail[:200],
                            "kernel_time": record.event.when,
                        },
                        0.0,
                        0.0,
                    )
                )
        scheduler_state = getattr(view, "scheduler_state", None) or ""
        utilisations = [s.utilization_pct for s in view.samples]
        if (
            scheduler_state.split("+")[0] == "ALLOCATED"
            and utilisations
            and all(not isinstance(u, NotAvailable) and u == 0 for u in utilisations)
        ):
            findings.append(
                Finding(
                    "allocated_idle",
                    None,
                    rules.allocated_idle_severity,
                    f"Slurm has the node allocated ({scheduler_state}) but all "
                    f"{len(utilisations)} accelerators are at 0 %",
                    {"slurm_state": scheduler_state, "utilization_pct": 0.0},
                    rules.allocated_idle_for_s,
                    60.0,
                )
            )
        for sample in view.samples:
            temperature = sample.temperature_c
            if not isinstance(temperature, NotAvailable):
                limits = rules.limits(sample.vendor)
                if temperature >= limits.warning_c:
                    critical = temperature >= limits.critical_c
                    limit = limits.critical_c if critical else limits.warning_c
                    findings.append(
                        Finding(
                            "temperature",
                            sample.index,
                            Severity.CRITICAL if critical else Severity.WARNING,
                            f"{_label(sample)} at {temperature:.0f} °C (limit {limit:.0f} °C)",
                            {
                                "temperature_c": temperature,
                                "limit_c": limit,
                                "power_w": None if isinstance(sample.power_w, NotAvailable) else sample.power_w,
                                "utilization_pct": None
                                if isinstance(sample.utilization_pct, NotAvailable)
                                else sample.utilization_pct,
                            },
                            rules.temperature_for_s,
                            rules.temperature_clear_s,
                        )
                    )
                else:
                    key = (view.name, "temperature", sample.index)
                    track = self._tracks.get(key)
                    margin = limits.warning_c - rules.temperature_clear_margin_c
                    if track is not None and track.alert is not None and temperature >= margin:
                        # Hysteresis: still within the margin under the limit — the alert stays.
                        findings.append(
                            Finding(
                                "temperature",
                                sample.index,
                                track.alert.severity,
                                f"{_label(sample)} at {temperature:.0f} °C (cooling, clears below {margin:.0f} °C)",
                                {"temperature_c": temperature},
                                rules.temperature_for_s,
                                rules.temperature_clear_s,
                            )
                        )
            findings += self._detail_findings(view, sample, now)
            health = sample.health
            if isinstance(health, str) and health.strip().lower() not in ("ok", ""):
                word = HEALTH_SEVERITY.get(health.strip().lower(), "warning")
                findings.append(
                    Finding(
                        "accelerator_health",
                        sample.index,
                        Severity[word.upper()],
                        f"{_label(sample)} health is {health}",
                        {"health": health},
                        rules.health_for_s,
                        rules.health_clear_s,
                    )
                )
        return findings

    def _detail_findings(self, view: Any, sample: Any, now: float) -> list[Finding]:
        """Rules on the slow path: ECC, remapped rows, throttling, XIDs."""
        rules = self.rules
        out: list[Finding] = []
        label = _label(sample)
        detail = getattr(view, "gpu_details", {}).get(sample.index)
        if detail is not None:
            uncorrected = _number(detail.ecc_uncorrected_volatile)
            if uncorrected:
                out.append(
                    Finding(
                        "ecc_uncorrected",
                        sample.index,
                        rules.ecc_severity,
                        f"{label}: {uncorrected:.0f} uncorrectable ECC error(s) since the driver loaded",
                        {
                            "ecc_uncorrected_volatile": uncorrected,
                            "ecc_uncorrected_aggregate": _number(detail.ecc_uncorrected_aggregate),
                        },
                        0.0,
                        0.0,
                    )
                )
            failure = detail.remapped_rows_failure
            if isinstance(failure, str) and failure.lower() == "yes":
                out.append(
                    Finding(
                        "remap_failure",
                        sample.index,
                        rules.remap_failure_severity,
                        f"{label}: row remapping failed (no spare rows left)",
                        {"remapped_rows_uncorrectable": _number(detail.remapped_rows_uncorrectable)},
                        0.0,
                        0.0,
                    )
                )
            if detail.retired_or_remapped_pending:
                out.append(
                    Finding(
                        "remap_pending",
                        sample.index,
                        rules.remap_pending_severity,
                        f"{label}: rows/pages pending remap — the GPU needs a reset",
                        {
                            "remapped_rows_pending": str(detail.remapped_rows_pending),
                            "retired_pages_pending": str(detail.retired_pages_pending),
                        },
                        0.0,
                        0.0,
                    )
                )
        reasons = detail.throttle_reasons if detail is not None else sample.throttle_reasons
        if reasons:
            throttling = sorted(set(reasons) & rules.throttle_reasons)
            if throttling:
                out.append(
                    Finding(
                        "throttle",
                        sample.index,
                        Severity.WARNING,
                        f"{label} throttled: {', '.join(r.replace('_', ' ') for r in throttling)}",
                        {"throttle_reasons": throttling},
                        rules.throttle_for_s,
                        60.0,
                    )
                )
        for record in getattr(view, "xids", ()):
            if record.accelerator != sample.index or now - record.seen_at > rules.xid_window_s:
                continue
            critical = record.event.code in rules.xid_critical
            out.append(
                Finding(
                    f"xid_{record.event.code}",
                    sample.index,
                    Severity.CRITICAL if critical else Severity.INFO,
                    f"{label}: XID {record.event.code}, {record.event.meaning}",
                    {"xid": record.event.code, "detail": record.event.detail[:200], "kernel_time": record.event.when},
                    0.0,
                    0.0,
                )
            )
        return out


def _number(value: Any) -> float | None:
    return None if isinstance(value, NotAvailable) or value is None else float(value)


def _label(sample: Any) -> str:
    if sample.vendor == Vendor.ASCEND and sample.npu_id is not None:
        return f"NPU {sample.npu_id} chip {sample.chip_id}"
    return f"GPU {sample.index}"
