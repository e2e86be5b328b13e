"""The image health check: decode every image fully and hash its bytes, in parallel processes.

``check_images(index)`` finds the files a training run would trip on or over-count:

- ``corrupt``: empty, truncated, unreadable, or not an image whatever the extension. Each
  file is decoded completely (``PIL.Image.load()``), not just its header, because a JPEG cut
  short opens fine and fails only when its pixels are read - hours into training.
- ``duplicate``: byte-identical (sha256) to an earlier sample in ImageFolder order; it points
  at that first copy, and ``cross_class`` says the copy sits in another class (a label error).

It also gathers per-class sizes and modes, and optionally decode timings. Results are cached
per file (see :mod:`.image_cache`), so a re-check of an unchanged tree only stats the files.
``usable_mask`` / ``usable_counts`` / ``usable_weights`` give the corrected counts: without
corrupt files and duplicate copies, which get weight 0 (a group of copies in one class keeps its
first copy; a group across classes, a label conflict, keeps none: see :mod:`.duplicates`).

Every file is data anyone could have made, so one set of rules serves every reader of dataset
images (the check's workers and the GUI's thumbnails, through :func:`open_image_file`):

- only regular files are opened (a FIFO, a device or a socket named ``x.jpg`` is a problem, never read);
- a file above ``max_file_bytes`` is a problem, never read; the rest is hashed in 1 MiB pieces;
- an image of more than ``max_pixels`` pixels is a problem, never decoded (a decompression bomb);
- only the decoders of the extensions the folder scan accepts are tried (:data:`ACCEPTED_FORMATS`):
  never EPS (it runs Ghostscript) nor any other plugin;
- a file that kills the worker process decoding it is a problem ("crashed the decoder"), and the
  rest of the check goes on; a cancel ends the check at once, whatever a worker is doing.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import io
import multiprocessing
import os
import queue
import signal
import stat
import sys
import threading
import time
import warnings
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO, Literal

import numpy as np

from .dataset import IMG_EXTENSIONS, DatasetIndex
from .duplicates import excluded_copies
from .errors import Cancelled, SettingsError
from .image_cache import CheckCache, FileInfo, default_cache_path
from .weights import Scheme, class_weights, sample_weights

ProblemKind = Literal["corrupt", "duplicate"]

#: Pass as ``cache_path`` to use the user cache dir (the default); None checks without a cache.
DEFAULT_CACHE = "<user cache dir>"

# Files per task sent to a worker process: large enough that the pool's overhead (pickling,
# one round trip) is small against decoding, small enough for prompt progress and cancel.
_MAX_CHUNK = 64
# Below this many files to decode, starting worker processes costs more than it saves.
_IN_PROCESS_MAX = 48

# How often the check looks at its cancel flag while it waits for work: a cancel ends it this fast.
_POLL_S = 0.05

_GRAYSCALE_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})

#: Files larger than this are reported ("too large"), never read: 512 MiB.
DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024
#: Images of more pixels than this are reported, never decoded: PIL's own MAX_IMAGE_PIXELS default
#: (a 3-byte-per-pixel image of 256 MiB), where PIL only warns and decodes up to twice as many.
DEFAULT_MAX_PIXELS = 1024 * 1024 * 1024 // 4 // 3

# The PIL decoder of each extension the folder scan accepts (torchvision's IMG_EXTENSIONS; a test
# checks it against PIL's own table). These decoders, and no others, are ever tried on a dataset file:
# PIL would otherwise try every plugin it has, EPS among them, which runs Ghostscript on the file.
_FORMAT_OF_EXTENSION = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".ppm": "PPM",
    ".pgm": "PPM",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}
#: The PIL format names the check decodes (what the extensions of the folder scan stand for).
ACCEPTED_FORMATS: tuple[str, ...] = tuple(sorted({_FORMAT_OF_EXTENSION[ext] for ext in IMG_EXTENSIONS}))
# The PIL modules of those decoders: imported before the first open, so that PIL never needs to load
# all of its plugins to find one of them.
_DECODER_MODULES = tuple(f"PIL.{name}ImagePlugin" for name in ("Bmp", "Jpeg", "Png", "Ppm", "Tiff", "WebP"))

# Leading bytes, to say what a file that does not decode is: formats the check decodes ...
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
# ... and formats it never decodes (a PostScript file named .jpg is not read by Ghostscript here).
_FOREIGN_MAGIC = (
    (b"GIF8", "GIF"),
    (b"%!PS", "PostScript"),
    (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"%PDF", "PDF"),
)
_HASH_PIECE = 1024 * 1024  # files are read (hashed) this much at a time


@dataclass(frozen=True)
class CheckProgress:
    """Where a check stands, reported after each chunk of files."""

    files_done: int
    files_total: int
    from_cache: int
    elapsed_s: float


@dataclass(frozen=True)
class Problem:
    """One unusable sample. ``sample`` is its position in the index (ImageFolder order)."""

    sample: int
    path: str  # relative to the index root, as in the samples list
    kind: ProblemKind
    reason: str | None = None  # corrupt only
    duplicate_of: int | None = None  # duplicate only: the first copy's sample position
    duplicate_of_path: str | None = None
    cross_class: bool = False  # duplicate only: the first copy is in another class

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"path": self.path, "kind": self.kind, "sample": self.sample}
        if self.kind == "corrupt":
            out["reason"] = self.reason
        else:
            out["duplicate_of"] = self.duplicate_of_path
            out["duplicate_of_sample"] = self.duplicate_of
            out["cross_class"] = self.cross_class
        return out


@dataclass(frozen=True)
class ClassStats:
    """Sizes and modes of one class's decodable images (corrupt files are left out)."""

    name: str
    images: int
    usable: int
    corrupt: int
    duplicates: int
    width: tuple[int, int, int] | None  # min, median, max; None when no image decodes
    height: tuple[int, int, int] | None
    grayscale: int
    colour: int
    modes: dict[str, int]
    decode_ms_median: float | None = None  # only with timing=True

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "name": self.name,
            "images": self.images,
            "usable": self.usable,
            "corrupt": self.corrupt,
            "duplicates": self.duplicates,
            "width": None if self.width is None else dict(zip(("min", "median", "max"), self.width, strict=True)),
            "height": None if self.height is None else dict(zip(("min", "median", "max"), self.height, strict=True)),
            "grayscale": self.grayscale,
            "colour": self.colour,
            "modes": dict(self.modes),
        }
        if self.decode_ms_median is not None:
            out["decode_ms_median"] = self.decode_ms_median
        return out


