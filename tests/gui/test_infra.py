"""The GUI test setup itself: a bare pytest with no display and no QT_QPA_PLATFORM runs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.slow  # a fresh interpreter imports Qt, pyqtgraph and torch: ~10 s on 2 cores, and only a subprocess
@pytest.mark.timeout(120)  # can prove that a bare pytest with no display does not abort
def test_bare_pytest_without_a_display_runs_offscreen():
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = os.getcwd()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/gui/test_session.py", "-k", "help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=os.getcwd(),
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout
