"""WebDataset tar shards: a brace pattern (``shards/{000000..000099}.tar``) or one ``.tar``.

A sample is the run of members sharing a key (the member name up to the first dot of its base
name, as webdataset groups them); its class is the text of its ``.cls`` member (or of the member
``label_member`` names, e.g. ``label.txt``). Shards are read as streams (``tarfile`` ``r|*``:
headers in order, only the label members' bytes kept), so they could come from a pipe or object
storage. Each sample's path is ``SHARD#KEY``, the shard relative to the pattern's folder.
Integer labels give classes in ascending order, text labels sorted by name; a mix of the two,
a sample without its label member (unless ``drop_null``), a shard that is not a tar: a
one-line :class:`DatasetError`.

The image check streams the shards again for each sample's image member
(:func:`webdataset_image_records`): the member ``image_member`` names (an extension: ``jpg``,
``seg.png``), else the sample's first member with an image extension.
"""

from __future__ import annotations

import os
import re
import tarfile
import threading
import time
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .dataset import IMG_EXTENSIONS, DatasetIndex, ProgressCallback, ScanProgress, _make_index
from .errors import Cancelled, DatasetError, DatasetNotFoundError, SettingsError
from .names import quoted
from .tables import lookalike_labels, visible

if TYPE_CHECKING:
    from .record_check import Record

DEFAULT_LABEL_MEMBER = "cls"
_BRACE = re.compile(r"\{([^{}]*)\}")
_RANGE = re.compile(r"(\d+)\.\.(\d+)")
MAX_SHARDS = 1_000_000
_LABEL_BYTES = 4096  # the most a label member may hold
_IMAGE_EXTENSIONS = frozenset(ext.lstrip(".") for ext in IMG_EXTENSIONS)
# A sample's name, SHARD#KEY: the shard is the shortest prefix ending in a tar extension.
_SHARD_OF = re.compile(r"(.*?\.(?:tar|tar\.gz|tgz))#", re.IGNORECASE | re.DOTALL)


def expand_braces(pattern: str) -> list[str]:
    """``a/{000..002}.tar`` -> ``a/000.tar a/001.tar a/002.tar``; ``{x,y}`` lists; several braces multiply."""
    match = _BRACE.search(pattern)
    if match is None:
        return [pattern]
    body = match.group(1)
    found = _RANGE.fullmatch(body)
    if found:
        low, high = found.groups()
        if int(high) < int(low):
            raise SettingsError(f"{pattern}: the range {{{body}}} runs backwards")
        if int(high) - int(low) >= MAX_SHARDS:
            raise SettingsError(f"{pattern}: the range {{{body}}} names more than {MAX_SHARDS:,} shards")
        width = len(low) if low.startswith("0") else 0
        items = [str(i).zfill(width) for i in range(int(low), int(high) + 1)]
    else:
        items = body.split(",")
    head, tail = pattern[: match.start()], pattern[match.end() :]
    out: list[str] = []
    for item in items:
        out.extend(expand_braces(head + item + tail))
        if len(out) > MAX_SHARDS:
            raise SettingsError(f"{pattern} names more than {MAX_SHARDS:,} shards")
    return out


def is_webdataset(path: str | os.PathLike[str]) -> bool:
    """A ``.tar`` shard, or a brace pattern of them."""
    text = os.fspath(path)
    return text.lower().endswith((".tar", ".tar.gz", ".tgz")) and ("{" in text or os.path.isfile(text))


def _split_key(name: str) -> tuple[str, str]:
    """A member name as webdataset splits it: (key, extension) at the first dot of the base name."""
    folder, _, base = name.rpartition("/")
    stem, dot, ext = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), (ext if dot else "")


