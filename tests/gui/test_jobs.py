"""JobRunner: one job at a time; start() cancels the previous job and cuts off its callbacks."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from superqt.utils import FunctionWorker, GeneratorWorker

from balance_gui.gui.jobs import JobRunner

pytestmark = pytest.mark.timeout(60)


def test_start_cancels_and_disconnects_the_previous_job(qtbot):
    runner = JobRunner()
    gate = threading.Event()
    seen: list[tuple[str, object]] = []

    def first():
        yield 1
        gate.wait(10)  # blocked until the second job has started
        yield 2

    runner.start(
        GeneratorWorker(first),
        on_partial=lambda v: seen.append(("first", v)),
        on_finished=lambda: seen.append(("first", "finished")),
    )
    qtbot.waitUntil(lambda: ("first", 1) in seen)
    runner.start(
        FunctionWorker(lambda: 42),
        on_done=lambda v: seen.append(("second", v)),
        on_finished=lambda: seen.append(("second", "finished")),
    )
    gate.set()
    qtbot.waitUntil(lambda: runner.alive == 0, timeout=10_000)
    assert ("second", 42) in seen and ("second", "finished") in seen
    assert ("first", 2) not in seen and ("first", "finished") not in seen  # cut off when cancelled
    assert not runner.busy


def test_exception_and_quit_keep_the_callbacks(qtbot):
    runner = JobRunner()
    errors: list[BaseException] = []
    finished: list[bool] = []

    def boom():
        raise KeyError("x")

    runner.start(FunctionWorker(boom), on_exception=errors.append, on_finished=lambda: finished.append(True))
    qtbot.waitUntil(lambda: bool(finished))
    assert isinstance(errors[0], KeyError)

    def forever():
        while True:
            yield 0

    done: list[bool] = []
    runner.start(GeneratorWorker(forever), on_finished=lambda: done.append(True))
    runner.pause()
    runner.quit()  # a paused job still ends
    qtbot.waitUntil(lambda: bool(done), timeout=10_000)
    assert runner.wait(5_000)


# Run in a fresh interpreter: the leak fixtures of this suite hold every started worker, which
# would hide where the last reference is dropped.
_FREED_ON_WHICH_THREAD = r"""
import gc, sys, threading, time, weakref
from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QApplication
from superqt.utils import FunctionWorker
from balance_gui.gui.jobs import JobRunner

class LingeringWorker(FunctionWorker):
    # stays in run() a while after `finished` was sent: the window in which the GUI thread
    # handles `finished` before the pool thread lets go of the worker
    def run(self):
        super().run()
        time.sleep(0.05)

app = QApplication([])
runner = JobRunner()
freed_on = []
for _ in range(5):
    worker = LingeringWorker(lambda: 1)
    weakref.finalize(worker, lambda: freed_on.append(threading.current_thread().name))
    done = []
    runner.start(worker, on_finished=lambda: done.append(True))
    del worker
    while not done:
        app.processEvents()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # the relay lets go
runner.start(FunctionWorker(lambda: 0))  # the runner forgets the last worker's cancel hook
assert runner.wait(10_000)
QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
gc.collect()
print(",".join(freed_on))
"""


def test_a_finished_worker_is_freed_on_the_gui_thread_not_the_pools():
    # The worker's signals QObject lives in the GUI thread; freeing it on a pool thread, while
    # the GUI thread handles its queued signals, corrupted the heap now and then
    # (malloc_consolidate aborts of this file on a busy machine).
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [sys.executable, "-c", _FREED_ON_WHICH_THREAD], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    freed_on = out.stdout.strip().split(",")
    assert len(freed_on) >= 5
    assert set(freed_on) == {"MainThread"}


def test_the_runner_is_free_before_it_calls_back(qtbot):
    # Orange's order: a done callback may start the next job; the first job's on_finished still runs.
    runner = JobRunner()
    seen: list[object] = []

    def first_done(value):
        seen.append(("busy at done", runner.busy))
        runner.start(FunctionWorker(lambda: 2), on_done=seen.append, on_finished=lambda: seen.append("second finished"))

    def first_failed(exc):
        seen.append(("busy at exception", runner.busy))

    runner.start(FunctionWorker(lambda: 1), on_done=first_done, on_finished=lambda: seen.append("first finished"))
    qtbot.waitUntil(lambda: "second finished" in seen, timeout=10_000)
    assert ("busy at done", False) in seen and "first finished" in seen and 2 in seen

    def boom():
        raise ValueError("x")

    runner.start(FunctionWorker(boom), on_exception=first_failed, on_finished=lambda: seen.append("third finished"))
    qtbot.waitUntil(lambda: "third finished" in seen, timeout=10_000)
    assert ("busy at exception", False) in seen
    assert runner.wait(10_000) and not runner.busy


_RUNNER_DROPPED_MID_LIFE = r"""
from PySide6.QtWidgets import QApplication
from superqt.utils import FunctionWorker
from balance_gui.gui.jobs import JobRunner

app = QApplication([])
for _ in range(100):
    seen = []
    runner = JobRunner()  # no parent: its owner drops it, relays' deleteLater still pending
    runner.start(FunctionWorker(lambda: 42), on_done=seen.append)
    while runner.alive:
        app.processEvents()
    assert seen == [42]
    del runner
    app.processEvents()
print("ok")
"""


def test_a_runner_dropped_by_its_owner_is_freed_at_once_and_safely():
    # Each relay held its runner strongly: a runner <-> relay cycle, freed later by the cyclic
    # collector on whatever thread ran it; this loop died with a bus error every time.
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [sys.executable, "-c", _RUNNER_DROPPED_MID_LIFE], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
