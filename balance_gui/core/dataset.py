"""Folder and manifest scanning into an immutable, compact dataset index.

``scan_image_folder`` reproduces ``torchvision.datasets.ImageFolder(root)`` exactly
(classes, class_to_idx, samples and their order) without importing torchvision, with one
documented difference: a symlink back to a folder being walked (a directory cycle) is
reported and not descended, where torchvision loops until the path grows too long,
and stores the sample paths packed in one bytes buffer instead of a list of
tuples, so a million-image index costs tens of megabytes, not hundreds.
"""

from __future__ import annotations

import csv
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from .errors import Cancelled, DatasetError, DatasetNotFoundError, SettingsError
from .names import quoted

# torchvision.datasets.folder.IMG_EXTENSIONS; a test checks the two stay equal.
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

_ENCODING = "utf-8"
_ERRORS = "surrogateescape"  # how Python maps non-UTF-8 file-name bytes to str


@dataclass(frozen=True)
class ScanProgress:
    """Where a scan stands, reported after every folder it reads."""

    folders_done: int
    classes_done: int
    classes_total: int
    files_found: int
    current: str
    elapsed_s: float


ProgressCallback = Callable[[ScanProgress], None]


@dataclass(frozen=True, eq=False)
class DatasetIndex:
    """What a dataset holds: classes and, per sample, a relative path and class index.

    ``root`` joined with ``relative_path(i)`` gives the path torchvision's
    ImageFolder would give for sample ``i``.
    """

    root: str
    classes: tuple[str, ...]
    class_to_idx: Mapping[str, int]
    targets: np.ndarray  # int64, one per sample, read-only
    counts: np.ndarray  # int64, one per class, read-only
    _paths_blob: bytes = field(repr=False)  # relative paths, NUL-terminated, surrogateescape-encoded
    _path_starts: np.ndarray = field(repr=False)  # int64, len(self) + 1 offsets into the blob
    source: str = "folder"  # "folder" or "manifest"
    hidden_classes: tuple[str, ...] = ()
    skipped_extensions: Mapping[str, int] = field(default_factory=dict)
    unreadable_folders: tuple[str, ...] = ()
    symlink_loops: tuple[str, ...] = ()  # folders not descended: each leads back to a folder above it
    duplicate_rows: tuple[tuple[int, int], ...] = ()  # manifest (line, first line) pairs listing one file twice

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def empty_classes(self) -> tuple[str, ...]:
        return tuple(c for c, n in zip(self.classes, self.counts, strict=False) if n == 0)

    @property
    def skipped_files(self) -> int:
        return sum(self.skipped_extensions.values())

    def relative_path(self, i: int) -> str:
        start, stop = int(self._path_starts[i]), int(self._path_starts[i + 1]) - 1
        return self._paths_blob[start:stop].decode(_ENCODING, _ERRORS)

    def relative_paths(self) -> list[str]:
        """All relative paths, in sample order (materialises one str per sample)."""
        if not len(self):
            return []
        return self._paths_blob[:-1].decode(_ENCODING, _ERRORS).split("\0")

    def path(self, i: int) -> str:
        return os.path.join(self.root, self.relative_path(i))

    @property
    def samples(self) -> list[tuple[str, int]]:
        """``(path, class_index)`` pairs exactly as ImageFolder's ``samples``."""
        return [(os.path.join(self.root, p), int(t)) for p, t in zip(self.relative_paths(), self.targets, strict=False)]

    def warnings(self) -> list[str]:
        """Surprises worth telling the user, in plain words."""
        out = []
        for name in self.hidden_classes:
            out.append(
                f"hidden folder {quoted(name)} is taken as a class (torchvision does the same); "
                "delete or move it if it is not one"
            )
        if self.empty_classes:
            names = ", ".join(quoted(c) for c in self.empty_classes[:10])
            more = "" if len(self.empty_classes) <= 10 else f" and {len(self.empty_classes) - 10} more"
            out.append(
                f"{len(self.empty_classes)} empty class(es): {names}{more}; they get weight 0 and are never drawn"
            )
        if self.skipped_files:
            exts = ", ".join(
                f"{ext or '(none)'} x{n}"
                for ext, n in sorted(self.skipped_extensions.items(), key=lambda kv: (-kv[1], kv[0]))
            )
            out.append(f"{self.skipped_files} file(s) skipped, not image extensions: {exts}")
        for folder in self.unreadable_folders:
            out.append(f"folder {quoted(folder)} could not be read and was skipped (torchvision skips it too)")
        for folder in self.symlink_loops:
            out.append(
                f"folder {quoted(folder)} leads back to a folder above it (a symlink loop) and was not descended; "
                "torchvision would loop there"
            )
        if self.duplicate_rows:
            pairs = ", ".join(f"line {a} repeats line {b}" for a, b in self.duplicate_rows[:5])
            more = "" if len(self.duplicate_rows) <= 5 else f" and {len(self.duplicate_rows) - 5} more"
            out.append(
                f"{len(self.duplicate_rows)} manifest row(s) list a file already listed under the same label, "
                f"counted once: {pairs}{more}"
            )
        return out


