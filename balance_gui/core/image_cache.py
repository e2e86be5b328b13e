"""The per-file cache of image checks: what decoding and hashing a file found, keyed by
(path, size, mtime_ns), so an unchanged file is never read again.

One JSON file per dataset root (never pickle: a cache file is data anyone could have
written). It lives in the user cache dir by default, or wherever the caller says (for
instance beside the data). It is a cache: an unreadable or foreign file is ignored and
rebuilt, and a failed write costs only the next check's time.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from typing import Any, BinaryIO, NamedTuple

from .atomic import atomic_write

CACHE_FORMAT = "balance-gui image check cache"
CACHE_VERSION = 1


class FileInfo(NamedTuple):
    """What one check of one file found. ``reason`` is set when the file is unusable;
    ``sha256`` is None only when the file could not be read at all."""

    size: int
    mtime_ns: int
    sha256: str | None
    width: int
    height: int
    mode: str
    reason: str | None
    decode_s: float


def user_cache_dir() -> str:
    """The per-user cache folder for balance-gui (the XDG rule on Linux, the platform's own elsewhere)."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser(r"~\AppData\Local")
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "balance-gui")


def default_cache_path(root: str) -> str:
    """The cache file for the dataset at ``root``: named after the folder, made unique by a hash of its
    absolute path."""
    root = os.path.abspath(root)
    digest = hashlib.sha256(os.fsencode(root)).hexdigest()[:16]
    name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in os.path.basename(root))[:40] or "root"
    return os.path.join(user_cache_dir(), "check", f"{name}-{digest}.json")


class CheckCache:
    """The cache entries of one dataset root, keyed by the sample's relative path. An entry is valid
    while the file keeps the size and mtime_ns it records."""

    def __init__(self, path: str | None, root: str) -> None:
        self.path = path
        self.root = os.path.abspath(root)
        self.entries: dict[str, FileInfo] = {}
        self.dirty = False
        if path is not None:
            self.entries = _read(path, self.root)

    def put(self, rel_path: str, info: FileInfo) -> None:
        self.entries[rel_path] = info
        self.dirty = True

    def save(self) -> None:
        """Write the cache atomically if it changed. Entries of files outside the last check are
        kept: a manifest and a folder scan of the same root share one file."""
        if self.path is None or not self.dirty:
            return
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        record = {
            "format": CACHE_FORMAT,
            "version": CACHE_VERSION,
            "root": self.root,
            "entries": {k: list(v) for k, v in self.entries.items()},
        }
        text = json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        data = text.encode("utf-8", "surrogateescape")
        atomic_write(self.path, lambda fh: _write_all(fh, data))
        self.dirty = False


def _write_all(fh: BinaryIO, data: bytes) -> None:
    fh.write(data)


def _read(path: str, root: str) -> dict[str, FileInfo]:
    try:
        with open(path, "rb") as fh:
            record: Any = json.loads(fh.read().decode("utf-8", "surrogateescape"))
    except (OSError, ValueError):  # missing or damaged: start afresh
        return {}
    if (
        not isinstance(record, dict)
        or record.get("format") != CACHE_FORMAT
        or record.get("version") != CACHE_VERSION
        or record.get("root") != root
        or not isinstance(record.get("entries"), dict)
    ):
        return {}
    try:
        return {key: FileInfo(*value) for key, value in record["entries"].items()}
    except TypeError:  # an entry of the wrong shape: the file is not ours after all
        return {}


__all__ = ["FileInfo", "CheckCache", "user_cache_dir", "default_cache_path"]
