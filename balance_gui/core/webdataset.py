"""WebDataset tar shards: a brace pattern (``shards/{000000..000099}.tar``) or one ``.tar``.

A sample is the run of members sharing a key (the member name up to the first dot of its base
name, as webdataset groups them); its class is the text of its ``.cls`` member (or of the member
``label_member`` names, e.g. ``label.txt``). Shards are read as streams (``tarfile`` ``r|*``:
headers in order, only the label members' bytes kept), so they could come from a pipe or object
storage. Each sample's path is ``SHARD#KEY``, the shard relative to the pattern's folder.
Integer labels give classes in ascending order, text labels sorted by name; a mix of the two,
a sample without its label member (unless ``drop_null``), a shard that is not a tar: a
one-line :class:`DatasetError`.
"""

from __future__ import annotations

import os
import re
import tarfile
import threading
import time
import zlib
from typing import Any

import numpy as np

from .dataset import ProgressCallback, ScanProgress, _make_index
from .errors import Cancelled, DatasetError, DatasetNotFoundError, SettingsError
from .names import quoted
from .tables import lookalike_labels, visible

DEFAULT_LABEL_MEMBER = "cls"
_BRACE = re.compile(r"\{([^{}]*)\}")
_RANGE = re.compile(r"(\d+)\.\.(\d+)")
MAX_SHARDS = 1_000_000
_LABEL_BYTES = 4096  # the most a label member may hold


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


__all__ = ["expand_braces", "is_webdataset", "read_webdataset"]
