"""The image check on images held inside a dataset's own files, not in files of their own.

:func:`.images.check_images` hands an index here when its images live in

- a Hugging Face ``save_to_disk`` folder's image column (read by record batch, see
  :func:`.hf_source.hf_image_records`): an ``Image`` feature (``{bytes, path}``: the bytes, or the
  file at ``path`` when there are none), a binary column, or a text column of paths;
- WebDataset shards (streamed, see :func:`.webdataset.webdataset_image_records`): each sample's
  image member.

Each image is checked as a file holding its bytes is (:func:`.images.inspect_bytes`: the same
decoders, the same size and pixel limits, the same verdicts), by the same worker processes (or
Ray tasks), and merged as the file check merges: problems in sample order, duplicates by content
hash, the same class statistics. The records are read window by window (at most
:data:`WINDOW_BYTES` of images held at once), so a dataset larger than memory is checked.
Verdicts are cached by sample name (``FILE#ROW``, ``SHARD#KEY``), byte size and the mtime of the
file holding the image: a re-check of unchanged files reads them again but decodes nothing.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from . import images
from .dataset import DatasetIndex
from .errors import Cancelled, DatasetError, SettingsError
from .image_cache import CheckCache, FileInfo
from .images import CheckProgress, CheckResult, DecodeSettings, ImageBytes

#: What a source yields for each sample: its position and an image to check (bytes, or a file's
#: path), or a verdict already made (the sample has no image).
Record = tuple[int, str | ImageBytes | FileInfo]

#: Images held in memory at once, at most (the last one read may pass it).
WINDOW_BYTES = 64 * 1024 * 1024
WINDOW_ITEMS = 4096


def image_records(index: DatasetIndex, image_column: str | None, max_file_bytes: int) -> Iterator[Record] | None:
    """The images of ``index`` when they are held inside its files, or None when they are files
    (the path check applies). Raises a one-line error for a source whose images cannot be found."""
    from .hf_source import hf_image_records, is_hf_folder
    from .tables import TableIndex

    if index.source == "webdataset":
        from .webdataset import webdataset_image_records

        return webdataset_image_records(index, image_column, max_file_bytes)
    if isinstance(index, TableIndex) and is_hf_folder(index.source_file):
        records = hf_image_records(index, image_column)
        if records is None and index.source != "manifest":  # rows, not files: nothing to open
            raise DatasetError(
                f"{index.source_file}: no image column to check (no Image feature, no binary column): "
                "name it with --image-column, or give a column of file paths with --path-column"
            )
        return records
    if image_column is not None:
        raise SettingsError(
            "--image-column is for Hugging Face dataset folders and WebDataset shards, "
            f"not for this dataset ({index.source})"
        )
    return None


def check_records(
    index: DatasetIndex,
    records: Iterator[Record],
    workers: int,
    cache_path: str | os.PathLike[str] | None,
    settings: DecodeSettings,
    progress: Callable[[CheckProgress], None] | None,
    cancel: threading.Event | None,
    timing: bool,
    start_time: float,
) -> CheckResult:
    """Check every image ``records`` yields (one per sample of ``index``), as ``check_images`` does."""
    n = len(index)
    cache = CheckCache(
        None if cache_path is None else os.fspath(cache_path), index.root, settings.cache_key(), expected_entries=n
    )
    rel_paths = index.relative_paths()
    infos: list[FileInfo | None] = [None] * n
    counts = {"done": 0, "cached": 0, "decoded": 0}
    window: list[str | ImageBytes] = []
    at: list[int] = []  # the sample position of each image in the window
    held = 0

    def report(done: int) -> None:
        if progress is not None:
            progress(CheckProgress(done, n, counts["cached"], time.perf_counter() - start_time))

    def store(positions: Sequence[int], found: Sequence[FileInfo]) -> None:
        for j, info in zip(positions, found, strict=True):
            i = at[j]
            infos[i] = info
            if info.sha256 is not None:  # unreadable images are re-tried every time
                cache.put(rel_paths[i], info)

    def decode_window() -> None:
        if not window:
            return
        before = counts["done"]
        # images._run: the local worker processes, or the Ray runner active in this context.
        images._run(window, list(range(len(window))), workers, settings, store, lambda k: report(before + k), cancel)
        counts["done"] += len(window)
        counts["decoded"] += len(window)
        window.clear()
        at.clear()

    def known(i: int, size: int, mtime_ns: int) -> bool:
        info = cache.entries.get(rel_paths[i])
        if info is None or info.size != size or info.mtime_ns != mtime_ns:
            return False
        infos[i] = info
        counts["cached"] += 1
        return True

    if cache.entries:
        cache.retain(rel_paths)  # entries of samples no longer in the dataset go
    report(0)
    try:
        for k, (i, item) in enumerate(records):
            if k % 256 == 0 and cancel is not None and cancel.is_set():
                raise Cancelled("image check cancelled")
            if isinstance(item, FileInfo):  # no image to check
                infos[i] = item
                counts["done"] += 1
                continue
            if isinstance(item, ImageBytes):
                if known(i, len(item.data), item.mtime_ns):
                    counts["done"] += 1
                    continue
                held += len(item.data)
            else:  # a file named by the record: checked as the file check checks it
                try:
                    st = os.stat(item)
                except OSError:
                    st = None  # the worker says why it cannot be read
                if st is not None:
                    refused = images.refusal(st, settings.max_file_bytes)  # never opened, never cached
                    if refused is not None:
                        infos[i] = images._unread(refused)
                        counts["done"] += 1
                        continue
                    if known(i, st.st_size, st.st_mtime_ns):
                        counts["done"] += 1
                        continue
            window.append(item)
            at.append(i)
            if held >= WINDOW_BYTES or len(window) >= WINDOW_ITEMS:
                decode_window()
                held = 0
                report(counts["done"])
        decode_window()
    finally:
        warnings = images._save(cache)  # what was decoded before a cancel or failure is kept
    missing = [i for i, info in enumerate(infos) if info is None]
    if missing:
        first = rel_paths[missing[0]]
        raise DatasetError(f"{index.root}: {first} was not found: the dataset changed since it was opened")
    report(n)
    result = images._summarise(index, rel_paths, infos, timing)  # type: ignore[arg-type]  # every slot is filled
    return replace(
        result,
        files_decoded=counts["decoded"],
        elapsed_s=time.perf_counter() - start_time,
        cache_path=cache.path,
        warnings=warnings,
    )


__all__ = ["Record", "WINDOW_BYTES", "check_records", "image_records"]
