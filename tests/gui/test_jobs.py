"""JobRunner: one job at a time; start() cancels the previous job and cuts off its callbacks."""

from __future__ import annotations

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