def _pack_paths(paths: Sequence[str]) -> tuple[bytes, np.ndarray]:
    """One buffer of NUL-terminated paths plus start offsets. An item of ``paths`` may
    itself hold several NUL-separated paths."""
    if not paths:
        return b"", np.zeros(1, dtype=np.int64)
    blob = ("\0".join(paths) + "\0").encode(_ENCODING, _ERRORS)
    ends = np.flatnonzero(np.frombuffer(blob, dtype=np.uint8) == 0)
    starts = np.empty(len(ends) + 1, dtype=np.int64)
    starts[0] = 0
    starts[1:] = ends + 1
    return blob, starts


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _make_index(
    root: str, classes: Sequence[str], targets: Sequence[int] | np.ndarray, paths: Sequence[str], **extra: Any
) -> DatasetIndex:
    targets = np.asarray(targets, dtype=np.int64)
    counts = np.bincount(targets, minlength=len(classes)).astype(np.int64)
    blob, starts = _pack_paths(paths)
    if len(starts) - 1 != len(targets):
        raise DatasetError("a file name contains a NUL byte; it cannot be indexed")
    return DatasetIndex(
        root=root,
        classes=tuple(classes),
        class_to_idx=MappingProxyType({c: i for i, c in enumerate(classes)}),
        targets=_readonly(targets),
        counts=_readonly(counts),
        _paths_blob=blob,
        _path_starts=_readonly(starts),
        **extra,
    )


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("scan cancelled")


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _walk(
    top: str, unreadable: list[str], loops: list[str], above: frozenset[tuple[int, int]]
) -> list[tuple[str, list[str]]]:
    """``[(dirpath, file names)]`` as ``os.walk(top, followlinks=True)`` yields them.

    Same rules as os.walk: entries whose is_dir() fails count as files, folders
    that cannot be listed are skipped (recorded in ``unreadable``), and symlinked
    folders are followed. One exception: a folder whose (device, inode) is one of
    the folders on the path above it (``above`` holds the root's) is a cycle; it is
    recorded in ``loops`` and not descended, so every scan ends.
    """
    out = []
    stack = [(top, above)]
    while stack:
        path, ancestors = stack.pop()
        here = _identity(path)
        if here is not None:
            if here in ancestors:
                loops.append(path)
                continue
            ancestors = ancestors | {here}
        try:
            with os.scandir(path) as it:
                entries = list(it)
            try:
                files = [e.name for e in entries if not e.is_dir()]
                subdirs = [e.name for e in entries if e.is_dir()] if len(files) != len(entries) else []
            except OSError:  # is_dir() failed on some entry: os.walk counts those as files
                files, subdirs = [], []
                for e in entries:
                    try:
                        (subdirs if e.is_dir() else files).append(e.name)
                    except OSError:
                        files.append(e.name)
        except OSError:
            unreadable.append(path)
            continue
        out.append((path, files))
        stack.extend((os.path.join(path, d), ancestors) for d in subdirs)
    return out


