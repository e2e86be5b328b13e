"""The per-file cache of image checks: what decoding and hashing a file found, keyed by
(path, size, mtime_ns), so an unchanged file is never read again.

One JSON file per dataset root (never pickle: a cache file is data anyone could have
written). It lives in the user cache dir by default, or wherever the caller says (for
instance beside the data). It is a cache: an unreadable or foreign file is ignored and
rebuilt, and a failed write costs only the next check's time.

Nothing in it is trusted: every entry is checked against the schema (a wrong type, a
missing hash, a bad number: that entry is ignored and its file decoded again), a file
nested too deep or too large for the dataset is ignored whole, and verdicts count only
for the decoder settings they were made under (a process that decodes truncated images
cannot pass them off as sound to the next check). The file is written without following
links: a symlink (or anything but a regular file) planted at its path is refused, never
written through. Each write keeps only the entries of the files of that check.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import secrets
import stat
import sys
from collections.abc import Iterable
from typing import Any, NamedTuple

CACHE_FORMAT = "balance-gui image check cache"
CACHE_VERSION = 2  # 2: the decoder settings are part of the key; entries are checked one by one

# A cache file larger than this for the number of files checked is not ours (or not worth reading).
_BYTES_BASE = 1024 * 1024
_BYTES_PER_ENTRY = 2048
_SHA256 = re.compile("[0-9a-f]{64}")
_INT_MAX = 2**63 - 1
# No flag on systems without it; the path is checked with lstat first there too.
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


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


class CacheWriteError(OSError):
    """The cache file cannot be written where it is asked to be (a link or a special file is there)."""


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
    while the file keeps the size and mtime_ns it records, and only for the decoder settings
    ``decoder`` (any JSON-ready value) the cache was written with."""

    def __init__(self, path: str | None, root: str, decoder: Any = None, *, expected_entries: int = 0) -> None:
        self.path = path
        self.root = os.path.abspath(root)
        self.decoder = decoder
        self.entries: dict[str, FileInfo] = {}
        self.dirty = False
        if path is not None:
            max_bytes = _BYTES_BASE + _BYTES_PER_ENTRY * max(expected_entries, 0)
            self.entries = _read(path, self.root, decoder, max_bytes)

    def put(self, rel_path: str, info: FileInfo) -> None:
        self.entries[rel_path] = info
        self.dirty = True

    def retain(self, rel_paths: Iterable[str]) -> None:
        """Drop the entries of every file but ``rel_paths`` (the files of the check under way)."""
        kept = {}
        for key in rel_paths:
            info = self.entries.get(key)
            if info is not None:
                kept[key] = info
        if len(kept) != len(self.entries):
            self.entries = kept
            self.dirty = True

    def save(self) -> None:
        """Write the cache atomically if it changed, never through a link: a symlink, or anything
        that is not a regular file, at the cache's path raises :class:`CacheWriteError`."""
        if self.path is None or not self.dirty:
            return
        record = {
            "format": CACHE_FORMAT,
            "version": CACHE_VERSION,
            "root": self.root,
            "decoder": self.decoder,
            "entries": {k: list(v) for k, v in self.entries.items()},
        }
        text = json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        _write_no_follow(self.path, text.encode("utf-8", "surrogateescape"))
        self.dirty = False


def _write_no_follow(path: str, data: bytes) -> None:
    """Write ``data`` to a new temp file beside ``path`` (created, never opened through a link),
    then rename it over ``path``; a rename replaces a link, it never writes where one points."""
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if stat.S_ISLNK(st.st_mode):
            raise CacheWriteError(f"{path} is a symbolic link: a cache file is never written through one")
        if not stat.S_ISREG(st.st_mode):
            raise CacheWriteError(f"{path} is not a regular file")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o600)  # a cache lists the user's file names: theirs alone
            break
        except FileExistsError:
            continue
    else:
        raise CacheWriteError(f"no free temp file name beside {path}")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _read(path: str, root: str, decoder: Any, max_bytes: int) -> dict[str, FileInfo]:
    """The valid entries of the cache file at ``path``; nothing for a file that is missing, not a
    regular file, a link, too large, not JSON, nested too deep, or another root's or decoder's."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:  # missing, or a link (O_NOFOLLOW): start afresh
        return {}
    try:
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
                return {}
            raw = fh.read(max_bytes + 1)
        if len(raw) > max_bytes:
            return {}
        record: Any = json.loads(raw.decode("utf-8", "surrogateescape"))
    except (OSError, ValueError, RecursionError, MemoryError):  # damaged, or built to hurt: start afresh
        return {}
    if (
        not isinstance(record, dict)
        or record.get("format") != CACHE_FORMAT
        or record.get("version") != CACHE_VERSION
        or record.get("root") != root
        or record.get("decoder") != decoder
        or not isinstance(record.get("entries"), dict)
    ):
        return {}
    entries = {}
    for key, value in record["entries"].items():
        info = _entry(value)
        if info is not None and key:  # an odd entry: its file is decoded again
            entries[key] = info
    return entries


def _count(value: object, low: int = 0) -> bool:
    return type(value) is int and low <= value <= _INT_MAX


def _entry(value: object) -> FileInfo | None:
    """The entry as a FileInfo if it is one the check could have written, else None."""
    if not isinstance(value, list) or len(value) != len(FileInfo._fields):
        return None
    size, mtime_ns, sha256, width, height, mode, reason, decode_s = value
    if not (_count(size) and _count(mtime_ns, -_INT_MAX - 1) and _count(width) and _count(height)):
        return None
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):  # only files that were read are cached
        return None
    if not isinstance(mode, str) or len(mode) > 16:
        return None
    if type(decode_s) not in (int, float) or not (math.isfinite(decode_s) and decode_s >= 0):
        return None
    if reason is None:
        if not (width > 0 and height > 0 and mode):  # a usable image has a size and a mode
            return None
    elif not isinstance(reason, str) or not reason:
        return None
    return FileInfo(size, mtime_ns, sha256, width, height, mode, reason, float(decode_s))


__all__ = ["FileInfo", "CacheWriteError", "CheckCache", "user_cache_dir", "default_cache_path"]
