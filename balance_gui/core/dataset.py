"""Folder and manifest scanning into an immutable, compact dataset index.

``scan_image_folder`` reproduces ``torchvision.datasets.ImageFolder(root)`` exactly
(classes, class_to_idx, samples and their order) without importing torchvision, with two
documented differences, both where torchvision would not end: a symlink back to a folder
being walked (a directory cycle) is reported and not descended, where torchvision loops
until the path grows too long; and a class whose symlinks reach the same folders by more
paths than ``PATH_LIMIT`` allows lists each real folder once, where torchvision walks every
path (2**24 of them for two links per level, 24 levels). It stores the sample paths packed in
one bytes buffer instead of a list of tuples, so a million-image index costs tens of
megabytes, not hundreds.
"""

from __future__ import annotations

import csv
import itertools
import operator
import os
import stat
import threading
import time
import unicodedata
from array import array
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
_QUOTED_LIMIT = 200  # characters of a bad row or header an error message quotes


def _invisible(name: str) -> list[int]:
    """Positions of the characters of ``name`` that print as nothing: format characters
    (Unicode category Cf: the byte-order mark U+FEFF, zero-width spaces and joiners, bidi controls)."""
    if name.isascii():
        return []
    return [i for i, ch in enumerate(name) if unicodedata.category(ch) == "Cf"]


def visible(name: str) -> str:
    """``name`` quoted as messages show it (``ls -b``), its invisible characters as ``\\uXXXX``."""
    text = quoted(name)
    if text.isascii():
        return text
    return "".join(f"\\u{ord(ch):04x}" if unicodedata.category(ch) == "Cf" else ch for ch in text)


def _lookalike_names(names: Sequence[str], what: str) -> list[tuple[str, list[str]]]:
    """Why some of ``names`` (labels, class folders) print like another name: ``(message, the names)``
    for each name holding invisible characters, and for each group of names that differ only in
    Unicode normalisation (NFC and NFD forms of the same text)."""
    out = []
    for name in names:
        where = _invisible(name)
        if where:
            codes = ", ".join(sorted({f"U+{ord(name[i]):04X}" for i in where}))
            out.append(
                (
                    f"{what} {visible(name)} holds invisible character(s) ({codes} at position "
                    f"{', '.join(map(str, where[:5]))}): it prints like {quoted(_strip_invisible(name))}",
                    [name],
                )
            )
    forms: dict[str, list[str]] = {}
    for name in names:
        if not name.isascii():
            forms.setdefault(unicodedata.normalize("NFC", name), []).append(name)
    for group in forms.values():
        if len(group) > 1:
            shown = " and ".join(visible(n) for n in group[:3])
            out.append((f"{what}s {shown} differ only in their Unicode form (NFC/NFD): they print alike", group))
    return out


def _strip_invisible(name: str) -> str:
    return "".join(ch for ch in name if unicodedata.category(ch) != "Cf")


