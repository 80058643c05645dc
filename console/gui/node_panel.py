"""The selected node: details, last error, its accelerators, and 10-minute plots of utilisation and temperature."""

from __future__ import annotations

import time
from typing import Final

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from console.core.actions.planning import NodeDetails
from console.core.alerts.config import Severity, default_rules
from console.core.telemetry.counters import new_since_acknowledged
from console.core.telemetry.fleet import FleetModel, NodeView
from console.core.telemetry.history import HISTORY_SECONDS
from console.core.telemetry.samples import LIVE_STATES, NotAvailable, Vendor
from console.gui.accelerator_table import AcceleratorTableModel
from console.gui.style import (
    HOT_TEXT,
    SERIES_COLOURS,
    SEVERITY_COLOURS,
    STATE_COLOURS,
)
from console.gui.text import esc, plain_label, plain_tip, rich_label

PLOT_MIN_HEIGHT: Final = 150  # px: a readable trend (the walkthrough found 40)
DETAILS_MIN_HEIGHT: Final = 110


class HistoryPlot(pg.PlotWidget):  # type: ignore[misc]  # pyqtgraph ships no type information
    """One curve per accelerator over the last 10 minutes; x is seconds before now."""

    def __init__(self, title: str, unit: str, y_max: float) -> None:
        super().__init__(background="w")
        self.setObjectName(f"plot-{title.lower()}")
        self.unit = unit
        self.y_max = y_max
        item = self.getPlotItem()
        item.setTitle(f"<span style='color:#222'>{esc(title)}</span>", size="10pt")
        item.showGrid(x=True, y=True, alpha=0.25)
        item.setLabel("left", unit)
        # Three ticks a side, in minutes: readable at 150 px (no "seconds ago" label to clip). The oldest tick
        # stays inside the plot (a label on its left edge would be cut).
        step = round(HISTORY_SECONDS * 0.4 / 60) * 60
        item.getAxis("bottom").setTicks(
            [[(-2 * step, f"−{2 * step // 60:g} min"), (-step, f"−{step // 60:g} min"), (0, "now")]]
        )
        self._set_y_ticks(y_max)
        for side in ("bottom", "left"):
            # The first and last labels sit at the edges: pyqtgraph would hide them as "overlapping".
            item.getAxis(side).setStyle(hideOverlappingLabels=False)
        item.setXRange(-HISTORY_SECONDS, 0, padding=0.08)
        self.setMinimumHeight(PLOT_MIN_HEIGHT)
        item.setYRange(0, y_max, padding=0.1)
        item.setMouseEnabled(x=False, y=False)
        item.hideButtons()
        item.setClipToView(True)
        # No legend over the curves: the accelerator table's "#" column carries each curve's colour.
        self.curves: list[pg.PlotDataItem] = []
        self.points_drawn = 0

    def set_series(self, series: list[tuple[str, np.ndarray, np.ndarray]], now: float) -> None:
        while len(self.curves) < len(series):
            i = len(self.curves)
            pen = pg.mkPen(SERIES_COLOURS[i % len(SERIES_COLOURS)], width=1.6)
            self.curves.append(self.getPlotItem().plot([], [], pen=pen, name=series[i][0], connect="finite"))
        while len(self.curves) > len(series):
            curve = self.curves.pop()
            self.getPlotItem().removeItem(curve)
        drawn = 0
        peak = 0.0
        for curve, (_, times, values) in zip(self.curves, series, strict=True):
            x = times - now
            curve.setData(x, values, connect="finite")
            finite = values[np.isfinite(values)]
            drawn += int(finite.size)
            if finite.size:
                peak = max(peak, float(finite.max()))
        self.points_drawn = drawn
        top = max(self.y_max, peak * 1.05)
        self.getPlotItem().setYRange(0, top, padding=0.1)
        self._set_y_ticks(top)

    def _set_y_ticks(self, top: float) -> None:
        """0, the middle and the top of the range: three labels that never overlap."""
        half = round(top / 2)
        self.getPlotItem().getAxis("left").setTicks([[(0, "0"), (half, f"{half:g}"), (round(top), f"{round(top):g}")]])


class NodePanel(QWidget):
    reconnect_requested = Signal(str)

    def __init__(self, fleet: FleetModel) -> None:  # noqa: PLR0915 - builds the panel's fields and plots
        super().__init__()
        self.fleet = fleet
        self.view: NodeView | None = None
        self._details_for: str | None = None

        self.title = rich_label("Select a node")
        title_font = QFont()
        title_font.setPointSize(14)
        title_font.setBold(True)
        self.title.setFont(title_font)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.subtitle = plain_label("")
        self.subtitle.setStyleSheet("color: #444")
        self.error = plain_label("")
        self.error.setWordWrap(True)
        self.error.setObjectName("node-error")
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setFrameShape(QFrame.Shape.StyledPanel)
        self.error.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.error.hide()
        self.reconnect = QPushButton("Reconnect now")
        self.reconnect.setObjectName("reconnect-now")
        self.reconnect.setToolTip("Try this node again now instead of waiting for the next retry")
        self.reconnect.clicked.connect(self._reconnect_clicked)
        self.reconnect.hide()

        self.details = QFormLayout()
        self.details.setHorizontalSpacing(12)
        self.details.setVerticalSpacing(2)
        self._fields: dict[str, QLabel] = {}
        for key in (
            "Alerts",
            "Address",
            "State since",
            "Last sample",
            "Telemetry",
            "Host key",
            "Node health",
            "GPU health",
            "Slurm",
            "Jobs",
            "BMC",
        ):
            label = rich_label("–") if key == "Alerts" else plain_label("–")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(key in ("Slurm", "Jobs", "BMC", "Alerts", "Node health", "GPU health"))
            self._fields[key] = label
            self.details.addRow(key + ":", label)

        self.accelerators = AcceleratorTableModel()
        self.table = QTableView()
        self.table.setObjectName("accelerator-table")
        self.table.setModel(self.accelerators)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setDefaultSectionSize(22)
        # At least four accelerators in sight on a 768-px screen; eight where there is room.
        self.table.setMinimumHeight(22 * 4 + 30)

        self.util_plot = HistoryPlot("Utilisation", "%", 100)
        self.temp_plot = HistoryPlot("Temperature", "°C", 100)
        self.hot_line = pg.InfiniteLine(  # placed at the shown node's limit (NodeView.hot_c)
            pos=default_rules().limits(Vendor.NVIDIA).warning_c,
            angle=0,
            pen=pg.mkPen("#c62828", width=1, style=Qt.PenStyle.DashLine),
        )
        self.temp_plot.addItem(self.hot_line)

        header = QVBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        title_row = QHBoxLayout()
        title_row.addWidget(self.title, 1)
        title_row.addWidget(self.reconnect)
        header.addLayout(title_row)
        header.addWidget(self.subtitle)
        header.addWidget(self.error)
        top = QWidget()
        top.setLayout(header)
        # The details scroll on a short screen instead of pushing the GPUs and plots off it.
        fields = QWidget()
        fields.setLayout(self.details)
        self.details_area = QScrollArea()
        self.details_area.setObjectName("node-details")
        self.details_area.setWidget(fields)
        self.details_area.setWidgetResizable(True)
        self.details_area.setFrameShape(QFrame.Shape.NoFrame)
        self.details_area.setMinimumHeight(DETAILS_MIN_HEIGHT)

        # GPUs and their trends, each a tab with the panel's whole lower part: the plots get their height.
        # Side by side: each keeps its 150 px on a 768-px screen (stacked, they would not fit).
        plots = QSplitter(Qt.Orientation.Horizontal)
        plots.setObjectName("node-plots")
        plots.addWidget(self.util_plot)
        plots.addWidget(self.temp_plot)
        plots.setChildrenCollapsible(False)
        self.node_tabs = QTabWidget()
        self.node_tabs.setObjectName("node-tabs")
        self.node_tabs.setDocumentMode(True)
        self.node_tabs.addTab(self.table, "&GPUs")
        self.node_tabs.addTab(plots, "T&rends (10 min)")

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.details_area)
        splitter.addWidget(self.node_tabs)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(top)
        layout.addWidget(splitter, 1)

    def show_view(self, view: NodeView | None) -> None:
        self.view = view
        self.accelerators.set_view(view)
        if view is not None and self.hot_line.value() != view.hot_c:
            self.hot_line.setValue(view.hot_c)
        if view is None:
            # Every field is cleared: nothing of the previous node may stand under "Select a node".
            self.title.setText("Select a node")
            self.subtitle.setText("")
            self.error.hide()
            self.reconnect.hide()
            for label in self._fields.values():
                label.setText("–")
                label.setToolTip("")
            self._details_for = None
            self.refresh_plots()
            return
        self.reconnect.setVisible(view.state not in LIVE_STATES)
        colour = STATE_COLOURS[view.state][0]
        hot = ""
        if view.hot and view.max_temperature is not None:
            hot = f" <span style='font-size:11pt; color:{HOT_TEXT}'>▲ hot: {view.max_temperature:.0f} °C</span>"
        worst = ""
        if view.alerts and view.alerts[0].severity >= Severity.WARNING:
            # An "up" node with a GPU off the bus is not green: the title takes the worst alert's colour.
            alert = view.alerts[0]
            colour = SEVERITY_COLOURS[int(alert.severity)]
            where = f" on GPU {alert.accelerator}" if alert.accelerator is not None else ""
            more = f" (+{len(view.alerts) - 1})" if len(view.alerts) > 1 else ""
            worst = (
                f" <span style='font-size:11pt; color:{colour}'>▲ {esc(alert.severity.word)}: "
                f"{esc(alert.rule.replace('_', ' '))}{esc(where)}{more}</span>"
            )
        self.title.setText(
            f"{esc(view.name)} <span style='font-size:11pt; color:{colour}'>● {view.state.value}</span>{worst}{hot}"
        )
        spec = view.spec
        where = " · ".join(
            part
            for part in (
                f"rack {spec.rack}" if spec.rack else "",
                f"U{spec.slot}" if spec.slot is not None else "",
                f"tenant {spec.tenant}" if spec.tenant else "no tenant",
                f"{view.accelerator_count} × {self._model_name(view)}" if view.accelerators else "",
            )
            if part
        )
        self.subtitle.setText(where)
        if view.error:
            self.error.setText(view.error)
            background = STATE_COLOURS[view.state][1] or "#fff3cd"
            self.error.setStyleSheet(f"background:{background}; color:#3b0d0d; padding:6px; border-radius:4px")
            self.error.show()
        else:
            self.error.hide()
        now = time.time()
        port = f":{spec.port}" if spec.port else ""
        user = f"{spec.user}@" if spec.user else ""
        jump = f" via {spec.proxy_jump}" if spec.proxy_jump else ""
        self._fields["Address"].setText(f"{user}{spec.host}{port}{jump}")
        self._fields["State since"].setText(
            f"{time.strftime('%H:%M:%S', time.localtime(view.state_since))} ({_ago(now - view.state_since)})"
        )
        self._fields["Last sample"].setText(
            "never" if view.last_sample_at is None else f"{_ago(now - view.last_sample_at)}"
        )
        source = view.telemetry_source or "–"
        self._fields["Telemetry"].setText(f"{source} · {view.lines_parsed} lines read, {view.lines_rejected} rejected")
        self._fields["Host key"].setText(view.host_key_fingerprint or "–")
        self._fields["Node health"].setText(_node_health_text(view, now))
        self._fields["GPU health"].setText(_gpu_health_text(view, now))
        self._fields["Alerts"].setText(
            "none"
            if not view.alerts
            else "<br>".join(
                f"<span style='color:{SEVERITY_COLOURS[int(a.severity)]}'><b>{a.severity.word}</b></span> "
                f"{esc(a.message)} <span style='color:#555'>(since "
                f"{time.strftime('%H:%M:%S', time.localtime(a.first_seen))}; evidence: "
                f"{esc(', '.join(f'{k}={v}' for k, v in a.evidence.items()))})</span>"
                for a in view.alerts
            )
        )
        if self._details_for != view.name:
            self._details_for = view.name
            for key in ("Slurm", "Jobs", "BMC"):
                self._fields[key].setText("…")

    def details_failed(self, error: Exception) -> None:
        """The scheduler's and BMC's view could not be read (the worker's error callback)."""
        self._fields["Slurm"].setText(f"unknown: {error}")

    def show_details(self, details: NodeDetails) -> None:
        """The scheduler's and BMC's view of the node, from a worker."""
        slurm, jobs, bmc = self._fields["Slurm"], self._fields["Jobs"], self._fields["BMC"]
        if self.view is None or details.node != self.view.name:
            return
        if details.scheduler is not None:
            slurm.setText(details.scheduler.summary)
        else:
            slurm.setText(details.scheduler_error or "no scheduler configured")
        running = [j for j in details.jobs if j.state == "RUNNING"]
        jobs.setText(
            "none"
            if not details.jobs
            else "; ".join(
                f"{j.job_id} {j.name} ({j.user}/{j.account}, {j.state.lower()} {j.elapsed})" for j in details.jobs[:4]
            )
            + (f" … {len(details.jobs) - 4} more" if len(details.jobs) > 4 else "")
        )
        jobs.setToolTip(plain_tip(f"{len(running)} running, {len(details.jobs)} in all"))
        if details.power_state is not None:
            text = f"power {details.power_state} · locate LED {details.led}"
        else:
            text = details.bmc_error or "no BMC in the inventory"
        if details.bmc_note:
            text += f"  ⚠ {details.bmc_note}"
        if details.led_left_on:
            text += f"\n{details.led_left_on}"
        bmc.setText(text)

    def _reconnect_clicked(self) -> None:
        if self.view is not None:
            self.reconnect_requested.emit(self.view.name)

    @staticmethod
    def _model_name(view: NodeView) -> str:
        model = view.accelerators[0].sample.model
        return str(model) if not isinstance(model, NotAvailable) else "accelerator"

    def refresh_plots(self) -> None:
        view = self.view
        if view is None:
            self.util_plot.set_series([], time.time())
            self.temp_plot.set_series([], time.time())
            return
        now = time.time()
        since = now - HISTORY_SECONDS
        for plot, metric in ((self.util_plot, "utilization_pct"), (self.temp_plot, "temperature_c")):
            series = []
            for accelerator in view.accelerators:
                index = accelerator.sample.index
                data = self.fleet.series(view.name, index, metric, since)
                if data is not None:
                    series.append((f"GPU {index}", data.times, data.values))
            plot.set_series(series, now)


