"""The image check's decode+hash on a Ray cluster: ``balance-gui check --engine ray [--address ADDR]``.

Only the per-file work moves: chunks of paths go to Ray tasks, each returns the same
:class:`~.image_cache.FileInfo` per file that the local worker processes return (it calls the same
:func:`.images.inspect_file`), and the checking process merges them exactly as the local check does:
the same cache, the same problems in the same (sample) order, the same class statistics. What the
cache knows is never sent: a re-check after a Ray check stats the files locally and decodes nothing.

- The cluster: an existing one (``address``, as ``ray.init`` takes it: ``"auto"``, ``"ray://host:10001"``),
  or a local one started for the check (``ray.init(num_cpus=workers)``, no dashboard, quiet) and shut
  down after it. Ray is started only when there is something to decode.
- Progress after each finished chunk (``ray.wait``); a cancel (or Ctrl-C) force-cancels every task
  still queued or running and, when the check started Ray, shuts it down: nothing is left running.
  What finished before is cached.
- A task whose worker process dies (a decoder crash) is sent again one file per task; a file whose own
  task dies is reported as "crashed the decoder", as in the local check.
- Paths that are URIs (``file:///...``, ``s3://...``, ``gs://...``, ``hdfs://...``, ``abfs://...``) are read
  through ``pyarrow.fs`` on the workers, with the same verdicts as local files.
- The workers must decode with the Pillow version of the checking process (the cache keys verdicts by
  it): a cluster with another one is refused, naming both.

Ray is optional (``pip install 'balance-gui[ray]'``); without it :func:`ray_checks` raises
:class:`RayUnavailable`, whose message says what to install.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import io
import logging
import os
import re
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from . import images
from .errors import Cancelled, SettingsError
from .image_cache import FileInfo
from .images import DecodeSettings, ImageBytes

INSTALL_HINT = "pip install 'balance-gui[ray]' (or: pip install 'ray>=2.9')"

# Files per Ray task: a task costs about a millisecond to schedule and return (more across a network),
# so chunks are larger than the local pool's; small enough for progress, cancel and load balance.
MAX_CHUNK = 128
MIN_CHUNK = 8
# Tasks queued or running per CPU of the cluster: enough to keep every worker busy while results travel.
TASKS_PER_CPU = 2
# How often the checking process looks at its cancel flag while it waits for results.
_POLL_S = 0.05
# How long a stopped check waits for Ray to confirm that its cancelled tasks have ended.
_CANCEL_WAIT_S = 30.0
# A local cluster started for a check needs no more object store than this: every result is a few
# hundred bytes per file, inlined in the task's reply (Ray's minimum is 75 MiB).
_LOCAL_OBJECT_STORE_BYTES = 128 * 1024 * 1024

# The filesystems pyarrow.fs reads (FileSystem.from_uri): a path holding "<scheme>://" is one of them.
_URI = re.compile(r"(?:^|/)((?:file|s3|gs|gcs|hdfs|viewfs|abfs|abfss)://.*)\Z", re.DOTALL)


class RayUnavailable(SettingsError):
    """``--engine ray`` without Ray installed, or a cluster that cannot be reached or used."""


def import_ray() -> Any:
    """The ``ray`` module, or :class:`RayUnavailable` saying what to install."""
    try:
        import ray
    except ImportError as e:
        raise RayUnavailable(f"the Ray engine needs Ray, which is not installed: {INSTALL_HINT}") from e
    return ray


def ray_available() -> bool:
    """Whether Ray can be imported (the GUI offers the engine only then)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


# ---------------------------------------------------------------- the work of one task (on a Ray worker)


def uri_of(path: str) -> str | None:
    """The URI in ``path`` (a manifest joins its folder before it: ``/data/s3://b/x.jpg``), or None."""
    match = _URI.search(path)
    return None if match is None else match.group(1)


