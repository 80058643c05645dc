"""Markup from nodes, Slurm users, BMCs and files shows as the characters it is, in every label, cell and
tooltip of the window: nothing foreign is ever rendered as HTML (an <img> from the console's disk included),
and text the console escapes itself is escaped exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel

from console.core.actions import NodeDetails
from console.core.fleet import FleetModel
from console.core.inventory import parse_inventory
from console.core.parsers.nvidia_csv import NvidiaCsvParser
from console.core.parsers.slurm import Job
from console.core.samples import NodeState
from console.gui.fleet_table import Column
from console.gui.main_window import MainWindow
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
