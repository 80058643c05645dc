"""The handover report of a shift: open incidents first, then the resolved ones, the actions taken, the
nodes drained or down at the end of the shift, and the shift's figures; with the sign-off and its
amendments once signed.

The report is built once as plain data (``as_json``); a signed report is that data frozen in the store,
and every format is rendered from it: self-contained HTML (no script, no link, every foreign word
escaped), CSV (one table, a ``section`` column), and PDF (the HTML printed by Qt, in console.gui).
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from console.core.alerts.incidents import ShiftFigures, duration_words
from console.core.records.exports import csv_text, export_text
from console.core.records.incident_types import Incident, SignOff
from console.core.records.store import AuditRow
from console.core.when import iso_utc, local_minute, parse_iso, zone_name

# 2: incident rows carry their state at the shift's end and the later facts apart (``state_at_end``, ``later``).
REPORT_VERSION: Final = 2


@dataclass(frozen=True, slots=True)
class NodeAtEnd:
    node: str
    state: str | None  # the console's word (up, unreachable …) at the end of the shift, where archived
    slurm: str | None  # Slurm's state word, where archived

    @property
    def out(self) -> bool:
        slurm = (self.slurm or "").upper()
        return (self.state not in (None, "up", "parse error")) or any(w in slurm for w in ("DRAIN", "DOWN", "FAIL"))


def local_time(when: float | None) -> str:
    if when is None:
        return ""
    return dt.datetime.fromtimestamp(when).astimezone().strftime("%Y-%m-%d %H:%M %Z")


def _short(iso: str | None) -> str:
    """An ISO time of the report as a local ``2026-12-07 04:22`` (the zone is named once, at the top): no
    token long enough to be broken inside a table cell."""
    return local_minute(parse_iso(iso)) if iso else ""


def _words(token: str | None) -> str:
    """A cause token (``ecc_uncorrected``) as words that wrap at spaces, for the page only."""
    return (token or "").replace("_", " ")


def build_report(
    *,
    shift_date: str,
    shift: str,
    start: float,
    end: float,
    incidents: Sequence[Incident],
    actions: Sequence[AuditRow],
    nodes_at_end: Sequence[NodeAtEnd],
    figures: ShiftFigures,
    generated_by: str,
    generated_at: float,
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    still_open = [i for i in incidents if i.opened < end and (i.resolved is None or i.resolved >= end)]
    resolved = [i for i in incidents if i.resolved is not None and start <= i.resolved < end]
    return {
        "report_version": REPORT_VERSION,
        "shift_date": shift_date,
        "shift": shift,
        "start": iso_utc(start),
        "end": iso_utc(end),
        "start_local": local_time(start),
        "end_local": local_time(end),
        "generated_at": iso_utc(generated_at),
        "generated_by": generated_by,
        "notes": list(notes),
        "zone": zone_name(end),
        "open_incidents": [
            _incident_row(i, end) for i in sorted(still_open, key=lambda i: (_rank(i.severity), i.opened))
        ],
        "resolved_incidents": [_incident_row(i, end) for i in sorted(resolved, key=lambda i: i.opened)],
        "actions": [_action_row(a) for a in actions],
        "nodes_out_at_end": [
            {"node": n.node, "state": n.state, "slurm": n.slurm}
            for n in sorted(nodes_at_end, key=lambda n: n.node)
            if n.out
        ],
        "figures": figures.as_json(),
    }


def freeze_words(report: dict[str, Any]) -> str:
    """What a sign-off freezes, for the confirmation the window and the command line ask first."""
    return (
        f"Sign off the {report['shift']} shift of {report['shift_date']} ({_short(report['start'])} → "
        f"{_short(report['end'])})? This freezes the report as it is now: {len(report['open_incidents'])} incident(s) "
        f"open at the shift's end, {len(report['resolved_incidents'])} resolved in it, {len(report['actions'])} "
        f"action(s), {len(report['nodes_out_at_end'])} node(s) drained or down at its end. Changes to these incidents "
        "after the sign-off are added to it as amendments; the signed report itself never changes."
    )


def _rank(severity: str) -> int:
    return {"critical": 0, "warning": 1}.get(severity, 2)


def _incident_row(incident: Incident, end: float) -> dict[str, Any]:
    """The incident as the shift left it (``state_at_end``), with what happened to it after the shift apart
    (``later``: words, each marked as after the shift) — a report of a shift states what was true at its end."""
    data = incident.as_json()
    data.pop("events", None)
    data["accelerator_uuids"] = [a["uuid"] for a in data["accelerators"] if a.get("uuid")]
    data["accelerators"] = ", ".join(f"{a['node']} #{a['index']}" for a in data["accelerators"])
    acknowledged = incident.acknowledged is not None and incident.acknowledged < end
    resolved = incident.resolved is not None and incident.resolved < end
    data["state_at_end"] = "resolved" if resolved else "acknowledged" if acknowledged else "open"
    later = []
    if incident.acknowledged is not None and not acknowledged and not resolved:
        later.append(f"acknowledged {_short(iso_utc(incident.acknowledged))} by {incident.acknowledged_by}")
    if incident.resolved is not None and not resolved:
        later.append(f"resolved {_short(iso_utc(incident.resolved))} by {incident.resolved_by}")
    data["later"] = later
    data["notes_later"] = [n.as_json() for n in incident.notes if n.at >= end]
    data["notes"] = [n.as_json() for n in incident.notes if n.at < end]
    return data


def _action_row(row: AuditRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "time": row.created_at,
        "operator": row.operator,
        "kind": row.kind,
        "node": row.node,
        "state": row.state,
        "reason": row.reason,
        "ticket": row.ticket,
        "message": row.message,
        "incident": row.incident_id,
    }


# --- HTML --------------------------------------------------------------------------------------------------

REPORT_STYLE: Final = """
body { font-family: sans-serif; font-size: 10pt; color: #111; margin: 18px; }
h1 { font-size: 16pt; margin-bottom: 2px; } h2 { font-size: 12pt; margin-top: 18px; border-bottom: 1px solid #999; }
table { border-collapse: collapse; width: 100%; margin-top: 4px; }
th, td { border: 1px solid #bbb; padding: 3px 5px; text-align: left; vertical-align: top; }
th { background: #e8e8e8; }
.critical { color: #a00000; font-weight: bold; } .warning { color: #8a5a00; font-weight: bold; }
.muted { color: #555; } .signed { border: 2px solid #205020; padding: 6px; background: #eef6ee; }
.unsigned { border: 2px dashed #888; padding: 6px; }
"""


def escape_html(value: Any) -> str:
    """Every value is foreign text (a node's words, an operator's note): escaped once, never markup, its
    control and bidi characters shown as escapes (``export_text``)."""
    return html.escape(export_text(value), quote=True)


def html_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], classes: Sequence[str] | None = None) -> str:
    if not rows:
        return '<p class="muted">None.</p>'
    head = "".join(f"<th>{escape_html(h)}</th>" for h in headers)
    body = []
    for n, row in enumerate(rows):
        css = f' class="{classes[n]}"' if classes and classes[n] else ""
        body.append(
            "<tr>" + "".join(f"<td{css if i == 0 else ''}>{escape_html(v)}</td>" for i, v in enumerate(row)) + "</tr>"
        )
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _incident_table(rows: Sequence[dict[str, Any]], resolved: bool = False) -> str:
    """Incidents as the shift left them; what came after the shift is in its own column, marked so."""

    def state(r: dict[str, Any]) -> str:
        at_end = r.get("state_at_end", r["state"])  # reports signed before version 2 have only "state"
        if at_end == "acknowledged":
            return f"acknowledged {_short(r['acknowledged'])} by {r['acknowledged_by']}"
        if at_end == "resolved":
            return f"resolved {_short(r['resolved'])} by {r['resolved_by']}"
        return str(at_end)

    def notes(r: dict[str, Any]) -> str:
        return " | ".join(f"{_short(n['time'])} {n['author']}: {n['text']}" for n in r["notes"])

    def later(r: dict[str, Any]) -> str:
        words = [
            *r.get("later", []),
            *(f"note {_short(n['time'])} {n['author']}: {n['text']}" for n in r.get("notes_later", [])),
        ]
        return "; ".join(words)

    headers = ["#", "Severity", "Nodes and accelerators", "Cause", "Opened", "At the shift's end", "Ticket", "Notes"]
    if not resolved:
        headers.append("After the shift")
    return html_table(
        headers,
        [
            [
                r["id"],
                r["severity"],
                _where(r),
                _words(r["cause"]) + (f": {r['message']}" if r.get("message") else ""),
                f"{_short(r['opened'])} by {r['opened_by']}",
                state(r),
                r["ticket"],
                notes(r),
                *([] if resolved else [later(r)]),
            ]
            for r in rows
        ],
        [r["severity"] for r in rows],
    )


def _where(r: dict[str, Any]) -> str:
    """``gpu-0007 (accelerator #6)`` for one node; every ``node #index`` where the incident spans several."""
    nodes = ", ".join(r["nodes"])
    if not r["accelerators"]:
        return nodes
    if len(r["nodes"]) == 1:
        indices = r["accelerators"].replace(f"{r['nodes'][0]} ", "")
        return f"{nodes} (accelerator {indices})"
    return f"{nodes} ({r['accelerators']})"


def _pair(median: float | None, worst: float | None) -> str:
    return f"{duration_words(median)} / {duration_words(worst)}"


def render_html(report: dict[str, Any], signoff: SignOff | None = None) -> str:
    f = report["figures"]
    title = f"Handover: {report['shift']} shift of {report['shift_date']}"
    figures = html_table(
        ["Figure", "Value"],
        [
            ["Incidents opened", f["opened"]],
            ["Incidents resolved", f["resolved"]],
            ["Still open at the end", f["still_open"]],
            [
                "Time to acknowledge (median / worst)",
                _pair(f["time_to_acknowledge_median_s"], f["time_to_acknowledge_worst_s"]),
            ],
            [
                "Time to resolve (median / worst)",
                f"{duration_words(f['time_to_resolve_median_s'])} / {duration_words(f['time_to_resolve_worst_s'])}",
            ],
            ["Accelerator-hours out of service (critical incidents)", f["accelerator_hours_out_of_service"]],
            [
                "Repeat offenders (30 days)",
                ", ".join(f"{o['node']} ({o['incidents']})" for o in f["repeat_offenders"]) or "none",
            ],
        ],
    )
    actions = html_table(
        ["#", "Time", "Operator", "Action", "Node", "Outcome", "Reason", "Ticket", "Incident", "Message"],
        [
            [
                a["id"],
                _short(a["time"]),
                a["operator"],
                a["kind"],
                a["node"],
                a["state"],
                a["reason"],
                a["ticket"],
                a["incident"] or "",
                a["message"],
            ]
            for a in report["actions"]
        ],
    )
    nodes = html_table(
        ["Node", "State", "Slurm"],
        [[n["node"], n["state"] or "not archived", n["slurm"] or ""] for n in report["nodes_out_at_end"]],
    )
    if signoff is not None:
        sign = (
            f'<div class="signed"><b>Signed off</b> by {escape_html(signoff.signed_by)} '
            f"({escape_html(signoff.role)}) at "
            f"{escape_html(local_minute(signoff.signed_at))}: {escape_html(signoff.note or '')}</div>"
        )
        if signoff.amendments:
            sign += "<h2>Amendments after sign-off</h2>" + html_table(
                ["Time", "By", "Amendment"], [[local_minute(a.at), a.author, a.text] for a in signoff.amendments]
            )
    else:
        sign = '<div class="unsigned">Not signed off.</div>'
    notes = "".join(f'<p class="muted">{escape_html(n)}</p>' for n in report.get("notes", []))
    zone = report.get("zone") or zone_name(parse_iso(report["end"]))
    # The shift's figures first: the next shift reads the page top down.
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{escape_html(title)}</title><style>{REPORT_STYLE}</style></head><body>"
        f"<h1>{escape_html(title)}</h1>"
        f'<p class="muted">{escape_html(_short(report["start"]))} → {escape_html(_short(report["end"]))}; every '
        f"time in this report is local time ({escape_html(zone)}); generated "
        f"{escape_html(_short(report['generated_at']))} by {escape_html(report['generated_by'])}</p>{notes}{sign}"
        f"<h2>Figures</h2>{figures}"
        f"<h2>Open incidents at the shift's end ({len(report['open_incidents'])})</h2>"
        f"{_incident_table(report['open_incidents'])}"
        f"<h2>Resolved in the shift ({len(report['resolved_incidents'])})</h2>"
        f"{_incident_table(report['resolved_incidents'], resolved=True)}"
        f"<h2>Actions taken ({len(report['actions'])})</h2>{actions}"
        f"<h2>Nodes drained or down at the end of the shift ({len(report['nodes_out_at_end'])})</h2>{nodes}"
        "</body></html>\n"
    )


# --- CSV ---------------------------------------------------------------------------------------------------

CSV_COLUMNS: Final = ("section", "id", "time", "node", "what", "state", "severity", "by", "detail")


def render_csv(report: dict[str, Any], signoff: SignOff | None = None) -> str:
    """One table, written by the one CSV writer of every export (no cell can be a formula)."""
    rows: list[tuple[Any, ...]] = []

    def row(*values: Any) -> None:
        rows.append(values)

    row(
        "shift",
        "",
        report["start"],
        "",
        f"{report['shift']} shift of {report['shift_date']}",
        "",
        "",
        report["generated_by"],
        report["end"],
    )
    for section in ("open_incidents", "resolved_incidents"):
        for i in report[section]:
            notes = " | ".join(f"{n['time']} {n['author']}: {n['text']}" for n in i["notes"])
            row(
                section,
                i["id"],
                i["opened"],
                " ".join(i["nodes"]),
                i["cause"],
                i.get("state_at_end", i["state"]),
                i["severity"],
                i["opened_by"],
                "; ".join(
                    x
                    for x in (
                        i.get("message") or "",
                        f"ticket {i['ticket']}" if i["ticket"] else "",
                        notes,
                        *(f"after the shift: {w}" for w in i.get("later", [])),
                    )
                    if x
                ),
            )
    for a in report["actions"]:
        row(
            "action",
            a["id"],
            a["time"],
            a["node"],
            a["kind"],
            a["state"],
            "",
            a["operator"],
            "; ".join(
                x
                for x in (a["reason"] or "", f"incident {a['incident']}" if a["incident"] else "", a["message"] or "")
                if x
            ),
        )
    for n in report["nodes_out_at_end"]:
        row("node_out_at_end", "", report["end"], n["node"], "", n["state"] or "", "", "", n["slurm"] or "")
    for key, value in report["figures"].items():
        shown = " ".join(f"{o['node']}:{o['incidents']}" for o in value) if key == "repeat_offenders" else value
        row("figure", "", "", "", key, "", "", "", shown)
    if signoff is not None:
        row(
            "signoff",
            signoff.id,
            iso_utc(signoff.signed_at),
            "",
            "signed off",
            "",
            "",
            signoff.signed_by,
            signoff.note or "",
        )
        for a in signoff.amendments:
            row("amendment", "", iso_utc(a.at), "", "", "", "", a.author, a.text)
    return csv_text(CSV_COLUMNS, rows)
