"""The thumbnail gallery of one class: a virtualised list view over a lazy model.

A class of 50,000 images is 50,000 rows of a ``QAbstractListModel``, not 50,000 widgets:
the view asks only for the rows it paints, and only those are decoded - by a
:class:`ThumbnailLoader` on its own threads, newest request first, into a bounded cache.
Small images are enlarged to the thumbnail size (nearest neighbour from 2x up, so their pixels
stay visible); hover shows the full relative path; after an image check, corrupt files and the
copies that get weight 0 carry a badge, and the tooltip says why.

Self-contained API (the main window wires it)::

    panel = GalleryPanel()
    panel.set_class(index, class_idx, draw_counts=None)  # draw_counts: per-sample uses of a run
    panel.set_check(session.check)                        # badges for corrupt and excluded files (None: none)
    panel.imageActivated.connect(...)                     # double-click: the system viewer, else a large preview
    panel.shutdown()                                      # before the app quits: waits for the decoders
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, BinaryIO

import numpy as np
from PySide6.QtCore import (
    QAbstractListModel,
    QFile,
    QFileDevice,
    QIODevice,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRunnable,
    QSize,
    Qt,
    QThreadPool,
    QUrl,
    Signal,
)
from PySide6.QtGui import QColor, QDesktopServices, QImage, QImageReader, QPainter, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QScrollArea,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from balance_gui.core.dataset import DatasetIndex
from balance_gui.core.duplicates import DuplicateGroup, duplicate_groups, group_of_sample
from balance_gui.core.images import (
    ACCEPTED_FORMATS,
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_MAX_PIXELS,
    CheckResult,
    UnusableFile,
    format_reason,
    open_image_file,
    too_many_pixels,
)
from balance_gui.core.names import escape_name

from .jobs import JobRunner

THUMB_SIZE = 96
PREVIEW_SIZE = 768  # the large preview: fits a 1280x800 screen with the dialog around it
PATH_ROLE = Qt.ItemDataRole.UserRole + 1  # the file's full path
SAMPLE_ROLE = Qt.ItemDataRole.UserRole + 2  # its position in the dataset index
BADGE_ROLE = Qt.ItemDataRole.UserRole + 3  # BADGE_CORRUPT, BADGE_EXCLUDED or None
BADGE_CORRUPT = "corrupt"
BADGE_EXCLUDED = "excluded"
PAGE = 256  # thumbnails whose paths the worker reads with the class's samples: a screenful and more
_PATH_ROLES = frozenset(
    {Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.DecorationRole, Qt.ItemDataRole.ToolTipRole, PATH_ROLE, BADGE_ROLE}
)
_ROOT = QModelIndex()

SORT_FILE_ORDER = "File order"
SORT_MOST_DRAWN = "Most drawn"


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{n:,} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n:,} bytes"  # pragma: no cover - the loop always returns


# Qt's names for the formats the image check decodes (core.images.ACCEPTED_FORMATS): a thumbnail
# shows only what the check would accept, and no other image plugin is ever handed a dataset file.
_QT_FORMATS = {
    "BMP": ("bmp",),
    "JPEG": ("jpeg", "jpg"),
    "PNG": ("png",),
    "PPM": ("ppm", "pgm", "pbm"),
    "TIFF": ("tiff", "tif"),
    "WEBP": ("webp",),
}
ACCEPTED_QT_FORMATS = frozenset(name for fmt in ACCEPTED_FORMATS for name in _QT_FORMATS.get(fmt, ()))


def decode_thumbnail(
    path: str,
    size: int,
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[QImage, int, int, str]:
    """``(thumbnail, width, height, error)`` for ``path``; a null image and the reason when it cannot be decoded.

    The file is opened as the image check opens it (``core.images.open_image_file``: a regular file
    within the size limit, never a FIFO or a device), and decoded only in a format the check accepts
    and within its pixel limit. QImageReader scales while decoding (JPEGs decode at a fraction of
    their size), and QImage is safe off the GUI thread, unlike QPixmap.
    """
    try:
        fh = open_image_file(path, max_file_bytes)
    except UnusableFile as e:
        return QImage(), 0, 0, e.reason
    except OSError as e:
        return QImage(), 0, 0, f"cannot read: {e.strerror or e}"
    with fh:
        device = QFile()
        if not device.open(fh.fileno(), QIODevice.OpenModeFlag.ReadOnly, QFileDevice.FileHandleFlag.DontCloseHandle):
            return QImage(), 0, 0, f"cannot read: {device.errorString()}"
        try:
            return _decode(device, fh, size, max_pixels)
        finally:
            device.close()


def _decode(device: QFile, fh: BinaryIO, size: int, max_pixels: int) -> tuple[QImage, int, int, str]:
    reader = QImageReader(device)
    fmt = bytes(reader.format().data()).decode("ascii", "replace").lower()  # from the content, not the name
    if fmt not in ACCEPTED_QT_FORMATS:
        try:
            fh.seek(0)
            head = fh.read(16)
        except OSError:
            head = b"?"
        return QImage(), 0, 0, "empty file (0 bytes)" if not head else format_reason(head)
    reader.setAutoTransform(True)
    full = reader.size()
    if full.isValid():
        bomb = too_many_pixels(full.width(), full.height(), max_pixels)
        if bomb is not None:
            return QImage(), full.width(), full.height(), bomb
        if full.width() > size or full.height() > size:
            reader.setScaledSize(full.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        return QImage(), full.width(), full.height(), reader.errorString() or "cannot be decoded"
    return fit(image, size), full.width(), full.height(), ""


def fit(image: QImage, size: int) -> QImage:
    """``image`` scaled to fit ``size`` x ``size``, aspect kept: shrunk smoothly (formats that cannot
    scale while decoding), or enlarged - a 32 px icon is hard to judge at 32 px. From twice its size
    up it is enlarged by nearest neighbour, so each pixel shows as a sharp block, as it is."""
    longest = max(image.width(), image.height())
    if longest == size or longest == 0:
        return image
    smooth = longest > size or 2 * longest > size
    mode = Qt.TransformationMode.SmoothTransformation if smooth else Qt.TransformationMode.FastTransformation
    return image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, mode)


class _Drain(QRunnable):
    def __init__(self, loader: ThumbnailLoader) -> None:
        super().__init__()
        self._loader = loader

    def run(self) -> None:
        self._loader._drain()


class ThumbnailLoader(QObject):
    """Decodes thumbnails on a private thread pool, newest request first.

    Requests pile up while the user scrolls; only the latest ``max_pending`` are kept, and
    the newest is decoded first, so the rows on screen now come before rows scrolled past.
    ``loaded(path, image, width, height, error)`` arrives on the loader's (GUI) thread.
    """

    loaded = Signal(str, QImage, int, int, str)

    def __init__(
        self, size: int = THUMB_SIZE, threads: int | None = None, max_pending: int = 256, parent: Any = None
    ) -> None:
        super().__init__(parent)
        self.size = size
        self.max_pending = max_pending
        self.decoded = 0  # files decoded so far (for tests and benchmarks)
        self._pending: deque[str] = deque()
        self._queued: set[str] = set()
        self._inflight: set[str] = set()
        self._draining = 0  # pool threads running _drain
        self._lock = threading.Lock()
        self._pool = QThreadPool(self)
        # Leave a core to the GUI thread: decoding on every core makes scrolling stutter.
        self._pool.setMaxThreadCount(threads or max(1, min(4, (os.cpu_count() or 2) - 1)))
        self._closed = False

    def request(self, path: str) -> None:
        with self._lock:
            if self._closed or path in self._inflight:
                return
            if path in self._queued:
                self._pending.remove(path)  # move it to the front of the line
            self._pending.append(path)
            self._queued.add(path)
            while len(self._pending) > self.max_pending:
                self._queued.discard(self._pending.popleft())
            start = self._draining < self._pool.maxThreadCount()
            if start:
                self._draining += 1
        if start:
            self._pool.start(_Drain(self))

    def clear(self) -> None:
        """Forget requests not started yet (for example when the gallery shows another class)."""
        with self._lock:
            self._pending.clear()
            self._queued.clear()

    def _drain(self) -> None:
        # Runs on a pool thread until the queue is empty; the count is dropped under the same lock
        # that checks for emptiness, so a request can never be left without a thread to take it.
        while True:
            with self._lock:
                if self._closed or not self._pending:
                    self._draining -= 1
                    return
                path = self._pending.pop()  # newest first
                self._queued.discard(path)
                self._inflight.add(path)
            try:
                image, width, height, error = decode_thumbnail(path, self.size)
            except Exception as e:  # noqa: BLE001 - never leave the thread count wrong: that would stop all decoding
                image, width, height, error = QImage(), 0, 0, f"{type(e).__name__}: {e}"
            with self._lock:
                self.decoded += 1
                self._inflight.discard(path)
                closed = self._closed
            if not closed:
                self.loaded.emit(path, image, width, height, error)

    def shutdown(self, timeout_s: float = 10.0) -> bool:
        """Drop pending requests and wait for the running decodes; True when none is left."""
        with self._lock:
            self._closed = True
        self.clear()
        return self._pool.waitForDone(int(timeout_s * 1000))


class GalleryModel(QAbstractListModel):
    """One row per image of a class, in file order or by draw count. Nothing is computed per row
    up front (a path is made when a row is asked for); thumbnails load lazily: asking for a row's
    decoration requests it from the loader, and ``cache_size`` bounds the thumbnails kept.
    ``BADGE_ROLE`` marks a corrupt file (the check found it, or its thumbnail does not decode) and
    a file the check's usable mask excludes (a duplicate copy)."""

    def __init__(self, loader: ThumbnailLoader, cache_size: int = 1000, parent: Any = None) -> None:
        super().__init__(parent)
        self.loader = loader
        self.cache_size = cache_size
        self._index: DatasetIndex | None = None
        self._samples = np.zeros(0, dtype=np.int64)
        self._draws: np.ndarray | None = None
        self._paths: dict[int, str] = {}  # full paths by row, read in the panel's worker
        self._waiting: dict[str, set[int]] = {}  # rows waiting for a thumbnail (a manifest may list a file twice)
        self._cache: OrderedDict[str, tuple[QPixmap, int, int, str]] = OrderedDict()
        self._check: CheckResult | None = None
        self._reasons: dict[int, str] = {}  # the check's corrupt files: sample -> reason
        self._groups: tuple[DuplicateGroup, ...] = ()
        self._group_of = np.zeros(0, dtype=np.int64)
        self._placeholder = _placeholder(loader.size, QColor(220, 220, 220))
        self._broken = _placeholder(loader.size, QColor(230, 150, 150))
        loader.loaded.connect(self._on_loaded)

    def set_images(
        self,
        index: DatasetIndex,
        samples: Sequence[int] | np.ndarray,
        draws: Any = None,
        paths: Mapping[int, str] | None = None,
    ) -> None:
        """Show the samples of ``index`` at positions ``samples``, in this order; ``draws`` are
        their draw counts (or None); ``paths``, the full paths of some rows already read (off the GUI
        thread: a big table's paths are read from disk, see ``class_page``), by row."""
        self.beginResetModel()
        self.loader.clear()
        self._index = index
        self._samples = np.asarray(samples, dtype=np.int64)
        self._draws = None if draws is None else np.asarray(draws, dtype=np.int64)
        self._paths = dict(paths or {})
        self._waiting = {}
        self.endResetModel()

    def set_check(self, result: CheckResult | None) -> None:
        """The image check of the dataset shown (None: none): its corrupt files and the files its
        usable mask excludes get a badge."""
        self._check = result
        self._reasons = {} if result is None else {p.sample: p.reason or "corrupt" for p in result.corrupt}
        self._groups = () if result is None else duplicate_groups(result)
        self._group_of = group_of_sample(self._groups, 0 if result is None else len(result.targets))
        if self.rowCount():
            roles = [BADGE_ROLE, Qt.ItemDataRole.ToolTipRole]
            self.dataChanged.emit(self.index(0), self.index(self.rowCount() - 1), roles)

    def clear(self) -> None:
        """No images (another dataset was opened)."""
        self.beginResetModel()
        self.loader.clear()
        self.set_check(None)
        self._index = None
        self._samples = np.zeros(0, dtype=np.int64)
        self._draws = None
        self._paths = {}
        self._waiting = {}
        self._cache.clear()
        self.endResetModel()

    def rowCount(self, parent: Any = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._samples)

    def path(self, row: int) -> str:
        assert self._index is not None  # rows exist only once an index is set
        known = self._paths.get(row)
        return self._index.path(int(self._samples[row])) if known is None else known

    def cached(self) -> int:
        return len(self._cache)

    def data(self, index: Any, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role not in _PATH_ROLES:  # the view asks for fonts, colours, sizes... of every row it paints
            return int(self._samples[index.row()]) if role == SAMPLE_ROLE else None
        row = index.row()
        path = self.path(row)
        if role == Qt.ItemDataRole.DisplayRole:
            name = os.path.basename(path)
            return name if self._draws is None else f"{name}  \N{MULTIPLICATION SIGN}{int(self._draws[row])}"
        if role == Qt.ItemDataRole.DecorationRole:
            hit = self._cache.get(path)
            if hit is None:
                self._waiting.setdefault(path, set()).add(row)
                self.loader.request(path)  # the view asks only for rows it paints: this is the laziness
                return self._placeholder
            self._cache.move_to_end(path)
            return hit[0]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, path)
        if role == BADGE_ROLE:
            return self.badge(row, path)
        return path  # PATH_ROLE

    def _checked(self, sample: int) -> bool:
        return self._check is not None and sample < len(self._check.targets)

    def badge(self, row: int, path: str | None = None) -> str | None:
        """BADGE_CORRUPT, BADGE_EXCLUDED (weight 0 after the check: a duplicate copy), or None."""
        sample = int(self._samples[row])
        if sample in self._reasons:
            return BADGE_CORRUPT
        hit = self._cache.get(self.path(row) if path is None else path)
        if hit is not None and hit[3]:
            return BADGE_CORRUPT
        if self._checked(sample):
            assert self._check is not None
            if not self._check.usable_mask[sample]:
                return BADGE_EXCLUDED
        return None

    def _check_lines(self, sample: int) -> list[str]:
        """What the check says about a sample: corrupt, excluded, and its copies in other classes."""
        if not self._checked(sample):
            return []
        assert self._check is not None
        if sample in self._reasons:
            return [f"corrupt (weight 0): {escape_name(self._reasons[sample])}"]
        g = int(self._group_of[sample])
        if g < 0:
            return []
        group = self._groups[g]
        usable = self._check.usable_mask
        classes = self._check.classes  # a COCO file's check has one class, "images": not the file's
        others = [
            f"{escape_name(classes[t])} ({escape_name(p)})" if len(classes) > 1 else escape_name(p)
            for s, p, t in zip(group.samples, group.paths, group.targets, strict=True)
            if s != sample
        ]
        lines = []
        if group.cross_class:
            own = int(self._check.targets[sample])
            labels = [escape_name(classes[t]) for t in dict.fromkeys(group.targets) if t != own]
            lines.append("also labelled: " + ", ".join(labels) + " (a label conflict)")
        if usable[sample]:
            lines.append("kept (its copies get weight 0)")
        elif group.cross_class and group.kept(usable) is None:
            lines.append("excluded (weight 0): a label conflict, no copy kept until one is chosen in Problems")
        else:
            lines.append("excluded (weight 0): a duplicate copy")
        lines.append("copies: " + ", ".join(others))
        return lines

    def _tooltip(self, row: int, path: str) -> str:
        sample = int(self._samples[row])
        rel = self._index.relative_path(sample) if self._index is not None else os.path.basename(path)
        lines = [escape_name(rel)]
        try:
            lines.append(_human_size(os.path.getsize(path)))
        except OSError as e:
            lines.append(f"cannot read: {e.strerror or e}")
        hit = self._cache.get(path)
        if hit is not None:
            _, width, height, error = hit
            lines.append(f"cannot decode: {error}" if error else f"{width:,} \N{MULTIPLICATION SIGN} {height:,} px")
        if self._index is not None and hasattr(self._index, "labels"):  # multi-label: the image's classes
            names = [self._index.classes[c] for c in self._index.labels(int(self._samples[row]))]
            lines.append("labels: " + ", ".join(names))
        lines.extend(self._check_lines(sample))
        if self._draws is not None:
            lines.append(f"drawn {int(self._draws[row]):,} times in the run's last epoch")
        return "\n".join(lines)

    def _on_loaded(self, path: str, image: QImage, width: int, height: int, error: str) -> None:
        rows = self._waiting.pop(path, None)
        if rows is None:  # a thumbnail of a class no longer shown
            return
        pixmap = self._broken if image.isNull() else QPixmap.fromImage(image)
        self._cache[path] = (pixmap, width, height, error)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        for row in rows:
            where = self.index(row)
            self.dataChanged.emit(
                where, where, [Qt.ItemDataRole.DecorationRole, Qt.ItemDataRole.ToolTipRole, BADGE_ROLE]
            )