def _ago(seconds: float) -> str:
    if seconds < 1.5:
        return "just now"
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _node_health_text(view: NodeView, now: float) -> str:
    report = view.report
    if report is None:
        return "not looked at yet (every 30 s)"
    health = report.node
    parts = []
    if not isinstance(health.load1, NotAvailable):
        parts.append(f"load {health.load1:.2f}" + (f" on {health.cpus} CPUs" if health.cpus else ""))
    if not isinstance(health.memory_used_pct, NotAvailable):
        parts.append(f"memory {health.memory_used_pct:.0f} % used")
    if not isinstance(health.root_disk_used_pct, NotAvailable):
        parts.append(f"/ {health.root_disk_used_pct:.0f} % full")
    if not isinstance(health.uptime_s, NotAvailable):
        parts.append(f"up {_ago(health.uptime_s).removesuffix(' ago')}")
    if view.rebooted_at is not None:
        parts.append(f"rebooted {_ago(now - view.rebooted_at)}")
    parts.append(f"kernel log {view.kernel_log or report.kernel_log}")
    if not isinstance(report.driver_version, NotAvailable):
        parts.append(f"driver {report.driver_version}")
    return " · ".join(parts) + f" (checked {_ago(now - report.taken_at)})"


def _gpu_health_text(view: NodeView, now: float) -> str:
    if view.report is None:
        return "–"
    if not view.gpu_details:
        return "no NVIDIA health details on this node" if not view.report.errors else view.report.errors[0]
    notes = []
    for index, detail in sorted(view.gpu_details.items()):
        words = []
        if not isinstance(detail.ecc_uncorrected_volatile, NotAvailable) and detail.ecc_uncorrected_volatile:
            words.append(f"{detail.ecc_uncorrected_volatile:.0f} uncorrectable ECC")
        if detail.retired_or_remapped_pending:
            words.append("rows pending remap")
        if detail.throttle_reasons:
            words.append("throttled: " + ", ".join(r.replace("_", " ") for r in detail.throttle_reasons))
        xids = view.recent_xids(index, now)
        if xids:
            words.append("XID " + ", ".join(str(x) for x in sorted(set(xids))))
        baseline = view.acknowledged.get(index)
        if baseline is not None:
            # Sticky counters only a reset clears: once acknowledged, say what grew, not the same again.
            later = [r.event.code for r in view.xids if r.accelerator == index and r.seen_at > baseline.taken_at]
            new = new_since_acknowledged(baseline, detail, later)
            when = time.strftime("%H:%M", time.localtime(baseline.taken_at))
            words.append(
                f"new since acknowledged at {when}: " + ", ".join(new)
                if new
                else f"nothing new since acknowledged at {when}"
            )
        if words:
            notes.append(f"GPU {index}: " + "; ".join(words))
    return " | ".join(notes) if notes else f"{len(view.gpu_details)} GPUs: ECC, remapping, throttling all clear"