def inspect_uri(uri: str, settings: DecodeSettings = images.DEFAULT_SETTINGS) -> FileInfo:
    """:func:`.images.inspect_file` for a file named by a URI, read through ``pyarrow.fs``: the same
    verdicts (only a regular file of at most ``max_file_bytes`` is read, hashed in 1 MiB pieces, decoded
    only by the accepted decoders and only below the pixel limit). Never raises for a bad file."""
    from pyarrow import fs as pafs

    try:
        filesystem, path = pafs.FileSystem.from_uri(uri)
        info = filesystem.get_file_info(path)
    except Exception as e:  # noqa: BLE001 - a malformed URI, an unknown scheme, an unreachable store
        return images._unread(f"cannot read: {e}")
    if info.type == pafs.FileType.NotFound:
        return images._unread("cannot read: No such file or directory")
    if info.type != pafs.FileType.File:
        return images._unread("not a regular file: folder" if info.type == pafs.FileType.Directory else "not a file")
    size = int(info.size or 0)
    mtime_ns = int(info.mtime_ns or 0)
    if size > settings.max_file_bytes:
        return images._unread(f"too large: {size:,} bytes > {settings.max_file_bytes:,} (the file size limit)")
    digest = hashlib.sha256()
    data = bytearray()
    try:
        with filesystem.open_input_stream(path) as stream:
            while piece := stream.read(images._HASH_PIECE):
                data += piece
                if len(data) > settings.max_file_bytes:  # it grew while being read
                    return images._unread(
                        f"too large: more than {settings.max_file_bytes:,} bytes (the file size limit)"
                    )
                digest.update(piece)
    except OSError as e:
        return images._unread(f"cannot read: {e}")
    return images._decode(io.BytesIO(data), bytes(data[: images._HASH_PIECE]), len(data), mtime_ns, digest, settings)


def check_chunk(paths: Sequence[str | ImageBytes], settings: DecodeSettings) -> tuple[str, list[FileInfo]]:
    """What one Ray task does: the Pillow version it decodes with, and one FileInfo per path, as
    the local workers' chunk function returns them. PIL's truncated-images switch is set as the
    checking process has it (part of the cache key) and put back after: a cluster's worker processes
    run other people's tasks too."""
    import PIL
    from PIL import ImageFile

    before = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = settings.load_truncated
    try:
        found = []
        for path in paths:
            uri = None if isinstance(path, ImageBytes) else uri_of(path)
            found.append(images.inspect_item(path, settings) if uri is None else inspect_uri(uri, settings))
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = before
    return PIL.__version__, found


# ---------------------------------------------------------------- the runner (in the checking process)


