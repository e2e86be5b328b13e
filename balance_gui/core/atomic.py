"""Write a file so that readers see the old content or the whole new one, never a part."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import BinaryIO

from .errors import WeightsFileError


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(fh)`` on a temp file beside ``path``, then rename it over ``path``.

    On any failure the temp file is removed and the old ``path`` is untouched.
    A target that exists but is not a regular file (``/dev/full``, a pipe) is
    written in place: there is nothing to rename over, and replacing a device
    node would be wrong.
    """
    path = os.fspath(path)
    try:
        if os.path.isdir(path):
            raise WeightsFileError(f"cannot write {path}: it is a folder")
        if os.path.exists(path) and not os.path.isfile(path):
            with open(path, "wb") as fh:
                write(fh)
                fh.flush()
            return
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise WeightsFileError(f"cannot write {path}: folder {folder} does not exist")
        mode = os.stat(path).st_mode & 0o7777 if os.path.exists(path) else 0o644
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError as e:
        reason = e.strerror or str(e)
        raise WeightsFileError(f"cannot write {path}: {reason}; nothing was written") from e
