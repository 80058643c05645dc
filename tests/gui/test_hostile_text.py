"""Markup from nodes, Slurm users, BMCs and files shows as the characters it is, in every label, cell and
tooltip of the window: nothing foreign is ever rendered as HTML (an <img> from the console's disk included),
and text the console escapes itself is escaped exactly once."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel

from console.core.actions.planning import NodeDetails
from console.core.inventory import parse_inventory
from console.core.parsers.nvidia_csv import NvidiaCsvParser
from console.core.parsers.slurm import Job
from console.core.telemetry.fleet import FleetModel
from console.core.telemetry.samples import NodeState
from console.gui.fleet_table import Column
from console.gui.main_window import MainWindow
from console.gui.worker import Worker
from tests.gui.test_main_window import _line

HOSTILE = "<h1>big</h1><img src='/etc/fleet.png'>"


def rendered(text: str, text_format: Qt.TextFormat = Qt.TextFormat.AutoText) -> str:
    """What a person sees: rich text is laid out by Qt's own HTML engine, plain text is shown as it is."""
    rich = text_format == Qt.TextFormat.RichText or (
        text_format == Qt.TextFormat.AutoText and GuiQt.mightBeRichText(text)
    )
    if not rich:
        return text
    document = QTextDocument()
    document.setHtml(text)
    return document.toPlainText()


def test_markup_from_every_foreign_source_shows_as_text(qtbot: Any) -> None:
    inventory = parse_inventory(
        f'[[node]]\nname = "n1"\nhost = "10.0.0.1"\nrack = "{HOSTILE}"\ntenant = "{HOSTILE}"\n'
        '[[node]]\nname = "n2"\nhost = "10.0.0.2"\n',
        Path("/x/f.toml"),
    )
    fleet = FleetModel(inventory)
    window = MainWindow(fleet)
    qtbot.addWidget(window)
    parser = NvidiaCsvParser()
    fleet.set_state("n1", NodeState.UP)
    fleet.ingest("n1", [parser.parse_line(_line(0, "60").replace("NVIDIA H100 80GB HBM3", HOSTILE))], 0.0)
    fleet.set_state("n2", NodeState.COMMAND_FAILED, f"nvidia-smi: exit status 9: {HOSTILE} can't", None)
    window.apply_snapshot(fleet.snapshot())
    assert window.select_node("n1")
    window.panel.show_details(
        NodeDetails(
            node="n1",
            scheduler_error=f"Slurm said {HOSTILE}",
            jobs=(Job("42", HOSTILE, HOSTILE, "RUNNING", "1:00", "gpu", ("n1",), HOSTILE),),
            bmc_error=f"BMC said {HOSTILE}",
        )
    )

    def labels_showing_it() -> list[str]:
        shown = []
        for label in window.findChildren(QLabel):
            if "h1" in label.text():
                seen = rendered(label.text(), label.textFormat())
                assert "<h1>big</h1>" in seen, (label.objectName(), label.text(), seen)
                shown.append(seen)
        return shown

    shown = labels_showing_it()
    # Subtitle (rack, tenant, model), Slurm, Jobs and BMC fields at least: the test must see them.
    assert len(shown) >= 4, shown
    assert window.select_node("n2")
    shown = labels_showing_it()
    assert any("can't" in text for text in shown)
    assert not any("&#x27;" in text or "&amp;" in text for text in shown)  # escaped once, not twice

    # Labels the console composes itself still render as rich text, not as visible tags.
    for label in window.findChildren(QLabel):
        assert "<span" not in rendered(label.text(), label.textFormat()), label.text()

    tip = window.model.data(
        window.model.index(window.model.row_of("n2") or 0, Column.NODE), Qt.ItemDataRole.ToolTipRole
    )
    assert "<h1>big</h1>" in rendered(tip) and "can't" in rendered(tip)
    window.panel.accelerators.set_view(fleet.view("n1"))
    model_cell = window.panel.accelerators.index(0, 0)
    assert model_cell.isValid()


