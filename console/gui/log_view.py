"""The Log view: a shift's (or any range's) incidents and actions, filtered and sorted, the shift's figures,
the selected incident with what a technician does to it, and the timeline of its node.

Every read and write goes through the Worker (the store and the archive are disk, a BMC's event log is
network); what comes back is shown as plain text. A liaison's view has every changing control disabled and
says why.
"""

from __future__ import annotations

import datetime as dt
import time
import urllib.parse
from typing import Any, Final

from PySide6.QtCore import (
    QDate,
    QEvent,
    Qt,
    Signal,
)
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QGridLayout,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from console.core.actions.roles import Permission, allowed
from console.core.alerts.incidents import IncidentState, ShiftFigures, ShiftName, duration_words
from console.core.records.incident_types import Incident
from console.core.records.log_types import LogFilter, LogPage, NodeTimeline
from console.core.when import iso_utc
from console.gui.log_tables import (
    ACTION_COLUMNS,
    INCIDENT_COLUMNS,
    SEVERITY_RANK,
    ActionColumn,
    ActionTableModel,
    IncidentColumn,
    IncidentFilterProxy,
    IncidentTableModel,
    fit_columns,
    local,
    sortable,
    table_for,
)
from console.gui.ports import RecordsPort
from console.gui.text import esc, plain_label, plain_tip, rich_label
from console.gui.timeline_pane import TimelinePane
from console.gui.worker import Worker

DETAIL_MIN_HEIGHT: Final = 40  # three lines on a 768-px screen; seven and more where there is room
CONTROLS_ROOMY_HEIGHT: Final = 300
TIMELINE_BEFORE_S: Final = 2 * 3600.0
TIMELINE_AFTER_S: Final = 3600.0


class LogView(QWidget):
    """The Log tab. ``changed`` fires after each refresh (tests wait on it)."""

    refreshed = Signal()
    timeline_shown = Signal()
    node_chosen = Signal(str)
    report_requested = Signal()

    def __init__(self, records: RecordsPort, worker: Worker) -> None:  # noqa: PLR0915 - builds the view's controls
        super().__init__()
        self.records = records
        self.worker = worker
        self.page: LogPage | None = None
        self.error: str | None = None
        role = records.incidents.role
        self.may_change = allowed(role, Permission.INCIDENTS)

        today, shift = records.log.current_shift()
        self.date = QDateEdit(QDate(today.year, today.month, today.day))
        self.date.setObjectName("log-date")
        self.date.setCalendarPopup(True)
        self.date.setDisplayFormat("yyyy-MM-dd")
        self.shift = QComboBox()
        self.shift.setObjectName("log-shift")
        self.shift.addItems([ShiftName.DAY.value, ShiftName.NIGHT.value, "last 24 h", "last 7 days", "last 30 days"])
        self.shift.setCurrentText(shift.value)
        self.state = QComboBox()
        self.state.setObjectName("log-state")
        self.state.addItems(["any state", "not resolved", "open", "acknowledged", "resolved"])
        self.severity = QComboBox()
        self.severity.setObjectName("log-severity")
        self.severity.addItems(["any severity", "critical", "warning", "info"])
        inventory = records.log.inventory
        self.rack = QComboBox()
        self.rack.setObjectName("log-rack")
        self.rack.addItems(["any rack", *sorted({s.rack for s in inventory.nodes if s.rack})])
        self.tenant = QComboBox()
        self.tenant.setObjectName("log-tenant")
        self.tenant.addItems(["any tenant", *sorted({s.tenant for s in inventory.nodes if s.tenant})])
        self.node = QLineEdit()
        self.node.setObjectName("log-node")
        self.node.setPlaceholderText("node")
        self.cause = QLineEdit()
        self.cause.setObjectName("log-cause")
        self.cause.setPlaceholderText("cause (xid_79, temperature…)")
        self.text = QLineEdit()
        self.text.setObjectName("log-text")
        self.text.setPlaceholderText("Search notes, messages, tickets, reasons…  (Ctrl+Shift+F)")
        self.text.setClearButtonEnabled(True)
        for combo in (self.shift, self.state, self.severity, self.rack, self.tenant):
            combo.currentIndexChanged.connect(self.refresh)
        self.date.dateChanged.connect(self.refresh)
        for line in (self.node, self.cause, self.text):
            line.returnPressed.connect(self.refresh)
        self.report_button = QPushButton("Handover &report…")
        self.report_button.setObjectName("log-report")
        self.report_button.clicked.connect(self.report_requested.emit)
        filters = QHBoxLayout()
        for control in (self.date, self.shift, self.state, self.severity, self.rack, self.tenant):
            filters.addWidget(control)
        filters.addWidget(self.node)
        filters.addWidget(self.cause)
        filters.addWidget(self.text, 1)
        filters.addWidget(self.report_button)

        # Each figure is a link to the incidents behind it (rich text the view composes, every name escaped).
        self.figures = rich_label("")
        self.figures.setObjectName("log-figures")
        self.figures.setWordWrap(True)
        self.figures.setOpenExternalLinks(False)
        self.figures.setTextInteractionFlags(
            Qt.TextInteractionFlag.LinksAccessibleByMouse | Qt.TextInteractionFlag.LinksAccessibleByKeyboard
        )
        self.figures.linkActivated.connect(self.follow_figure)
        self.following: str | None = None  # the figure whose incidents the list shows (None: all)
        self.all_offenders = False
        self.status = plain_label("")
        self.status.setObjectName("log-status")
        self.status.setStyleSheet("color:#555")

        self.incident_model = IncidentTableModel()
        self.incident_proxy = IncidentFilterProxy()
        self.incident_proxy.setSourceModel(self.incident_model)
        self.incident_table = table_for(self.incident_proxy, INCIDENT_COLUMNS, "log-incidents")
        self.incident_table.sortByColumn(IncidentColumn.OPENED, Qt.SortOrder.DescendingOrder)
        self.incident_table.selectionModel().currentRowChanged.connect(self._incident_changed)
        self.incident_table.doubleClicked.connect(lambda _index: self._go_to_node())
        self.action_model = ActionTableModel()
        self.action_proxy = sortable(self.action_model)
        self.action_table = table_for(self.action_proxy, ACTION_COLUMNS, "log-actions")
        self.action_table.sortByColumn(ActionColumn.ID, Qt.SortOrder.DescendingOrder)
        self.action_table.selectionModel().currentRowChanged.connect(self._action_changed)
        self.actions_label = plain_label("Actions")

        self.detail = QPlainTextEdit()
        self.detail.setObjectName("incident-detail")
        self.detail.setReadOnly(True)
        self.detail.setPlaceholderText("Select an incident")
        self.detail.setMinimumHeight(DETAIL_MIN_HEIGHT)
        self.note = QLineEdit()
        self.note.setObjectName("incident-note")
        self.note.setPlaceholderText("Note (required for Add note; optional for Acknowledge and Resolve)")
        self.ack_button = QPushButton("&Acknowledge")
        self.note_button = QPushButton("Add &note")
        self.resolve_button = QPushButton("Re&solve")
        self.timeline_button = QPushButton("&Timeline")
        for button, name in (
            (self.ack_button, "incident-ack"),
            (self.note_button, "incident-note-add"),
            (self.resolve_button, "incident-resolve"),
            (self.timeline_button, "incident-timeline"),
        ):
            button.setObjectName(name)
        self.ack_button.clicked.connect(self.acknowledge)
        self.note_button.clicked.connect(self.add_note)
        self.resolve_button.clicked.connect(self.resolve)
        self.timeline_button.clicked.connect(self.show_timeline)
        self.new_nodes = QLineEdit()
        self.new_nodes.setObjectName("incident-new-nodes")
        self.new_nodes.setPlaceholderText("nodes (space-separated)")
        self.new_cause = QLineEdit()
        self.new_cause.setObjectName("incident-new-cause")
        self.new_cause.setPlaceholderText("cause")
        self.new_severity = QComboBox()
        self.new_severity.addItems(["warning", "critical", "info"])
        self.open_button = QPushButton("&Open incident")
        self.open_button.setObjectName("incident-open")
        self.open_button.clicked.connect(self.open_incident)
        self.message = plain_label("")
        self.message.setObjectName("log-message")
        self.message.setWordWrap(True)
        if not self.may_change:
            why = f"the {role.value} role reads only"
            for widget in (
                self.ack_button,
                self.note_button,
                self.resolve_button,
                self.open_button,
                self.note,
                self.new_nodes,
                self.new_cause,
                self.new_severity,
            ):
                widget.setEnabled(False)
                widget.setToolTip(plain_tip(why))

        # The note and what is done with it on one row: the buttons stay in sight on a 768-px screen.
        buttons = QHBoxLayout()
        buttons.addWidget(self.note, 1)
        for button in (self.ack_button, self.note_button, self.resolve_button, self.timeline_button):
            buttons.addWidget(button)
        new = QGridLayout()
        new.addWidget(self.new_nodes, 0, 0)
        new.addWidget(self.new_cause, 0, 1)
        new.addWidget(self.new_severity, 0, 2)
        new.addWidget(self.open_button, 0, 3)
        # The incident's words scroll in their own box; every control stays in sight, however short the screen.
        controls = QWidget()
        controls_layout = QVBoxLayout(controls)
        controls_layout.setContentsMargins(0, 0, 0, 0)
        controls_layout.addWidget(self.detail, 1)
        controls_layout.addLayout(buttons)
        controls_layout.addWidget(self.message)
        controls_layout.addLayout(new)
        self.timeline = TimelinePane()
        side = QSplitter(Qt.Orientation.Vertical)
        side.setChildrenCollapsible(False)
        side.addWidget(controls)
        side.addWidget(self.timeline)
        side.setStretchFactor(0, 4)
        side.setStretchFactor(1, 5)
        side.setSizes([CONTROLS_ROOMY_HEIGHT, 480])

        lists = QWidget()
        lists_layout = QVBoxLayout(lists)
        lists_layout.setContentsMargins(0, 0, 0, 0)
        lists_layout.addWidget(self.incident_table, 3)
        lists_layout.addWidget(self.actions_label)
        lists_layout.addWidget(self.action_table, 2)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(lists)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 5)
        splitter.setStretchFactor(1, 4)
        splitter.setSizes([900, 700])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(filters)
        layout.addWidget(self.figures)
        layout.addWidget(self.status)
        layout.addWidget(splitter, 1)
        QShortcut(QKeySequence("Ctrl+Shift+F"), self, self.text.setFocus)
        QShortcut(QKeySequence("F5"), self, self.refresh)
        self.incident_table.installEventFilter(self)
        self._update_buttons()

    # --- reading ------------------------------------------------------------------------------------------------

    def current_filter(self) -> LogFilter:
        choice = self.shift.currentText()
        now = time.time()
        if choice in (ShiftName.DAY.value, ShiftName.NIGHT.value):
            qdate = self.date.date()
            since, until = self.records.log.shift_bounds(
                dt.date(qdate.year(), qdate.month(), qdate.day()), ShiftName(choice)
            )
        else:
            days = {"last 24 h": 1, "last 7 days": 7, "last 30 days": 30}[choice]
            since, until = now - days * 86400, now + 60
        states = {
            "not resolved": frozenset({"open", "acknowledged"}),
            "open": frozenset({"open"}),
            "acknowledged": frozenset({"acknowledged"}),
            "resolved": frozenset({"resolved"}),
        }.get(self.state.currentText(), frozenset())
        severity = self.severity.currentText()
        return LogFilter(
            since=since,
            until=until,
            states=states,
            severities=frozenset({severity}) if severity in SEVERITY_RANK else frozenset(),
            node=self.node.text().strip() or None,
            rack=None if self.rack.currentIndex() == 0 else self.rack.currentText(),
            tenant=None if self.tenant.currentIndex() == 0 else self.tenant.currentText(),
            cause=self.cause.text().strip() or None,
            text=self.text.text().strip() or None,
        )

    def refresh(self) -> None:
        flt = self.current_filter()
        self.status.setText("reading…")
        self.worker.call(lambda: self.records.log.page(flt), self._show_page, self._failed, owner=self)

    def _show_page(self, page: LogPage) -> None:
        selected = self.selected_incident()
        self.page = page
        self.error = None
        # Rows are replaced only when they changed: a periodic re-read keeps the selection and the scroll.
        incidents_changed = list(page.incidents) != self.incident_model.incidents
        if incidents_changed:
            self.incident_model.set_incidents(list(page.incidents))
        if list(page.actions) != self.action_model.rows:
            self.action_model.set_rows(list(page.actions))
        self.actions_label.setText(f"Actions in the range ({len(page.actions)})")
        self.status.setText(
            f"{len(page.incidents)} incidents, {len(page.actions)} actions (read in {page.took_ms:.0f} ms)"
            + ("" if not self.records.problems else " — " + "; ".join(self.records.problems))
        )
        fit_columns(self.incident_table, INCIDENT_COLUMNS)
        fit_columns(self.action_table, ACTION_COLUMNS)
        self.page_figures = page.figures
        self._show_figures()
        if selected is not None and incidents_changed:
            self.select_incident(selected.id)
        elif page.incidents and not self.incident_table.currentIndex().isValid():
            self.incident_table.setCurrentIndex(self.incident_proxy.index(0, 0))
        shown, now_selected = self.timeline.shown, self.selected_incident()
        if shown is not None and now_selected is not None and now_selected.nodes[:1] == (shown.node,):
            self.show_timeline()  # its node's newer minutes, events and notes
        self._update_buttons()
        self.refreshed.emit()

    def _show_figures(self) -> None:
        f = self.page_figures
        self.figures.setText(figures_html(f, self.following, self.all_offenders) if f else "")
        behind = f.behind.get(self.following) if f is not None and self.following else None
        self.incident_proxy.set_only(frozenset(behind) if behind is not None else None)

    def follow_figure(self, link: str) -> None:
        """A figure's link: the list narrows to its incidents (sorted by the time the figure measures); a
        repeat offender's name opens the node; "show all" lists every offender; "all" shows every incident."""
        kind, _, value = link.partition(":")
        if kind == "node":
            self.node_chosen.emit(urllib.parse.unquote(value))
            return
        if kind == "offenders":
            self.all_offenders = not self.all_offenders
            self.following = "repeat_offenders"
        else:
            self.following = None if kind == "all" else kind
        column = {"acknowledge": IncidentColumn.TO_ACKNOWLEDGE, "resolve": IncidentColumn.TO_RESOLVE}.get(kind)
        if column is not None:
            self.incident_table.sortByColumn(column, Qt.SortOrder.DescendingOrder)  # the worst first
        self._show_figures()

    def _failed(self, error: Exception) -> None:
        self.error = str(error)
        self.status.setText(f"the log could not be read: {error}")
        self.refreshed.emit()

    def selected_incident(self) -> Incident | None:
        index = self.incident_table.currentIndex()
        if not index.isValid():
            return None
        row = self.incident_proxy.mapToSource(index).row()
        return self.incident_model.incidents[row] if 0 <= row < len(self.incident_model.incidents) else None

    def select_incident(self, incident_id: int) -> bool:
        for row, incident in enumerate(self.incident_model.incidents):
            if incident.id == incident_id:
                self.incident_table.setCurrentIndex(
                    self.incident_proxy.mapFromSource(self.incident_model.index(row, 0))
                )
                return True
        return False

    def _incident_changed(self, *_args: object) -> None:
        incident = self.selected_incident()
        self._update_buttons()
        if incident is None:
            self.detail.setPlainText("")
            return
        self.detail.setPlainText(incident_text(incident, self.records.incidents.new_since_acknowledged(incident)))
        shown = self.timeline.shown
        if shown is None or not incident.nodes or shown.node != incident.nodes[0]:
            self.show_timeline()

    def _action_changed(self, *_args: object) -> None:
        index = self.action_table.currentIndex()
        if not index.isValid():
            return
        row = self.action_model.rows[self.action_proxy.mapToSource(index).row()]
        if row.incident_id:
            self.select_incident(row.incident_id)

    def _update_buttons(self) -> None:
        incident = self.selected_incident()
        live = incident is not None and incident.state != IncidentState.RESOLVED
        self.ack_button.setEnabled(
            self.may_change and live and incident is not None and incident.state == IncidentState.OPEN
        )
        self.note_button.setEnabled(self.may_change and incident is not None)
        self.resolve_button.setEnabled(self.may_change and live)
        self.timeline_button.setEnabled(incident is not None)

    def _go_to_node(self) -> None:
        incident = self.selected_incident()
        if incident is not None and incident.nodes:
            self.node_chosen.emit(incident.nodes[0])

    # --- changing --------------------------------------------------------------------------------------------

    def _change(self, what: str, work: Any) -> None:
        self.message.setText(f"{what}…")

        def done(_result: object) -> None:
            self.message.setText(f"{what}: done")
            self.note.clear()
            self.refresh()

        def failed(error: Exception) -> None:
            self.message.setText(f"{what}: not done — {error}")

        self.worker.call(work, done, failed, owner=self)

    def acknowledge(self) -> None:
        incident = self.selected_incident()
        if incident is None:
            return
        note = self.note.text().strip() or None
        self._change(f"acknowledging #{incident.id}", lambda: self.records.incidents.acknowledge(incident.id, note))

    def add_note(self) -> None:
        incident = self.selected_incident()
        text = self.note.text().strip()
        if incident is None:
            return
        if not text:
            self.message.setText("type the note first")
            self.note.setFocus()
            return
        self._change(f"noting on #{incident.id}", lambda: self.records.incidents.add_note(incident.id, text))

    def resolve(self) -> None:
        incident = self.selected_incident()
        if incident is None:
            return
        note = self.note.text().strip() or None
        self._change(f"resolving #{incident.id}", lambda: self.records.incidents.resolve(incident.id, note))

    def open_incident(self) -> None:
        nodes = self.new_nodes.text().split()
        cause = self.new_cause.text().strip()
        if not nodes or not cause:
            self.message.setText("give the nodes and the cause of the incident")
            return
        severity = self.new_severity.currentText()
        note = self.note.text().strip() or None
        self._change(
            f"opening an incident on {len(nodes)} node(s)",
            lambda: self.records.incidents.open_by_hand(nodes, cause, severity, note),
        )

    def prefill_nodes(self, nodes: list[str]) -> None:
        if nodes and not self.new_nodes.text():
            self.new_nodes.setText(" ".join(nodes))

    def show_timeline(self) -> None:
        incident = self.selected_incident()
        if incident is None or not incident.nodes:
            return
        end = (incident.resolved or time.time()) + TIMELINE_AFTER_S
        self.show_node_timeline(incident.nodes[0], incident.opened - TIMELINE_BEFORE_S, min(end, time.time() + 60))

    def show_node_timeline(self, node: str, since: float, until: float) -> None:
        self.timeline.title.setText(f"Timeline of {node}: reading…")

        def failed(error: Exception) -> None:
            self.timeline.title.setText(f"Timeline of {node} could not be read: {error}")
            self.timeline_shown.emit()

        def shown(timeline: NodeTimeline) -> None:
            self.timeline.show_timeline(timeline)
            self.timeline_shown.emit()

        self.worker.call(lambda: self.records.log.timeline(node, since, until), shown, failed, owner=self)

    def eventFilter(self, watched: Any, event: Any) -> bool:
        """Enter on an incident shows its node's timeline (keyboard-driven like the fleet table)."""
        if watched is self.incident_table and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.show_timeline()
                return True
        return super().eventFilter(watched, event)


# Each figure's words and its key in ShiftFigures.behind.
FIGURE_LINKS: Final = {
    "opened": "opened",
    "resolved": "resolved",
    "still_open": "still open",
    "acknowledge": "time to acknowledge",
    "resolve": "time to resolve",
    "out_of_service": "accelerator-hours out of service",
    "repeat_offenders": "repeat offenders",
}
SHOWN_OFFENDERS: Final = 5


def figures_html(f: ShiftFigures, following: str | None = None, all_offenders: bool = False) -> str:
    """The figures, each a link to its incidents; a repeat offender's name opens the node; which figure the
    list follows is said with a link back to every incident."""

    def link(key: str, words: str) -> str:
        style = "font-weight:bold;" if key == following else ""
        return f'<a href="{key}" style="{style}">{esc(words)}</a>'

    shown = f.repeat_offenders if all_offenders else f.repeat_offenders[:SHOWN_OFFENDERS]
    offenders = ", ".join(f'<a href="node:{esc(urllib.parse.quote(n, safe=""))}">{esc(n)}</a> ({c})' for n, c in shown)
    if f.offender_count > SHOWN_OFFENDERS:
        more = "show fewer" if all_offenders else "show all"
        offenders += f' — {len(shown)} of {f.offender_count} <a href="offenders:">{more}</a>'
    parts = [
        f"{link('opened', 'Opened')} {f.opened}",
        f"{link('resolved', 'resolved')} {f.resolved}",
        f"{link('still_open', 'still open')} {f.still_open}",
        f"{link('acknowledge', 'time to acknowledge')} median {duration_words(f.ack_median_s)}, "
        f"worst {duration_words(f.ack_worst_s)}",
        f"{link('resolve', 'time to resolve')} median {duration_words(f.resolve_median_s)}, "
        f"worst {duration_words(f.resolve_worst_s)}",
        f"{link('out_of_service', 'accelerator-hours out of service')} {f.accelerator_hours_out:.1f}",
        f"{link('repeat_offenders', 'repeat offenders')} (30 days): {offenders or 'none'}",
    ]
    text = " · ".join(parts)
    if following is not None:
        count = len(f.behind.get(following, ()))
        text += (
            f"<br><b>Showing the {count} incident(s) behind “{esc(FIGURE_LINKS.get(following, following))}”</b> — "
            '<a href="all">show all</a>'
        )
    return text


def incident_text(incident: Incident, new: dict[tuple[str, int], list[str]]) -> str:
    lines = [
        f"Incident #{incident.id} — {incident.severity} — {incident.state.value}",
        f"Cause: {incident.cause}" + (f": {incident.message}" if incident.message else ""),
        f"Nodes: {', '.join(incident.nodes)}",
    ]
    if incident.accelerators:
        lines.append(
            "Accelerators: "
            + ", ".join(f"{a.node} #{a.index}" + (f" ({a.uuid})" if a.uuid else "") for a in incident.accelerators)
        )
    lines.append(f"Opened {iso_utc(incident.opened)} ({local(incident.opened)} local) by {incident.opened_by}")
    if incident.acknowledged is not None:
        lines.append(f"Acknowledged {iso_utc(incident.acknowledged)} by {incident.acknowledged_by}")
    if incident.resolved is not None:
        lines.append(f"Resolved {iso_utc(incident.resolved)} by {incident.resolved_by}")
    if incident.ticket:
        lines.append(f"Ticket: {incident.ticket}")
    if incident.tenants:
        lines.append(f"Tenants: {', '.join(incident.tenants)}")
    if incident.jobs:
        lines.append(
            "Slurm jobs at the time: "
            + ", ".join(
                str(j.get("error")) if "error" in j else f"{j.get('job_id')} ({j.get('user')}, {j.get('account')})"
                for j in incident.jobs
            )
        )
    if incident.evidence:
        lines.append("Evidence: " + ", ".join(f"{k}={v}" for k, v in incident.evidence.items()))
    if incident.counters:
        lines.append("Counters at the acknowledgement:")
        for c in incident.counters:
            counted = ", ".join(f"{k}={v:.0f}" for k, v in c.counters.items()) or "none reported"
            lines.append(f"  {c.node or ''} GPU {c.index}: {counted}" + (f"; XIDs {list(c.xids)}" if c.xids else ""))
        if incident.acknowledged is not None:
            if new:
                for (node, index), words in sorted(new.items()):
                    lines.append(f"  NEW since acknowledged on {node} GPU {index}: {', '.join(words)}")
            else:
                lines.append("  nothing new since acknowledged")
    if incident.actions:
        lines.append("Actions: " + ", ".join(f"#{a}" for a in incident.actions))
    lines.append("")
    lines.append("History:")
    for event in incident.events:
        lines.append(
            f"  {iso_utc(event.at)}  {event.kind:<12} {event.author}" + (f": {event.text}" if event.text else "")
        )
    return "\n".join(lines)