@dataclass(frozen=True, eq=False)
class CheckResult:
    """What ``check_images`` found, for every sample of the index it checked."""

    classes: tuple[str, ...]
    targets: np.ndarray  # int64, one per sample
    problems: tuple[Problem, ...]  # in sample order
    class_stats: tuple[ClassStats, ...]
    files_decoded: int  # read and decoded in this check (the rest came from the cache)
    elapsed_s: float
    decode_seconds: np.ndarray | None = None  # per sample, with timing=True; NaN where unreadable
    cache_path: str | None = None
    warnings: tuple[str, ...] = ()
    _unusable: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)

    @property
    def corrupt(self) -> list[Problem]:
        return [p for p in self.problems if p.kind == "corrupt"]

    @property
    def duplicates(self) -> list[Problem]:
        return [p for p in self.problems if p.kind == "duplicate"]

    @property
    def clean(self) -> bool:
        return not self.problems

    @property
    def usable_mask(self) -> np.ndarray:
        """Per sample, in index order: True unless corrupt, a later copy, or any copy of a
        cross-class group (``core.duplicates.resolve`` applies other choices)."""
        return ~self._unusable

    @property
    def usable_counts(self) -> np.ndarray:
        """Per class: images without corrupt files and duplicate copies."""
        return np.bincount(self.targets[~self._unusable], minlength=len(self.classes)).astype(np.int64)


# ---------------------------------------------------------------- opening dataset files: one rule for every reader


