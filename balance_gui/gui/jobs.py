"""One job at a time per runner (Orange's ConcurrentMixin pattern).

``JobRunner.start(worker, ...)`` cancels the runner's previous job and disconnects it,
so a result of a superseded job never reaches the window: no per-job staleness checks.
The runner keeps every worker it started until that worker's thread has ended, so the
window can wait for them all when it closes.

Object lifetimes, all kept on the GUI thread:
- A superqt worker is a QRunnable whose ``signals`` QObject lives in the GUI thread.
  ``QThreadPool.start`` parents the runnable to the pool, and the pool deletes it on its own
  thread after ``run()`` returns, dropping that reference there. Were it the last one, the
  worker and its QObject would be freed on the pool thread while the GUI thread handles
  queued signals of that very object (``malloc_consolidate()`` aborts). So every started
  worker is held in ``_HELD``, a list of the module (it must outlive any runner), until the
  pool has deleted its C++ side (``shiboken6.isValid`` turns False), and only then let go,
  on the GUI thread.
- A relay refers to its runner weakly: a strong reference made a runner <-> relay cycle, so
  a runner dropped by its owner was freed later by the cyclic garbage collector, on whatever
  thread happened to run it (a pool thread included), with its relays' deletions pending.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QThreadPool, QTimer, Signal

if TYPE_CHECKING:  # superqt imports all of qtpy: the first screen does not wait for it
    from superqt.utils import WorkerBase

# How often held workers are looked at until the pool has deleted them (see above).
_RELEASE_POLL_MS = 50
_HELD: list[WorkerBase] = []  # started, and not yet deleted by the pool


def _generator(worker: Any) -> Any:
    """``worker`` if it is a superqt GeneratorWorker (it pauses, resumes, and must be woken up to
    see a quit), else None."""
    return worker if hasattr(worker, "resume") and hasattr(worker, "yielded") else None


def _release_deleted() -> bool:
    """Let go, on the GUI thread, of the workers whose C++ side the pool has deleted; True if
    some are still held."""
    _HELD[:] = [w for w in _HELD if shiboken6.isValid(w)]
    return bool(_HELD)


class _Relay(QObject):
    """Forwards one worker's signals to the runner's callbacks while the job is current.

    A QObject living in the GUI thread: the worker's signals reach its methods queued,
    on the GUI thread."""

    def __init__(self, runner: JobRunner, worker: WorkerBase, callbacks: dict[str, Callable[..., Any] | None]):
        super().__init__(runner)
        self.live = True
        self._runner = weakref.ref(runner)
        self.worker = worker
        self.callbacks = callbacks

    def call(self, name: str, *args: Any) -> None:
        fn = self.callbacks.get(name)
        if self.live and fn is not None:
            fn(*args)

    def yielded(self, value: Any) -> None:
        self.call("partial", value)

    def returned(self, value: Any) -> None:
        self._ended()
        self.call("done", value)

    def errored(self, exc: BaseException) -> None:
        self._ended()
        self.call("exception", exc)

    def _ended(self) -> None:
        runner = self._runner()
        if runner is not None:
            runner._ended(self)

    def paused(self) -> None:
        self.call("paused")

    def resumed(self) -> None:
        self.call("resumed")

    def finished(self) -> None:
        runner = self._runner()
        if runner is not None:
            runner._finished(self.worker, self)


class JobRunner(QObject):
    """Runs one superqt worker at a time: ``start`` cancels the previous one.

    Callbacks: ``on_partial`` (each yielded value), ``on_done`` (the returned value),
    ``on_exception`` (the exception), ``on_finished`` (no argument, always last), and
    ``on_paused``/``on_resumed`` for generator workers. A cancelled job calls none of them.
    The runner is no longer busy when ``on_done``, ``on_exception`` or ``on_finished`` runs.
    """

    jobEnded = Signal()  # any worker of this runner ended (current or cancelled)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._current: WorkerBase | None = None
        self._relay: _Relay | None = None
        self._alive: set[WorkerBase] = set()
        self._release_timer = QTimer(self)
        self._release_timer.setSingleShot(True)  # re-armed while some are held
        self._release_timer.setInterval(_RELEASE_POLL_MS)
        self._release_timer.timeout.connect(self._release)
        self._cancel_fn: Callable[[], None] = lambda: None

    @property
    def current(self) -> WorkerBase | None:
        return self._current

    @property
    def busy(self) -> bool:
        return self._current is not None

    @property
    def alive(self) -> int:
        """Workers started by this runner whose thread has not ended yet."""
        return len(self._alive)

    def start(
        self,
        worker: Any,  # a superqt WorkerBase; Any: its stubs type the generator signals loosely
        *,
        on_partial: Callable[[Any], None] | None = None,
        on_done: Callable[[Any], None] | None = None,
        on_exception: Callable[[BaseException], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        on_paused: Callable[[], None] | None = None,
        on_resumed: Callable[[], None] | None = None,
        cancel: Callable[[], None] | None = None,
    ) -> WorkerBase:
        """Cancel the previous job, then start ``worker``. ``cancel`` is how to stop this one
        (default: ``worker.quit()``; a scan also sets its cancel flag)."""
        self.cancel()
        relay = _Relay(
            self,
            worker,
            {
                "partial": on_partial,
                "done": on_done,
                "exception": on_exception,
                "finished": on_finished,
                "paused": on_paused,
                "resumed": on_resumed,
            },
        )
        self._cancel_fn = cancel or worker.quit
        self._current, self._relay = worker, relay
        self._alive.add(worker)
        _HELD.append(worker)
        if _generator(worker) is not None:
            worker.yielded.connect(relay.yielded)
            worker.paused.connect(relay.paused)
            worker.resumed.connect(relay.resumed)
        worker.returned.connect(relay.returned)
        worker.errored.connect(relay.errored)
        worker.finished.connect(relay.finished)
        worker.start()
        return worker

    def _ended(self, relay: _Relay) -> None:
        """The job's result is in: the runner is free before any callback runs (Orange's
        order), so ``on_done`` may start the next job."""
        if relay is self._relay:
            self._current, self._relay = None, None

    def _finished(self, worker: WorkerBase, relay: _Relay) -> None:
        self._alive.discard(worker)
        self._release()
        self._ended(relay)
        relay.call("finished")  # nothing when the job was cancelled (relay.live is False)
        relay.live = False
        relay.deleteLater()
        self.jobEnded.emit()

    def _release(self) -> None:
        if _release_deleted():
            self._release_timer.start()

    def cancel(self) -> None:
        """Stop the current job and cut it off: none of its callbacks runs after this."""
        worker, relay = self._current, self._relay
        if worker is None or relay is None:
            return
        relay.live = False
        self._current, self._relay = None, None
        if (gen := _generator(worker)) is not None:
            gen.resume()  # a paused generator must wake up to see the quit
        self._cancel_fn()

    def pause(self) -> None:
        if (gen := _generator(self._current)) is not None:
            gen.pause()

    def resume(self) -> None:
        if (gen := _generator(self._current)) is not None:
            gen.resume()

    def quit(self) -> None:
        """Ask the current job to stop, keeping its callbacks (its ``on_finished`` still runs)."""
        if self._current is not None:
            self._cancel_fn()
            if (gen := _generator(self._current)) is not None:
                gen.resume()  # a paused job must wake up to see the quit

    def wait(self, timeout_ms: int) -> bool:
        """Process events until every worker this runner started has ended; True if they have."""
        pool = QThreadPool.globalInstance()
        waited = 0
        while (self._alive or _HELD) and waited < timeout_ms:
            QCoreApplication.processEvents()
            pool.waitForDone(20)
            _release_deleted()
            waited += 20
        QCoreApplication.processEvents()
        return not self._alive
