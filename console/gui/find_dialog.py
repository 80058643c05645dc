"""Find the box (Ctrl+K): one field for a node's name or address, a BMC, a GPU's UUID, serial or PCI bus id,
or an NPU id; the answer as "hall row / rack / unit / GPU", shown in the rack view; from there one button
blinks the locate LED through the ordinary guarded action."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.core.floor.find import BoxMatch
from console.gui.enter_safe import EnterSafeDialog
from console.gui.screen_fit import fit_size
from console.gui.text import plain_label

MATCH_ROLE = Qt.ItemDataRole.UserRole + 1


class FindBoxDialog(EnterSafeDialog):
    found = Signal(object)  # the chosen BoxMatch
    locate_requested = Signal(str)  # the node whose LED to blink

    def __init__(self, search: Callable[[str], list[BoxMatch]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = search
        self.setObjectName("find-box")
        self.setWindowTitle("Find the box — Fleet Console")
        fit_size(self, 720, 360)
        self.query = QLineEdit()
        self.query.setObjectName("find-query")
        self.query.setPlaceholderText("node, address, BMC, GPU UUID, serial, PCI bus id (18:00.0) or npu 3 — Enter")
        self.results = QListWidget()
        self.results.setObjectName("find-results")
        self.status = plain_label("")
        self.status.setObjectName("find-status")
        self.locate = QPushButton("&Blink its locate LED…")
        self.locate.setObjectName("find-locate")
        self.locate.setAutoDefault(False)
        self.locate.setEnabled(False)
        self.locate.clicked.connect(self._locate)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.locate)
        layout = QVBoxLayout(self)
        layout.addWidget(self.query)
        layout.addWidget(self.results, 1)
        layout.addLayout(buttons)
        self.query.returnPressed.connect(self.run)
        self.results.currentItemChanged.connect(self._chosen)
        self.results.itemActivated.connect(lambda _item: self._locate())

    def run(self) -> list[BoxMatch]:
        text = self.query.text().strip()
        matches = self.search(text) if text else []
        self.results.clear()
        for match in matches:
            item = QListWidgetItem(f"{match.words()}   ({match.what.replace('_', ' ')})")
            item.setData(MATCH_ROLE, match)
            self.results.addItem(item)
        self.status.setText(
            f"{len(matches)} found" if matches else (f"nothing is {text!r} (whole values, any case)" if text else "")
        )
        if matches:
            self.results.setCurrentRow(0)
        else:
            self.locate.setEnabled(False)
        return matches

    def selected(self) -> BoxMatch | None:
        item = self.results.currentItem()
        match = item.data(MATCH_ROLE) if item is not None else None
        return match if isinstance(match, BoxMatch) else None

    def _chosen(self, *_args: object) -> None:
        match = self.selected()
        self.locate.setEnabled(match is not None and match.bmc is not None)
        self.locate.setToolTip("" if match is None or match.bmc else "this node has no BMC in the inventory")
        if match is not None:
            self.found.emit(match)

    def _locate(self) -> None:
        match = self.selected()
        if match is not None and match.bmc is not None:
            self.locate_requested.emit(match.node)
