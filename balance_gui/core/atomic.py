"""Write a file so that readers see the old content or the whole new one, never a part."""

from __future__ import annotations

import os
import secrets
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import BinaryIO

from .errors import WeightsFileError


class _Terminated(BaseException):
    """SIGTERM arrived while a temp file existed: clean up, then die of SIGTERM as asked."""


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """Turn SIGTERM into an exception while the temp file exists, as Python already does
    for SIGINT, so the cleanup below runs. Only the main thread can set handlers, and a
    handler the program installed itself is left alone."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) not in (
        signal.SIG_DFL,
        None,
    ):
        yield
        return

    def raise_terminated(signum: int, frame: object) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def _create_beside(path: str) -> tuple[int, str]:
    """A new, empty temp file in ``path``'s folder, created with mode 0666 less the umask
    (as ``open`` would create ``path`` itself), unlike ``mkstemp``'s fixed 0600."""
    folder, name = os.path.split(path)
    for _ in range(100):
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temp file name beside {path}")


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(fh)`` on a temp file beside ``path``, then rename it over ``path``.

    On any failure, SIGINT and SIGTERM included, the temp file is removed and the old
    ``path`` is untouched. A new file gets the umask's permissions; an existing one keeps
    its own. A symlink is written through: its target gets the new content and the link
    stays. A target that exists but is not a regular file (``/dev/full``, a pipe) is
    written in place: there is nothing to rename over, and replacing a device node would
    be wrong.
    """
    shown = os.fspath(path)
    path = os.path.realpath(shown) if os.path.islink(shown) else shown
    in_place = False
    try:
        if os.path.isdir(path):
            raise WeightsFileError(f"cannot write {shown}: it is a folder")
        if os.path.exists(path) and not os.path.isfile(path):
            in_place = True
            with open(path, "wb") as fh:
                write(fh)
                fh.flush()
            return
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise WeightsFileError(f"cannot write {shown}: folder {folder} does not exist")
        old_mode = os.stat(path).st_mode & 0o7777 if os.path.exists(path) else None
        with _sigterm_unwinds():
            fd, tmp = _create_beside(os.path.abspath(path))
            try:
                with os.fdopen(fd, "wb") as fh:
                    write(fh)
                    fh.flush()
                    os.fsync(fh.fileno())
                if old_mode is not None:
                    os.chmod(tmp, old_mode)
                os.replace(tmp, path)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
    except OSError as e:
        reason = e.strerror or str(e)
        if in_place:
            outcome = "it may hold part of the output"
        elif os.path.exists(path):
            outcome = "the old file is unchanged"
        else:
            outcome = "nothing was written"
        raise WeightsFileError(f"cannot write {shown}: {reason}; {outcome}") from e
