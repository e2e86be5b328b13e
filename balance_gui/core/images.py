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
corrupt files and duplicate copies, which get weight 0.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import io
import multiprocessing
import os
import threading
import time
import warnings
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from .dataset import DatasetIndex
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

_GRAYSCALE_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"), (b"RIFF", "WebP"))


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
        """Per sample, in index order: True unless corrupt or a duplicate copy."""
        return ~self._unusable

    @property
    def usable_counts(self) -> np.ndarray:
        """Per class: images without corrupt files and duplicate copies."""
        return np.bincount(self.targets[~self._unusable], minlength=len(self.classes)).astype(np.int64)


# ---------------------------------------------------------------- the work done per file (in worker processes)


def _reason_for(error: Exception, data: bytes) -> str:
    text = str(error)
    if "truncated" in text.lower():
        return "truncated: " + text
    if type(error).__name__ == "UnidentifiedImageError":
        for magic, fmt in _MAGIC:
            if data.startswith(magic):
                return f"a {fmt} file cut short or damaged: no image can be read from it"
        return "not an image (no format recognised)"
    if type(error).__name__ == "DecompressionBombError":
        return f"too many pixels to decode safely: {text}"
    return f"cannot decode: {type(error).__name__}: {text}"


def inspect_file(path: str) -> FileInfo:
    """Read, hash and fully decode one file. Never raises for a bad file: the reason says what is wrong."""
    from PIL import Image  # imported here: worker processes need nothing else from this package

    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            data = fh.read()
    except OSError as e:
        return FileInfo(0, 0, None, 0, 0, "", f"cannot read: {e.strerror or e}", 0.0)
    digest = hashlib.sha256(data).hexdigest()
    if not data:
        return FileInfo(st.st_size, st.st_mtime_ns, digest, 0, 0, "", "empty file (0 bytes)", 0.0)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():  # "corrupt EXIF" and the like, once per file of a million: not news
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                width, height, mode = im.width, im.height, im.mode
    except Exception as e:  # PIL raises many kinds for bad data; every one means "training would fail here"
        return FileInfo(st.st_size, st.st_mtime_ns, digest, 0, 0, "", _reason_for(e, data), 0.0)
    return FileInfo(st.st_size, st.st_mtime_ns, digest, width, height, mode, None, time.perf_counter() - start)


def _inspect_chunk(paths: Sequence[str]) -> list[FileInfo]:
    return [inspect_file(p) for p in paths]


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
    ctx.set_forkserver_preload(["balance_gui.core.images", "PIL.Image", "PIL.JpegImagePlugin", "PIL.PngImagePlugin"])
    return ctx


def check_images(
    index: DatasetIndex,
    *,
    workers: int | None = None,
    cache_path: str | os.PathLike[str] | None = DEFAULT_CACHE,
    progress: Callable[[CheckProgress], None] | None = None,
    cancel: threading.Event | None = None,
    timing: bool = False,
) -> CheckResult:
    """Decode and hash every sample of ``index``; report corrupt files, exact duplicates and class stats.

    Args:
        index: a folder or manifest index (``open_dataset``).
        workers: worker processes (default: the cores this process may use); 1 checks in this process.
        cache_path: the cache file; ``DEFAULT_CACHE`` (default) puts it in the user cache dir,
            None checks without one.
        progress: called with a :class:`CheckProgress` after each chunk of files.
        cancel: set it to stop at the next chunk with :class:`Cancelled`; the files checked so far
            are cached.
        timing: also report decode times (per sample and the median per class).
    """
    start_time = time.perf_counter()
    if workers is None:
        workers = _default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SettingsError(f"workers must be a whole number >= 1 (got {workers!r})")
    if cache_path == DEFAULT_CACHE:
        cache_path = default_cache_path(index.root)
    cache = CheckCache(None if cache_path is None else os.fspath(cache_path), index.root)

    n = len(index)
    rel_paths = index.relative_paths()
    full_paths = _full_paths(index, rel_paths)
    infos: list[FileInfo | None] = [None] * n
    todo: list[int] = []
    cached = cache.entries.get  # this loop is all a warm re-check does per file: kept lean
    stat = os.stat
    for i, path in enumerate(full_paths):
        try:
            st = stat(path)
        except OSError:
            todo.append(i)  # the worker reports why it cannot be read
            continue
        info = cached(rel_paths[i])
        if info is None or info.size != st.st_size or info.mtime_ns != st.st_mtime_ns:
            todo.append(i)
        else:
            infos[i] = info
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
        _run(full_paths, todo, workers, store, report, cancel)
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


