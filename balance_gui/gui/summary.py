"""Dataset summary: the core's dataset figures and the scan's warnings."""

from __future__ import annotations

import math
import os
from html import escape
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QVBoxLayout, QWidget


class SummaryPanel(QGroupBox):
    """N, C, empty classes, imbalance ratio, normalised entropy, Gini, and warnings."""

    FIELDS = (
        ("root", "Dataset", "Folder or manifest that was opened"),
        ("num_samples", "Images (N)", "Images indexed, in ImageFolder order"),
        ("num_classes", "Classes (C)", "Class folders (or manifest labels)"),
        ("empty_classes", "Empty classes", "Classes with no image: weight 0, never drawn"),
        ("tail", "Tail", "Non-empty classes with fewer than k images (the long tail)"),
        ("imbalance_ratio", "Imbalance ratio", "Largest class over smallest non-empty class"),
        ("normalized_entropy", "Normalised entropy", "H / ln C of the class shares; 1 is perfectly balanced"),
        ("gini", "Gini", "Gini coefficient of the class counts; 0 is perfectly balanced"),
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Dataset", parent)
        layout = QVBoxLayout(self)
        form_host = QWidget()
        form = QFormLayout(form_host)
        form.setContentsMargins(0, 0, 0, 0)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.values: dict[str, QLabel] = {}
        for key, title, tip in self.FIELDS:
            label = QLabel(title)
            label.setToolTip(tip)
            value = QLabel("—")
            value.setToolTip(tip)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setObjectName(f"summary_{key}")
            self.values[key] = value
            form.addRow(label, value)
        for value in self.values.values():  # a long name wraps: the panel never clips
            value.setWordWrap(True)
        layout.addWidget(form_host)
        self.warnings_label = QLabel("")
        self.warnings_label.setObjectName("summary_warnings")
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setTextFormat(Qt.TextFormat.RichText)
        self.warnings_label.setVisible(False)
        layout.addWidget(self.warnings_label)
        self._warnings: list[str] = []

    def bind(self, session: Any) -> None:
        """Follow ``session``: the dataset's figures, and the usable ones with "Weights on usable images"."""
        self._session = session
        self._usable_shown: object = False  # the check shown (False: all counts)
        session.datasetChanged.connect(self._session_dataset)
        session.checkChanged.connect(self._session_counts)
        if session.index is not None:
            self._session_dataset(session.index)
            self._session_counts()

    def _session_dataset(self, index: Any) -> None:
        from balance_gui.core.weights import dataset_figures

        if index is None:
            self.clear()
            return
        self._usable_shown = False
        self.set_dataset(index, dataset_figures(index.counts))
        if self._session.multilabel:  # N is the file's images: its class counts overlap
            self.values["num_samples"].setText(f"{len(index):,} ({index.num_annotations:,} annotations)")

    def _session_counts(self) -> None:
        s = self._session
        shown = s.check if s.use_usable else False  # a kept duplicate re-attaches the check: new counts
        if s.index is None or s.multilabel or shown is self._usable_shown:
            return
        self._usable_shown = shown
        self.set_usable(s.index, s.counts if s.use_usable else None)

    def set_dataset(self, index: Any, figures: Any) -> None:
        """``index``: core DatasetIndex; ``figures``: core DatasetFigures."""
        root = index.root
        self.values["root"].setText(os.path.basename(os.path.normpath(root)) or root)
        self.values["root"].setToolTip(f"{root} ({index.source})")
        self.values["num_samples"].setText(f"{figures.num_samples:,}")
        self.values["num_classes"].setText(f"{figures.num_classes:,}")
        self.values["empty_classes"].setText(f"{figures.empty_classes:,}")
        self.values["tail"].setText(tail_text(index.counts))
        ratio = figures.imbalance_ratio
        self.values["imbalance_ratio"].setText(f"{ratio:,.1f} : 1" if math.isfinite(ratio) else "—")
        self.values["normalized_entropy"].setText(f"{figures.normalized_entropy:.3f}")
        self.values["gini"].setText(f"{figures.gini:.3f}")
        self.set_warnings(index.warnings())

    def set_usable(self, index: Any, usable_counts: Any | None) -> None:
        """ "Weights on usable images": the figures of the usable counts (corrupt files and duplicate
        copies left out), N written as "527 usable of 533"; None shows the dataset's own counts again."""
        from balance_gui.core.weights import dataset_figures

        counts = index.counts if usable_counts is None else usable_counts
        figures = dataset_figures(counts)
        self.values["num_samples"].setText(
            f"{figures.num_samples:,}" if usable_counts is None else f"{figures.num_samples:,} usable of {len(index):,}"
        )
        self.values["empty_classes"].setText(f"{figures.empty_classes:,}")
        self.values["tail"].setText(tail_text(counts))
        ratio = figures.imbalance_ratio
        self.values["imbalance_ratio"].setText(f"{ratio:,.1f} : 1" if math.isfinite(ratio) else "—")
        self.values["normalized_entropy"].setText(f"{figures.normalized_entropy:.3f}")
        self.values["gini"].setText(f"{figures.gini:.3f}")

    def set_warnings(self, warnings: list[str]) -> None:
        self._warnings = list(warnings)
        if not warnings:
            self.warnings_label.setVisible(False)
            self.warnings_label.setText("")
            return
        items = "".join(f"<li>{escape(w, quote=False)}</li>" for w in warnings)
        self.warnings_label.setText(f"<b style='color:#a15c00'>Warnings</b><ul style='margin-left:-20px'>{items}</ul>")
        self.warnings_label.setVisible(True)

    def warnings(self) -> list[str]:
        return list(self._warnings)

    def clear(self) -> None:
        for value in self.values.values():
            value.setText("—")
        self.set_warnings([])


TAIL_LIMITS = (5, 10, 20, 50, 100)


def tail_text(counts: Any) -> str:
    """ "N classes with fewer than k images", k the smallest of 5, 10, 20, ... that catches a tail
    (or the one with the most classes below it)."""
    n = [int(c) for c in counts if c > 0]
    first = None  # the smallest k with any class below it
    for k in TAIL_LIMITS:
        below = sum(1 for c in n if c < k)
        if below and below < len(n):
            return _tail(below, k)
        if below and first is None:
            first = (below, k)
    return _tail(*(first or (0, TAIL_LIMITS[-1])))


def _tail(below: int, k: int) -> str:
    return f"{below:,} {'class' if below == 1 else 'classes'} with fewer than {k} images"
