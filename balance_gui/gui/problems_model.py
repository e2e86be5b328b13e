"""The Problems tab's models: one row per corrupt file or duplicate group (its copies as children),
filtered by kind, class and text; and the per-class size/mode statistics of the check.

A check of a large dataset can find 54,442 copies: those are rows of a ``QAbstractItemModel``
(the view asks only for the rows it paints), grouped by content, never a widget per row. The
models read the check result and the ``core.duplicates`` groups; they decide nothing.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractItemModel, QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from balance_gui.core.duplicates import DuplicateGroup, duplicate_groups, group_of_sample
from balance_gui.core.images import CheckResult, ClassStats, Problem
from balance_gui.core.names import escape_name

KIND_CORRUPT = "corrupt"
KIND_DUPLICATE = "duplicate"
KIND_CONFLICT = "label conflict"

FILTER_ALL = "All problems"
FILTER_CORRUPT = "Corrupt files"
FILTER_DUPLICATES = "Duplicate groups"
FILTER_CONFLICTS = "Label conflicts"
KIND_FILTERS = (FILTER_ALL, FILTER_CORRUPT, FILTER_DUPLICATES, FILTER_CONFLICTS)

COLUMNS = ("Kind", "Path", "Class", "Usable", "Detail")
SORT_ROLE = Qt.ItemDataRole.UserRole + 10  # the number behind a statistics cell

_ROOT = QModelIndex()
_CONFLICT_COLOUR = QBrush(QColor(170, 20, 20))
_EXCLUDED_COLOUR = QBrush(QColor(120, 120, 120))
# Entry codes: a group's position in the groups (>= 0), or -(k + 1) for the k-th corrupt file.
_Index = QModelIndex | QPersistentModelIndex


def _corrupt_code(k: int) -> int:
    return -(k + 1)


class ProblemsModel(QAbstractItemModel):
    """Top-level rows: the entries shown (corrupt files and duplicate groups, in the order of their
    first sample); a group's children are its copies, representative first. ``internalId`` is 0
    for a top-level row and its row + 1 for a copy under it."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._result: CheckResult | None = None
        self._classes: tuple[str, ...] = ()
        self._corrupt: list[Problem] = []
        self.groups: tuple[DuplicateGroup, ...] = ()
        self._entries = np.zeros(0, dtype=np.int64)  # every entry, in sample order
        self._shown = np.zeros(0, dtype=np.int64)  # the entries the filter lets through
        self._usable = np.zeros(0, dtype=bool)
        # Per entry code (a corrupt file's code indexes from the end): children, label conflict.
        self._sizes = np.zeros(0, dtype=np.int64)
        self.conflicts = np.zeros(0, dtype=bool)  # per group
        self._group_of = np.zeros(0, dtype=np.int64)  # per sample: its group, or -1
        self._filter: tuple[str, int, str] = (FILTER_ALL, -1, "")

    # ------------------------------------------------------------------ content
    def set_result(self, result: CheckResult | None) -> None:
        """A new check (None: no check): every entry, then the current filter."""
        self.beginResetModel()
        self._result = result
        if result is None:
            self._classes, self._corrupt, self.groups = (), [], ()
            self._entries = np.zeros(0, dtype=np.int64)
            self._usable = np.zeros(0, dtype=bool)
            self._sizes = np.zeros(0, dtype=np.int64)
            self.conflicts = np.zeros(0, dtype=bool)
            self._group_of = np.zeros(0, dtype=np.int64)
        else:
            self._classes = result.classes
            self._corrupt = result.corrupt
            self.groups = duplicate_groups(result)
            firsts = np.array(
                [p.sample for p in self._corrupt] + [g.representative for g in self.groups], dtype=np.int64
            )
            codes = np.concatenate(
                (-np.arange(1, len(self._corrupt) + 1, dtype=np.int64), np.arange(len(self.groups), dtype=np.int64))
            )
            self._entries = codes[np.argsort(firsts, kind="stable")]
            self._usable = result.usable_mask
            sizes = [len(g.samples) for g in self.groups]
            self._sizes = np.array(sizes + [0] * len(self._corrupt), dtype=np.int64)  # corrupt codes are < 0
            self.conflicts = np.fromiter((g.cross_class for g in self.groups), bool, len(self.groups))
            self._group_of = group_of_sample(self.groups, len(result.targets))
        self._shown = self._filtered()
        self.endResetModel()

    def set_usable(self, result: CheckResult) -> None:
        """The same check with other copies kept (``core.duplicates.resolve``): rows stay, the rows
        of the groups whose kept copy changed are repainted."""
        changed = np.flatnonzero(self._usable != result.usable_mask)
        self._result = result
        self._usable = result.usable_mask
        last = len(COLUMNS) - 1
        for code in np.unique(self._group_of[changed]).tolist():
            rows = np.flatnonzero(self._shown == code)
            if code < 0 or not len(rows):  # not a group, or filtered out
                continue
            parent = self.index(int(rows[0]), 0)
            self.dataChanged.emit(parent, self.index(parent.row(), last))
            self.dataChanged.emit(self.index(0, 0, parent), self.index(self.rowCount(parent) - 1, last, parent))

    def set_filter(self, kind: str = FILTER_ALL, class_index: int = -1, text: str = "") -> None:
        """Show the entries of ``kind`` (one of ``KIND_FILTERS``) having a file in class
        ``class_index`` (-1: any) whose path contains ``text`` (ignoring case)."""
        self.beginResetModel()
        self._filter = (kind, class_index, text)
        self._shown = self._filtered()
        self.endResetModel()

    def _filtered(self) -> np.ndarray:
        kind, class_index, text = self._filter
        entries = self._entries
        if kind == FILTER_CORRUPT:
            entries = entries[entries < 0]
        elif kind in (FILTER_DUPLICATES, FILTER_CONFLICTS):
            entries = entries[entries >= 0]
            if kind == FILTER_CONFLICTS:
                entries = entries[self.conflicts[entries]]
        needle = text.strip().casefold()
        if class_index < 0 and not needle:
            return entries
        assert self._result is not None  # entries exist only with a check
        targets = self._result.targets
        keep = []
        for code in entries.tolist():
            if code < 0:
                p = self._corrupt[-code - 1]
                ok = (class_index < 0 or targets[p.sample] == class_index) and needle in p.path.casefold()
            else:
                g = self.groups[code]
                ok = (class_index < 0 or class_index in g.targets) and (
                    not needle or any(needle in path.casefold() for path in g.paths)
                )
            keep.append(ok)
        return entries[np.array(keep, dtype=bool)] if keep else entries

    # ------------------------------------------------------------------ what a row stands for
    def entry(self, index: _Index) -> Problem | DuplicateGroup | None:
        """The corrupt file's Problem or the DuplicateGroup of a row (a copy's row: its group)."""
        if not index.isValid():
            return None
        top = index.internalId() - 1 if index.internalId() else index.row()
        code = int(self._shown[top])
        return self._corrupt[-code - 1] if code < 0 else self.groups[code]

    def sample(self, index: _Index) -> int | None:
        """The sample a row shows: a corrupt file, a group's representative, or a copy."""
        what = self.entry(index)
        if what is None:
            return None
        if isinstance(what, Problem):
            return what.sample
        return what.samples[index.row()] if index.internalId() else what.representative

    def path(self, index: _Index) -> str | None:
        what = self.entry(index)
        if what is None:
            return None
        if isinstance(what, Problem):
            return what.path
        return what.paths[index.row()] if index.internalId() else what.paths[0]

    def shown_entries(self) -> list[Problem | DuplicateGroup]:
        return [self._corrupt[-c - 1] if c < 0 else self.groups[c] for c in self._shown.tolist()]

    def entry_count(self) -> int:
        """Entries before the filter."""
        return len(self._entries)

    # ------------------------------------------------------------------ Qt
    def index(self, row: int, column: int, parent: _Index = _ROOT) -> QModelIndex:
        # No hasIndex(): it calls rowCount and columnCount back, and a tree view lays out every
        # top-level row (54,442 calls of each).
        if not 0 <= column < len(COLUMNS) or row < 0:
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, 0) if row < len(self._shown) else QModelIndex()
        if row >= self.rowCount(parent):
            return QModelIndex()
        return self.createIndex(row, column, parent.row() + 1)

    def parent(self, child: _Index = _ROOT) -> QModelIndex:  # type: ignore[override]
        if not child.isValid() or not child.internalId():
            return QModelIndex()
        return self.createIndex(child.internalId() - 1, 0, 0)

    def rowCount(self, parent: _Index = _ROOT) -> int:
        if not parent.isValid():
            return len(self._shown)
        if parent.internalId() or parent.column() != 0:
            return 0
        return int(self._sizes[self._shown[parent.row()]])

    def hasChildren(self, parent: _Index = _ROOT) -> bool:
        return self.rowCount(parent) > 0

    def columnCount(self, parent: _Index = _ROOT) -> int:
        return len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.ForegroundRole):
            return None
        what = self.entry(index)
        if isinstance(what, Problem):
            cells = self._corrupt_cells(what)
            conflict, excluded = False, True
        else:
            assert what is not None
            copy = index.row() if index.internalId() else None
            cells = self._group_cells(what) if copy is None else self._copy_cells(what, copy)
            conflict = what.cross_class
            excluded = copy is not None and not self._usable[what.samples[copy]]
        if role == Qt.ItemDataRole.ForegroundRole:
            return _EXCLUDED_COLOUR if excluded and index.internalId() else _CONFLICT_COLOUR if conflict else None
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(what, cells)
        return cells[index.column()]

    # ------------------------------------------------------------------ cells
    def _class(self, sample: int) -> str:
        assert self._result is not None
        return escape_name(self._classes[int(self._result.targets[sample])])

    def _corrupt_cells(self, p: Problem) -> tuple[str, ...]:
        return (KIND_CORRUPT, escape_name(p.path), self._class(p.sample), "no", escape_name(p.reason or "corrupt"))

    def _group_cells(self, g: DuplicateGroup) -> tuple[str, ...]:
        kept = g.kept(self._usable)
        classes = list(dict.fromkeys(escape_name(self._classes[t]) for t in g.targets))
        copies = f"{len(g.samples):,} identical files"
        if g.cross_class:
            detail = f"{copies} in {len(classes):,} classes: keep the copy whose label is right, or none"
        else:
            detail = f"{copies} in one class"
        usable = "none" if kept is None else f"1 of {len(g.samples):,}"
        if kept != g.default_keep:
            usable += " (your choice)"
        kind = KIND_CONFLICT if g.cross_class else KIND_DUPLICATE
        return (kind, escape_name(g.paths[0]), ", ".join(classes), usable, detail)

    def _copy_cells(self, g: DuplicateGroup, k: int) -> tuple[str, ...]:
        sample = g.samples[k]
        role = "first copy" if k == 0 else f"copy {k:,} of {escape_name(g.paths[0])}"
        return ("", escape_name(g.paths[k]), self._class(sample), "yes" if self._usable[sample] else "no", role)

    def _tooltip(self, what: Problem | DuplicateGroup, cells: tuple[str, ...]) -> str:
        if isinstance(what, Problem):
            return f"{cells[1]} (class {cells[2]}): {cells[4]}\nexcluded: weight 0"
        lines = [cells[4]]
        for path, sample in zip(what.paths, what.samples, strict=True):
            state = "kept" if self._usable[sample] else "excluded"
            lines.append(f"{escape_name(path)}  (class {self._class(sample)}, {state})")
        return "\n".join(lines)

    # ------------------------------------------------------------------ CSV
    def csv_text(self) -> str:
        """The entries shown, as CSV: one line per corrupt file and per copy of a group."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["kind", "group", "path", "class", "usable", "detail"])
        for code in self._shown.tolist():
            if code < 0:
                p = self._corrupt[-code - 1]
                writer.writerow([KIND_CORRUPT, "", escape_name(p.path), self._class(p.sample), "no", p.reason or ""])
                continue
            g = self.groups[code]
            kind = KIND_CONFLICT if g.cross_class else KIND_DUPLICATE
            for k, (path, sample) in enumerate(zip(g.paths, g.samples, strict=True)):
                detail = "first copy" if k == 0 else f"copy of {escape_name(g.paths[0])}"
                usable = "yes" if self._usable[sample] else "no"
                writer.writerow([kind, code + 1, escape_name(path), self._class(sample), usable, detail])
        return out.getvalue()


STATS_COLUMNS = (
    "Class",
    "Images",
    "Usable",
    "Corrupt",
    "Duplicate copies",
    "Width min/med/max",
    "Height min/med/max",
    "Grayscale",
    "Colour",
    "Modes",
)


def _spread(values: tuple[int, int, int] | None) -> str:
    return "—" if values is None else "/".join(f"{v:,}" for v in values)


class ClassStatsModel(QAbstractTableModel):
    """The check's ``class_stats``: one row per class (sizes and modes of its decodable images).
    ``SORT_ROLE`` gives each cell's number (a size column: its median) for a sort proxy."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._stats: tuple[ClassStats, ...] = ()

    def set_stats(self, stats: tuple[ClassStats, ...]) -> None:
        if len(stats) == len(self._stats) and self._stats:
            self._stats = stats  # the same classes, other usable counts: no reset (the sort stays)
            self.dataChanged.emit(self.index(0, 0), self.index(len(stats) - 1, len(STATS_COLUMNS) - 1))
            return
        self.beginResetModel()
        self._stats = stats
        self.endResetModel()

    def rowCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._stats)

    def columnCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(STATS_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return STATS_COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        s = self._stats[index.row()]
        column = index.column()
        values: tuple[Any, ...] = (
            s.name,
            s.images,
            s.usable,
            s.corrupt,
            s.duplicates,
            s.width,
            s.height,
            s.grayscale,
            s.colour,
            s.modes,
        )
        value = values[column]
        if role == SORT_ROLE:
            if column in (5, 6):
                return -1 if value is None else value[1]
            if column == 9:
                return ", ".join(value)
            return value
        if role == Qt.ItemDataRole.TextAlignmentRole and 0 < column < 9:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        if column == 0:
            return escape_name(value)
        if column in (5, 6):
            return _spread(value)
        if column == 9:
            return ", ".join(f"{escape_name(m)} {n:,}" for m, n in value.items()) or "—"
        return f"{value:,}"


__all__ = [
    "COLUMNS",
    "FILTER_ALL",
    "FILTER_CONFLICTS",
    "FILTER_CORRUPT",
    "FILTER_DUPLICATES",
    "KIND_CONFLICT",
    "KIND_CORRUPT",
    "KIND_DUPLICATE",
    "KIND_FILTERS",
    "SORT_ROLE",
    "STATS_COLUMNS",
    "ClassStatsModel",
    "ProblemsModel",
]
