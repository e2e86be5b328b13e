"""Fixtures and helpers for the GUI tests: isolated settings, a window, waiting on its workers.

Every GUI test gets settings in tmp_path and fails if it leaves a worker running.
"""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QCoreApplication, QSettings, QThreadPool


def active_threads() -> int:
    return QThreadPool.globalInstance().activeThreadCount()


def wait_until(predicate, timeout_s: float = 10.0, step_ms: int = 10) -> bool:
    """Process events until ``predicate()`` holds; False on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        QCoreApplication.processEvents()
        if predicate():
            return True
        QThreadPool.globalInstance().waitForDone(step_ms)
    QCoreApplication.processEvents()
    return bool(predicate())


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
def no_leaked_workers(qapp):
    """Fail a test that leaves a worker thread running."""
    yield
    QCoreApplication.processEvents()
    running = active_threads()
    if running:
        QThreadPool.globalInstance().waitForDone(30_000)  # do not let it spill into the next test
    assert running == 0, f"{running} worker thread(s) still running after the test"


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
