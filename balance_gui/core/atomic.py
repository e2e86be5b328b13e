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

#: Signals whose default action ends the process (SIGKILL and SIGSTOP cannot be caught; the
#: faults SIGSEGV, SIGBUS, SIGFPE, SIGILL are not the user's doing): while a temp file exists each
#: is turned into an exception, the temp file is removed, and the process then dies of the same
#: signal, as it would have. SIGINT already raises KeyboardInterrupt.
_ENDING_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGTERM", "SIGHUP", "SIGQUIT", "SIGALRM", "SIGUSR1", "SIGUSR2", "SIGXCPU", "SIGVTALRM", "SIGPROF")
    if hasattr(signal, name)
)


class _Terminated(BaseException):
    """An ending signal arrived while a temp file existed: clean up, then die of it as asked."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def _signals_unwind() -> Iterator[None]:
    """Turn every ending signal into an exception while the temp file exists, as Python already
    does for SIGINT, so the cleanup below runs. Only the main thread can set handlers, and a
    handler the program installed itself (or SIG_IGN) is left alone."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    taken = [s for s in _ENDING_SIGNALS if signal.getsignal(s) in (signal.SIG_DFL, None)]

    def raise_terminated(signum: int, frame: object) -> None:
        raise _Terminated(signum)

    previous = {s: signal.signal(s, raise_terminated) for s in taken}
    try:
        yield
    except _Terminated as e:
        signal.signal(e.signum, signal.SIG_DFL)
        os.kill(os.getpid(), e.signum)
        raise
    finally:
        for s, handler in previous.items():
            if signal.getsignal(s) is raise_terminated:
                signal.signal(s, handler)


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

    On any failure, SIGINT, SIGTERM, SIGHUP, SIGQUIT and every other signal that ends a process
    by default included, the temp file is removed and the old
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
        with _signals_unwind():
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
