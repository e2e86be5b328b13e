"""Export file dialogs, plot export, and the "use in training" dialog."""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from balance_gui.core.training_code import training_snippet as training_snippet  # the lines live in the core
from balance_gui.core.weightsfile_formats import WEIGHTS_FORMATS

# The core's list of weights-file formats, as file-dialog filters.
WEIGHT_FORMATS = tuple((f.extension, f.file_filter) for f in WEIGHTS_FORMATS)
PLOT_FORMATS = {".png": "PNG image (*.png)", ".svg": "SVG drawing (*.svg)"}
LAST_DIR_KEY = "export/last_dir"


def last_dir(settings: QSettings, fallback: str = "") -> str:
    value = settings.value(LAST_DIR_KEY, "")
    value = value if isinstance(value, str) else ""
    return value if value and os.path.isdir(value) else (fallback or os.path.expanduser("~"))


def remember_dir(settings: QSettings, path: str) -> None:
    settings.setValue(LAST_DIR_KEY, os.path.dirname(os.path.abspath(path)))
    settings.sync()


def _with_extension(path: str, chosen_filter: str, formats: Any) -> str:
    """Add the chosen filter's extension when the typed name has none of ours."""
    known = tuple(ext for ext, _ in formats)
    if os.path.splitext(path)[1].lower() in known:
        return path
    for ext, label in formats:
        if label == chosen_filter:
            return path + ext
    return path + known[0]


def ask_weights_path(
    parent: QWidget, settings: QSettings, base_name: str, preferred: str = WEIGHTS_FORMATS[0].extension
) -> str | None:
    """A save dialog for weights; returns the path with a known extension, or None if cancelled."""
    filters = [label for _, label in WEIGHT_FORMATS]
    selected = dict(WEIGHT_FORMATS).get(preferred, filters[0])
    start = os.path.join(last_dir(settings), base_name + preferred)
    path, chosen = QFileDialog.getSaveFileName(parent, "Export weights", start, ";;".join(filters), selected)
    if not path:
        return None
    path = _with_extension(path, chosen, WEIGHT_FORMATS)
    remember_dir(settings, path)
    return path


def ask_plot_path(parent: QWidget, settings: QSettings, base_name: str, ext: str) -> str | None:
    label = PLOT_FORMATS[ext]
    start = os.path.join(last_dir(settings), base_name + ext)
    path, _chosen = QFileDialog.getSaveFileName(parent, f"Export plots as {ext[1:].upper()}", start, label, label)
    if not path:
        return None
    if os.path.splitext(path)[1].lower() != ext:
        path += ext
    remember_dir(settings, path)
    return path


def _patch_svg_exporter() -> None:
    """pyqtgraph 0.14's SVGExporter fails on the bare ``Z`` (close path) that Qt 6.12 writes in
    path data ("not enough values to unpack", pyqtgraph issue #3485). Hide the ``Z`` tokens
    from its coordinate rewrite and put them back afterwards."""
    import importlib

    module = importlib.import_module("pyqtgraph.exporters.SVGExporter")
    original = getattr(module, "correctCoordinates", None)
    if original is None or getattr(original, "_closes_paths", False):
        return

    def correct_coordinates(node: Any, defs: Any, item: Any, options: Any) -> None:
        closed = []
        for path in node.getElementsByTagName("path"):
            tokens = path.getAttribute("d").split()
            if any(t in ("Z", "z") for t in tokens):
                path.setAttribute("d", " ".join(t for t in tokens if t not in ("Z", "z")))
                closed.append(path)
        original(node, defs, item, options)
        for path in closed:
            path.setAttribute("d", path.getAttribute("d").rstrip() + " Z")

    correct_coordinates._closes_paths = True  # type: ignore[attr-defined]
    module.correctCoordinates = correct_coordinates  # type: ignore[attr-defined]


def _drop_vector_effect(path: str) -> None:
    """pyqtgraph marks cosmetic strokes ``vector-effect="non-scaling-stroke"``; renderers outside Qt
    (rsvg, some browsers' print paths) ignore or mis-draw it. The exporter has already baked the
    transforms into the coordinates, so without the attribute the drawing is the same everywhere."""
    import re

    from balance_gui.core.atomic import atomic_write

    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    cleaned = re.sub(r'\s+vector-effect="[^"]*"', "", text)
    if cleaned != text:
        data = cleaned.encode("utf-8")
        atomic_write(path, lambda fh: None if fh.write(data) else None)


def export_plot(graphics: Any, path: str, scale: float = 2.0) -> str:
    """Write a GraphicsLayoutWidget's plots to ``path`` (.png or .svg) with pyqtgraph.exporters."""
    import pyqtgraph.exporters as exporters

    _patch_svg_exporter()

    item = graphics.ci  # the whole layout: both plots side by side
    ext = os.path.splitext(path)[1].lower()
    if ext == ".svg":
        exporters.SVGExporter(item).export(path)
        _drop_vector_effect(path)
    elif ext == ".png":
        exporter = exporters.ImageExporter(item)
        width = int(item.sceneBoundingRect().width() * scale)
        if width > 0:
            exporter.parameters()["width"] = width
        exporter.export(path)
    else:
        raise ValueError(f"plots export as .png or .svg, not {ext or '(none)'}")
    if not os.path.isfile(path):
        raise OSError(f"the plot could not be written to {path}")
    return path


class UseInTrainingDialog(QDialog):
    """Shows the lines that load the exported weights into a DataLoader, with a Copy button."""

    def __init__(self, parent: QWidget | None, snippet: str, weights_path: str | None, stale: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Use in training")
        self.resize(720, 340)
        layout = QVBoxLayout(self)
        self.warning = QLabel(stale)
        self.warning.setObjectName("stale_export")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #b00020;")
        self.warning.setVisible(bool(stale))
        layout.addWidget(self.warning)
        if weights_path:
            intro = f"Load <b>{os.path.basename(weights_path)}</b> into a DataLoader:"
        else:
            intro = (
                "No weights exported yet: export them first (File &gt; Export Weights). "
                "With a file named weights.pt, the code is:"
            )
        label = QLabel(intro)
        label.setWordWrap(True)
        layout.addWidget(label)
        self.text = QPlainTextEdit(snippet)
        self.text.setObjectName("training_snippet")
        self.text.setReadOnly(True)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.text.setFont(font)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        layout.addWidget(self.text, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setObjectName("copy_snippet")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self.copy)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text.toPlainText())
        self.copy_button.setText("Copied")