class UnusableFile(Exception):
    """A dataset file that is never read: ``reason`` says why (not a regular file, too large)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "fifo"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISDIR, "folder"),
)
# No waiting on a FIFO (nor on a device, in the instant after the stat), no controlling terminal.
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def refusal(st: os.stat_result, max_bytes: int | None = DEFAULT_MAX_FILE_BYTES) -> str | None:
    """Why a file of status ``st`` (``os.stat``: links followed) is never read, or None when it may be."""
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _SPECIAL_KINDS if test(st.st_mode)), "special file")
        return f"not a regular file: {kind}"
    if max_bytes is not None and st.st_size > max_bytes:
        return f"too large: {st.st_size:,} bytes > {max_bytes:,} (the file size limit)"
    return None


def open_image_file(path: str, max_bytes: int | None = DEFAULT_MAX_FILE_BYTES) -> BinaryIO:
    """Open a dataset file for reading, the one way every reader of dataset images does it.

    Only a regular file of at most ``max_bytes`` is opened: ``os.stat`` first (a symlink is
    followed, and what it points at must be a regular file), then a non-blocking open, then
    ``fstat`` of what was opened, which must be that same file (a FIFO or a device swapped in
    between is caught). Raises :class:`UnusableFile` for a file that must not be read, and
    ``OSError`` for one that cannot be.
    """
    st = os.stat(path)
    reason = refusal(st, max_bytes)
    if reason is not None:
        raise UnusableFile(reason)
    fd = os.open(path, _OPEN_FLAGS)
    try:
        opened = os.fstat(fd)
        reason = refusal(opened, max_bytes)
        if reason is None and (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
            reason = "replaced by another file while it was being opened"
        if reason is not None:
            raise UnusableFile(reason)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def too_many_pixels(width: int, height: int, max_pixels: int) -> str | None:
    """The reason an image of this size is never decoded (a decompression bomb), or None."""
    if width * height <= max_pixels:
        return None
    return (
        f"too many pixels to decode safely: {width:,} x {height:,} = {width * height:,} "
        f"> {max_pixels:,} (the pixel limit)"
    )


def format_reason(head: bytes) -> str:
    """What a file whose first bytes are ``head`` is, when no accepted decoder can read it."""
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return f"a {fmt} file cut short or damaged: no image can be read from it"
    for magic, fmt in _FOREIGN_MAGIC:
        if head.startswith(magic):
            return f"a {fmt} file: not a format the check decodes ({', '.join(ACCEPTED_FORMATS)})"
    return "not an image (no format recognised)"


# ---------------------------------------------------------------- the work done per file (in worker processes)


@dataclass(frozen=True)
class DecodeSettings:
    """What a verdict on one file depends on besides its bytes (the cache keys verdicts by it)."""

    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    load_truncated: bool = False  # PIL's ImageFile.LOAD_TRUNCATED_IMAGES, as the checking process had it

    def cache_key(self) -> dict[str, object]:
        """The settings a cached verdict must have been made under (the file size limit is not one:
        a file above it is never read, so no verdict on it is cached)."""
        import PIL

        return {
            "pillow": PIL.__version__,
            "formats": list(ACCEPTED_FORMATS),
            "max_pixels": self.max_pixels,
            "load_truncated": self.load_truncated,
        }


DEFAULT_SETTINGS = DecodeSettings()
_IN_WORKER = False  # set in the check's worker processes, whose PIL settings the check owns


class _Batch(list):
    """The file paths of one task for a worker, with the settings to check them by."""

    settings: DecodeSettings


def _batch(paths: list[str | ImageBytes], settings: DecodeSettings) -> _Batch:
    batch = _Batch(paths)
    batch.settings = settings
    return batch


def _reason_for(error: Exception, head: bytes) -> str:
    text = str(error)
    if "truncated" in text.lower():
        return "truncated: " + text
    if type(error).__name__ == "UnidentifiedImageError":
        return format_reason(head)
    if type(error).__name__ == "DecompressionBombError":
        return f"too many pixels to decode safely: {text}"
    return f"cannot decode: {type(error).__name__}: {text}"


def _unread(reason: str) -> FileInfo:
    return FileInfo(0, 0, None, 0, 0, "", reason, 0.0)


def inspect_file(path: str, settings: DecodeSettings = DEFAULT_SETTINGS) -> FileInfo:
    """Hash and fully decode one file. Never raises for a bad file: the reason says what is wrong.

    The file is opened only as :func:`open_image_file` allows, hashed in 1 MiB pieces, and decoded
    only by the decoders of :data:`ACCEPTED_FORMATS`, and only when it has at most
    ``settings.max_pixels`` pixels.
    """
    try:
        fh = open_image_file(path, settings.max_file_bytes)
    except UnusableFile as e:
        return _unread(e.reason)
    except OSError as e:
        return _unread(f"cannot read: {e.strerror or e}")
    with fh:
        st = os.fstat(fh.fileno())
        try:
            head = fh.read(_HASH_PIECE)
            digest = hashlib.sha256(head)
            read = len(head)
            if read == _HASH_PIECE:  # a large file: hashed piece by piece, never held whole
                while piece := fh.read(_HASH_PIECE):
                    read += len(piece)
                    if read > settings.max_file_bytes:  # it grew while being read
                        return _unread(f"too large: more than {settings.max_file_bytes:,} bytes (the file size limit)")
                    digest.update(piece)
                fh.seek(0)
        except OSError as e:
            return _unread(f"cannot read: {e.strerror or e}")
        source = io.BytesIO(head) if read < _HASH_PIECE else fh  # a small file: read once
        return _decode(source, head, st.st_size, st.st_mtime_ns, digest, settings)


@dataclass(frozen=True)
class ImageBytes:
    """An image held inside a dataset file (a Hugging Face image column, a tar member), checked as a
    file with these bytes would be. ``mtime_ns`` is its container's (the cache keys verdicts by it)."""

    data: bytes
    mtime_ns: int = 0


