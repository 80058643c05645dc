"""The alert rules as a site sets them: the shipped file (resources/alert-rules.toml) and a site's own, read
and refused in words; the temperature limits per vendor, how long a reading must hold, how incidents are
opened; and the severities. The rules' logic reads these (console.core.alerts.rules)."""

from __future__ import annotations

import enum
import functools
import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from console.core.resources import read_resource
from console.core.telemetry.samples import Vendor

if TYPE_CHECKING:
    from console.core.alerts.rules import Alert

# The default rules, documented: resources/alert-rules.toml, shipped with the package
# (``fleet-console alert-rules`` prints it).


# The default rules, documented: resources/alert-rules.toml, shipped with the package
# (``fleet-console alert-rules`` prints it).
DEFAULT_RULES: Final = read_resource("alert-rules.toml")


class Severity(enum.IntEnum):
    INFO = 0
    WARNING = 1
    CRITICAL = 2

    @property
    def word(self) -> str:
        return self.name.lower()


class AlertRulesError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class IncidentRules:
    """``[incidents]`` of the alert-rules file."""

    # Severity → how long an alert of it must last before it opens an incident (absent: never).
    open_after_s: Mapping[Severity, float] = field(
        default_factory=lambda: {Severity.CRITICAL: 0.0, Severity.WARNING: 600.0}
    )
    reopen_window_s: float = 3600.0
    # Rules that never open an incident (e.g. "rebooted", an info note).
    skip_rules: frozenset[str] = frozenset()

    def due(self, alert: Alert, now: float) -> bool:
        """Whether ``alert`` has lasted long enough, at its severity, to open an incident."""
        if alert.rule in self.skip_rules:
            return False
        after = self.open_after_s.get(alert.severity)
        return after is not None and now - alert.first_seen >= after


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
    incidents: IncidentRules = field(default_factory=IncidentRules)

    def limits(self, vendor: Vendor) -> TemperatureLimits:
        return self.temperature.get(vendor) or self.temperature.get(Vendor.NVIDIA) or TemperatureLimits(85, 92)


@functools.cache
def default_rules() -> AlertRules:
    """The shipped rules (resources/alert-rules.toml), read once."""
    return load_rules()


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

    return AlertRules(
        temperature_for_s=seconds("temperature", "for_s"),
        temperature_clear_margin_c=seconds("temperature", "clear_margin_c"),
        temperature_clear_s=seconds("temperature", "clear_s"),
        temperature=_temperature_limits(merged["temperature"], source, number),
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
        incidents=_incident_rules(merged["incidents"], source, number),
    )


def _temperature_limits(
    section: dict[str, Any], source: str, number: Callable[[Any], float | None]
) -> dict[Vendor, TemperatureLimits]:
    """Each vendor's ``{ warning_c = …, critical_c = … }`` of the [temperature] section, refused in words."""
    temperature: dict[Vendor, TemperatureLimits] = {}
    for vendor in (Vendor.NVIDIA, Vendor.ASCEND, Vendor.AMD):
        limits = section[vendor.value]
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
    return temperature


def _incident_rules(section: dict[str, Any], source: str, number: Callable[[Any], float | None]) -> IncidentRules:
    where = f"{source}: [incidents]"
    table = section["open_after_s"]
    if not isinstance(table, dict):
        raise AlertRulesError(f"{where} open_after_s must be a table {{ critical = 0, warning = 600 }}")
    opens: dict[Severity, float] = {}
    for word, value in table.items():
        if word.upper() not in Severity.__members__:
            raise AlertRulesError(f"{where} open_after_s: unknown severity {word!r} (known: info, warning, critical)")
        seconds = number(value)
        if seconds is None or seconds < 0:
            raise AlertRulesError(f"{where} open_after_s.{word} must be a number of seconds ≥ 0, not {value!r}")
        opens[Severity[word.upper()]] = seconds
    window = number(section["reopen_window_s"])
    if window is None or window < 0:
        raise AlertRulesError(f"{where} reopen_window_s must be a number of seconds ≥ 0")
    skip = section["skip_rules"]
    if not isinstance(skip, list) or not all(isinstance(v, str) for v in skip):
        raise AlertRulesError(f"{where} skip_rules must be a list of rule names")
    return IncidentRules(open_after_s=opens, reopen_window_s=window, skip_rules=frozenset(skip))


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
