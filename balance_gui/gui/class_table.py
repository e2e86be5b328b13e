"""The class table: one row per class, sortable, weights editable, copy as TSV."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QAction, QBrush, QColor, QFont, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QMenu, QTableView

from .numbers import percent

# Column keys, titles and tooltips, in display order.
_ROOT = QModelIndex()  # the invisible root: Qt's default parent for flat models

COLUMNS = (
    ("name", "Class", "Class name (its folder or manifest label)"),
    ("index", "Index", "Class index, as torchvision's ImageFolder numbers it"),
    ("count", "Images", "Images in the class (n_c)"),
    (
        "usable",
        "Usable",
        "Images left after an image check: without corrupt files and duplicate copies (Tools > Check Images)",
    ),
    ("share", "Share", "Share of the dataset: n_c / N (of the usable images, with weights on usable images)"),
    (
        "weight",
        "Weight",
        "Weight of each image of the class (w_c). Double-click to edit: "
        "the scheme becomes custom; 0 excludes the class",
    ),
    (
        "expected_share",
        "Exp. sampled share",
        "Expected share of an epoch's draws: n_c w_c / sum_j n_j w_j with replacement; "
        "without, n_c times the inclusion probability of the successive-sampling law, over k",
    ),
    (
        "expected_uses",
        "Exp. uses / image",
        "Expected draws of each image of the class per epoch (at most 1 without replacement)",
    ),
    (
        "expected_distinct",
        "Exp. distinct / epoch",
        "Expected distinct images of the class drawn in one epoch, for the sampler's mode and replacement",
    ),
    (
        "observed_distinct",
        "Seen distinct / epoch",
        "Distinct images of the class drawn so far in the current epoch of the run",
    ),
    # multi-label data (COCO/LVIS, path,labels) only: a sampler picks images, each with several classes
    ("instances", "Instances", "Annotations of the class (a COCO file), labels of it (a manifest)"),
    (
        "expected_images",
        "Exp. images / epoch",
        "Expected images carrying the class in one epoch of image-level sampling: "
        "k sum_i w_i [c in i] / sum w (rfs: sum_i r_i [c in i])",
    ),
    (
        "sampled_images",
        "Sampled images / epoch",
        "Images carrying the class drawn by the run, mean per epoch drawn so far",
    ),
    (
        "expected_instances",
        "Exp. instances / epoch",
        "Expected instances of the class in one epoch: k sum_i w_i n_ic / sum w (rfs: sum_i r_i n_ic)",
    ),
    (
        "sampled_instances",
        "Sampled instances / epoch",
        "Instances of the class in the images the run drew, mean per epoch drawn so far",
    ),
)
COLUMN_KEYS = tuple(c[0] for c in COLUMNS)
COL = {key: i for i, key in enumerate(COLUMN_KEYS)}
SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # raw value of a cell
RUN_COLUMNS = ("observed_distinct", "sampled_images", "sampled_instances")  # filled from the run's steps
_OPTIONAL = frozenset({"usable", *RUN_COLUMNS})  # blank until a check / a run fills them
_FLOATS = frozenset({"sampled_images", "sampled_instances"})  # means per epoch
SINGLE_LABEL_ONLY = ("usable", "expected_share", "expected_uses", "expected_distinct", "observed_distinct")
MULTI_LABEL_ONLY = ("instances", "expected_images", "sampled_images", "expected_instances", "sampled_instances")


class ClassTableModel(QAbstractTableModel):
    """A view of the session: its expected figures (core ClassFigures) and the last step's
    distinct-image counts, read on every ``data()`` call; the model keeps no copy of them,
    only the sort permutation of its rows.

    Sorting 10,000 classes by any column costs milliseconds (numpy argsort). Editing a
    weight does not change the model: it emits ``weightEdited(class_index, value)`` and the
    window asks the session, whose change comes back through ``refresh``.
    """

    weightEdited = Signal(int, float)
    editRejected = Signal(str)

    def __init__(self, session: Any, parent: Any = None) -> None:
        super().__init__(parent)
        self.session = session
        self._perm = np.zeros(0, dtype=np.int64)
        self._sort: tuple[int, Qt.SortOrder] | None = None
        self._editable = True
        if hasattr(session, "datasetChanged"):  # a gui.session.Session: the model follows it itself
            session.datasetChanged.connect(lambda _index: self.reset())
            session.weightsChanged.connect(self.refresh)
            session.stepChanged.connect(lambda _step: self.refresh_observed())
            session.checkChanged.connect(self.refresh_usable)
            session.stateChanged.connect(lambda state: self.set_editable(state.value == "idle"))

    # ------------------------------------------------------------------ the session's data
    @property
    def _classes(self) -> tuple[str, ...]:
        index = self.session.index
        ready = self.session.figures is not None or self.session.image_figures is not None
        return tuple(index.classes) if index is not None and ready else ()

    @property
    def _usable(self) -> np.ndarray | None:
        return self.session.usable_counts  # per class; on multi-label data, images carrying the class

    def _run_col(self, key: str) -> np.ndarray | None:
        """A column of the run's last step: a SimulationStep's distinct images, or a multi-label
        run's (core.image_sampling.ImageLevelRun) sampled images and instances per epoch."""
        step = self.session.step
        if step is None:
            return None
        if key == "observed_distinct":
            return getattr(step, "distinct_seen", None)
        sampled = getattr(step, "sampled", None)
        return None if sampled is None else np.asarray(sampled.images if key == "sampled_images" else sampled.instances)

    def _col(self, key: str) -> np.ndarray:
        f = self.session.figures
        if f is None:  # multi-label data: the image-level figures
            return self._multilabel_col(key)
        if key in MULTI_LABEL_ONLY:
            return np.full(len(f.counts), np.nan)
        if key == "index":
            return np.arange(len(f.counts), dtype=np.int64)
        return {
            "count": np.asarray(self.session.index.counts),  # all images: figures may be on the usable ones
            "share": f.shares,
            "weight": f.weights,
            "expected_share": f.expected_shares,
            "expected_uses": f.expected_uses_per_image,
            "expected_distinct": f.expected_distinct,
        }[key]

    def _multilabel_col(self, key: str) -> np.ndarray:
        s = self.session
        index, g = s.index, s.image_figures
        counts = np.asarray(index.counts)
        return {
            "index": np.arange(len(counts), dtype=np.int64),
            "count": counts,
            "share": counts / max(len(index), 1),  # an image may carry several classes: shares sum above 1
            "weight": s.class_weights,
            "instances": np.asarray(index.instances),
            "expected_images": g.images,
            "expected_instances": g.instances,
        }.get(key, np.full(len(counts), np.nan))

    def reset(self) -> None:
        """New classes (or none): rebuild the rows."""
        self.beginResetModel()
        self._perm = self._sorted_perm()
        self.endResetModel()

    def refresh(self) -> None:
        """Same classes, new figures: update in place, so editors, the selection and the scroll
        position survive a scheme change."""
        if len(self._perm) != len(self._classes):
            self.reset()
            return
        if self._sort is not None:
            self._relayout()
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 0), self.index(self.rowCount() - 1, self.columnCount() - 1))

    def refresh_observed(self) -> None:
        """The run's columns changed (a step, or none): those of the data's kind, the others are hidden."""
        for key in _FLOATS if getattr(self.session, "multilabel", False) else ("observed_distinct",):
            self._refresh_column(key)

    def refresh_usable(self) -> None:
        """An image check was attached or cleared: the usable column changed."""
        self._refresh_column("usable")

    def _refresh_column(self, key: str) -> None:
        if not self.rowCount():
            return
        col = COL[key]
        if self._sort is not None and self._sort[0] == col:
            self._relayout()
        else:
            self.dataChanged.emit(
                self.index(0, col), self.index(self.rowCount() - 1, col), [Qt.ItemDataRole.DisplayRole]
            )

    def set_editable(self, on: bool) -> None:
        """Weights are editable only while no run is going (mid-run edits are refused)."""
        self._editable = bool(on)

    # ------------------------------------------------------------------ queries
    @property
    def classes(self) -> tuple[str, ...]:
        return self._classes

    def class_at_row(self, row: int) -> int:
        return int(self._perm[row])

    def row_of_class(self, class_index: int) -> int:
        return int(np.flatnonzero(self._perm == class_index)[0])

    def column_values(self, key: str) -> np.ndarray | list | None:
        """A whole column, in class-index order (for tests and copy)."""
        if key == "name":
            return list(self._classes)
        if key in _OPTIONAL:
            values = self._optional(key)
            return None if values is None else np.array(values)
        return np.array(self._col(key))

    def _optional(self, key: str) -> np.ndarray | None:
        """A column that exists only after a run or a check (usable)."""
        return self._usable if key == "usable" else self._run_col(key)

    def raw_value(self, class_index: int, key: str) -> Any:
        if key == "name":
            return self._classes[class_index]
        if key in _OPTIONAL:
            values = self._optional(key)
            if values is None:
                return None
            return float(values[class_index]) if key in _FLOATS else int(values[class_index])
        value = self._col(key)[class_index]
        return int(value) if key in ("index", "count", "instances") else float(value)

    def copy_text(self, key: str, class_index: int) -> str:
        """Cell text for TSV: full precision, no thousands separators or percent signs."""
        value = self.raw_value(class_index, key)
        if value is None:
            return ""
        if isinstance(value, float):
            return repr(value)
        return str(value)

    # ------------------------------------------------------------------ Qt model API
    def rowCount(self, parent: Any = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._perm)

    def columnCount(self, parent: Any = _ROOT) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal:
            if role == Qt.ItemDataRole.DisplayRole:
                return COLUMNS[section][1]
            if role == Qt.ItemDataRole.ToolTipRole:
                return COLUMNS[section][2]
        return None

    def data(self, index: Any, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        c = int(self._perm[index.row()])
        key = COLUMN_KEYS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(c, key)
        if role == Qt.ItemDataRole.EditRole:
            if key == "weight":
                return f"{self._col('weight')[c]:.10g}"
            return self._display(c, key)
        if role == SORT_ROLE:
            return self.raw_value(c, key)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if key == "name":
                return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole:
            if self._col("count")[c] == 0 or self._col("weight")[c] == 0:
                return QBrush(QColor(150, 150, 150))
        if role == Qt.ItemDataRole.FontRole and key == "weight" and self._col("count")[c] > 0:
            font = QFont()
            font.setItalic(bool(self._col("weight")[c] == 0))
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            if self._col("count")[c] == 0:
                return f"{self._classes[c]!r} is empty: weight 0, never drawn"
            if self._col("weight")[c] == 0:
                return f"{self._classes[c]!r} is excluded (weight 0)"
            if key == "weight":
                return "Double-click to edit; the scheme becomes custom. 0 excludes the class."
        return None

    def _display(self, c: int, key: str) -> str:
        if key == "name":
            return self._classes[c]
        if key in _OPTIONAL:
            values = self._optional(key)
            if values is None:
                return ""
            return f"{values[c]:,.1f}" if key in _FLOATS else f"{int(values[c]):,}"
        v = self._col(key)[c]
        if key in ("index",):
            return str(int(v))
        if key in ("count", "instances"):
            return f"{int(v):,}"
        if key in ("expected_images", "expected_instances"):
            return f"{v:,.1f}"
        if key in ("share", "expected_share"):
            return percent(v)  # enough digits: a 1-in-250,000 share reads 0.0004%, not 0.00%
        if key == "weight":
            return f"{v:.4g}"
        if key == "expected_uses":
            return f"{v:.3f}"
        if key == "expected_distinct":
            return f"{v:,.1f}"
        return str(v)

    def flags(self, index: Any) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        c = int(self._perm[index.row()])
        if self._editable and COLUMN_KEYS[index.column()] == "weight" and self._col("count")[c] > 0:
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def setData(self, index: Any, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or COLUMN_KEYS[index.column()] != "weight":
            return False
        c = int(self._perm[index.row()])
        try:
            w = float(str(value).strip())
        except ValueError:
            self.editRejected.emit(f"weight must be a number, got {value!r}")
            return False
        if not math.isfinite(w) or w < 0:
            self.editRejected.emit(f"class {self._classes[c]!r}: weight must be finite and >= 0, got {value!r}")
            return False
        self.weightEdited.emit(c, w)
        return True

    # ------------------------------------------------------------------ sorting
    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        # Qt passes column -1 for "no sort indicator": that means class-index order, not the last column
        self._sort = (column, order) if 0 <= column < len(COLUMNS) else None
        self._relayout()

    def _sorted_perm(self) -> np.ndarray:
        n = len(self._classes)
        if self._sort is None or n == 0:
            return np.arange(n, dtype=np.int64)
        column, order = self._sort
        key = COLUMN_KEYS[column]
        if key == "name":
            perm = np.array(sorted(range(n), key=lambda i: self._classes[i].casefold()), dtype=np.int64)
        elif key in _OPTIONAL:
            values = self._optional(key)
            perm = np.argsort(values, kind="stable") if values is not None else np.arange(n, dtype=np.int64)
        else:
            perm = np.argsort(self._col(key), kind="stable")
        if order == Qt.SortOrder.DescendingOrder:
            perm = perm[::-1].copy()
        return perm.astype(np.int64)

    def _relayout(self) -> None:
        if len(self._perm) != len(self._classes):
            self.reset()
            return
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        old_classes = [int(self._perm[i.row()]) for i in old]
        self._perm = self._sorted_perm()
        inverse = np.empty_like(self._perm)
        inverse[self._perm] = np.arange(len(self._perm))
        new = [self.index(int(inverse[c]), i.column()) for c, i in zip(old_classes, old, strict=False)]
        self.changePersistentIndexList(old, new)
        self.layoutChanged.emit()


class ClassTableView(QTableView):
    """A sortable table whose selection copies as tab-separated values (with a header row)."""

    def __init__(self, model: ClassTableModel, parent: Any = None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.setSortingEnabled(True)
        self.horizontalHeader().setSortIndicatorShown(True)
        self.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.AnyKeyPressed
        )
        self.setAlternatingRowColors(True)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(22)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        metrics = header.fontMetrics()
        for i, (key, title, _tip) in enumerate(COLUMNS):
            widest = {"name": 150, "weight": metrics.horizontalAdvance("0.0001234") + 16}.get(key, 64)
            header.resizeSection(i, max(metrics.horizontalAdvance(title) + 28, widest))
        self._copy_action = QAction("Copy as TSV", self)
        self._copy_action.setShortcut(QKeySequence.StandardKey.Copy)
        self._copy_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self._copy_action.triggered.connect(self.copy_selection)
        self.addAction(self._copy_action)
        self._select_all = QAction("Select All", self)
        self._select_all.triggered.connect(self.selectAll)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._context_menu)

    def bind(self, session: Any) -> None:
        """Show the columns that apply: single- or multi-label ones, and Usable once a check is attached."""
        self._session = session
        session.datasetChanged.connect(lambda _index: self._show_columns())
        session.checkChanged.connect(self._show_columns)
        self._show_columns()

    def _show_columns(self) -> None:
        s = self._session
        multi = s.multilabel
        for key in SINGLE_LABEL_ONLY:
            self.setColumnHidden(COL[key], multi)
        for key in MULTI_LABEL_ONLY:
            self.setColumnHidden(COL[key], not multi)
        self.setColumnHidden(COL["usable"], s.check is None)

    def model(self) -> ClassTableModel:
        model = super().model()
        assert isinstance(model, ClassTableModel)
        return model

    def _context_menu(self, pos: Any) -> None:
        menu = QMenu(self)
        menu.addAction(self._copy_action)
        menu.addAction(self._select_all)
        menu.exec(self.viewport().mapToGlobal(pos))

    def keyPressEvent(self, event: Any) -> None:
        if event.matches(QKeySequence.StandardKey.Copy):
            self.copy_selection()
            event.accept()
            return
        super().keyPressEvent(event)

    def selection_tsv(self) -> str:
        """The selected cells as TSV: a header row of the selected columns, then one line per
        selected row in view order; cells outside the selection within that box are blank."""
        indexes = [i for i in self.selectionModel().selectedIndexes() if not self.isColumnHidden(i.column())]
        if not indexes:
            return ""
        model = self.model()
        rows = sorted({i.row() for i in indexes})
        cols = sorted({i.column() for i in indexes}, key=self.horizontalHeader().visualIndex)
        chosen = {(i.row(), i.column()) for i in indexes}
        lines = ["\t".join(COLUMNS[c][1] for c in cols)]
        for r in rows:
            cls = model.class_at_row(r)
            lines.append(
                "\t".join(_tsv_cell(model.copy_text(COLUMN_KEYS[c], cls)) if (r, c) in chosen else "" for c in cols)
            )
        return "\n".join(lines) + "\n"

    def copy_selection(self) -> str:
        text = self.selection_tsv()
        if text:
            QGuiApplication.clipboard().setText(text)
        return text


def _tsv_cell(text: str) -> str:
    """Tabs and newlines would split a cell; class names may hold them in principle."""
    return text.replace("\t", " ").replace("\n", " ").replace("\r", " ")


__all__ = [
    "ClassTableModel",
    "ClassTableView",
    "COLUMNS",
    "COLUMN_KEYS",
    "COL",
    "MULTI_LABEL_ONLY",
    "RUN_COLUMNS",
    "SINGLE_LABEL_ONLY",
    "SORT_ROLE",
]
