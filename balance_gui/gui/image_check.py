"""The image health check in the GUI: a worker that runs ``core.images.check_images`` with
progress and cancel, and the Problems panel: corrupt files and duplicate groups (a label conflict
marked, with "Keep this copy" / "Keep none"), filters, CSV export and the per-class statistics.

Self-contained API (the main window wires it)::

    job = make_check_job(index)          # not started
    job.worker.returned.connect(lambda result: panel.set_result(index, result))
    job.worker.start()                   # job.latest holds the progress; job.cancel.set() stops it
    panel = ProblemsPanel()              # click a row: its image, or why it cannot be shown
    panel.duplicatesResolved.connect(session.resolve_duplicates)  # {first copy: kept copy or None}
    panel.set_result(index, session.check)  # the same check, resolved: rows, filter and selection stay
    panel.shutdown()                     # before the app quits
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, QPoint, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableView,
    QTabWidget,
    QTreeView,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import FunctionWorker

from balance_gui.core.atomic import atomic_write
from balance_gui.core.dataset import DatasetIndex
from balance_gui.core.duplicates import DuplicateGroup, duplicate_groups, resolve
from balance_gui.core.errors import BalanceError
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

from .gallery import ThumbnailLoader, fit
from .numbers import percent
from .problems_model import FILTER_ALL, KIND_FILTERS, SORT_ROLE, ClassStatsModel, ProblemsModel
from .workers import ProgressJob

PREVIEW_SIZE = 256
ALL_CLASSES = "All classes"


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
        check_and_group,
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


def check_and_group(index: DatasetIndex, **kwargs: Any) -> CheckResult:
    """``check_images``, then its duplicate groups, on the worker's thread: the Problems tab and the
    gallery find them made (``core.duplicates`` keeps the last ones), so at 54,442 copies the GUI
    thread does not pause to group them."""
    result = check_images(index, **kwargs)
    duplicate_groups(result)
    return result


def describe(problem: Problem) -> str:
    """The detail of a problem, names escaped as every output of the app escapes them (``escape_name``)."""
    if problem.kind == "corrupt":
        return escape_name(problem.reason or "corrupt")
    where = "  (in another class: a label error?)" if problem.cross_class else ""
    return f"copy of {escape_name(problem.duplicate_of_path or '')}{where}"


def summary_text(index: DatasetIndex, result: CheckResult, groups: int, conflicts: int) -> str:
    """One line on a check: corrupt files, copies, groups, label conflicts and the usable images."""
    if not result.problems:
        return f"All {len(index):,} images decode and none is a copy of another"
    usable = int(result.usable_counts.sum())
    conflict = f" ({_plural(conflicts, 'label conflict')}: no copy kept unless you keep one)" if conflicts else ""
    return (
        f"{len(result.corrupt):,} corrupt, {len(result.duplicates):,} duplicate copies in "
        f"{_plural(groups, 'group')}{conflict}; {usable:,} of {len(index):,} images usable "
        f"({len(index) - usable:,} excluded: {percent((len(index) - usable) / max(len(index), 1))})"
    )


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


class FitImage(QLabel):
    """An image label that shows its image whole, scaled to fit as the label is resized (a short
    pane would otherwise show only the middle of a 256 px preview)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image = QImage()
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # Ignored: the pixmap set here must not grow the label, or each fit would ask for more room.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)

    def set_image(self, image: QImage) -> None:
        self._image = image
        self._fit()

    def clear(self) -> None:
        self._image = QImage()
        super().clear()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if self._image.isNull():
            return
        side = max(1, min(self.width(), self.height(), PREVIEW_SIZE))
        self.setPixmap(QPixmap.fromImage(fit(self._image, side)))


