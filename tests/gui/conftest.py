"""Fixtures for the GUI tests: offscreen Qt, isolated settings, a window, and leak checks.

Qt picks its platform when the QApplication is made: defaulting QT_QPA_PLATFORM here, before
pytest-qt makes it, lets a bare ``pytest`` run on a machine with no display (xcb would abort
the interpreter). Every GUI test fails if it leaves a QThread, an active repeating QTimer, a
thread-pool task or a visible top-level widget behind; the message names where it started
(napari's leak fixtures).
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import traceback  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import QCoreApplication, QSettings, QThread, QThreadPool, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from shiboken6 import isValid  # noqa: E402
from superqt.utils import WorkerBase  # noqa: E402


def active_threads() -> int:
    return QThreadPool.globalInstance().activeThreadCount()


def _where() -> str:
    """The test-side frames of the current stack: where a thread, timer or task was started."""
    frames = [f for f in traceback.extract_stack()[:-2] if "site-packages" not in f.filename]
    return "".join(traceback.format_list(frames[-6:]))


# ---------------------------------------------------------------- fixtures (imported by the test modules)


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path):
    """Point every QSettings the app could make at tmp_path: tests never touch the user's real settings."""
    folder = tmp_path / "qsettings"
    old_format = QSettings.defaultFormat()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for fmt in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(folder))
    yield folder
    QSettings.setDefaultFormat(old_format)


@pytest.fixture(autouse=True)
def no_leaked_qthreads(qapp, monkeypatch):
    """Fail a test that leaves a QThread running."""
    started: list[tuple[QThread, str]] = []
    real_start = QThread.start

    def start(self, *args, **kwargs):
        started.append((self, _where()))
        return real_start(self, *args, **kwargs)

    monkeypatch.setattr(QThread, "start", start)
    yield
    leaked = [where for thread, where in started if isValid(thread) and thread.isRunning()]
    for thread, _ in started:
        if isValid(thread) and thread.isRunning():
            thread.quit()
            thread.wait(5_000)
    assert not leaked, "QThread still running, started at:\n" + "\n".join(leaked)


@pytest.fixture(autouse=True)
def no_leaked_timers(qapp, monkeypatch):
    """Fail a test that leaves a repeating QTimer active (a single-shot one ends by itself)."""
    started: list[tuple[QTimer, str]] = []
    real_start = QTimer.start

    def start(self, *args, **kwargs):
        started.append((self, _where()))
        return real_start(self, *args, **kwargs)

    monkeypatch.setattr(QTimer, "start", start)
    yield
    leaked = []
    for timer, where in started:
        if isValid(timer) and timer.isActive() and not timer.isSingleShot():
            leaked.append(where)
            timer.stop()
    assert not leaked, "QTimer still active, started at:\n" + "\n".join(leaked)


@pytest.fixture(autouse=True)
def no_leaked_workers(qapp, monkeypatch):
    """Fail a test that leaves a thread-pool task (a superqt worker) running."""
    started: list[tuple[WorkerBase, str]] = []
    real_start = WorkerBase.start

    def start(self, *args, **kwargs):
        started.append((self, _where()))
        return real_start(self, *args, **kwargs)

    monkeypatch.setattr(WorkerBase, "start", start)
    yield
    QCoreApplication.processEvents()
    leaked = [where for worker, where in started if worker in WorkerBase._worker_set]
    running = active_threads()
    if running or leaked:
        for worker, _ in started:
            worker.quit()
        QThreadPool.globalInstance().waitForDone(30_000)  # do not let it spill into the next test
    assert not leaked, "worker still running, started at:\n" + "\n".join(leaked)
    assert running == 0, f"{running} thread-pool task(s) still running after the test"


@pytest.fixture(autouse=True)
def no_leaked_widgets(qapp):
    """Fail a test that leaves a new top-level widget visible (qtbot.addWidget closes the ones it owns)."""
    before = {id(w) for w in QApplication.topLevelWidgets()}
    yield
    QCoreApplication.processEvents()
    leaked = [w for w in QApplication.topLevelWidgets() if id(w) not in before and isValid(w) and w.isVisible()]
    names = [f"{type(w).__name__} {w.objectName()!r} {w.windowTitle()!r}" for w in leaked]
    for w in leaked:
        w.close()
    assert not leaked, "top-level widget(s) left open: " + ", ".join(names)


@pytest.fixture
def settings(tmp_path, isolated_settings):
    return QSettings(str(tmp_path / "balance-gui.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings):
    from balance_gui.gui.main_window import MainWindow

    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.show()
    yield w
    ok = w.shutdown(timeout_s=30)
    assert ok, "the window's workers did not end when it closed"
    assert active_threads() == 0


def open_and_wait(qtbot, window, path, timeout_ms: int = 20_000) -> str:
    """Open ``path`` in ``window`` and wait for the scan to end; returns "ok", "cancelled" or "failed"."""
    with qtbot.waitSignal(window.scanEnded, timeout=timeout_ms) as blocker:
        window.open_path(str(path))
    return blocker.args[0]