def read_webdataset(
    pattern: str | os.PathLike[str],
    *,
    label_member: str | None = None,
    drop_null: bool = False,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Any:
    """Index WebDataset shards (see the module's documentation): a DatasetIndex, source ``webdataset``."""
    start_time = time.perf_counter()
    text = os.path.expanduser(os.fspath(pattern))
    shards = expand_braces(text)
    missing = [s for s in shards if not os.path.isfile(s)]
    if missing:
        more = "" if len(missing) == 1 else f" (and {len(missing) - 1:,} more of the {len(shards):,})"
        raise DatasetNotFoundError(f"shard not found: {visible(missing[0])}{more}")
    ext = (label_member or DEFAULT_LABEL_MEMBER).lstrip(".")
    root = os.path.dirname(os.path.abspath(shards[0]))
    paths: list[str] = []
    labels: list[str] = []
    unlabelled: list[str] = []
    for done, shard in enumerate(shards):
        shard_name = os.path.relpath(os.path.abspath(shard), root)
        for key, label in _samples(shard, ext, cancel):
            if label is None:
                unlabelled.append(f"{shard_name}#{key}")
                continue
            paths.append(f"{shard_name}#{key}")
            labels.append(label)
        if progress is not None:
            progress(ScanProgress(done + 1, done + 1, len(shards), len(paths), shard, time.perf_counter() - start_time))
    if unlabelled and not drop_null:
        shown = ", ".join(visible(p) for p in unlabelled[:3])
        raise DatasetError(
            f"{text}: {len(unlabelled):,} sample(s) have no .{ext} member (e.g. {shown}); "
            "leave them out with --drop-null, or name the label member with --label-member"
        )
    if not paths:
        raise DatasetNotFoundError(f"{text}: the shards hold no sample with a .{ext} member")
    numeric = [lab.lstrip("-").isdigit() for lab in labels]
    if any(numeric) and not all(numeric):
        i, j = numeric.index(True), numeric.index(False)
        raise DatasetError(
            f"{text}: mixed label types in the .{ext} members: {visible(paths[i])} is the integer {labels[i]}, "
            f"{visible(paths[j])} the name {quoted(labels[j])}"
        )
    if numeric and all(numeric):
        values = sorted({int(lab) for lab in labels})
        classes = [str(v) for v in values]
        position = {v: k for k, v in enumerate(values)}
        targets = np.fromiter((position[int(lab)] for lab in labels), dtype=np.int64, count=len(labels))
    else:
        classes = sorted(set(labels))
        lookalike = lookalike_labels(classes)
        if lookalike is not None:
            message, names = lookalike
            raise DatasetError(f"{text}: {message} (in {visible(paths[labels.index(names[0])])}); fix the label")
        position_s = {c: k for k, c in enumerate(classes)}
        targets = np.fromiter((position_s[lab] for lab in labels), dtype=np.int64, count=len(labels))
    return _make_index(root, classes, targets, paths, source="webdataset")


def _samples(shard: str, ext: str, cancel: threading.Event | None) -> list[tuple[str, str | None]]:
    """``(key, label or None)`` for each sample of ``shard``, in order, read as a stream."""
    out: list[tuple[str, str | None]] = []
    current: str | None = None
    label: str | None = None
    try:
        with open(shard, "rb") as fh, tarfile.open(fileobj=fh, mode="r|*") as archive:
            for n, member in enumerate(archive):
                if n % 4096 == 0 and cancel is not None and cancel.is_set():
                    raise Cancelled("scan cancelled")
                if not member.isfile():
                    continue
                key, member_ext = _split_key(member.name)
                if key != current:
                    if current is not None:
                        out.append((current, label))
                    current, label = key, None
                if member_ext == ext:
                    if member.size > _LABEL_BYTES:
                        raise DatasetError(
                            f"{shard}: {visible(member.name)} holds {member.size:,} bytes: not a class label"
                        )
                    data = archive.extractfile(member)
                    raw = data.read() if data is not None else b""
                    label = raw.decode("utf-8", "surrogateescape").strip()
                    if not label:
                        raise DatasetError(f"{shard}: {visible(member.name)} is empty: no class label")
            end = archive.offset
        if not shard.lower().endswith((".gz", ".tgz")):  # a cut at a member boundary reads as a short tar
            with open(shard, "rb") as fh:
                fh.seek(end)
                if fh.read(512) != bytes(512):
                    raise DatasetError(
                        f"{shard}: not a readable tar shard (truncated?): no end-of-archive block after byte {end:,}"
                    )
    except (tarfile.TarError, zlib.error, OSError) as e:
        raise DatasetError(f"{shard}: not a readable tar shard (truncated or not a tar?): {e}") from e
    except EOFError as e:
        raise DatasetError(f"{shard}: not a readable tar shard (truncated?): {e}") from e
    if current is not None:
        out.append((current, label))
    return out


def webdataset_image_records(index: DatasetIndex, image_member: str | None, max_file_bytes: int) -> Iterator[Record]:
    """The image member of each sample of ``index`` (read by :func:`read_webdataset`), for the image
    check, streamed shard by shard: its bytes, or the verdict on a sample without one (a member over
    ``max_file_bytes`` is never read)."""
    rel_paths = index.relative_paths()
    position = {p: i for i, p in enumerate(rel_paths)}
    shards: dict[str, None] = {}  # in order of their first sample
    for p in rel_paths:
        match = _SHARD_OF.match(p)
        if match is None:
            raise DatasetError(f"{visible(p)} is not a WebDataset sample name (SHARD#KEY)")
        shards.setdefault(match.group(1))
    wanted = image_member.lstrip(".") if image_member else None
    what = f".{wanted} member" if wanted else f"image member ({', '.join(sorted(_IMAGE_EXTENSIONS))})"

    def records() -> Iterator[Record]:
        from .images import ImageBytes, _unread

        for shard_name in shards:
            shard = os.path.join(index.root, shard_name)
            try:
                mtime_ns = os.stat(shard).st_mtime_ns
                with open(shard, "rb") as fh, tarfile.open(fileobj=fh, mode="r|*") as archive:
                    current: int | None = None  # the position of the sample being read
                    found = False
                    for member in archive:
                        if not member.isfile():
                            continue
                        key, ext = _split_key(member.name)
                        at = position.get(f"{shard_name}#{key}")
                        if at != current:
                            if current is not None and not found:
                                yield current, _unread(f"no image: the sample has no {what}")
                            current, found = at, False
                        if at is None or found:
                            continue
                        is_image = ext == wanted if wanted else ext.lower().rpartition(".")[2] in _IMAGE_EXTENSIONS
                        if not is_image:
                            continue
                        found = True
                        if member.size > max_file_bytes:  # never read
                            size, limit = member.size, max_file_bytes
                            yield at, _unread(f"too large: {size:,} bytes > {limit:,} (the file size limit)")
                            continue
                        data = archive.extractfile(member)
                        yield at, ImageBytes(data.read() if data is not None else b"", mtime_ns)
                    if current is not None and not found:
                        yield current, _unread(f"no image: the sample has no {what}")
            except (tarfile.TarError, zlib.error, OSError, EOFError) as e:
                raise DatasetError(f"{shard}: not a readable tar shard (truncated or not a tar?): {e}") from e

    return records()


__all__ = ["expand_braces", "is_webdataset", "read_webdataset", "webdataset_image_records"]
