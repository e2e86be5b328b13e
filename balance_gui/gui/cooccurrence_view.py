"""The co-occurrence heat map of a multi-label dataset: how many images carry both classes of a
pair (the diagonal: images carrying the class). It decides how far image-level balancing can go: a
rare class found mostly beside a common one cannot be drawn without drawing the common one too.

Drawn with a pyqtgraph ImageItem. A file with thousands of classes shows its ``top`` classes by
image count (a note says so); colours are log10(1 + images). The matrix is the core's
(``Cooccurrence.submatrix``); hovering a cell names the pair and the images they share.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from balance_gui.core.repeat_factors import cooccurrence

from .histogram import AXIS_TEXT, configure_pyqtgraph

TOP_CLASSES = 40


class CooccurrenceView(QWidget):
    def __init__(self, parent: QWidget | None = None, top: int = TOP_CLASSES) -> None:
        super().__init__(parent)
        configure_pyqtgraph()
        self.top = top
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.note = QLabel("Open a COCO/LVIS file or a path,labels manifest to see which classes appear together")
        self.note.setObjectName("cooccurrence_note")
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setObjectName("cooccurrence_graphics")
        layout.addWidget(self.graphics, 1)
        self.plot = self.graphics.addPlot()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        for name in ("left", "bottom"):
            self.plot.getAxis(name).setTextPen(AXIS_TEXT)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get("viridis"))
        self.plot.addItem(self.image)
        self.hover = QLabel("")
        self.hover.setObjectName("cooccurrence_hover")
        layout.addWidget(self.hover)
        self.classes: tuple[str, ...] = ()
        self.shown = np.zeros(0, dtype=np.int64)  # class index of each row / column
        self.matrix = np.zeros((0, 0), dtype=np.int64)
        self.graphics.scene().sigMouseMoved.connect(self._mouse_moved)

    def bind(self, session: Any) -> None:
        """Follow ``session``: the heat map of a multi-label dataset; empty for single-label data."""
        self._session = session
        session.datasetChanged.connect(self._session_dataset)
        if session.index is not None:
            self._session_dataset(session.index)

    def _session_dataset(self, index: Any) -> None:
        if index is not None and self._session.multilabel:
            self.set_dataset(index)
        else:
            self.clear()

    def set_dataset(self, index: Any) -> None:
        """A multi-label index (None clears the view)."""
        if index is None:
            self.clear()
            return
        self.classes = tuple(index.classes)
        counts = np.asarray(index.counts)
        k = len(self.classes)
        self.shown = np.argsort(-counts, kind="stable")[: self.top]
        self.matrix = cooccurrence(index).submatrix(self.shown)
        n = self.shown.size
        self.image.setImage(np.log10(1.0 + self.matrix.astype(np.float64)), autoLevels=True)
        self.image.setRect(0, 0, n, n)
        # rows are named "rank name", columns by rank only (names side by side would overlap)
        step = max(1, n // 40)
        rows = [(i + 0.5, f"{i + 1} {self.classes[c][:16]}") for i, c in enumerate(self.shown) if i % step == 0]
        self.plot.getAxis("left").setTicks([rows])
        self.plot.getAxis("bottom").setTicks([[(i + 0.5, str(i + 1)) for i in range(0, n, max(step, 1 + n // 20))]])
        self.plot.getViewBox().autoRange(padding=0.02)
        what = f"the {n} classes with the most images, of {k:,}" if n < k else f"all {k} classes, largest first"
        self.note.setText(
            f"Images carrying both classes ({what}); the diagonal is the class's own images. "
            "Colour: log10(1 + images). Hover a cell for its figures."
        )

    def clear(self) -> None:
        self.classes = ()
        self.shown = np.zeros(0, dtype=np.int64)
        self.matrix = np.zeros((0, 0), dtype=np.int64)
        self.image.clear()
        self.hover.setText("")

    def cell_text(self, row: int, col: int) -> str:
        a, b = self.classes[int(self.shown[row])], self.classes[int(self.shown[col])]
        n = int(self.matrix[row, col])
        if row == col:
            return f"{a}: {n:,} images"
        own = int(self.matrix[row, row])
        share = f" ({100 * n / own:.1f}% of {a}'s images)" if own else ""
        return f"{a} + {b}: {n:,} images together{share}"

    def _mouse_moved(self, scene_pos: QPointF) -> None:
        if not self.shown.size:
            return
        p = self.plot.getViewBox().mapSceneToView(scene_pos)
        row, col = int(np.floor(p.y())), int(np.floor(p.x()))
        n = self.shown.size
        self.hover.setText(self.cell_text(row, col) if 0 <= row < n and 0 <= col < n else "")


__all__ = ["CooccurrenceView", "TOP_CLASSES"]