def _every_tooltip(root: Any) -> list[str]:
    """Every tooltip in the window: widgets' and actions', tree items' per column, and every model's
    ToolTipRole for every cell (children too)."""
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QAbstractItemView, QTreeWidget, QTreeWidgetItem, QWidget

    tips = [w.toolTip() for w in [root, *root.findChildren(QWidget)]]
    tips += [a.toolTip() for a in root.findChildren(QAction)]

    def items(item: QTreeWidgetItem) -> list[QTreeWidgetItem]:
        return [item, *(x for i in range(item.childCount()) for x in items(item.child(i)))]

    for tree in root.findChildren(QTreeWidget):
        for top in range(tree.topLevelItemCount()):
            for item in items(tree.topLevelItem(top)):
                tips += [item.toolTip(c) for c in range(tree.columnCount())]
    for view in root.findChildren(QAbstractItemView):
        model = view.model()
        if model is None:
            continue
        pending = [QModelIndex()]
        while pending:
            parent = pending.pop()
            for row in range(model.rowCount(parent)):
                for column in range(model.columnCount(parent)):
                    index = model.index(row, column, parent)
                    tips.append(model.data(index, Qt.ItemDataRole.ToolTipRole) or "")
                pending.append(model.index(row, 0, parent))
    return [t for t in tips if isinstance(t, str) and t]


def test_no_tooltip_in_any_view_is_rich_text_whatever_a_foreign_field_holds(qtbot: Any, tmp_path: Path) -> None:
    """Markup in an incident's cause and note, a BMC's event log, the archive's events, a Slurm account and a
    node's error: every tooltip of the fleet table, the Log view and its timeline and the Tenants view is
    plain text or the escaped form plain_tip makes — never markup Qt would render."""
    import re

    from console.core.parsers.slurm import Partition
    from console.core.tenants.allocation import SchedulerAllocations
    from tests.gui.test_log_view import _records

    records = _records(tmp_path)
    records.log.bmc_events = lambda _node: [(time.time() - 60, "Critical", HOSTILE)]
    assert records.log.archive is not None
    records.log.archive.write([], [("gpu-001", time.time() - 30, "state", HOSTILE)])
    incident = records.incidents.open_by_hand(["gpu-001"], HOSTILE, "critical", HOSTILE, None)
    records.incidents.add_note(incident, HOSTILE)
    slurm = SchedulerAllocations(
        partitions={"p": Partition("p", "gpu-002", ("gpu-002",), "UP", False, {"AllowAccounts": HOSTILE})}
    )
    fleet = FleetModel(records.log.inventory)
    fleet.set_state("gpu-002", NodeState.COMMAND_FAILED, f"nvidia-smi: {HOSTILE}", None)
    window = MainWindow(fleet, "", records=records, allocations=lambda: slurm)  # type: ignore[arg-type]
    qtbot.addWidget(window)
    window.apply_snapshot(fleet.snapshot())
    assert window.log_view is not None
    log_view = window.log_view
    log_view.shift.setCurrentText("last 24 h")
    with qtbot.waitSignal(log_view.refreshed, timeout=10_000):
        log_view.refresh()
    with qtbot.waitSignal(log_view.timeline_shown, timeout=10_000):
        log_view.select_incident(incident)
    with qtbot.waitSignal(window.tenants_view.refreshed, timeout=10_000):
        window.show_tenants()
    window.tenants_view.tree.expandAll()

    tips = _every_tooltip(window)
    escaped = re.compile(r"<qt>(?:[^<]|<br>)*</qt>", re.S)
    rich = [t for t in tips if GuiQt.mightBeRichText(t) and not escaped.fullmatch(t)]
    assert rich == []
    showing = [rendered(t) for t in tips if "big" in t]
    # The cause's tooltip, the note and BMC and archive events in the timeline, the disagreement, the error.
    assert len(showing) >= 5, showing
    assert all("<h1>big</h1>" in seen for seen in showing)
    for worker in window.findChildren(Worker):
        qtbot.waitUntil(lambda w=worker: w.pending() == 0, timeout=10_000)
