"""PDF from HTML with Qt's own printing (QTextDocument onto a QPdfWriter): no browser, no service. Runs
without a display (the offscreen platform) for ``fleet-console report … --format pdf``."""

from __future__ import annotations

import os

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QSizeF
from PySide6.QtGui import QGuiApplication, QPageLayout, QPageSize, QPdfWriter, QTextDocument


def ensure_application() -> QGuiApplication:
    app = QGuiApplication.instance()
    if app is None:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QGuiApplication(["fleet-console"])
    assert isinstance(app, QGuiApplication)
    return app


def pdf_bytes(html: str) -> bytes:
    """``html`` as an A4 landscape PDF, in memory (the caller writes it where it belongs: a file through
    :class:`console.core.records.exports.OutputTarget`, or standard output); its title is the HTML's own ``<title>``
    (escaped as the report escapes it). RuntimeError when Qt produced none."""
    ensure_application()
    document = QTextDocument()
    document.setHtml(html)
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setPageLayout(
        QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Landscape, QMarginsF(12, 12, 12, 12))
    )
    writer.setResolution(150)
    writer.setTitle(document.metaInformation(QTextDocument.MetaInformation.DocumentTitle) or "Fleet Console report")
    writer.setCreator("Fleet Console")
    # Lay the text out on the page at the writer's resolution, so points print as points.
    document.documentLayout().setPaintDevice(writer)
    layout = writer.pageLayout().paintRectPixels(writer.resolution())
    document.setPageSize(QSizeF(layout.width(), layout.height()))
    document.print_(writer)
    del writer
    buffer.close()
    pdf = bytes(data.data())
    if not pdf:
        raise RuntimeError("Qt produced no PDF")
    return pdf
