"""A tenant's report over a date range: accelerator-hours held, healthy, allocated to jobs, busy, idle while
allocated and out of service, with the mean utilisation, in total and per node — what a liaison sends to
the tenant. Built from the telemetry archive's day rows as plain data, rendered as self-contained HTML
(every foreign word escaped) or CSV (formula cells made inert); the PDF is the HTML printed by Qt.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Final

from console.core.records.archive_types import ArchiveGap, Usage
from console.core.records.exports import csv_text
from console.core.records.handover import REPORT_STYLE, escape_html, html_table
from console.core.tenants.accounting import AccountingComparison

FIGURES: Final = ("held", "healthy", "allocated", "busy", "idle_allocated", "out_of_service")
WORDS: Final = {
    "held": "Held",
    "healthy": "Healthy",
    "allocated": "Allocated to jobs",
    "busy": "Busy",
    "idle_allocated": "Idle while allocated",
    "out_of_service": "Out of service",
}


def usage_json(usage: Usage) -> dict[str, Any]:
    """Accelerator-hours rounded for a report (and its CSV)."""
    return {
        **{name: round(getattr(usage, name), 2) for name in FIGURES},
        "util_mean_pct": None if usage.util_mean is None else round(usage.util_mean, 1),
    }


def totals(rows: Sequence[Usage], tenant: str | None = None) -> Usage:
    """The rows summed (utilisation weighted by the hours the accelerators were up)."""
    held = sum(r.held for r in rows)
    weighted = [(r.util_mean, r.held - r.out_of_service) for r in rows if r.util_mean is not None]
    weight = sum(w for _, w in weighted)
    return Usage(
        tenant=tenant,
        node="(all)",
        held=held,
        healthy=sum(r.healthy for r in rows),
        allocated=sum(r.allocated for r in rows),
        busy=sum(r.busy for r in rows),
        idle_allocated=sum(r.idle_allocated for r in rows),
        out_of_service=sum(r.out_of_service for r in rows),
        util_mean=(sum(u * w for u, w in weighted) / weight) if weight > 0 else None,
    )


def build_tenant_report(
    tenant: str,
    first_day: str,
    last_day: str,
    rows: Sequence[Usage],
    generated_at: str,
    generated_by: str,
    accounting: AccountingComparison | None = None,
    gaps: Sequence[ArchiveGap] = (),
) -> dict[str, Any]:
    """The report as plain data over the UTC days ``first_day`` to ``last_day``, both included (as the user
    gave them: a report "to 2026-12-07" says 2026-12-07, not the exclusive end it is read up to).
    ``accounting``: Slurm's own GPU-hours of the tenant's account beside the
    console's allocated hours (None: not asked). ``gaps``: spans the archive has no data for (each said in
    the notes, so missing hours are not read as idle ones)."""
    mine = [r for r in rows if r.tenant == tenant]
    report: dict[str, Any] = {
        "tenant": tenant,
        "from": first_day,
        "to": last_day,
        "generated_at": generated_at,
        "generated_by": generated_by,
        "totals": usage_json(totals(mine, tenant)),
        "nodes": [{"node": r.node, **usage_json(r)} for r in sorted(mine, key=lambda r: r.node)],
        "notes": [
            "accelerator-hours from the console's telemetry archive (one-minute readings rolled up by the hour);",
            "allocated = held by a running Slurm job (its GRES indices where Slurm lists them);",
        ],
        "slurm": None,
        "gaps": [{"start": g.start, "end": g.end, "minutes": g.minutes, "reason": g.reason} for g in gaps],
    }
    for gap in gaps:
        report["notes"].append(gap.words())
    if accounting is None:
        report["notes"].append("Slurm's own accounting (sacct) was not asked for this report.")
    else:
        report["slurm"] = {
            "gpu_hours": None if accounting.slurm_hours is None else round(accounting.slurm_hours, 2),
            "jobs": accounting.slurm_jobs,
            "console_allocated_hours": round(accounting.console_hours, 2),
            "difference_hours": None if accounting.difference is None else round(accounting.difference, 2),
            "differs": accounting.differs,
            "words": accounting.words(),
        }
    return report


def render_tenant_html(report: dict[str, Any]) -> str:
    t = report["totals"]
    title = f"Accelerator-hours of {report['tenant']}: {report['from']} to {report['to']}"
    summary = html_table(
        ["Figure", "Accelerator-hours", "Share of held"],
        [
            [WORDS[name], f"{t[name]:.1f}", f"{100 * t[name] / t['held']:.0f} %" if t["held"] else "—"]
            for name in FIGURES
        ]
        + [["Mean utilisation (while up)", "—" if t["util_mean_pct"] is None else f"{t['util_mean_pct']} %", ""]],
    )
    nodes = html_table(
        ["Node", *(WORDS[n] for n in FIGURES), "Mean utilisation"],
        [
            [
                n["node"],
                *(f"{n[name]:.1f}" for name in FIGURES),
                "—" if n["util_mean_pct"] is None else n["util_mean_pct"],
            ]
            for n in report["nodes"]
        ],
    )
    notes = "".join(f'<p class="muted">{escape_html(n)}</p>' for n in report["notes"])
    notes += _slurm_html(report.get("slurm"))
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{escape_html(title)}</title><style>{REPORT_STYLE}</style></head><body>"
        f"<h1>{escape_html(title)}</h1>"
        f'<p class="muted">UTC days {escape_html(report["from"])} to {escape_html(report["to"])}, both included; '
        f"generated {escape_html(report['generated_at'])} by {escape_html(report['generated_by'])}</p>"
        f"{notes}<h2>Totals</h2>{summary}<h2>Per node ({len(report['nodes'])})</h2>{nodes}</body></html>\n"
    )


def _slurm_html(slurm: dict[str, Any] | None) -> str:
    if slurm is None:
        return ""
    hours = "—" if slurm["gpu_hours"] is None else f"{slurm['gpu_hours']:.1f}"
    diff = "—" if slurm["difference_hours"] is None else f"{slurm['difference_hours']:+.1f}"
    table = html_table(
        ["", "Console: allocated accelerator-hours", "Slurm (sacct): GPU-hours", "Jobs", "Difference"],
        [["Hours", f"{slurm['console_allocated_hours']:.1f}", hours, str(slurm["jobs"]), diff]],
    )
    mark = ' style="color:#b00020;font-weight:bold"' if slurm["differs"] else ""
    return f"<h2>Slurm's own accounting</h2>{table}<p{mark}>{escape_html(slurm['words'])}</p>"


def render_tenant_csv(report: dict[str, Any]) -> str:
    """One row per node after the tenant's totals, through the one CSV writer of every export."""
    head = (report["tenant"], report["from"], report["to"])
    rows: list[list[Any]] = [
        [*head, row["node"], *(row[name] for name in FIGURES), row["util_mean_pct"]]
        for row in [{"node": "(all)", **report["totals"]}, *report["nodes"]]
    ]
    slurm = report.get("slurm")
    if slurm is not None and slurm["gpu_hours"] is not None:
        # Slurm's own figure as one more row: its allocated GPU-hours, the other figures left empty.
        cells: list[Any] = ["" for _ in FIGURES]
        cells[FIGURES.index("allocated")] = slurm["gpu_hours"]
        rows.append([*head, "(slurm sacct)", *cells, ""])
    # Spans the archive has no data for: one row each, every figure empty (not zero).
    for gap in report.get("gaps", []):
        since = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(gap["start"]))
        rows.append([*head, f"(no data: {gap['minutes']} min from {since})", *("" for _ in FIGURES), ""])
    return csv_text(["tenant", "from", "to", "node", *FIGURES, "util_mean_pct"], rows)
