"""The image health check in the GUI: a worker that runs ``core.images.check_images`` with
progress and cancel, and a panel listing the problems it found.

Self-contained API (the main window wires it)::

    job = make_check_job(index)          # not started
    job.worker.returned.connect(lambda result: panel.set_result(index, result))
    job.worker.start()                   # job.latest holds the progress; job.cancel.set() stops it
    panel = ProblemsPanel()              # click a problem: its image, or why it cannot be shown
    panel.shutdown()                     # before the app quits
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QSplitter, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget
from superqt.utils import FunctionWorker

from balance_gui.core.dataset import DatasetIndex
from balance_gui.core.images import (
    DEFAULT_CACHE,
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_MAX_PIXELS,
    CheckProgress,
    CheckResult,
    Problem,
    check_images,
)
from balance_gui.core.names import escape_name

from .gallery import ThumbnailLoader
from .workers import ProgressJob

PREVIEW_SIZE = 256


@dataclass(kw_only=True)
class CheckJob(ProgressJob[CheckProgress]):
    """A running check of ``index``: ``worker.returned`` carries the :class:`CheckResult`; a
    cancelled check ends with ``worker.errored`` carrying ``Cancelled``, within a fraction of a
    second of ``cancel.set()`` whatever its workers are doing (the core kills them)."""

    index: DatasetIndex


def make_check_job(
    index: DatasetIndex,
    *,
    workers: int | None = None,
    cache_path: Any = DEFAULT_CACHE,
    timing: bool = False,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> CheckJob:
    """A check of every image of ``index`` in worker processes, not started yet."""
    job = CheckJob(index=index, worker=None)  # type: ignore[arg-type]
    job.worker = FunctionWorker(
        check_images,
        index,
        workers=workers,
        cache_path=cache_path,
        progress=job._progress,
        cancel=job.cancel,
        timing=timing,
        max_file_bytes=max_file_bytes,
        max_pixels=max_pixels,
    )
    return job


def describe(problem: Problem) -> str:
    """The detail of a problem, names escaped as every output of the app escapes them (``escape_name``)."""
    if problem.kind == "corrupt":
        return escape_name(problem.reason or "corrupt")
    where = "  (in another class: a label error?)" if problem.cross_class else ""
    return f"copy of {escape_name(problem.duplicate_of_path or '')}{where}"


class ProblemsPanel(QWidget):
    """The problems of a check, one row each (kind, path, detail). Clicking a row shows the
    image, or the reason it cannot be shown, and emits ``problemSelected(problem)``."""

    problemSelected = Signal(object)

    def __init__(self, parent: QWidget | None = None, *, threads: int | None = 1) -> None:
        super().__init__(parent)
        self._index: DatasetIndex | None = None
        self._problems: tuple[Problem, ...] = ()
        self._shown_path = ""
        self.loader = ThumbnailLoader(PREVIEW_SIZE, threads, parent=self)
        self.loader.loaded.connect(self._on_loaded)

        self.summary = QLabel("No check run yet")
        self.list = QTreeWidget()
        self.list.setRootIsDecorated(False)
        self.list.setUniformRowHeights(True)
        self.list.setHeaderLabels(["Kind", "Path", "Detail"])
        self.list.currentItemChanged.connect(lambda item, _: self._select(item))
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(PREVIEW_SIZE // 2, PREVIEW_SIZE // 2)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        preview = QWidget()
        preview_layout = QVBoxLayout(preview)
        preview_layout.addWidget(self.image, 1)
        preview_layout.addWidget(self.detail)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.list)
        splitter.addWidget(preview)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(splitter, 1)

    def set_result(self, index: DatasetIndex, result: CheckResult) -> None:
        self._index = index
        self._problems = result.problems
        self.list.clear()
        self.image.clear()
        self.detail.clear()
        self.list.addTopLevelItems(
            [QTreeWidgetItem([p.kind, escape_name(p.path), describe(p)]) for p in result.problems]  # in sample order
        )
        if len(result.problems) <= 5000:  # measuring costs a pass over every row
            for column in (0, 1):
                self.list.resizeColumnToContents(column)
        usable = int(result.usable_counts.sum())
        self.summary.setText(
            f"{len(result.corrupt):,} corrupt, {len(result.duplicates):,} duplicate copies; "
            f"{usable:,} of {len(index):,} images usable"
            if result.problems
            else f"All {len(index):,} images decode and none is a copy of another"
        )

    def clear(self) -> None:
        """No check (another dataset was opened)."""
        self._index = None
        self._problems = ()
        self._shown_path = ""
        self.list.clear()
        self.image.clear()
        self.detail.clear()
        self.summary.setText("No check run yet")

    def select_row(self, row: int) -> None:
        item = self.list.topLevelItem(row)
        if item is not None:
            self.list.setCurrentItem(item)

    def _select(self, item: QTreeWidgetItem | None) -> None:
        if item is None or self._index is None:
            return
        problem = self._problems[self.list.indexOfTopLevelItem(item)]
        path = os.path.join(self._index.root, problem.path)
        self._shown_path = path
        self.image.clear()
        if problem.kind == "corrupt":
            self.image.setText("cannot be shown")
            self.detail.setText(f"{escape_name(problem.path)}: {describe(problem)}")
        else:
            self.image.setText("loading\N{HORIZONTAL ELLIPSIS}")
            self.detail.setText(f"{escape_name(problem.path)}: {describe(problem)}")
            self.loader.request(path)
        self.problemSelected.emit(problem)

    def _on_loaded(self, path: str, image: QImage, width: int, height: int, error: str) -> None:
        if path != self._shown_path:  # the user has moved on to another problem
            return
        if image.isNull():
            self.image.setText(f"cannot be shown: {error}")
        else:
            # Blow tiny images up by a whole factor, pixels kept sharp: a 32 px icon is hard to judge.
            factor = max(1, (PREVIEW_SIZE // 2) // max(image.width(), image.height()))
            if factor > 1:
                image = image.scaled(image.width() * factor, image.height() * factor)
            self.image.setPixmap(QPixmap.fromImage(image))

    def shutdown(self, timeout_s: float = 10.0) -> bool:
        return self.loader.shutdown(timeout_s)


__all__ = ["CheckJob", "ProblemsPanel", "describe", "make_check_job"]
