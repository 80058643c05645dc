"""PDF from HTML with Qt's own printing (QTextDocument onto a QPdfWriter): no browser, no service. Runs
without a display (the offscreen platform) for ``fleet-console report … --format pdf``."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QMarginsF, QSizeF
from PySide6.QtGui import QGuiApplication, QPageLayout, QPageSize, QPdfWriter, QTextDocument


def ensure_application() -> QGuiApplication:
    app = QGuiApplication.instance()
    if app is None:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QGuiApplication(["fleet-console"])
    assert isinstance(app, QGuiApplication)
    return app


def html_to_pdf(html: str, path: Path) -> None:
    """Write ``html`` as an A4 landscape PDF; RuntimeError when Qt cannot write the file."""
    ensure_application()
    writer = QPdfWriter(str(path))
    writer.setPageLayout(
        QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Landscape, QMarginsF(12, 12, 12, 12))
    )
    writer.setResolution(150)
    writer.setTitle("Fleet Console handover report")
    writer.setCreator("Fleet Console")
    document = QTextDocument()
    document.setHtml(html)
    # Lay the text out on the page at the writer's resolution, so points print as points.
    document.documentLayout().setPaintDevice(writer)
    layout = writer.pageLayout().paintRectPixels(writer.resolution())
    document.setPageSize(QSizeF(layout.width(), layout.height()))
    document.print_(writer)
    del writer
    if not path.exists() or path.stat().st_size == 0:
        raise RuntimeError("Qt wrote no PDF (is the directory writable?)")