@contextlib.contextmanager
def _ctrl_c_held(raise_after: bool) -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) back while Ray starts or stops: a KeyboardInterrupt inside ``ray.init``
    leaves the processes it had started running (its GCS, raylet and agents, reparented to init), and
    one inside ``ray.shutdown`` those it had not yet ended. A Ctrl-C that came meanwhile is raised
    once that is done (``raise_after``), or dropped (a shutdown after a first Ctrl-C: it is on its way).

    Ray's own SIGINT deferral inside ``ray.init`` drops a signal that came while an exception it then
    handled was under way: so whether one came is read from the signal wakeup fd, which the
    interpreter writes for every signal whatever handler runs. Only in the main thread, only where
    Python's own handler is in place and no one else uses the wakeup fd (an event loop)."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    try:
        other = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        if other != -1:  # someone else's: left as it was
            signal.set_wakeup_fd(other)
            yield
            return
        previous = signal.signal(signal.SIGINT, lambda signum, frame: None)  # held: seen through the fd
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
            signal.set_wakeup_fd(-1)
        try:
            came = os.read(read_end, 4096)
        except BlockingIOError:
            came = b""
    finally:
        os.close(read_end)
        os.close(write_end)
    if raise_after and signal.SIGINT in came:
        raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_kept() -> Iterator[None]:
    """Keep this process's SIGTERM handler across ``ray.init``, which puts in its own (``sys.exit``): the
    CLI's ends the check, kills its tasks and shuts Ray down, then dies of the signal, as without Ray."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _signals_between_calls() -> Iterator[Callable[[], None]]:
    """Signals whose handler raises (Ctrl-C's KeyboardInterrupt, the CLI's SIGTERM/SIGHUP/SIGQUIT that
    end the check) are recorded while the check waits on Ray, and their handlers called by the
    ``checkpoint`` this yields, between calls into Ray. Raised inside one (``ray.wait`` is a call into
    Ray's C++ core worker), such an exception came out as "SystemError: CoreWorker.wait returned a
    result with an exception set" (SIGTERM: exit 3), or the process aborted (Ray's own SIGTERM handler:
    SIGABRT). The cleanup after one (the tasks cancelled, their end awaited) runs with signals still
    recorded: a second Ctrl-C cannot cut it short. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    wanted = [getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, n)]
    handlers = {s: h for s in wanted if callable(h := signal.getsignal(s))}
    came: list[int] = []

    def checkpoint() -> None:
        if came:
            signum = came[0]
            came.clear()
            handler = handlers[signum]
            assert callable(handler)
            handler(signum, None)

    for signum in handlers:
        signal.signal(signum, lambda number, frame: came.append(number))
    try:
        yield checkpoint
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def _process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line), from /proc (empty where there is none)."""
    out: dict[int, tuple[int, str]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return out
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            if fields[0] in ("Z", "X"):
                continue  # ended
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                command = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except (OSError, IndexError):
            continue
        out[int(entry)] = (int(fields[1]), command)
    return out


def _ray_processes() -> list[int]:
    """The processes below this one that a local Ray instance runs (its GCS and raylet, started here,
    and everything below them: agents, workers), on Linux."""
    table = _process_table()
    mine = os.getpid()
    found = [pid for pid, (parent, command) in table.items() if parent == mine and "ray" in command]
    frontier = list(found)
    while frontier:
        here = frontier.pop()
        children = [pid for pid, (parent, _) in table.items() if parent == here]
        found += children
        frontier += children
    return found


def _end_leftovers(pids: list[int], wait_s: float = 5.0) -> None:
    """Kill those of ``pids`` (a local Ray instance's processes, found before its shutdown) still running
    ``wait_s`` after it: Ray's agents, started by the raylet, outlived a shutdown that came while they
    were still starting (seen after a Ctrl-C to the process group), reparented to init."""
    deadline = time.monotonic() + wait_s
    left = pids
    while left:
        table = _process_table()
        left = [pid for pid in left if pid in table and table[pid][0] in (1, os.getpid(), *left)]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


class RayRunner:
    """Runs the check's per-file work on Ray; called as the local check calls its process pool:
    ``runner(full_paths, todo, workers, settings, store, report, cancel)``.

    Args:
        address: an existing cluster (``ray.init(address=...)``); None starts a local one on the
            first call that has files to decode (with ``num_cpus`` CPUs; default: the ``workers``
            the check passes), shut down by :meth:`close`. A Ray already initialised in this process
            is used as it is, and left running.
        num_cpus: CPUs of a local cluster started here.
        chunk_size: files per task (default: from the number of files and CPUs, at most ``MAX_CHUNK``).
    """

    def __init__(self, address: str | None = None, num_cpus: int | None = None, chunk_size: int | None = None):
        self.address = address
        self.num_cpus = num_cpus
        self.chunk_size = chunk_size
        self.started = False  # whether this runner started Ray (and so shuts it down)
        self.cancelled_tasks = 0  # tasks still queued or running when the last run was stopped
        self.unended_tasks = 0  # of those, the ones Ray had not yet confirmed ended when the run returned
        self.timings: dict[str, float] = {}  # seconds: "connect", and of the last run "submit", "wait", "store"
        self.result_bytes = 0  # of the last run: the pickled size of every task's result
        self._ray: Any = None

    def connect(self, workers: int) -> Any:
        """Ray, initialised: the existing session, the cluster at ``address``, or a local one started now."""
        ray = import_ray()
        if ray.is_initialized():
            self._ray = ray
            return ray
        start = time.perf_counter()
        options: dict[str, Any] = {
            "include_dashboard": False,
            "logging_level": logging.ERROR,
            "log_to_driver": False,
            "configure_logging": True,
        }
        if self.address is None:
            options.update(num_cpus=self.num_cpus or workers, num_gpus=0, object_store_memory=_LOCAL_OBJECT_STORE_BYTES)
        else:
            options["address"] = self.address
        self._ray = ray
        with _ctrl_c_held(raise_after=True), _sigterm_kept():
            try:
                ray.init(**options)
            except Exception as e:  # ConnectionError, a bad address, a cluster of another Ray version, ...
                with contextlib.suppress(Exception):  # whatever it started of a local instance goes
                    ray.shutdown()
                where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
                raise RayUnavailable(f"cannot start or reach {where}: {type(e).__name__}: {e}") from e
            self.started = True  # before a Ctrl-C held back is raised: close() shuts it down
        self.timings["connect"] = time.perf_counter() - start
        return ray

    def close(self) -> None:
        """Shut Ray down if this runner started it (nothing of the check is left running)."""
        if self.started and self._ray is not None:
            with _ctrl_c_held(raise_after=False):  # a second Ctrl-C must not cut the shutdown short
                started = _ray_processes()
                self._ray.shutdown()
                _end_leftovers(started)
            self.started = False

    def __call__(
        self,
        full_paths: Sequence[str | ImageBytes],
        todo: list[int],
        workers: int,
        settings: DecodeSettings,
        store: Callable[[Sequence[int], Sequence[FileInfo]], None],
        report: Callable[[int], None],
        cancel: threading.Event | None,
    ) -> None:
        def check_cancel() -> None:
            if cancel is not None and cancel.is_set():
                raise Cancelled("image check cancelled")

        check_cancel()
        self.cancelled_tasks = 0
        self.result_bytes = 0
        if not todo:
            return  # everything came from the cache: Ray is not even started
        ray = self.connect(workers)
        import pickle

        import PIL

        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        size = self.chunk_size or max(MIN_CHUNK, min(MAX_CHUNK, len(todo) // (cpus * 8) or 1))
        chunks = deque(todo[s : s + size] for s in range(0, len(todo), size))
        singles: deque[list[int]] = deque()  # after a worker died: its files again, one per task
        # No automatic retry: a task whose worker died is split here, so that one file takes the blame.
        task = ray.remote(num_cpus=1, max_retries=0)(check_chunk)
        settings_ref = ray.put(settings)
        in_flight: dict[Any, list[int]] = {}
        done = 0
        spent = {"submit": 0.0, "wait": 0.0, "store": 0.0}

        def top_up() -> None:
            t = time.perf_counter()
            while len(in_flight) < TASKS_PER_CPU * cpus and (singles or chunks):
                positions = singles.popleft() if singles else chunks.popleft()
                in_flight[task.remote([full_paths[i] for i in positions], settings_ref)] = positions
            spent["submit"] += time.perf_counter() - t

        with _signals_between_calls() as checkpoint:  # a signal raises here, never inside a call into Ray
            try:
                while done < len(todo):
                    checkpoint()
                    check_cancel()
                    top_up()
                    t = time.perf_counter()
                    ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=_POLL_S)
                    spent["wait"] += time.perf_counter() - t
                    checkpoint()
                    for ref in ready:
                        positions = in_flight.pop(ref)
                        try:
                            version, found = ray.get(ref)
                        except ray.exceptions.WorkerCrashedError:
                            if len(positions) > 1:
                                singles.extend([i] for i in positions)
                                continue
                            found = [images.crashed_info(full_paths[positions[0]])]
                            version = PIL.__version__
                        if version != PIL.__version__:
                            raise RayUnavailable(
                                f"the Ray workers decode with Pillow {version}, this process with Pillow "
                                f"{PIL.__version__}: their verdicts would not be this check's; install Pillow "
                                f"{PIL.__version__} on the cluster"
                            )
                        t = time.perf_counter()
                        self.result_bytes += len(pickle.dumps((version, found)))
                        store(positions, found)
                        done += len(positions)
                        spent["store"] += time.perf_counter() - t
                        report(done)
                        check_cancel()
            finally:
                self.timings.update(spent)
                self.cancelled_tasks = len(in_flight)
                for ref in in_flight:  # a cancel, Ctrl-C or a failure: stop every task still queued or running
                    with contextlib.suppress(Exception):
                        ray.cancel(ref, force=True)
                # Return only once Ray has seen each of them end (cancelled, or its worker killed): until
                # the owner has, their leases may still hold the cluster's CPUs.
                self.unended_tasks = 0
                if in_flight:
                    with contextlib.suppress(Exception):
                        ended, _ = ray.wait(list(in_flight), num_returns=len(in_flight), timeout=_CANCEL_WAIT_S)
                        self.unended_tasks = len(in_flight) - len(ended)
            checkpoint()  # one that came after the last result


# ---------------------------------------------------------------- using it from check_images

# The runner for checks started in this context (thread); None: the local process pool.
_ACTIVE: contextvars.ContextVar[RayRunner | None] = contextvars.ContextVar("balance_gui_ray_runner", default=None)
_HOOK_LOCK = threading.Lock()


def _install_dispatch() -> None:
    """Make ``images.check_images`` hand its per-file work to the runner active in the calling context.

    check_images runs its files through the module function ``images._run``; it is replaced, once, by
    a function that calls the active runner, or the original when none is active (every other thread,
    every other check). Everything else the check does (the cache, the merge, the summary) is its own.
    """
    with _HOOK_LOCK:
        if getattr(images._run, "_ray_dispatch", False):
            return
        local_run = images._run

        def dispatch(*args: Any, **kwargs: Any) -> None:
            runner = _ACTIVE.get()
            (local_run if runner is None else runner)(*args, **kwargs)

        dispatch._ray_dispatch = True  # type: ignore[attr-defined]
        dispatch.local_run = local_run  # type: ignore[attr-defined]
        images._run = dispatch


@contextlib.contextmanager
def ray_checks(
    address: str | None = None, workers: int | None = None, chunk_size: int | None = None
) -> Iterator[RayRunner]:
    """Within this block, :func:`.images.check_images` called in this thread decodes on Ray.

    Ray is imported at once (:class:`RayUnavailable` says what to install), started or reached on the
    first check with files to decode, and shut down at the end of the block if it was started here.
    """
    import_ray()
    runner = RayRunner(address=address, num_cpus=workers, chunk_size=chunk_size)
    _install_dispatch()
    token = _ACTIVE.set(runner)
    try:
        yield runner
    finally:
        _ACTIVE.reset(token)
        runner.close()


def check_images_ray(
    index: Any,
    *,
    address: str | None = None,
    workers: int | None = None,
    chunk_size: int | None = None,
    runner: RayRunner | None = None,
    **kwargs: Any,
) -> images.CheckResult:
    """:func:`.images.check_images` with its decode+hash on Ray (same arguments, plus ``address``).

    With ``runner``, that runner is used and left open (a session that checks several times keeps
    one cluster); otherwise one is made for this check and closed after it.
    """
    if runner is None:
        with ray_checks(address, workers, chunk_size):
            return images.check_images(index, workers=workers, **kwargs)
    _install_dispatch()
    token = _ACTIVE.set(runner)
    try:
        return images.check_images(index, workers=workers, **kwargs)
    finally:
        _ACTIVE.reset(token)


__all__ = [
    "INSTALL_HINT",
    "RayRunner",
    "RayUnavailable",
    "check_chunk",
    "check_images_ray",
    "import_ray",
    "inspect_uri",
    "ray_available",
    "ray_checks",
    "uri_of",
]