def _run(
    full_paths: list[str],
    todo: list[int],
    workers: int,
    store: Callable[[Sequence[int], Sequence[FileInfo]], None],
    report: Callable[[int], None],
    cancel: threading.Event | None,
) -> None:
    def check_cancel() -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled("image check cancelled")

    size = max(8, min(_MAX_CHUNK, len(todo) // (workers * 8) or 1))
    pending = deque(todo[s : s + size] for s in range(0, len(todo), size))
    done = 0

    def finish(chunk: list[int], found: Sequence[FileInfo]) -> None:
        nonlocal done
        store(chunk, found)
        done += len(chunk)
        report(done)
        check_cancel()

    def here(chunk: list[int]) -> None:
        finish(chunk, _inspect_chunk([full_paths[i] for i in chunk]))

    check_cancel()
    if workers == 1 or len(todo) <= _IN_PROCESS_MAX:
        while pending:
            here(pending.popleft())
        return
    ctx = _pool_context()
    server_ready = _start_in_background(ctx)
    while pending and not server_ready.wait(0):  # starting the fork server takes a while: decode here meanwhile
        here(pending.pop())
    if not pending:
        return
    pool = cf.ProcessPoolExecutor(max_workers=min(workers, len(pending)), mp_context=ctx)
    in_flight: dict[cf.Future[list[FileInfo]], list[int]] = {}
    pool_started = False
    try:
        while pending or in_flight:
            # A few chunks queued per worker: enough to keep them busy, few enough for a prompt cancel.
            while pending and len(in_flight) < 2 * workers:
                chunk = pending.popleft()
                in_flight[pool.submit(_inspect_chunk, [full_paths[i] for i in chunk])] = chunk
            if not pool_started and pending:
                # Worker processes take a moment to start: decode here meanwhile, from the far end.
                here(pending.pop())
                finished = [f for f in in_flight if f.done()]
            else:
                finished = list(cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)[0])
            for future in finished:
                pool_started = True
                finish(in_flight.pop(future), future.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # on cancel: drop queued chunks, wait for running ones


def _save(cache: CheckCache) -> tuple[str, ...]:
    try:
        cache.save()
    except Exception as e:  # a cache that cannot be written only makes the next check slower
        return (f"the check cache {cache.path} could not be written ({e}); the next check will decode again",)
    return ()


def _summarise(index: DatasetIndex, rel_paths: list[str], infos: list[FileInfo], timing: bool) -> CheckResult:
    n = len(index)
    targets = np.asarray(index.targets, dtype=np.int64)
    _, _, hashes, width_col, height_col, modes_of, reasons, decode_col = zip(*infos, strict=True) if n else ((),) * 8
    corrupt = np.fromiter((r is not None for r in reasons), dtype=bool, count=n)
    # Each content's first sample: built from the end, so the earliest position is the one kept.
    first_of = dict(zip(reversed(hashes), range(n - 1, -1, -1), strict=True))
    first = np.fromiter(map(first_of.__getitem__, hashes), dtype=np.int64, count=n)
    # A corrupt file's bytes never equal a good file's (they would decode the same): corrupt ones
    # only match each other, and are reported as corrupt, not as copies.
    duplicate = (first != np.arange(n)) & ~corrupt
    problems: list[Problem] = []
    for i in np.flatnonzero(corrupt | duplicate).tolist():
        if corrupt[i]:
            problems.append(Problem(i, rel_paths[i], "corrupt", reason=reasons[i]))
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
    unusable = corrupt | duplicate
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
    "DEFAULT_CACHE",
    "CheckProgress",
    "CheckResult",
    "ClassStats",
    "Problem",
    "check_images",
    "inspect_file",
    "usable_weights",
]