def inspect_bytes(data: bytes, settings: DecodeSettings = DEFAULT_SETTINGS, mtime_ns: int = 0) -> FileInfo:
    """:func:`inspect_file` for an image held in memory: the same verdicts, by the same decoders and limits."""
    if len(data) > settings.max_file_bytes:
        return _unread(f"too large: {len(data):,} bytes > {settings.max_file_bytes:,} (the file size limit)")
    return _decode(io.BytesIO(data), data[:_HASH_PIECE], len(data), mtime_ns, hashlib.sha256(data), settings)


def _decode(source: BinaryIO, head: bytes, size: int, mtime_ns: int, digest: Any, settings: DecodeSettings) -> FileInfo:
    """Decode hashed bytes (``head`` their start): only by the decoders of :data:`ACCEPTED_FORMATS`, and
    only when the header says at most ``settings.max_pixels`` pixels. Never raises for bad data."""
    from PIL import Image  # imported here: worker processes need nothing else from this package

    sha256 = digest.hexdigest()
    if not head:
        return FileInfo(size, mtime_ns, sha256, 0, 0, "", "empty file (0 bytes)", 0.0)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():  # "corrupt EXIF" and the like, once per file of a million: not news
            warnings.simplefilter("ignore")
            with Image.open(source, formats=ACCEPTED_FORMATS) as im:
                width, height = im.size
                bomb = too_many_pixels(width, height, settings.max_pixels)
                if bomb is not None:  # said from the header alone: never decoded
                    return FileInfo(size, mtime_ns, sha256, 0, 0, "", bomb, 0.0)
                im.load()
                mode = im.mode
    except Exception as e:  # noqa: BLE001 - PIL raises many kinds for bad data; every one means "training would fail here"
        return FileInfo(size, mtime_ns, sha256, 0, 0, "", _reason_for(e, head), 0.0)
    return FileInfo(size, mtime_ns, sha256, width, height, mode, None, time.perf_counter() - start)


def inspect_item(item: str | ImageBytes, settings: DecodeSettings = DEFAULT_SETTINGS) -> FileInfo:
    """:func:`inspect_file` for a path, :func:`inspect_bytes` for an :class:`ImageBytes`."""
    if isinstance(item, ImageBytes):
        return inspect_bytes(item.data, settings, item.mtime_ns)
    return inspect_file(item, settings)


def _inspect_chunk(paths: Sequence[str | ImageBytes]) -> list[FileInfo]:
    settings = getattr(paths, "settings", DEFAULT_SETTINGS)
    if _IN_WORKER:  # a worker process decodes as the checking process would (its cache key says how)
        from PIL import ImageFile

        ImageFile.LOAD_TRUNCATED_IMAGES = settings.load_truncated
    return [inspect_item(p, settings) for p in paths]


def crashed_info(path: str | ImageBytes) -> FileInfo:
    """The verdict on a file that killed the worker process decoding it, every time it was tried."""
    reason = "crashed the decoder: the worker process decoding it died"
    if isinstance(path, ImageBytes):
        return FileInfo(len(path.data), path.mtime_ns, None, 0, 0, "", reason, 0.0)
    try:
        st = os.stat(path)
    except OSError:
        return _unread(reason)
    return FileInfo(st.st_size, st.st_mtime_ns, None, 0, 0, "", reason, 0.0)