def scan_image_folder(
    root: str | os.PathLike,
    *,
    extensions: str | Sequence[str] = IMG_EXTENSIONS,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> DatasetIndex:
    """Index ``root`` exactly as ``torchvision.datasets.ImageFolder(root)`` would.

    Differences, all deliberate: empty class folders are kept (count 0, flagged)
    instead of raising; unreadable sub-folders and skipped files are reported in
    the index; a directory cycle (a symlink to a folder above it) is reported and not
    descended. ``extensions`` is one suffix or a sequence of them, as for torchvision.
    ``progress`` is called after every folder; setting ``cancel`` stops the scan at the
    next folder with :class:`Cancelled`.
    """
    start_time = time.perf_counter()
    root_str = os.path.expanduser(os.fspath(root))
    if not os.path.exists(root_str):
        raise DatasetNotFoundError(f"dataset folder not found: {root_str}")
    if not os.path.isdir(root_str):
        raise DatasetError(f"not a folder: {root_str} (give an ImageFolder root, or a .csv manifest)")
    try:
        with os.scandir(root_str) as it:
            classes = sorted(e.name for e in it if e.is_dir())
    except PermissionError as e:
        raise DatasetError(f"cannot read dataset folder {root_str}: permission denied") from e
    except OSError as e:
        raise DatasetError(f"cannot read dataset folder {root_str}: {e.strerror or e}") from e
    if not classes:
        raise DatasetNotFoundError(
            f"no class folders in {root_str}: an ImageFolder root holds one sub-folder per class"
        )

    if isinstance(extensions, str):  # one suffix, as str.endswith and torchvision take it
        extensions = (extensions,)
    if not all(isinstance(x, str) for x in extensions):
        raise SettingsError(f"extensions must be a suffix or a sequence of suffixes, got {extensions!r}")
    exts = tuple(x.lower() for x in extensions)
    chunks: list[str] = []  # per folder: its kept relative paths, NUL-joined (joined in C, not per file)
    class_sizes: list[int] = []
    skipped: Counter[str] = Counter()
    unreadable: list[str] = []
    loops: list[str] = []
    root_identity = _identity(root_str)
    above = frozenset() if root_identity is None else frozenset({root_identity})
    folders_done = files_found = 0
    prefix_len = len(root_str) + (0 if root_str.endswith(os.sep) else 1)
    for class_index, name in enumerate(classes):
        _check_cancel(cancel)
        in_class = 0
        # torchvision sorts os.walk's (dirpath, dirs, files) tuples: folders by path string.
        for dirpath, fnames in sorted(_walk(os.path.join(root_str, name), unreadable, loops, above)):
            kept = [f for f in fnames if f.endswith(exts) or f.lower().endswith(exts)]
            if len(kept) != len(fnames):
                skipped.update(os.path.splitext(f)[1].lower() for f in fnames if not f.lower().endswith(exts))
            if kept:
                kept.sort()
                prefix = dirpath[prefix_len:] + os.sep
                chunks.append(prefix + ("\0" + prefix).join(kept))
                in_class += len(kept)
            folders_done += 1
        class_sizes.append(in_class)
        files_found += in_class
        if progress is not None:
            progress(
                ScanProgress(
                    folders_done, class_index + 1, len(classes), files_found, name, time.perf_counter() - start_time
                )
            )
    _check_cancel(cancel)
    if not files_found:
        raise DatasetNotFoundError(
            f"no image files in {root_str}: none of its {len(classes)} class folder(s) holds a file "
            f"ending in {', '.join(exts)}"
        )
    return _make_index(
        root_str,
        classes,
        np.repeat(np.arange(len(classes), dtype=np.int64), class_sizes),
        chunks,
        source="folder",
        hidden_classes=tuple(c for c in classes if c.startswith(".")),
        skipped_extensions=MappingProxyType(dict(skipped)),
        unreadable_folders=tuple(os.path.relpath(p, root_str) for p in unreadable),
        symlink_loops=tuple(os.path.relpath(p, root_str) for p in loops),
    )


def scan_manifest(
    manifest: str | os.PathLike,
    *,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    check_files: bool = True,
) -> DatasetIndex:
    """Index a CSV manifest with a ``path,label`` header.

    Paths are relative to the manifest's folder, or absolute. Classes are the
    sorted label names, as for folders; samples keep the manifest's row order.
    With ``check_files`` every listed file must exist.
    """
    start_time = time.perf_counter()
    manifest_str = os.path.expanduser(os.fspath(manifest))
    if not os.path.isfile(manifest_str):
        raise DatasetNotFoundError(f"manifest not found: {manifest_str}")
    root = os.path.dirname(os.path.abspath(manifest_str))
    paths: list[str] = []
    labels: list[str] = []
    first_line: dict[str, tuple[int, str]] = {}  # the file (normalised) -> the line and label that first listed it
    duplicates: list[tuple[int, int]] = []
    conflicts: list[str] = []
    try:
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark.
        with open(manifest_str, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None or [h.strip().lower() for h in header] != ["path", "label"]:
                raise DatasetError(
                    f"{manifest_str}: the first line must be the header 'path,label', found {','.join(header or [])!r}"
                )
            for row in reader:
                line_no = reader.line_num
                if not row:
                    continue
                if len(row) != 2 or not row[0].strip() or not row[1].strip():
                    raise DatasetError(f"{manifest_str}, line {line_no}: expected 'path,label', got {row!r}")
                path, label = row[0].strip(), row[1].strip()
                key = os.path.normpath(os.path.join(root, path))
                seen = first_line.setdefault(key, (line_no, label))
                if seen[0] != line_no:
                    if seen[1] == label:
                        duplicates.append((line_no, seen[0]))
                    else:
                        was, now = quoted(seen[1]), quoted(label)
                        conflicts.append(f"{quoted(path)} is {was} on line {seen[0]} and {now} on line {line_no}")
                    continue
                paths.append(path)
                labels.append(label)
                if cancel is not None and line_no % 65536 == 0:
                    _check_cancel(cancel)
    except UnicodeDecodeError as e:
        raise DatasetError(f"{manifest_str}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    except csv.Error as e:
        raise DatasetError(f"{manifest_str}: not a valid CSV file ({e})") from e
    except OSError as e:
        raise DatasetError(f"cannot read manifest {manifest_str}: {e.strerror or e}") from e
    if conflicts:
        more = "" if len(conflicts) <= 3 else f" and {len(conflicts) - 3} more"
        raise DatasetError(
            f"{manifest_str}: {len(conflicts)} file(s) listed under two labels: {'; '.join(conflicts[:3])}{more}"
        )
    if not paths:
        raise DatasetNotFoundError(f"{manifest_str}: the manifest lists no files")
    _check_cancel(cancel)
    if check_files:
        missing = [p for p in paths if not os.path.isfile(os.path.join(root, p))]
        if missing:
            shown = ", ".join(quoted(p) for p in missing[:5])
            raise DatasetError(f"{manifest_str}: {len(missing)} listed file(s) do not exist, e.g. {shown}")
    classes = sorted(set(labels))
    class_to_idx = {c: i for i, c in enumerate(classes)}
    targets = np.fromiter((class_to_idx[lab] for lab in labels), dtype=np.int64, count=len(labels))
    if progress is not None:
        progress(
            ScanProgress(1, len(classes), len(classes), len(paths), manifest_str, time.perf_counter() - start_time)
        )
    return _make_index(root, classes, targets, paths, source="manifest", duplicate_rows=tuple(duplicates))


def open_dataset(path: str | os.PathLike[str], **kwargs: Any) -> DatasetIndex:
    """A folder is scanned as an ImageFolder; a ``.csv`` file is read as a manifest; a Parquet/Arrow
    table, a Hugging Face dataset folder or WebDataset shards by ``core.tables.open_columnar``."""
    from .tables import open_columnar  # pyarrow loads only for those sources

    columnar = open_columnar(path, **kwargs)
    if columnar is not None:
        return columnar
    if os.fspath(path).lower().endswith(".csv") and not os.path.isdir(path):
        return scan_manifest(path, **kwargs)
    return scan_image_folder(path, **kwargs)


__all__ = ["IMG_EXTENSIONS", "DatasetIndex", "ScanProgress", "scan_image_folder", "scan_manifest", "open_dataset"]
