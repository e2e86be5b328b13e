"""Check Images on a dataset whose decoder hangs: Cancel ends the check within a second (its worker
processes killed), closing the window ends it as fast, and the app quits whatever the check was doing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest
from PySide6.QtCore import Qt

from balance_gui.core import images

from .. import hostile_helpers as hh
from ..test_images import good_tree
from .conftest import open_and_wait

pytestmark = pytest.mark.timeout(180)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def hanging(tmp_path, monkeypatch):
    """A dataset of 70 images whose every decode hangs, in this process and in the worker processes;
    the workers note their pids in ``tmp/pids``."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # never the user's real cache
    monkeypatch.setattr(images, "_default_workers", lambda: 2)  # worker processes even on one core
    monkeypatch.setattr(images, "_inspect_chunk", hh.hang)
    (tmp_path / "pids").mkdir()
    root = good_tree(tmp_path / "data", {"ant": 40, "bee": 30})
    yield root
    hh.release.set()  # the stuck decodes of this process may return now
    time.sleep(0.1)
    hh.release.clear()


def test_cancel_ends_a_hanging_check_within_a_second(qtbot, window, hanging, tmp_path):
    assert open_and_wait(qtbot, window, hanging) == "ok"
    window.check_action.trigger()
    workers = hh.worker_pids(tmp_path / "pids")  # a worker process is stuck in its decoder
    started = time.monotonic()
    with qtbot.waitSignal(window.checkEnded, timeout=1000) as blocker:
        qtbot.mouseClick(window.cancel_check_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["cancelled"] and time.monotonic() - started < 1.0
    assert not window.checking and not window.cancel_check_button.isVisible()
    assert hh.all_gone(workers, 5) == []
    assert "cancelled" in window.status_label.text()


def test_closing_the_window_ends_a_hanging_check(qtbot, window, hanging, tmp_path):
    assert open_and_wait(qtbot, window, hanging) == "ok"
    window.check_action.trigger()
    workers = hh.worker_pids(tmp_path / "pids")
    started = time.monotonic()
    assert window.shutdown(timeout_s=10)
    assert time.monotonic() - started < 2.0
    assert hh.all_gone(workers, 5) == []


QUIT_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QCoreApplication, QSettings, QTimer
    from PySide6.QtWidgets import QApplication
    from balance_gui.core import images
    from tests import hostile_helpers as h
    images._inspect_chunk = h.hang
    images._default_workers = lambda: 2
    from balance_gui.gui.app import wait_for_signal
    from balance_gui.gui.main_window import MainWindow

    app = QApplication([])
    window = MainWindow(settings=QSettings(sys.argv[2], QSettings.Format.IniFormat), probe_devices=False)
    window.show()
    window.open_path(sys.argv[1])
    assert wait_for_signal(window.scanEnded, 60)[0] == "ok"
    window.check_images()
    pids = os.path.join(os.environ[h.PID_DIR])
    deadline = time.monotonic() + 60
    while not any(open(os.path.join(pids, f)).read() == "worker" for f in os.listdir(pids)):
        QCoreApplication.processEvents()
        time.sleep(0.05)
        assert time.monotonic() < deadline, "no worker started"
    QTimer.singleShot(0, window.close)  # the user closes the window while the check hangs
    code = app.exec()
    print("event loop over", flush=True)
    sys.exit(code)
    """
)


def test_the_app_quits_while_a_check_hangs(tmp_path):
    root = good_tree(tmp_path / "data", {"ant": 40, "bee": 30})
    (tmp_path / "pids").mkdir()
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
        **{hh.PID_DIR: str(tmp_path / "pids")},
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", QUIT_SCRIPT, str(root), str(tmp_path / "settings.ini")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the app did not exit after its window closed: {out!r} {err[-3000:]!r}")
    assert proc.returncode == 0, err.decode()[-3000:]
    assert b"event loop over" in out
    workers = [int(p.stem) for p in (tmp_path / "pids").glob("*.pid") if p.read_text() == "worker"]
    assert workers and hh.all_gone(workers, 5) == []
