"""Coverage: per class, distinct images seen in the current epoch against images in the class."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtGui import QCursor
from PySide6.QtWidgets import QLabel, QToolTip, QVBoxLayout, QWidget

from balance_gui.core.expected import step_figures

from .histogram import AXIS_TEXT, BarSeries, configure_pyqtgraph, make_plot
from .numbers import percent

COVERAGE_BRUSH = (148, 103, 189)


class CoverageView(QWidget):
    """Bars: fraction of each class's images drawn at least once this epoch (distinct seen / n_c).
    Red marks: the fraction expected after the epoch's draws so far (from the core's figures)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        configure_pyqtgraph()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setObjectName("coverage_graphics")
        layout.addWidget(self.graphics, 1)
        self.plot = make_plot(
            self.graphics, 0, 0, "Coverage this epoch: distinct images seen / images in class", "fraction seen"
        )
        vb = self.plot.getViewBox()
        vb.enableAutoRange(y=False)
        vb.setAutoVisible(y=False)
        vb.setYRange(0.0, 1.05, padding=0)
        self.series = BarSeries(self.plot, COVERAGE_BRUSH, "seen", "expected")
        self.bars = self.series.bars
        self.summary = QLabel("Run the sampler to see how many distinct images each class gets.")
        self.summary.setObjectName("coverage_summary")
        layout.addWidget(self.summary)
        self.classes: tuple[str, ...] = ()
        self.counts = np.zeros(0, dtype=np.int64)
        self.order = np.zeros(0, dtype=np.int64)
        self.seen = np.zeros(0, dtype=np.int64)
        self.expected: np.ndarray | None = None
        self.graphics.scene().sigMouseMoved.connect(self._mouse_moved)
        # the class order of the linked dataset plot (sorted by count or not); None: class order
        self.order_source: Callable[[], Any] = lambda: None

    def bind(self, session: Any) -> None:
        """Follow ``session``: a new dataset resets the bars, each run step shows its epoch's coverage."""
        self._session = session
        session.datasetChanged.connect(self._session_dataset)
        session.stepChanged.connect(self._session_step)
        if session.index is not None:
            self._session_dataset(session.index)
            self._session_step(session.step)

    def _session_dataset(self, index: Any) -> None:
        if index is not None and not self._session.multilabel:
            order = self.order_source()
            self.set_dataset(index.classes, index.counts)
            if order is not None:
                self.set_order(order)

    def _session_step(self, step: Any) -> None:
        s = self._session
        if s.index is None or s.multilabel:
            return
        if step is None:
            self.clear_run()
        elif step.distinct_seen is not None:
            epochs = max(s.settings.epochs, 1)
            label = f"Epoch {step.epoch + 1:,} of {epochs:,}: " if epochs > 1 else ""
            self.set_coverage(step.distinct_seen, step_figures(step, s.index.counts), label)

    def set_dataset(self, classes: Sequence[str], counts: Any) -> None:
        self.classes = tuple(classes)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.seen = np.zeros(len(self.classes), dtype=np.int64)
        self.expected = None
        self.order = np.arange(len(self.classes), dtype=np.int64)
        self._refresh()
        n = max(len(self.classes), 1)
        vb = self.plot.getViewBox()
        vb.setLimits(xMin=-1.0, xMax=n + 0.0)
        vb.setXRange(-0.6, n - 0.4, padding=0)  # all of the new classes: the old zoom meant other ones
        self.summary.setText("Run the sampler to see how many distinct images each class gets.")

    def set_order(self, order: Any) -> None:
        self.order = np.asarray(order, dtype=np.int64)
        if self.order.shape[0] != len(self.classes):
            return
        self._refresh()
        axis = self.plot.getAxis("bottom")
        axis.set_names([self.classes[c] for c in self.order])
        axis.setLabel("classes", color=AXIS_TEXT)

    def set_coverage(self, distinct_seen: Any, expected_distinct: Any, epoch_text: str = "") -> None:
        """``distinct_seen``: per class, this epoch; ``expected_distinct``: the core's expectation
        for the epoch's draws so far (or None)."""
        self.seen = np.asarray(distinct_seen, dtype=np.int64).copy()
        self.expected = None if expected_distinct is None else np.asarray(expected_distinct, dtype=np.float64)
        self._refresh()
        n = int(self.counts.sum())
        seen = int(self.seen.sum())
        self.summary.setText(f"{epoch_text}{seen:,} of {n:,} images seen at least once ({percent(seen / max(n, 1))})")

    def clear_run(self) -> None:
        self.seen = np.zeros(len(self.classes), dtype=np.int64)
        self.expected = None
        self._refresh()
        self.summary.setText("Run the sampler to see how many distinct images each class gets.")

    def fractions(self) -> np.ndarray:
        return np.divide(self.seen, self.counts, out=np.zeros(len(self.counts)), where=self.counts > 0)

    def _refresh(self) -> None:
        frac = self.fractions()[self.order]
        exp = None
        if self.expected is not None:
            exp = np.divide(self.expected, self.counts, out=np.zeros(len(self.counts)), where=self.counts > 0)[
                self.order
            ]
        self.series.update(frac, exp, log=False)

    def hover_text(self, x_pos: int) -> str:
        c = int(self.order[x_pos])
        n = int(self.counts[c])
        seen = int(self.seen[c])
        lines = [
            f"<b>{escape(self.classes[c], quote=False)}</b> (index {c})",
            f"seen {seen:,} of {n:,} images ({percent(seen / max(n, 1))})",
        ]
        if self.expected is not None:
            lines.append(f"expected distinct so far: {self.expected[c]:,.1f}")
        return "<br>".join(lines)

    def _mouse_moved(self, scene_pos: QPointF) -> None:
        vb = self.plot.getViewBox()
        if vb.sceneBoundingRect().contains(scene_pos):
            x = vb.mapSceneToView(scene_pos).x()
            pos = int(round(x))
            if 0 <= pos < len(self.classes) and abs(x - pos) <= 0.5:
                QToolTip.showText(QCursor.pos(), self.hover_text(pos), self.graphics)
                return
        QToolTip.hideText()


__all__ = ["CoverageView"]