def _worker_init() -> None:
    """Set up one worker process: it never outlives the checking process, and Ctrl+C is for its parent."""
    global _IN_WORKER
    _IN_WORKER = True
    # Ctrl+C in a terminal reaches the whole process group: the checking process ends its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in _DECODER_MODULES:
        try:
            __import__(name)
        except ImportError:  # a Pillow built without WebP: such files are reported as undecodable
            pass
    # A forked worker holds the fork server's "alive" pipe, and the server ends only when every holder
    # has: it would outlive a killed checking process, and so would the workers. Workers start no
    # processes: let go of it, so that the server ends with the checking process ...
    try:
        from multiprocessing import forkserver

        alive = forkserver._forkserver._forkserver_alive_fd  # type: ignore[attr-defined]
        if alive is not None:
            forkserver._forkserver._forkserver_alive_fd = None  # type: ignore[attr-defined]
            os.close(alive)
    except (AttributeError, OSError):
        pass
    # ... and this worker with the server (its parent), at once, where Linux can say so.
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent ended before the line above took effect
        os._exit(1)
    # Everywhere, and whatever the server does: end within a second of the checking process.
    checker = multiprocessing.parent_process()
    if checker is not None and checker.pid is not None:
        threading.Thread(target=_exit_with, args=(checker.pid,), name="checker watch", daemon=True).start()


def _exit_with(pid: int) -> None:
    """End this worker when process ``pid`` (the checking process) has ended."""
    try:
        import select

        fd = os.pidfd_open(pid)  # readable once the process has ended; never a reused pid
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        select.select([fd], [], [])
        os._exit(1)
    while True:
        time.sleep(1.0)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(1)
        except OSError:  # alive, another user's
            pass


# ---------------------------------------------------------------- the check


def _default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _pool_context() -> multiprocessing.context.BaseContext:
    # Never fork: the GUI (and torch) run threads, and a forked child inherits their locks held.
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    # The server imports the decoding code once; each worker forks from it with PIL already loaded.
    ctx.set_forkserver_preload(["balance_gui.core.images", "PIL.Image", *_DECODER_MODULES])
    return ctx


