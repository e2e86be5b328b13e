"""Stand-ins for the image check's per-chunk work (``core.images._inspect_chunk``) that misbehave,
and small makers of hostile files, shared by the hostile-input tests.

A test installs a stand-in with ``monkeypatch.setattr(images, "_inspect_chunk", stand_in)``. The check
hands worker processes the function itself, by name, so the stand-ins live in this light module
(the worker processes import it; a test module would bring pytest and torchvision along), and they
misbehave only where a test needs them to: in a worker process, or everywhere.
"""

from __future__ import annotations

import multiprocessing
import os
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

from balance_gui.core import images
from balance_gui.core.image_cache import FileInfo

_REAL = images._inspect_chunk  # imported before any test patches it: the real work, in every process

#: Environment variable naming a folder where the stand-ins leave one file per process they run in.
#: Worker processes fork from a server that may be older than the test (and its environment), so
#: without it the folder is ``pids`` beside the dataset root (``<tmp>/data/<class>/<file>`` -> ``<tmp>/pids``).
PID_DIR = "BALANCE_GUI_TEST_PID_DIR"
#: Set it (in the test process) to let every hanging stand-in of this process return.
release = threading.Event()


def in_worker() -> bool:
    return multiprocessing.parent_process() is not None


def _pid_folder(paths: Sequence[str]) -> Path | None:
    folder = os.environ.get(PID_DIR)
    if folder:
        return Path(folder)
    beside = Path(paths[0]).parents[2] / "pids" if paths else None
    return beside if beside is not None and beside.is_dir() else None


def _note_pid(paths: Sequence[str]) -> None:
    folder = _pid_folder(paths)
    if folder is not None:
        (folder / f"{os.getpid()}.pid").write_text("worker" if in_worker() else "main")


def hang(paths: Sequence[str]) -> list[FileInfo]:
    """Never returns (until ``release`` is set, in the test's own process): a decoder stuck for good."""
    _note_pid(paths)
    while not release.wait(3600):
        pass
    return _REAL(paths)


def crash_on_marked(paths: Sequence[str]) -> list[FileInfo]:
    """The real work, except that a worker process dies at once on a file whose name holds CRASH
    (as a decoder that segfaults on one crafted image does)."""
    if in_worker() and any("CRASH" in os.path.basename(p) for p in paths):
        os._exit(70)
    return _REAL(paths)


def die_once(paths: Sequence[str]) -> list[FileInfo]:
    """The real work, except that the first worker to get a file whose name holds ONCE dies (as one
    killed by the OOM killer would); the next one to get it checks it."""
    folder = _pid_folder(paths)
    if in_worker() and folder is not None and any("ONCE" in os.path.basename(p) for p in paths):
        try:
            fd = os.open(folder / "died", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            pass
        else:
            os.close(fd)
            os._exit(71)
    return _REAL(paths)


def worker_pids(folder: Path, timeout_s: float = 60.0) -> list[int]:
    """The pids of the worker processes that ran a stand-in, once there is one (waiting at most ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [int(p.stem) for p in folder.glob("*.pid") if p.read_text() == "worker"]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no worker process started within {timeout_s} s")


def gone(pid: int) -> bool:
    """True when process ``pid`` has ended (a zombie waiting for its parent counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def all_gone(pids: Sequence[int], timeout_s: float) -> list[int]:
    """The processes of ``pids`` still running after ``timeout_s`` (an empty list once all ended)."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = [p for p in pids if not gone(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (its children, theirs...), from /proc."""
    parent_of = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parent_of[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        here = frontier.pop()
        children = [p for p, parent in parent_of.items() if parent == here]
        found += children
        frontier += children
    return found


def start_cli(argv: Sequence[str], **env: str) -> tuple[subprocess.Popen[bytes], bytearray, threading.Thread]:
    """``python -m balance_gui ARGV`` of this checkout (with ``env`` added to the environment) in its
    own process group, as a shell starts a command, so that a test can send it a terminal's Ctrl-C.
    Its stderr is read into the returned buffer as it comes, by the returned thread, so that the test
    can wait for progress and the process never blocks on a full pipe."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    environ = dict(os.environ, **env, PYTHONPATH=repo + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "balance_gui", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environ,
        cwd=repo,
        start_new_session=True,
    )
    err = bytearray()

    def read_stderr() -> None:
        assert proc.stderr is not None
        while piece := proc.stderr.read1(4096):
            err.extend(piece)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    return proc, err, reader


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` 1-bit pixels, all black, in a few kilobytes: PIL's
    header check sees its size, and decoding it would allocate ``width * height`` bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte, then the packed bits
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


#: A real PostScript program: Ghostscript would loop for ever on it.
POSTSCRIPT = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n{ } loop\nshowpage\n%%EOF\n"