class ProblemsPanel(QWidget):
    """The problems of a check: one row per corrupt file and per duplicate group (expand a group for
    its copies and their classes), filtered by kind, class and path text; "Export CSV…" writes the
    rows shown. A group across classes is a label conflict: select a copy and "Keep this copy", or
    "Keep none" (the default for a conflict); ``duplicatesResolved({first copy's sample: kept sample
    or None})`` tells the session. Clicking a row shows its image, or why it cannot be shown, and
    emits ``problemSelected`` (a corrupt file's ``Problem`` or a ``DuplicateGroup``). The
    "Class statistics" tab shows the check's per-class sizes and modes."""

    problemSelected = Signal(object)
    duplicatesResolved = Signal(object)

    def __init__(self, parent: QWidget | None = None, *, threads: int | None = 1) -> None:
        super().__init__(parent)
        self._index: DatasetIndex | None = None
        self._result: CheckResult | None = None
        self._shown_path = ""
        self.loader = ThumbnailLoader(PREVIEW_SIZE, threads, parent=self)
        self.loader.loaded.connect(self._on_loaded)

        self.summary = QLabel("No check run yet")
        self.summary.setWordWrap(True)
        self.model = ProblemsModel(self)
        self.list = QTreeView()
        self.list.setObjectName("problem_list")
        self.list.setModel(self.model)
        self.list.setUniformRowHeights(True)  # the view lays out 54,442 rows without asking each one
        self.list.setAlternatingRowColors(True)
        self.list.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        for column, width in enumerate((110, 280, 140, 110)):
            self.list.setColumnWidth(column, width)
        self.list.selectionModel().currentChanged.connect(lambda current, _: self._select(current))

        self.kind_filter = QComboBox()
        self.kind_filter.addItems(KIND_FILTERS)
        self.kind_filter.setToolTip("Show one kind of problem: label conflicts are copies in several classes")
        self.class_filter = QComboBox()
        self.class_filter.addItem(ALL_CLASSES)
        self.class_filter.setToolTip("Show the problems with a file in this class")
        self.class_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.class_filter.setMinimumContentsLength(14)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter paths\N{HORIZONTAL ELLIPSIS}")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Show the problems with a file whose path contains this text (case ignored)")
        self.shown_label = QLabel()
        self.export_button = QPushButton("Export CSV\N{HORIZONTAL ELLIPSIS}")
        self.export_button.setToolTip("Write the rows shown as CSV: one line per corrupt file and per copy")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._export_clicked)
        self.kind_filter.currentTextChanged.connect(lambda _: self._refilter())
        self.class_filter.currentIndexChanged.connect(lambda _: self._refilter())
        self.search.textChanged.connect(lambda _: self._refilter())
        filters = QHBoxLayout()
        filters.addWidget(self.kind_filter)
        filters.addWidget(self.class_filter)
        filters.addWidget(self.search, 1)
        filters.addWidget(self.shown_label)
        filters.addWidget(self.export_button)

        self.image = FitImage()
        self.image.setMinimumSize(PREVIEW_SIZE // 2, PREVIEW_SIZE // 2)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.keep_button = QPushButton("Keep this copy")
        self.keep_button.setToolTip(
            "Keep the selected copy of its group (its label is right); every other copy gets weight 0"
        )
        self.keep_none_button = QPushButton("Keep none")
        self.keep_none_button.setToolTip(
            "Give every copy of the selected group weight 0 (the default for a label conflict)"
        )
        self.default_button = QPushButton("Default")
        self.default_button.setToolTip(
            "Back to the default: a label conflict keeps no copy, other groups their first copy"
        )
        self.keep_button.clicked.connect(self.keep_selected)
        self.keep_none_button.clicked.connect(self.keep_none_selected)
        self.default_button.clicked.connect(self.restore_default_selected)
        actions = QHBoxLayout()
        for button in (self.keep_button, self.keep_none_button, self.default_button):
            actions.addWidget(button)
        preview = QWidget()
        preview_layout = QVBoxLayout(preview)
        preview_layout.addWidget(self.image, 1)
        preview_layout.addWidget(self.detail)
        preview_layout.addLayout(actions)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.list)
        splitter.addWidget(preview)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        problems_page = QWidget()
        problems_layout = QVBoxLayout(problems_page)
        problems_layout.setContentsMargins(0, 0, 0, 0)
        problems_layout.addLayout(filters)
        problems_layout.addWidget(splitter, 1)

        self.stats_model = ClassStatsModel(self)
        sorted_stats = QSortFilterProxyModel(self)
        sorted_stats.setSourceModel(self.stats_model)
        sorted_stats.setSortRole(SORT_ROLE)
        self.stats = QTableView()
        self.stats.setObjectName("class_stats")
        self.stats.setModel(sorted_stats)
        self.stats.setSortingEnabled(True)
        self.stats.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # class order until a header is clicked
        self.stats.verticalHeader().setVisible(False)
        self.stats.setAlternatingRowColors(True)

        self.views = QTabWidget()
        self.views.addTab(problems_page, "Problems")
        self.views.addTab(self.stats, "Class statistics")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.views, 1)
        self._update_actions()

    # ------------------------------------------------------------------ content
    @property
    def result(self) -> CheckResult | None:
        """The check shown, with the choices made on its duplicate groups."""
        return self._result

    def set_result(self, index: DatasetIndex, result: CheckResult) -> None:
        """Show a check. The same check with other copies kept (``core.duplicates.resolve``, as the
        session hands it back) only updates the marks: rows, filters and selection stay."""
        # The problems tuple is the check's own: a resolved copy shares it, a new check never does
        # (the index may be a new object for the same files: a COCO file's images as one class).
        same = self._result is not None and result.problems is self._result.problems
        self._index = index
        self._result = result
        if same:
            self.model.set_usable(result)
        else:
            self.image.clear()
            self.detail.clear()
            self._shown_path = ""
            self.class_filter.blockSignals(True)
            self.class_filter.clear()
            self.class_filter.addItem(ALL_CLASSES)
            self.class_filter.addItems([escape_name(c) for c in result.classes])
            self.class_filter.blockSignals(False)
            self.model.set_result(result)
            self._refilter()
        self.stats_model.set_stats(result.class_stats)
        groups, conflicts = len(self.model.groups), int(self.model.conflicts.sum())
        self.summary.setText(summary_text(index, result, groups, conflicts))
        self._show_current()
        self._update_actions()

    def clear(self) -> None:
        """No check (another dataset was opened)."""
        self._index = None
        self._result = None
        self._shown_path = ""
        self.model.set_result(None)
        self.stats_model.set_stats(())
        self.class_filter.blockSignals(True)
        self.class_filter.clear()
        self.class_filter.addItem(ALL_CLASSES)
        self.class_filter.blockSignals(False)
        self.image.clear()
        self.detail.clear()
        self.shown_label.clear()
        self.summary.setText("No check run yet")
        self._update_actions()

    def set_filter(self, kind: str = FILTER_ALL, class_name: str | None = None, text: str = "") -> None:
        """Set the three filters as a user would (``kind``: one of ``KIND_FILTERS``)."""
        self.kind_filter.setCurrentText(kind)
        self.class_filter.setCurrentIndex(
            0 if class_name is None else self.class_filter.findText(escape_name(class_name))
        )
        self.search.setText(text)

    def _refilter(self) -> None:
        class_index = self.class_filter.currentIndex() - 1  # row 0 is "All classes"
        self.model.set_filter(self.kind_filter.currentText(), class_index, self.search.text())
        shown, total = self.model.rowCount(), self.model.entry_count()
        self.shown_label.setText(f"{shown:,} of {total:,} rows" if self._result is not None else "")
        self.image.clear()
        self.detail.clear()
        self._shown_path = ""
        self._update_actions()

    def select_row(self, row: int, copy: int | None = None) -> None:
        """Select top-level row ``row``, or copy ``copy`` of the group on that row."""
        where = self.model.index(row, 0)
        if copy is not None:
            self.list.expand(where)
            where = self.model.index(copy, 0, where)
        if where.isValid():
            self.list.setCurrentIndex(where)

    # ------------------------------------------------------------------ choices on duplicate groups
    def choose(self, representative: int, keep: int | None) -> None:
        """Keep sample ``keep`` of the group whose first copy is ``representative`` (None: no copy)."""
        if self._result is None or self._index is None:
            return
        choices = {representative: keep}
        self.set_result(self._index, resolve(self._result, choices, self.model.groups))
        self.duplicatesResolved.emit(choices)

    def _selected_group(self) -> tuple[DuplicateGroup | None, int | None]:
        """The group of the current row, and the copy selected in it (None on the group's own row)."""
        current = self.list.currentIndex()
        what = self.model.entry(current)
        if not isinstance(what, DuplicateGroup):
            return None, None
        return what, (what.samples[current.row()] if current.internalId() else None)

    def keep_selected(self) -> None:
        group, copy = self._selected_group()
        if group is not None and copy is not None:
            self.choose(group.representative, copy)

    def keep_none_selected(self) -> None:
        group, _ = self._selected_group()
        if group is not None:
            self.choose(group.representative, None)

    def restore_default_selected(self) -> None:
        group, _ = self._selected_group()
        if group is not None:
            self.choose(group.representative, group.default_keep)

    def _update_actions(self) -> None:
        group, copy = self._selected_group()
        usable = self._result.usable_mask if self._result is not None else None
        kept = None if group is None or usable is None else group.kept(usable)
        self.keep_button.setEnabled(copy is not None and copy != kept)
        self.keep_none_button.setEnabled(group is not None and kept is not None)
        self.default_button.setEnabled(group is not None and kept != group.default_keep)
        self.export_button.setEnabled(self.model.rowCount() > 0)

    def _context_menu(self, pos: QPoint) -> None:
        self.list.setCurrentIndex(self.list.indexAt(pos))
        group, _ = self._selected_group()
        if group is None:
            return
        menu = QMenu(self)
        for button in (self.keep_button, self.keep_none_button, self.default_button):
            action = menu.addAction(button.text())
            action.setEnabled(button.isEnabled())
            action.triggered.connect(button.click)
        menu.exec(self.list.viewport().mapToGlobal(pos))

    # ------------------------------------------------------------------ CSV
    def export_csv(self, path: str) -> int:
        """Write the rows shown (filters applied) to ``path`` as CSV, atomically; the lines written.
        Raises WeightsFileError (a BalanceError) when the file cannot be written."""
        text = self.model.csv_text()
        atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))
        return text.count("\n") - 1

    def _export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export problems", "problems.csv", "CSV files (*.csv)")
        if not path:
            return
        try:
            lines = self.export_csv(path)
        except (BalanceError, OSError) as e:
            QMessageBox.warning(self, "Export CSV", str(e))
            return
        self.shown_label.setText(f"wrote {lines:,} lines to {os.path.basename(path)}")

    # ------------------------------------------------------------------ preview
    def _select(self, current: QModelIndex) -> None:
        self._update_actions()
        what = self.model.entry(current)
        if what is None or self._index is None:
            return
        self._show_current(request=True)
        self.problemSelected.emit(what)

    def _show_current(self, request: bool = False) -> None:
        """The detail of the current row (after a choice, its marks); ``request``: load its image too."""
        current = self.list.currentIndex()
        what = self.model.entry(current)
        if what is None or self._index is None or self._result is None:
            return
        rel = self.model.path(current) or ""
        if isinstance(what, Problem):
            self.detail.setText(f"{escape_name(rel)}: {describe(what)}")
            if request:
                self._shown_path = ""
                self.image.clear()
                self.image.setText("cannot be shown")
            return
        usable = self._result.usable_mask
        lines = [self.model.data(self.model.index(current.row(), 4, current.parent())) or ""]
        if current.internalId():
            k = current.row()
            lines[0] = f"{escape_name(rel)}: " + (
                "the first copy" if k == 0 else f"copy of {escape_name(what.paths[0])}"
            )
        for path, sample in zip(what.paths, what.samples, strict=True):
            cls = escape_name(self._result.classes[int(self._result.targets[sample])])
            lines.append(f"{'kept' if usable[sample] else 'excluded'}: {escape_name(path)} (class {cls})")
        self.detail.setText("\n".join(lines))
        if request:
            path = os.path.join(self._index.root, rel)
            self._shown_path = path
            self.image.clear()
            self.image.setText("loading\N{HORIZONTAL ELLIPSIS}")
            self.loader.request(path)

    def _on_loaded(self, path: str, image: QImage, width: int, height: int, error: str) -> None:
        if path != self._shown_path:  # the user has moved on to another problem
            return
        if image.isNull():
            self.image.setText(f"cannot be shown: {error}")
        else:  # decode_thumbnail already enlarged a small image to the preview size
            self.image.set_image(image)

    def shutdown(self, timeout_s: float = 10.0) -> bool:
        return self.loader.shutdown(timeout_s)


__all__ = ["CheckJob", "ProblemsPanel", "check_and_group", "describe", "make_check_job", "summary_text"]
