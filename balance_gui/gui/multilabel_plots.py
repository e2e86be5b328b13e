"""Plots of a multi-label dataset (COCO/LVIS, ``path,labels``): images and instances per class side
by side, each with the core's expected figures per epoch marked, and a run's sampled figures.

A sampler picks images; an image carries several classes, each several times. So the top row shows
the dataset (images carrying the class | its instances), on its own scale; the bottom row, per
epoch, red marks at the expected figures of the scheme's image-level sampling and a run's sampled
images and instances per class (mean per epoch) against them. The expected figures grow with the
draws per epoch while the dataset's counts do not: sharing a plot, many draws would squash the
dataset's bars flat (the item run's histogram compares shares, which share a scale). Classes are in the order
of their image counts, largest first (the x axes are linked). Nothing is computed here: the figures
are the session's (``core.repeat_factors``) and the run's (``core.image_sampling``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from .histogram import BAR_BRUSH, SAMPLED_BRUSH, BarSeries, configure_pyqtgraph, make_plot


class MultiLabelPlots(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        configure_pyqtgraph()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setObjectName("multilabel_graphics")
        self.graphics.setMinimumHeight(260)
        layout.addWidget(self.graphics, 1)
        g = self.graphics
        self.images_plot = make_plot(g, 0, 0, "Dataset: images per class", "images")
        self.instances_plot = make_plot(g, 0, 1, "Dataset: instances per class", "instances")
        self.sampled_images_plot = make_plot(g, 1, 0, "Per epoch: images per class, sampled (red: expected)", "images")
        self.sampled_instances_plot = make_plot(
            g, 1, 1, "Per epoch: instances per class, sampled (red: expected)", "instances"
        )
        plots = (self.images_plot, self.instances_plot, self.sampled_images_plot, self.sampled_instances_plot)
        for p in plots[1:]:
            p.setXLink(self.images_plot)
        self.images = BarSeries(self.images_plot, BAR_BRUSH, "images", "")  # never marked: the dataset's scale
        self.instances = BarSeries(self.instances_plot, BAR_BRUSH, "instances", "")
        self.sampled_images = BarSeries(self.sampled_images_plot, SAMPLED_BRUSH, "images", "expected images")
        self.sampled_instances = BarSeries(self.sampled_instances_plot, SAMPLED_BRUSH, "instances", "expected")
        self._plots = plots
        self.figures_label = QLabel("")
        self.figures_label.setObjectName("multilabel_figures")
        self.figures_label.setWordWrap(True)
        layout.addWidget(self.figures_label)
        self.classes: tuple[str, ...] = ()
        self.order = np.zeros(0, dtype=np.int64)  # order[x] = class index shown at x
        self._expected: Any = None
        self._has_run = False
        self._counts = np.zeros(0)
        self._instances = np.zeros(0)

    def bind(self, session: Any) -> None:
        """Follow ``session``: shown only for multi-label data, its dataset, the expected figures of
        the scheme and settings, and a run's steps."""
        self._session = session
        session.datasetChanged.connect(self._session_dataset)
        session.weightsChanged.connect(self._session_weights)
        session.stepChanged.connect(self._session_step)
        self.setVisible(session.multilabel)
        if session.index is not None:
            self._session_dataset(session.index)
            self._session_weights()
            self._session_step(session.step)

    def _session_dataset(self, index: Any) -> None:
        multi = self._session.multilabel
        self.setVisible(multi)
        if multi:
            self.set_dataset(index)

    def _session_weights(self) -> None:
        s = self._session
        if s.multilabel and s.image_figures is not None:
            self.set_expected(s.image_figures)

    def _session_step(self, step: Any) -> None:
        if self._session.multilabel:  # the run task hands steps over at most ~30 times a second
            self.set_sampled(step)

    def set_dataset(self, index: Any) -> None:
        """A multi-label index: its classes, images and instances per class."""
        self.classes = tuple(index.classes)
        counts = np.asarray(index.counts)
        self.order = np.argsort(-counts, kind="stable")
        names = [self.classes[c] for c in self.order]
        for p in self._plots:
            p.getAxis("bottom").set_names(names)
            p.getViewBox().setLimits(xMin=-1.0, xMax=max(len(names), 1) + 0.0)
        self._counts = counts.astype(np.float64)
        self._instances = np.asarray(index.instances, dtype=np.float64)
        self.images.update(self._counts[self.order], None, False)
        self.instances.update(self._instances[self.order], None, False)
        self.set_sampled(None)
        self.images_plot.getViewBox().setXRange(-0.5, max(len(names), 1) - 0.5, padding=0)

    def set_expected(self, expected: Any) -> None:
        """The core's ClassLevel of one epoch under the current scheme and settings."""
        self._expected = expected
        if expected is None:
            return
        if self.sampled_images.heights.size != self.order.size or not self._has_run:
            self.set_sampled(None)

    def set_sampled(self, run: Any) -> None:
        """A run's step (``core.image_sampling.ImageLevelRun``: the means per epoch drawn so far, live
        while it runs; the bars are updated in place), or None: empty bars, marks at the expected
        figures."""
        o = self.order
        self._has_run = run is not None
        exp = run.expected if run is not None else self._expected
        ei = None if exp is None else np.asarray(exp.images)[o]
        en = None if exp is None else np.asarray(exp.instances)[o]
        if run is None:
            self.sampled_images.update(np.zeros(o.size), ei, False)
            self.sampled_instances.update(np.zeros(o.size), en, False)
            self.figures_label.setText("")
            return
        self.sampled_images.update(np.asarray(run.sampled.images)[o], ei, False)
        self.sampled_instances.update(np.asarray(run.sampled.instances)[o], en, False)
        never = int((np.asarray(run.image_uses) == 0).sum())
        epochs = f"{run.epochs} epoch(s)" if run.done else f"{run.epochs_done:,.2f} of {run.epochs} epoch(s)"
        self.figures_label.setText(
            f"{run.sampler.replace('_', ' ')}, {epochs}: {run.sampled.draws:,.1f} images drawn per "
            f"epoch (expected {run.expected.draws:,.1f}); {never:,} images never drawn{'' if run.done else ' so far'}"
        )

    def sampled_heights_by_class(self) -> tuple[np.ndarray, np.ndarray]:
        """The sampled images and instances bars, in class-index order (for tests)."""
        inv = np.empty_like(self.order)
        inv[self.order] = np.arange(self.order.size)
        return self.sampled_images.heights[inv], self.sampled_instances.heights[inv]

    def expected_marks_by_class(self) -> np.ndarray | None:
        """The expected images marked on the per-epoch plot, in class-index order (for tests)."""
        exp = self.sampled_images.expected
        if exp is None:
            return None
        inv = np.empty_like(self.order)
        inv[self.order] = np.arange(self.order.size)
        return exp[inv]


__all__ = ["MultiLabelPlots"]