def _some(paths: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(visible(p) for p in paths[:limit])
    return shown + ("" if len(paths) <= limit else f" and {len(paths) - limit:,} more")


def _clip(text: str, limit: int = _QUOTED_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how many were left out: an error quotes a bad
    row or header, never all of a 100 MB one."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def _shown_row(row: Sequence[str]) -> str:
    """A CSV row as an error message quotes it: its first fields, clipped, and how many there are."""
    if len(row) <= 3:
        return _clip(repr(list(row)))
    return f"{_clip(repr(list(row[:3])))} and {len(row) - 3:,} more fields"


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


class PackedPaths:
    """Relative paths packed in one bytes buffer (``_paths_blob``: each path ends in NUL, item i
    starts at ``_path_starts[i]``) under ``root``: the one reader of that packing, for every index."""

    root: str
    _paths_blob: bytes
    _path_starts: Any

    def __len__(self) -> int:  # the indexes count their items themselves
        raise NotImplementedError

    def relative_path(self, i: int) -> str:
        start, stop = int(self._path_starts[i]), int(self._path_starts[i + 1]) - 1
        return self._paths_blob[start:stop].decode(_ENCODING, _ERRORS)

    def relative_paths(self) -> list[str]:
        """All relative paths, in item order (materialises one str per item)."""
        if not len(self):
            return []
        return self._paths_blob[:-1].decode(_ENCODING, _ERRORS).split("\0")

    def path(self, i: int) -> str:
        return os.path.join(self.root, self.relative_path(i))


@dataclass(frozen=True, eq=False)
class DatasetIndex(PackedPaths):
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
    repeated_folders: tuple[str, ...] = ()  # paths to a folder already listed in the class, not descended
    shared_files: tuple[tuple[str, str], ...] = ()  # (path, the same file's path in an earlier class)
    source_file: str = ""  # the file the index was read from (a manifest), absolute; "" for a folder

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
        if self.repeated_folders:
            out.append(
                f"symlinks reach the same folders by too many paths: {len(self.repeated_folders):,} path(s) lead to "
                f"a folder already listed in its class and were not descended, e.g. {_some(self.repeated_folders)}; "
                "each real folder of the class is listed once (ImageFolder would walk every path, listing the "
                f"same files each time; it is followed path by path only up to max({PATH_LIMIT:,}, "
                f"{PATHS_PER_FOLDER} x the class's folders) folders entered)"
            )
        if self.shared_files:
            same = ", ".join(f"{visible(a)} is {visible(b)}" for a, b in self.shared_files[:3])
            more = "" if len(self.shared_files) <= 3 else f" and {len(self.shared_files) - 3:,} more"
            out.append(
                f"{len(self.shared_files):,} file(s) are listed under two classes, one file reached through a "
                f"symlink or a hard link: {same}{more}; torchvision lists them under both labels too"
            )
        if self.source == "folder":
            out.extend(
                f"{message}; torchvision takes it as its own class too"
                for message, _ in _lookalike_names(self.classes, "class folder")
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


_Key = tuple[int, int] | str  # a folder's (st_dev, st_ino), or its path when it cannot be stat-ed

#: ImageFolder (``os.walk(followlinks=True)``) enters a folder once for every path that leads to
#: it, so symlinks that reach one folder by many paths (two links per level, 24 levels: 2**24
#: paths, no cycle) make it list the same files that many times, for hours. A class is walked
#: path by path, as ImageFolder walks it, while that enters at most
#: max(PATH_LIMIT, PATHS_PER_FOLDER x the class's real folders) folders; past that, each real
#: folder of the class is listed once and the other paths to it are reported
#: (``DatasetIndex.repeated_folders``).
PATH_LIMIT = 10_000
PATHS_PER_FOLDER = 4


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _key(path: str) -> _Key:
    ident = _identity(path)
    return path if ident is None else ident


_name_of = operator.attrgetter("name")


class _Folder:
    """A real folder, listed once: its image files, the extensions of its other files, its
    sub-folders with their identities, and the identity of each image file."""

    __slots__ = ("key", "path", "kept", "names", "skipped", "children", "inodes", "linked")

    def __init__(self, key: _Key, path: str) -> None:
        self.key = key
        self.path = path  # the path it was listed by
        self.kept: list[str] | None = None  # image file names, sorted; None: the folder could not be listed
        self.names: list[str] = []  # the same, in listing order
        self.skipped: Counter[str] = Counter()
        self.children: list[tuple[str, _Key]] = []  # (name, identity), by name
        self.inodes = array("Q")  # per name: its inode (d_ino), on the folder's device
        self.linked: list[tuple[int, int, int]] = []  # (position in names, st_dev, st_ino) of symlinks; -1: dangling


def _explore(
    top: str, top_key: _Key, above: frozenset[_Key], exts: tuple[str, ...], cancel: threading.Event | None
) -> dict[_Key, _Folder]:
    """Every real folder reachable from ``top``, each listed once, by identity.

    Listing follows os.walk's rules: entries whose is_dir() fails count as files, symlinked folders
    are followed, a folder that cannot be listed is kept with ``kept = None``. The folders in
    ``above`` (the root) are not explored: a path into one of them is a cycle. Per-file work is
    done by C-level ``map`` calls: the scan stays within half of ImageFolder's time."""
    graph: dict[_Key, _Folder] = {}
    stack = [(top, top_key)]
    while stack:
        path, key = stack.pop()
        if key in graph or key in above:
            continue
        folder = graph[key] = _Folder(key, path)
        if len(graph) % 256 == 0:
            _check_cancel(cancel)
        try:
            with os.scandir(path) as it:
                entries = list(it)
        except OSError:
            continue
        names = list(map(_name_of, entries))
        try:
            is_dir = list(map(os.DirEntry.is_dir, entries))
        except OSError:  # is_dir() failed on some entry: os.walk counts those as files
            is_dir = []
            for e in entries:
                try:
                    is_dir.append(e.is_dir())
                except OSError:
                    is_dir.append(False)
        dirs: list[str] = []
        if True in is_dir:
            dirs = sorted(itertools.compress(names, is_dir))
            is_file = [not x for x in is_dir]
            entries = list(itertools.compress(entries, is_file))
            names = list(itertools.compress(names, is_file))
        keep = [n.endswith(exts) or n.lower().endswith(exts) for n in names]
        if False in keep:
            folder.skipped.update(os.path.splitext(n)[1].lower() for n, k in zip(names, keep, strict=True) if not k)
            entries = list(itertools.compress(entries, keep))
            names = list(itertools.compress(names, keep))
        folder.names = names
        folder.kept = sorted(names)
        folder.inodes = array("Q", map(os.DirEntry.inode, entries))
        for i in itertools.compress(range(len(entries)), map(os.DirEntry.is_symlink, entries)):
            try:
                st = entries[i].stat()  # the target's, already fetched by is_dir()
            except OSError:  # a dangling link: no file to compare
                folder.linked.append((i, -1, 0))
                continue
            folder.linked.append((i, st.st_dev, st.st_ino))
        folder.children = [(name, _key(os.path.join(path, name))) for name in dirs]
        stack.extend((os.path.join(path, name), k) for name, k in reversed(folder.children) if k not in graph)
    return graph


_Walked = tuple[list[tuple[str, _Folder]], list[str], list[str], list[str]]


def _walk(
    graph: dict[_Key, _Folder], top: str, top_key: _Key, above: frozenset[_Key], limit: int | None
) -> _Walked | None:
    """``([(dirpath, folder)], loops, unreadable, repeats)`` for the class at ``top``, from its
    explored folders (no file-system access).

    With a ``limit``: the paths ``os.walk(top, followlinks=True)`` walks (a folder entered again
    for every path that reaches it), or None past ``limit`` folders entered. Without: each real
    folder entered once, by the first path that reaches it (names in sorted order, depth first);
    the other paths to it go to ``repeats``. Either way a folder that is one of the folders on the
    path above it (``above`` holds the root's identity) is a cycle: recorded in ``loops``, not
    descended, so every walk ends."""
    out: list[tuple[str, _Folder]] = []
    loops: list[str] = []
    unreadable: list[str] = []
    repeats: list[str] = []
    entered: set[_Key] = set()
    stack: list[tuple[str, _Key, frozenset[_Key]]] = [(top, top_key, above)]
    while stack:
        path, key, ancestors = stack.pop()
        if key in ancestors:
            loops.append(path)
            continue
        if limit is None:
            if key in entered:
                repeats.append(path)
                continue
            entered.add(key)
        else:
            limit -= 1
            if limit < 0:
                return None
        folder = graph[key]
        if folder.kept is None:
            unreadable.append(path)
            continue
        out.append((path, folder))
        if folder.children:
            inner = ancestors | {key}
            stack.extend((os.path.join(path, d), k, inner) for d, k in reversed(folder.children))
    return out, loops, unreadable, repeats


def _shared_files(listed: list[list[tuple[str, _Folder]]], prefix_len: int) -> list[tuple[str, str]]:
    """Files listed under two or more classes (one file reached through a symlinked folder, a
    symlink or a hard link): ``(path, the same file's path in the first class that lists it)``,
    relative to the root (``prefix_len`` characters cut). Candidates come from the listings'
    identities (no extra system call); each candidate is confirmed by ``os.stat``."""
    folders: list[tuple[str, _Folder]] = []
    folder_class: list[int] = []
    inodes: list[np.ndarray] = []
    for c, entries in enumerate(listed):
        seen: set[int] = set()
        for path, folder in entries:  # sorted by path: each folder by its first path in the class
            if folder.names and isinstance(folder.key, tuple) and id(folder) not in seen:
                seen.add(id(folder))
                folders.append((path, folder))
                folder_class.append(c)
                inodes.append(np.frombuffer(folder.inodes, dtype=np.uint64))
    if len(set(folder_class)) < 2:
        return []
    sizes = np.fromiter((len(f.names) for _, f in folders), dtype=np.int64, count=len(folders))
    fidx = np.repeat(np.arange(len(folders)), sizes)
    ino = np.concatenate(inodes)
    del inodes
    dev = np.repeat(np.array([f.key[0] for _, f in folders], dtype=np.uint64), sizes)
    good = np.ones(ino.size, dtype=bool)
    starts = np.cumsum(sizes) - sizes
    for k, (_, folder) in enumerate(folders):
        for p, d, i in folder.linked:  # a symlink: its target's identity, if it has one
            good[starts[k] + p] = d >= 0
            dev[starts[k] + p], ino[starts[k] + p] = max(d, 0), i
    cls = np.asarray(folder_class, dtype=np.int64)[fidx]
    if not good.all():
        keep = np.flatnonzero(good)
        dev, ino, cls, fidx = dev[keep], ino[keep], cls[keep], fidx[keep]
        pos = keep - starts[fidx]
    else:
        pos = np.arange(ino.size) - starts[fidx]
    if ino.size and int(dev.min()) == int(dev.max()):  # one device (the usual case): sort the inodes only
        order = np.argsort(ino, kind="stable")
        same = ino[order][1:] == ino[order][:-1]
    else:
        order = np.lexsort((ino, dev))
        same = (ino[order][1:] == ino[order][:-1]) & (dev[order][1:] == dev[order][:-1])
    if not same.any():
        return []
    new_run = np.concatenate([[True], ~same])
    run_starts = np.flatnonzero(new_run)
    c_sorted = cls[order]
    mixed = np.minimum.reduceat(c_sorted, run_starts) != np.maximum.reduceat(c_sorted, run_starts)
    if not mixed.any():
        return []
    members = order[mixed[np.cumsum(new_run) - 1]]
    by_identity: dict[tuple[int, int], list[tuple[int, str]]] = {}
    for m in members.tolist():
        dirpath, folder = folders[int(fidx[m])]
        path = os.path.join(dirpath, folder.names[int(pos[m])])
        ident = _identity(path)  # confirmed: the listing's inode numbers are only candidates
        if ident is not None:
            by_identity.setdefault(ident, []).append((int(cls[m]), path[prefix_len:]))
    pairs: list[tuple[str, str]] = []
    for copies in by_identity.values():
        copies.sort()
        first_class, first = copies[0]
        pairs.extend((p, first) for c, p in copies[1:] if c != first_class)
    pairs.sort()
    return pairs


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
    descended; a class whose folders symlinks reach by more paths than its walk may
    enter (see :data:`PATH_LIMIT`) lists each real folder once and reports the other paths.
    Files listed under two classes (through a symlink or a hard link) are reported.
    ``extensions`` is one suffix or a sequence of them, as for torchvision.
    ``progress`` is called after every class folder; setting ``cancel`` stops the scan
    soon after with :class:`Cancelled`.
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
    repeats: list[str] = []
    listed: list[list[tuple[str, _Folder]]] = []
    root_identity = _identity(root_str)
    above: frozenset[_Key] = frozenset() if root_identity is None else frozenset({root_identity})
    folders_done = files_found = 0
    prefix_len = len(root_str) + (0 if root_str.endswith(os.sep) else 1)
    for class_index, name in enumerate(classes):
        _check_cancel(cancel)
        top = os.path.join(root_str, name)
        top_key = _key(top)
        graph = _explore(top, top_key, above, exts, cancel)
        walked = _walk(graph, top, top_key, above, max(PATH_LIMIT, PATHS_PER_FOLDER * len(graph)))
        if walked is None:  # too many paths to the same folders: each real folder once
            walked = _walk(graph, top, top_key, above, None)
            assert walked is not None
        entries, class_loops, class_unreadable, class_repeats = walked
        loops += class_loops
        unreadable += class_unreadable
        repeats += class_repeats
        # torchvision sorts os.walk's (dirpath, dirs, files) tuples: folders by path string.
        entries.sort(key=_first)
        listed.append(entries)
        in_class = 0
        for dirpath, folder in entries:
            if folder.skipped:
                skipped.update(folder.skipped)
            if folder.kept:
                prefix = dirpath[prefix_len:] + os.sep
                chunks.append(prefix + ("\0" + prefix).join(folder.kept))
                in_class += len(folder.kept)
        folders_done += len(entries)
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
    shared = _shared_files(listed, prefix_len)
    del listed
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
        repeated_folders=tuple(os.path.relpath(p, root_str) for p in repeats),
        shared_files=tuple(shared),
    )


def _first(entry: tuple[str, _Folder]) -> str:
    return entry[0]


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
    With ``check_files`` every listed file must exist, and files are told apart by
    identity (device and inode), so one file listed by two paths (through a symlink or a
    hard link) is one file: refused under two labels, counted once under one. Labels that
    print like another (invisible characters such as a byte-order mark, or another
    Unicode form of the same text) are refused.
    """
    start_time = time.perf_counter()
    manifest_str = os.path.expanduser(os.fspath(manifest))
    if not os.path.isfile(manifest_str):
        raise DatasetNotFoundError(f"manifest not found: {manifest_str}")
    root = os.path.dirname(os.path.abspath(manifest_str))
    paths: list[str] = []
    labels: list[str] = []
    lines: list[int] = []
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
                    f"{manifest_str}: the first line must be the header 'path,label', "
                    f"found {_clip(','.join(header or []))!r}"
                )
            for row in reader:
                line_no = reader.line_num
                if not row:
                    continue
                if len(row) != 2 or not row[0].strip() or not row[1].strip():
                    raise DatasetError(f"{manifest_str}, line {line_no}: expected 'path,label', got {_shown_row(row)}")
                path, label = row[0].strip(), row[1].strip()
                key = os.path.normpath(os.path.join(root, path))
                seen = first_line.setdefault(key, (line_no, label))
                if seen[0] != line_no:
                    if seen[1] == label:
                        duplicates.append((line_no, seen[0]))
                    else:
                        conflicts.append(_two_labels(path, seen[1], seen[0], label, line_no))
                    continue
                paths.append(path)
                labels.append(label)
                lines.append(line_no)
                if cancel is not None and line_no % 65536 == 0:
                    _check_cancel(cancel)
    except UnicodeDecodeError as e:
        raise DatasetError(f"{manifest_str}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    except csv.Error as e:
        raise DatasetError(f"{manifest_str}: not a valid CSV file ({_clip(str(e))})") from e
    except OSError as e:
        raise DatasetError(f"cannot read manifest {manifest_str}: {e.strerror or e}") from e
    del first_line
    if not conflicts and not paths:
        raise DatasetNotFoundError(f"{manifest_str}: the manifest lists no files")
    _check_cancel(cancel)
    if check_files and not conflicts:
        keep, missing = _same_files(root, paths, labels, lines, duplicates, conflicts)
        if missing:
            shown = ", ".join(visible(paths[i]) for i in missing[:5])
            raise DatasetError(f"{manifest_str}: {len(missing)} listed file(s) do not exist, e.g. {shown}")
        if keep is not None:
            paths = [paths[i] for i in keep]
            labels = [labels[i] for i in keep]
            lines = [lines[i] for i in keep]
    if conflicts:
        more = "" if len(conflicts) <= 3 else f" and {len(conflicts) - 3} more"
        raise DatasetError(
            f"{manifest_str}: {len(conflicts)} file(s) listed under two labels: {'; '.join(conflicts[:3])}{more}"
        )
    classes = sorted(set(labels))
    lookalikes = _lookalike_names(classes, "label")
    if lookalikes:
        message, names = lookalikes[0]
        line_no = min(lines[labels.index(n)] for n in names)
        more = "" if len(lookalikes) == 1 else f" (and {len(lookalikes) - 1} more such label(s))"
        raise DatasetError(f"{manifest_str}, line {line_no}: {message}{more}; fix the label")
    class_to_idx = {c: i for i, c in enumerate(classes)}
    targets = np.fromiter((class_to_idx[lab] for lab in labels), dtype=np.int64, count=len(labels))
    if progress is not None:
        progress(
            ScanProgress(1, len(classes), len(classes), len(paths), manifest_str, time.perf_counter() - start_time)
        )
    duplicates.sort()
    return _make_index(
        root,
        classes,
        targets,
        paths,
        source="manifest",
        duplicate_rows=tuple(duplicates),
        source_file=os.path.abspath(manifest_str),
    )


def _two_labels(path: str, label: str, line: int, other_label: str, other_line: int, other_path: str = "") -> str:
    """One file under two labels, as the refusal names it (``other_path``: the same file under another name)."""
    was, now = visible(label), visible(other_label)
    if not other_path:
        return f"{visible(path)} is {was} on line {line} and {now} on line {other_line}"
    return (
        f"{visible(path)} (line {line}, {was}) and {visible(other_path)} (line {other_line}, {now}) "
        "are the same file (a symlink or a hard link)"
    )


def _same_files(
    root: str,
    paths: list[str],
    labels: list[str],
    lines: list[int],
    duplicates: list[tuple[int, int]],
    conflicts: list[str],
) -> tuple[list[int] | None, list[int]]:
    """Stat every listed file: ``(rows to keep, or None for all; rows whose file does not exist)``.

    A file listed again under another path (a symlink, a hard link) is the same file: under the
    same label the row is dropped and recorded in ``duplicates``, under another it goes to
    ``conflicts``."""
    missing: list[int] = []
    owner: dict[tuple[int, int], int] = {}
    drop: list[int] = []
    for i, p in enumerate(paths):
        try:
            st = os.stat(os.path.join(root, p))
        except (OSError, ValueError):
            missing.append(i)
            continue
        if not stat.S_ISREG(st.st_mode):
            missing.append(i)
            continue
        j = owner.setdefault((st.st_dev, st.st_ino), i)
        if j != i:
            if labels[j] == labels[i]:
                duplicates.append((lines[i], lines[j]))
                drop.append(i)
            else:
                conflicts.append(_two_labels(paths[j], labels[j], lines[j], labels[i], lines[i], paths[i]))
    if not drop:
        return None, missing
    dropped = set(drop)
    return [i for i in range(len(paths)) if i not in dropped], missing


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