def _positive(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SettingsError(f"{name} must be a whole number >= 1 (got {value!r})")


def check_images(
    index: DatasetIndex,
    *,
    workers: int | None = None,
    cache_path: str | os.PathLike[str] | None = DEFAULT_CACHE,
    progress: Callable[[CheckProgress], None] | None = None,
    cancel: threading.Event | None = None,
    timing: bool = False,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    image_column: str | None = None,
) -> CheckResult:
    """Decode and hash every sample of ``index``; report corrupt files, exact duplicates and class stats.

    Args:
        index: a folder or manifest index (``open_dataset``).
        workers: worker processes (default: the cores this process may use); 1 checks in this process.
        cache_path: the cache file; ``DEFAULT_CACHE`` (default) puts it in the user cache dir,
            None checks without one.
        progress: called with a :class:`CheckProgress` after each chunk of files.
        cancel: set it to stop the check with :class:`Cancelled` (within a fraction of a second,
            whatever the workers are doing: they are killed); the files checked so far are cached.
        timing: also report decode times (per sample and the median per class).
        max_file_bytes: files larger than this are reported ("too large"), never read.
        max_pixels: images of more pixels than this are reported, never decoded.
        image_column: where a Hugging Face folder or WebDataset shards hold the images (the column,
            the member extension; default: see :mod:`.record_check`, which reads them).
    """
    start_time = time.perf_counter()
    if workers is None:
        workers = _default_workers()
    _positive(workers, "workers")
    _positive(max_file_bytes, "max_file_bytes")
    _positive(max_pixels, "max_pixels")
    from PIL import ImageFile

    settings = DecodeSettings(max_file_bytes, max_pixels, bool(ImageFile.LOAD_TRUNCATED_IMAGES))
    if cache_path == DEFAULT_CACHE:
        cache_path = default_cache_path(index.root)
    from .record_check import check_records, image_records

    records = image_records(index, image_column, max_file_bytes)  # images inside the dataset files: checked there
    if records is not None:
        return check_records(index, records, workers, cache_path, settings, progress, cancel, timing, start_time)
    n = len(index)
    cache = CheckCache(
        None if cache_path is None else os.fspath(cache_path), index.root, settings.cache_key(), expected_entries=n
    )

    rel_paths = index.relative_paths()
    full_paths = _full_paths(index, rel_paths)
    infos: list[FileInfo | None] = [None] * n
    todo: list[int] = []
    cached = cache.entries.get  # this loop is all a warm re-check does per file: kept lean
    stat_ = os.stat
    is_regular = stat.S_ISREG
    known = 0  # samples with a cache entry: the rest of the entries are of files no longer checked
    for i, path in enumerate(full_paths):
        info = cached(rel_paths[i])
        known += info is not None
        try:
            st = stat_(path)
        except OSError:
            todo.append(i)  # the worker reports why it cannot be read
            continue
        if not is_regular(st.st_mode) or st.st_size > max_file_bytes:
            infos[i] = _unread(refusal(st, max_file_bytes) or "cannot read")  # never opened, never cached
        elif info is None or info.size != st.st_size or info.mtime_ns != st.st_mtime_ns:
            todo.append(i)
        else:
            infos[i] = info
    if known < len(cache.entries):
        cache.retain(rel_paths)
    from_cache = n - len(todo)

    def report(done: int) -> None:
        if progress is not None:
            progress(CheckProgress(from_cache + done, n, from_cache, time.perf_counter() - start_time))

    def store(positions: Sequence[int], found: Sequence[FileInfo]) -> None:
        for i, info in zip(positions, found, strict=True):
            infos[i] = info
            if info.sha256 is not None:  # unreadable files are re-tried every time
                cache.put(rel_paths[i], info)

    report(0)
    try:
        _run(full_paths, todo, workers, settings, store, report, cancel)
    finally:
        warnings = _save(cache)  # what was decoded before a cancel or failure is kept
    result = _summarise(index, rel_paths, infos, timing)  # type: ignore[arg-type]  # every slot is filled now
    return replace(
        result,
        files_decoded=len(todo),
        elapsed_s=time.perf_counter() - start_time,
        cache_path=cache.path,
        warnings=warnings,
    )


def _full_paths(index: DatasetIndex, rel_paths: list[str]) -> list[str]:
    """``index.path(i)`` for every sample, at a fraction of its cost per file."""
    if index.source == "manifest":  # may list absolute paths
        return [os.path.join(index.root, p) for p in rel_paths]
    prefix = os.path.join(index.root, "")
    return [prefix + p for p in rel_paths]


def _start_in_background(ctx: multiprocessing.context.BaseContext) -> threading.Event:
    """Start the fork server (if ``ctx`` uses one) on a thread; the event is set when it is ready."""
    ready = threading.Event()

    def start() -> None:
        try:
            if ctx.get_start_method() == "forkserver":
                from multiprocessing import forkserver

                forkserver.ensure_running()
        finally:  # on failure the pool raises the error itself
            ready.set()

    threading.Thread(target=start, name="balance-gui fork server", daemon=True).start()
    return ready


@dataclass
class _Task:
    """Files sent to a worker as one task. After a worker died, the files of the tasks it took down
    are sent again one per task (``single``), and a file whose task died again is sent alone, with
    nothing else running (``alone``): if that worker dies too, the file is what kills it."""

    positions: list[int]
    alone: bool = False
    pool: object = None  # the pool it ran in


def _end_pool(pool: cf.ProcessPoolExecutor, kill: bool) -> None:
    """Shut ``pool`` down: at once, its workers killed, when ``kill`` (a cancel, a failure, a dead
    worker); otherwise once its workers have finished."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    if kill:
        for process in processes:
            try:
                process.kill()
            except (OSError, ValueError):  # already gone
                pass
    pool.shutdown(wait=not kill, cancel_futures=True)
    if kill:
        deadline = time.monotonic() + 1.0
        for process in processes:
            try:
                process.join(max(deadline - time.monotonic(), 0.0))
            except (OSError, ValueError, AssertionError):
                pass


def _run(
    full_paths: Sequence[str | ImageBytes],
    todo: list[int],
    workers: int,
    settings: DecodeSettings,
    store: Callable[[Sequence[int], Sequence[FileInfo]], None],
    report: Callable[[int], None],
    cancel: threading.Event | None,
) -> None:
    """Check the files at positions ``todo``: in worker processes, or on a thread of this process
    for few files (and while the workers start). This thread only hands out work, stores results and
    watches ``cancel``, so a cancel ends the check within ``_POLL_S`` whatever a decoder is doing."""

    def check_cancel() -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled("image check cancelled")

    size = max(8, min(_MAX_CHUNK, len(todo) // (workers * 8) or 1))
    chunks = deque(todo[s : s + size] for s in range(0, len(todo), size))
    lock = threading.Lock()  # guards chunks: the local decoder takes from their far end
    results: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
    stop_local = threading.Event()
    use_pool = workers > 1 and len(todo) > _IN_PROCESS_MAX

    def paths_of(positions: list[int]) -> _Batch:
        return _batch([full_paths[i] for i in positions], settings)

    def decode_here() -> None:
        # A daemon thread: a cancel never waits for it, and a decode that never ends cannot keep the
        # program from exiting. Only ever first tries: a file that killed a worker is never decoded here.
        while not stop_local.is_set():
            with lock:
                if not chunks:
                    return
                chunk = chunks.pop()
            try:
                results.put(("here", chunk, _inspect_chunk(paths_of(chunk)), None))
            except BaseException as e:  # noqa: BLE001 - a bug: the checking thread raises it
                results.put(("here", chunk, None, e))
                return

    done = 0

    def finish(positions: list[int], found: Sequence[FileInfo]) -> None:
        nonlocal done
        store(positions, found)
        done += len(positions)
        report(done)
        check_cancel()

    check_cancel()
    if not todo:
        return
    local = threading.Thread(target=decode_here, name="balance-gui image check", daemon=True)
    ctx = _pool_context() if use_pool else None
    server_ready = None if ctx is None else _start_in_background(ctx)
    pool: cf.ProcessPoolExecutor | None = None
    in_flight: dict[cf.Future[list[FileInfo]], _Task] = {}
    singles: deque[_Task] = deque()  # after a worker died: one file per task, several at once
    alone: deque[_Task] = deque()  # one file, with nothing else running

    def submit(task: _Task, back_to: deque[_Task] | None) -> None:
        assert pool is not None
        try:
            future = pool.submit(_inspect_chunk, paths_of(task.positions))
        except BaseException:  # the task is not lost: it goes back where it came from
            if back_to is None:
                with lock:
                    chunks.appendleft(task.positions)
            else:
                back_to.appendleft(task)
            raise
        task.pool = pool
        in_flight[future] = task
        future.add_done_callback(lambda f: results.put(("pool", f)))

    def top_up() -> None:
        if any(t.alone for t in in_flight.values()):
            return  # it runs with nothing beside it
        # A few tasks queued per worker: enough to keep them busy, few enough for a prompt cancel.
        while len(in_flight) < 2 * workers:
            if singles:
                submit(singles.popleft(), singles)
            elif alone:
                if not in_flight:
                    submit(alone.popleft(), alone)
                return
            else:
                with lock:
                    if not chunks:
                        return
                    chunk = chunks.popleft()
                submit(_Task(chunk), None)

    try:
        while done < len(todo):
            check_cancel()
            if use_pool and server_ready is not None and server_ready.is_set():
                try:
                    if pool is None:
                        pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init)
                    top_up()
                except cf.process.BrokenProcessPool:
                    # A worker died and the pool refuses new work before its failed tasks are back
                    # here: end it; those tasks come back failed below and are retried file by file.
                    assert pool is not None
                    _end_pool(pool, kill=True)
                    pool = None
                except (OSError, NotImplementedError):
                    if in_flight or singles or alone or stop_local.is_set():
                        raise
                    # No worker process can be started here (no shared memory for its locks, say):
                    # the check goes on in this process.
                    if pool is not None:
                        _end_pool(pool, kill=True)
                        pool = None
                    use_pool = False
                    if local.ident is not None and not local.is_alive():
                        local = threading.Thread(target=decode_here, name="balance-gui image check", daemon=True)
            if local.ident is None:
                # Started once the pool had its chance: when its server is up already, its workers
                # take the first chunks, and this process decodes from the far end meanwhile.
                local.start()
            try:
                item = results.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if item[0] == "here":
                _, chunk, found, error = item
                if error is not None:
                    raise error
                finish(chunk, found)
                continue
            future: cf.Future[list[FileInfo]] = item[1]
            task = in_flight.pop(future, None)
            if task is None:  # of a pool already ended
                continue
            error = cf.process.BrokenProcessPool("ended with its pool") if future.cancelled() else future.exception()
            if error is None:
                stop_local.set()  # the workers are up: they take the rest
                finish(task.positions, future.result())
                continue
            if not isinstance(error, cf.process.BrokenProcessPool):
                raise error
            # A worker died (a decoder crashed, or something killed it): every task of its pool failed.
            if task.pool is pool and pool is not None:
                _end_pool(pool, kill=True)
                pool = None
            if len(task.positions) > 1:
                singles.extend(_Task([i]) for i in task.positions)
            elif not task.alone:
                alone.append(_Task(task.positions, alone=True))
            else:  # it died with nothing else running: this file kills the decoder
                finish(task.positions, [crashed_info(full_paths[task.positions[0]])])
    finally:
        stop_local.set()
        if pool is not None:
            _end_pool(pool, kill=done < len(todo))  # a cancel or a failure: kill the workers, wait for nothing


def _save(cache: CheckCache) -> tuple[str, ...]:
    try:
        cache.save()
    except Exception as e:  # noqa: BLE001 - a cache that cannot be written only makes the next check slower
        return (f"the check cache {cache.path} could not be written ({e}); the next check will decode again",)
    return ()


def _summarise(index: DatasetIndex, rel_paths: list[str], infos: list[FileInfo], timing: bool) -> CheckResult:
    n = len(index)
    targets = np.asarray(index.targets, dtype=np.int64)
    _, _, hashes, width_col, height_col, modes_of, reasons, decode_col = zip(*infos, strict=True) if n else ((),) * 8
    corrupt = np.fromiter((r is not None or h is None for r, h in zip(reasons, hashes, strict=True)), bool, count=n)
    # Copies are looked for among the usable files only, by their hash (a file without one is unusable:
    # it was never read). Each content's first sample: built from the end, so the earliest position is kept.
    usable_at = np.flatnonzero(~corrupt).tolist()
    first_of = {hashes[i]: i for i in reversed(usable_at)}
    first = np.arange(n, dtype=np.int64)
    first[usable_at] = [first_of[hashes[i]] for i in usable_at]
    duplicate = first != np.arange(n)
    problems: list[Problem] = []
    for i in np.flatnonzero(corrupt | duplicate).tolist():
        if corrupt[i]:
            problems.append(Problem(i, rel_paths[i], "corrupt", reason=reasons[i] or "cannot read"))
            continue
        f = int(first[i])
        problems.append(
            Problem(
                i,
                rel_paths[i],
                "duplicate",
                duplicate_of=f,
                duplicate_of_path=rel_paths[f],
                cross_class=bool(targets[f] != targets[i]),
            )
        )
    unusable = corrupt | excluded_copies(first, targets)  # a label conflict loses every copy
    decode_s = np.array(decode_col, dtype=np.float64)
    decode_s[corrupt] = np.nan
    widths = np.array(width_col, dtype=np.int64)
    heights = np.array(height_col, dtype=np.int64)
    by_class = np.argsort(targets, kind="stable")  # one sort, not one scan of all samples per class
    bounds = np.concatenate(([0], np.cumsum(np.bincount(targets, minlength=len(index.classes)))))
    stats = []
    for c, name in enumerate(index.classes):
        members = by_class[bounds[c] : bounds[c + 1]]
        ok = members[~corrupt[members]]
        modes = Counter(map(modes_of.__getitem__, ok.tolist()))
        grayscale = sum(k for m, k in modes.items() if m in _GRAYSCALE_MODES)
        stats.append(
            ClassStats(
                name=name,
                images=len(members),
                usable=int((~unusable[members]).sum()),
                corrupt=int(corrupt[members].sum()),
                duplicates=int(duplicate[members].sum()),
                width=_spread(widths[ok]),
                height=_spread(heights[ok]),
                grayscale=grayscale,
                colour=len(ok) - grayscale,
                modes=dict(sorted(modes.items())),
                decode_ms_median=float(np.median(decode_s[ok]) * 1000) if timing and len(ok) else None,
            )
        )
    return CheckResult(
        classes=tuple(index.classes),
        targets=targets,
        problems=tuple(problems),
        class_stats=tuple(stats),
        files_decoded=0,
        elapsed_s=0.0,
        decode_seconds=decode_s if timing else None,
        _unusable=unusable,
    )


def _spread(values: np.ndarray) -> tuple[int, int, int] | None:
    if not values.size:
        return None
    return int(values.min()), int(np.median(values)), int(values.max())


def usable_weights(result: CheckResult, scheme: str | Scheme) -> tuple[np.ndarray, np.ndarray]:
    """Class weights computed on the usable counts, and per-sample weights (index order) in which
    corrupt files and duplicate copies get 0."""
    class_w = class_weights(result.usable_counts, scheme, result.classes)
    per_sample = sample_weights(result.targets, class_w)
    per_sample[~result.usable_mask] = 0.0
    return class_w, per_sample


__all__ = [
    "ACCEPTED_FORMATS",
    "DEFAULT_CACHE",
    "DEFAULT_MAX_FILE_BYTES",
    "DEFAULT_MAX_PIXELS",
    "CheckProgress",
    "ImageBytes",
    "CheckResult",
    "ClassStats",
    "Problem",
    "UnusableFile",
    "check_images",
    "inspect_bytes",
    "inspect_file",
    "inspect_item",
    "open_image_file",
    "usable_weights",
]
