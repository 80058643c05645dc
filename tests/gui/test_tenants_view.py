"""The Tenants view and the status bar's idle capacity (pytest-qt, offscreen, Qt warnings fail): one row
per tenant with its figures, its nodes beneath, a disagreement said with both words, a node opened in the
fleet table."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from console.core.inventory import Inventory, NodeSpec
from console.core.parsers.slurm import Partition
from console.core.telemetry.fleet import FleetModel
from console.core.telemetry.samples import AcceleratorSample, NodeState, ParsedLine, Vendor
from console.core.tenants.accounting import AccountingComparison
from console.core.tenants.allocation import JobAllocation, SchedulerAllocations
from console.gui.main_window import MainWindow

SHOTS = os.environ.get("FLEET_SCREENSHOTS")


def _fleet() -> FleetModel:
    specs = (
        NodeSpec(name="gpu-001", host="h1", tenant="acme", rack="R1"),
        NodeSpec(name="gpu-002", host="h2", tenant="acme", rack="R1"),
        NodeSpec(name="gpu-003", host="h3", tenant="globex", rack="R2"),
    )
    fleet = FleetModel(Inventory(Path("fleet.toml"), specs))
    utilisation = {"gpu-001": [90.0] * 8, "gpu-002": [0.0] * 8, "gpu-003": [0.0] * 4 + [50.0] * 4}
    for name, values in utilisation.items():
        fleet.set_state(name, NodeState.UP)
        fleet.ingest(
            name,
            [
                ParsedLine(sample=AcceleratorSample(index=i, vendor=Vendor.NVIDIA, utilization_pct=u))
                for i, u in enumerate(values)
            ],
            time.time(),
        )
    return fleet


SLURM = SchedulerAllocations(
    partitions={"globex": Partition("globex", "gpu-002", ("gpu-002",), "UP", False, {"AllowAccounts": "globex"})},
    jobs=(JobAllocation("17", "bob", "acme", "RUNNING", "gpu", ("gpu-001",), {"gpu-001": (0, 1, 2, 3)}),),
)


def test_tenants_show_their_figures_nodes_and_a_disagreement(qtbot: Any) -> None:
    fleet = _fleet()
    window = MainWindow(fleet, " — fleet.toml", allocations=lambda: SLURM)
    qtbot.addWidget(window)
    window.resize(1400, 800)
    window.show()
    with qtbot.waitSignal(window.tenants_view.refreshed):
        window.show_tenants()
    tree = window.tenants_view.tree
    rows = {tree.topLevelItem(i).text(0): tree.topLevelItem(i) for i in range(tree.topLevelItemCount())}
    assert set(rows) == {"acme", "globex"}
    acme, globex = rows["acme"], rows["globex"]
    # acme: gpu-001 (4 GPUs held by job 17, all 8 busy); globex: gpu-003 and, by Slurm's partition, gpu-002.
    assert [acme.text(c) for c in range(1, 10)] == ["1", "8", "8", "0", "0", "4", "8", "0", "0"]
    assert [globex.text(c) for c in range(1, 10)] == ["2", "16", "16", "0", "0", "0", "4", "0", "12"]
    assert globex.text(10) == "both" and globex.text(11) == "1"
    children = {globex.child(i).text(0): globex.child(i) for i in range(globex.childCount())}
    assert children["gpu-002"].text(11) == "inventory acme, Slurm globex (partition globex)"
    assert window.idle_label.text() == "idle: 12 of 24 accelerators (50 %)"
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        globex.setExpanded(True)
        window.grab().save(str(Path(SHOTS) / "tenants.png"))
    with qtbot.waitSignal(window.tenants_view.node_chosen) as chosen:
        window.tenants_view._chosen(children["gpu-002"], 0)
    assert chosen.args == ["gpu-002"]
    assert window.tabs.currentIndex() == 0


def test_without_a_scheduler_the_tenants_come_from_the_inventory_and_it_says_so(qtbot: Any) -> None:
    window = MainWindow(_fleet(), "")
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.tenants_view.refreshed):
        window.show_tenants()
    assert "no scheduler configured" in window.tenants_view.summary.text()
    tree = window.tenants_view.tree
    tree.sortByColumn(2, Qt.SortOrder.DescendingOrder)  # GPUs, as numbers: 16 before 8
    assert [tree.topLevelItem(i).text(2) for i in range(tree.topLevelItemCount())] == ["16", "8"]
    tree.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    assert sorted(tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())) == ["acme", "globex"]
    tree.setCurrentItem(tree.topLevelItem(0))
    qtbot.keyClick(tree, Qt.Key.Key_Right)  # expands by keyboard
    assert tree.topLevelItem(0).isExpanded()


def test_the_idle_finder_lists_ranks_exports_and_opens_the_node(qtbot: Any, tmp_path: Path) -> None:
    now = time.time()
    since = {("gpu-002", i): now - 3 * 3600 for i in range(8)} | {("gpu-001", 5): now - 600}
    window = MainWindow(
        _fleet(), "", allocations=lambda: SLURM, idle_since=lambda: since, idle_watching=lambda: now - 4 * 3600
    )
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.tenants_view.refreshed):
        window.show_tenants()
    view = window.tenants_view
    assert view.finder.topLevelItemCount() == 8  # gpu-001's GPU 5 has been idle only 10 minutes
    first = view.finder.topLevelItem(0)
    assert (first.text(0), first.text(2), first.text(3), first.text(4)) == ("gpu-002", "globex", "3.0 h", "3.0")
    assert first.text(5) == "no job holds it"  # Slurm is known: why the job, user and account are empty
    assert "24.0 accelerator-hours" in view.finder_label.text() and "watching for 4.0 h" in view.finder_label.text()
    # Filtered by tenant: acme holds none of them; sorted by idle time, as a number of seconds.
    assert [view.tenant_filter.itemText(i) for i in range(view.tenant_filter.count())] == [
        "all tenants",
        "acme",
        "globex",
    ]
    with qtbot.waitSignal(view.refreshed):
        view.tenant_filter.setCurrentText("acme")
    assert view.finder.topLevelItemCount() == 0
    with qtbot.waitSignal(view.refreshed):
        view.tenant_filter.setCurrentText("globex")
    assert view.finder.topLevelItemCount() == 8
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        window.resize(1400, 800)
        window.grab().save(str(Path(SHOTS) / "idle-finder.png"))
    with qtbot.waitSignal(view.refreshed):
        view.scope.setCurrentIndex(1)  # allocated to a job: none of them is
    assert view.finder.topLevelItemCount() == 0
    with qtbot.waitSignal(view.refreshed):
        view.scope.setCurrentIndex(0)
    view.export_csv(tmp_path / "idle.csv")
    lines = (tmp_path / "idle.csv").read_text().splitlines()
    assert lines[0].startswith("node,accelerator,tenant,idle_minutes") and len(lines) == 9
    with qtbot.waitSignal(view.node_chosen) as chosen:
        view._chosen(view.finder.topLevelItem(0), 0)
    assert chosen.args == ["gpu-002"]
    qtbot.mouseClick(view.select, Qt.MouseButton.LeftButton)  # every row's node, for the actions
    assert window.tabs.currentIndex() == 0 and window.selected_nodes() == ["gpu-002"]


def test_a_tenants_last_30_days_are_plotted_stacked_from_the_archive(qtbot: Any) -> None:
    asked: list[tuple[str, str, str]] = []

    def history(since: str, until: str, tenant: str) -> list[tuple[str, float, float, float, float]]:
        asked.append((since, until, tenant))
        return [("2026-11-27", 192.0, 100.0, 40.0, 8.0), ("2026-11-28", 192.0, 150.0, 10.0, 0.0)]

    def accounting(since: str, until: str, tenant: str) -> AccountingComparison:
        # Slurm says more than the console counted: the difference is pointed out, in red.
        return AccountingComparison(tenant, 60.0, 120.0, 5)

    window = MainWindow(_fleet(), "", allocations=lambda: SLURM, history=history, accounting=accounting)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.tenants_view.refreshed):
        window.show_tenants()
    view = window.tenants_view
    tree = view.tree
    globex = next(
        tree.topLevelItem(i) for i in range(tree.topLevelItemCount()) if tree.topLevelItem(i).text(0) == "globex"
    )
    with qtbot.waitSignals([view.history_shown, view.accounting_shown], timeout=10_000):
        tree.setCurrentItem(globex)
    assert "account globex 120.0 GPU-hours (5 jobs)" in view.accounting_label.text()
    assert "They differ by 60.0 h" in view.accounting_label.text()
    assert "#b00020" in view.accounting_label.styleSheet()
    assert asked and asked[-1][2] == "globex"
    assert view.plot_title.text() == "globex, last 30 days: 384 accelerator-hours held, 250 busy (65 %)"
    assert len(view.plot.bars) == 4 and view.plot.days[1][2] == 150.0
    # The legend is outside the plot, every series named in its colour: nothing lies over the bars.
    legend = view.findChild(QLabel, "tenant-history-legend")
    assert legend is not None and not legend.isHidden()
    assert view.layout().indexOf(legend) == view.layout().indexOf(view.plot) - 1  # the row above the plot
    assert all(name in legend.text() for name in ("busy", "idle, allocated", "idle, free", "out of service"))
    assert view.plot.plotItem.legend is None
    if SHOTS:
        window.resize(1400, 900)
        window.grab().save(str(Path(SHOTS) / "tenant-history.png"))
    qtbot.waitUntil(lambda: window.worker is not None and window.worker.pending() == 0)


def test_the_idle_finders_csv_makes_tab_and_cr_formulas_inert_and_shows_control_characters(
    qtbot: Any, tmp_path: Path
) -> None:
    import csv
    import io

    from console.core.tenants.allocation import IdleAccelerator

    window = MainWindow(_fleet(), "")
    qtbot.addWidget(window)
    view = window.tenants_view
    job = JobAllocation("7", "\t=cmd|' /C calc'!A0", "\r=1+1", "RUNNING", "acme\u202egnp.exe", ("gpu-002",))
    view.idle = [IdleAccelerator('=HYPERLINK("http://x")', 0, "@acme\x1b]0;x\x07", time.time(), 60.0, job)]
    out = tmp_path / "idle.csv"
    view.export_csv(out)
    text = out.read_text()
    assert "\t" not in text and "\r=" not in text and "\x1b" not in text and "\u202e" not in text
    header, row = list(csv.reader(io.StringIO(text)))
    cells = dict(zip(header, row, strict=True))
    assert cells["user"] == "'\\t=cmd|' /C calc'!A0" and cells["account"] == "'\\r=1+1"
    assert cells["node"].startswith("'=") and cells["tenant"] == "'@acme\\x1b]0;x\\x07"
    assert cells["accelerator"] == "0"


def test_the_idle_finder_says_how_long_it_has_watched_and_why_jobs_are_empty_without_slurm(qtbot: Any) -> None:
    now = time.time()
    since = {("gpu-002", 0): now - 900}
    window = MainWindow(_fleet(), "", idle_since=lambda: since, idle_watching=lambda: now - 12 * 60 - 10)
    qtbot.addWidget(window)
    view = window.tenants_view
    with qtbot.waitSignal(view.refreshed):
        window.show_tenants()
    shows = time.strftime("%H:%M", time.localtime(now - 12 * 60 - 10 + 1800))
    assert f"watching for 12 min: idle streaks of 30 min show from {shows}" in view.finder_label.text()
    with qtbot.waitSignal(view.refreshed):
        view.minutes.setValue(5)
    assert view.finder.topLevelItem(0).text(5) == "no Slurm configured"


def test_the_demos_tenants_each_plot_a_month_from_the_history_it_starts_with(qtbot: Any, tmp_path: Path) -> None:
    from console.core.records.archive import ARCHIVE_FILE, TelemetryArchive
    from console.sim.history import seed_history
    from console.sim.model import build_fleet

    sim = build_fleet(32)
    now = time.time()
    seed_history(tmp_path, sim, now)
    # The view's 30 days end today; today has a day row once its first hour is rolled up (after 01:00 UTC).
    days = 30 if time.gmtime(now).tm_hour >= 1 else 29
    archive = TelemetryArchive(tmp_path / ARCHIVE_FILE, readonly=True)
    specs = tuple(NodeSpec(name=n.name, host=f"10.0.0.{n.index + 1}", tenant=n.tenant, rack=n.rack) for n in sim)
    window = MainWindow(FleetModel(Inventory(Path("fleet.toml"), specs)), "", history=archive.usage_by_day)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.tenants_view.refreshed):
        window.show_tenants()
    view, tree = window.tenants_view, window.tenants_view.tree
    tenants = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    named = [item for item in tenants if item.text(0) in {n.tenant for n in sim}]
    assert len(named) == 4
    for item in named:
        with qtbot.waitSignal(view.history_shown, timeout=10_000):
            tree.setCurrentItem(item)
        assert len(view.plot.days) == days, item.text(0)  # every day of the month, not the last hours
        assert f"{item.text(0)}, last 30 days:" in view.plot_title.text()
    if SHOTS:
        for width, height in ((1600, 1000), (1366, 740)):
            window.resize(width, height)
            window.grab().save(str(Path(SHOTS) / f"tenant-history-demo-{width}x{height}.png"))
    qtbot.waitUntil(lambda: window.worker is not None and window.worker.pending() == 0)
    window.close()
    archive.close()