def _placeholder(size: int, colour: QColor) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.fillRect(size // 8, size // 8, size * 3 // 4, size * 3 // 4, colour)
    painter.end()
    return pixmap


_BADGE_COLOURS = {BADGE_CORRUPT: QColor(200, 30, 30), BADGE_EXCLUDED: QColor(200, 120, 0)}


class BadgeDelegate(QStyledItemDelegate):
    """Paints a thumbnail as usual, then, for a corrupt or excluded file, dims it and writes the
    badge's word on a coloured band across its foot."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Any) -> None:
        super().paint(painter, option, index)
        badge = index.data(BADGE_ROLE)
        if badge is None:
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        style = opt.widget.style() if opt.widget is not None else None
        if style is None:
            return
        icon = style.subElementRect(QStyle.SubElement.SE_ItemViewItemDecoration, opt, opt.widget)
        painter.save()
        painter.fillRect(icon, QColor(255, 255, 255, 110))  # dimmed: this file is not drawn
        band = icon.adjusted(0, icon.height() - opt.fontMetrics.height() - 4, 0, 0)
        painter.fillRect(band, _BADGE_COLOURS[badge])
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(band, Qt.AlignmentFlag.AlignCenter, badge)
        painter.restore()


def most_drawn_order(samples: np.ndarray, draw_counts: np.ndarray) -> np.ndarray:
    """Positions into ``samples``, most drawn first; ties keep file order."""
    counts = np.asarray(draw_counts, dtype=np.int64)[samples]
    return np.argsort(-counts, kind="stable")


def open_with_system_viewer(path: str) -> bool:
    """Open ``path`` in the system's viewer; False when the system has none (the gallery then
    shows its own large preview)."""
    return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(path)))


class PreviewDialog(QDialog):
    """A large preview of one image, decoded off the GUI thread by ``loader``: the image (a small
    one enlarged, its pixels kept sharp), or why it cannot be shown, and what the gallery knows of it."""

    def __init__(self, loader: ThumbnailLoader, parent: Any = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preview")
        self.loader = loader
        self.path = ""
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(loader.size // 2, loader.size // 2)
        scroll = QScrollArea()
        scroll.setWidget(self.image)
        scroll.setWidgetResizable(True)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.info)
        layout.addWidget(buttons)
        self.resize(loader.size + 40, loader.size + 120)
        loader.loaded.connect(self._on_loaded)

    def show_image(self, path: str, info: str) -> None:
        self.path = path
        self.setWindowTitle(f"Preview: {escape_name(os.path.basename(path))}")
        self.info.setText(info)
        self.image.clear()
        self.image.setText("loading\N{HORIZONTAL ELLIPSIS}")
        self.loader.request(path)
        self.show()
        self.raise_()

    def _on_loaded(self, path: str, image: QImage, width: int, height: int, error: str) -> None:
        if path != self.path:
            return
        if image.isNull():
            self.image.setText(f"cannot be shown: {error}")
        else:
            self.image.setPixmap(QPixmap.fromImage(image))


def class_page(
    index: DatasetIndex, class_idx: int, draw_counts: np.ndarray | None, most_drawn: bool, page: int = PAGE
) -> tuple[np.ndarray, np.ndarray | None, dict[int, str]]:
    """What the gallery shows of class ``class_idx``: its samples (most drawn first with
    ``most_drawn``), their draw counts (or None), and the full paths of the first ``page`` of them
    and of the last one (the view asks for the last row as it lays the grid out), by row.
    Qt-free, run in a worker for a big index: a pass over every sample, and a table's paths read
    from the row groups that hold them."""
    if hasattr(index, "images_of"):  # a MultiLabelIndex: images carry several classes
        samples = np.asarray(index.images_of(class_idx), dtype=np.int64)
    else:
        samples = np.flatnonzero(np.asarray(index.targets) == class_idx)
    draws = None
    if draw_counts is not None:
        if most_drawn:
            samples = samples[most_drawn_order(samples, draw_counts)]
        draws = draw_counts[samples]
    rows = list(range(min(page, len(samples))))
    if len(samples) > page:
        rows.append(len(samples) - 1)
    paths_of = getattr(index, "paths_of", None)
    if paths_of is None:
        paths = [index.path(int(samples[r])) for r in rows]
    else:
        paths = [os.path.join(index.root, rel) for rel in paths_of(samples[rows])]
    return samples, draws, dict(zip(rows, paths, strict=True))


class GalleryPanel(QWidget):
    """A class's thumbnails, with a sort choice (file order or most drawn) and a one-line caption.

    Double-click emits ``imageActivated(path)`` and opens the file with ``open_file`` (the system
    viewer by default); when that returns False (no viewer) or there is none, and on "Preview",
    the file shows in a large preview dialog (``preview_dialog``).
    """

    imageActivated = Signal(str)
    filled = Signal()  # the class asked for last is shown (its samples and first paths are in)
    # Indexes up to this many samples fill on the GUI thread (well under a frame); bigger ones,
    # and their first page of paths, in a worker, the gallery saying "loading…" meanwhile.
    sync_samples = 1_000_000

    def __init__(
        self,
        parent: Any = None,
        *,
        thumb_size: int = THUMB_SIZE,
        cache_size: int = 1000,
        threads: int | None = None,
        open_file: Callable[[str], object] | None = open_with_system_viewer,
    ) -> None:
        super().__init__(parent)
        self.loader = ThumbnailLoader(thumb_size, threads, parent=self)
        self.preview_loader = ThumbnailLoader(PREVIEW_SIZE, 1, max_pending=2, parent=self)
        self.preview_dialog: PreviewDialog | None = None
        self.model = GalleryModel(self.loader, cache_size, parent=self)
        self._open_file = open_file
        self._index: DatasetIndex | None = None
        self._class_idx = -1
        self._draw_counts: np.ndarray | None = None
        self._runner = JobRunner(self)  # a newer class's fill cancels the older one's

        self.caption = QLabel("Select a class to see its images")
        self.sort = QComboBox()
        self.sort.addItems([SORT_FILE_ORDER, SORT_MOST_DRAWN])
        self.sort.setToolTip("Most drawn: the images the last run drew most often in its last epoch first")
        self.sort.currentTextChanged.connect(lambda _: self._fill())
        self.view = QListView()
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setUniformItemSizes(True)  # lets the view lay out 50,000 rows without asking each one
        # Lay the grid out in batches between events: all 50,000 cells at once stall the GUI for ~80 ms.
        self.view.setLayoutMode(QListView.LayoutMode.Batched)
        self.view.setBatchSize(2000)
        self.view.setIconSize(QSize(thumb_size, thumb_size))
        self.view.setGridSize(QSize(thumb_size + 56, thumb_size + 28))  # room for a name and a draw count
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.view.setModel(self.model)
        self.view.setItemDelegate(BadgeDelegate(self.view))
        self.view.doubleClicked.connect(self._activate)
        self.preview_button = QPushButton("Preview")
        self.preview_button.setToolTip("Show the selected image large, with what the check says of it")
        self.preview_button.clicked.connect(self._preview_current)

        top = QHBoxLayout()
        top.addWidget(self.caption, 1)
        top.addWidget(self.preview_button)
        top.addWidget(self.sort)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.view)
        self._update_sort_enabled()

    def set_class(self, index: DatasetIndex, class_idx: int, draw_counts: Any = None) -> None:
        """Show the images of class ``class_idx`` of ``index``. ``draw_counts``, per sample of the
        index (a run's ``image_uses``), enables the most-drawn order."""
        self._index = index
        self._class_idx = class_idx
        self._draw_counts = None if draw_counts is None else np.asarray(draw_counts, dtype=np.int64)
        if self._draw_counts is not None and self._draw_counts.shape != (len(index),):
            raise ValueError(f"draw_counts has {self._draw_counts.size} values for {len(index)} samples")
        self._update_sort_enabled()
        self._fill()

    def set_check(self, result: CheckResult | None) -> None:
        """The image check of the dataset shown (None: none): corrupt and excluded files get a badge."""
        self.model.set_check(result)

    def set_draw_counts(self, draw_counts: Any) -> None:
        """New draw counts for the class shown (after a run), keeping the class."""
        if self._index is None or (draw_counts is None and self._draw_counts is None):
            return
        self.set_class(self._index, self._class_idx, draw_counts)

    def clear(self) -> None:
        """Show nothing: the dataset it showed is gone (its thumbnails too)."""
        self._index = None
        self._class_idx = -1
        self._draw_counts = None
        self._runner.cancel()
        self._update_sort_enabled()
        self.model.clear()
        self.caption.setText("Select a class to see its images")

    @property
    def class_index(self) -> int:
        """The class shown, or -1."""
        return self._class_idx

    def _update_sort_enabled(self) -> None:
        item = self.sort.model().item(1)  # type: ignore[attr-defined]
        item.setEnabled(self._draw_counts is not None)
        if self._draw_counts is None and self.sort.currentText() == SORT_MOST_DRAWN:
            self.sort.setCurrentText(SORT_FILE_ORDER)

    def _fill(self) -> None:
        index = self._index
        if index is None:
            return
        self._runner.cancel()  # an older class's fill still running: its result is dropped
        args = (index, self._class_idx, self._draw_counts, self.sort.currentText() == SORT_MOST_DRAWN)
        name = index.classes[self._class_idx]
        if len(index) <= self.sync_samples:
            self._show(index, name, class_page(*args))
            return
        from superqt.utils import FunctionWorker

        self.model.set_images(index, np.zeros(0, dtype=np.int64))
        self.caption.setText(f"{name}: loading\N{HORIZONTAL ELLIPSIS}")
        self._runner.start(
            FunctionWorker(class_page, *args),
            on_done=lambda page: self._show(index, name, page),
            on_exception=lambda e: self.caption.setText(f"{name}: cannot show its images: {e}"),
        )

    def _show(self, index: DatasetIndex, name: str, page: tuple[np.ndarray, np.ndarray | None, dict[int, str]]) -> None:
        samples, draws, paths = page
        self.model.set_images(index, samples, draws, paths)
        self.caption.setText(f"{name}: {len(samples):,} images")
        self.filled.emit()

    def _activate(self, where: QModelIndex | QPersistentModelIndex) -> None:
        path = self.model.path(where.row())
        self.imageActivated.emit(path)
        if self._open_file is None or self._open_file(path) is False:  # no viewer: our own preview
            self.preview(where.row())

    def _preview_current(self) -> None:
        current = self.view.currentIndex()
        if current.isValid():
            self.preview(current.row())

    def preview(self, row: int) -> PreviewDialog:
        """Show row ``row``'s image large (in ``preview_dialog``, made on first use)."""
        if self.preview_dialog is None:
            self.preview_dialog = PreviewDialog(self.preview_loader, self)
        where = self.model.index(row)
        self.preview_dialog.show_image(self.model.path(row), where.data(Qt.ItemDataRole.ToolTipRole))
        return self.preview_dialog

    def shutdown(self, timeout_s: float = 10.0) -> bool:
        """Stop decoding; call before the application quits. True when no decoder thread is left."""
        if self.preview_dialog is not None:
            self.preview_dialog.close()
        self._runner.cancel()
        self._runner.wait(int(timeout_s * 1000))
        return self.preview_loader.shutdown(timeout_s) & self.loader.shutdown(timeout_s)


__all__ = [
    "BADGE_CORRUPT",
    "BADGE_EXCLUDED",
    "BADGE_ROLE",
    "BadgeDelegate",
    "GalleryModel",
    "GalleryPanel",
    "PreviewDialog",
    "class_page",
    "ThumbnailLoader",
    "decode_thumbnail",
    "fit",
    "most_drawn_order",
    "open_with_system_viewer",
]
