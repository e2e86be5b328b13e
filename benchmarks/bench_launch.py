"""Launch to visible: seconds from exec'ing a fresh Python to the main window's first expose,
as a user sees it, against an anchor measured in the same run.

The anchor is the least any PySide6 app can do: ``import PySide6.QtWidgets``, a QApplication and
an empty QMainWindow shown. The app's figure is ``balance_gui.gui.app.create_window`` (what
``balance-gui`` runs), settings in a temporary file. Both report the first Expose event of
their window (the first frame the window system asks it to paint), caught by an event filter,
so the time includes the interpreter's start, every import, building the widgets and the
first layout. The child prints a line then; the parent's clock runs from before ``Popen``.

Runs alternate (anchor, app, anchor, app, ...) so a load change on the machine hits both; the
medians and their ratio are printed, with the machine's load average (``os.getloadavg``), since
other processes on a small machine move both figures.

    .venv/bin/python benchmarks/bench_launch.py            (under a display, or it re-runs under xvfb-run)
    .venv/bin/python benchmarks/bench_launch.py --rounds 9
    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_launch.py   (no window system)

The quality bar (issue 15): the app visible within 1 s on the development machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_FILTER = """
from PySide6.QtCore import QObject, QEvent
class _Exposed(QObject):
    def eventFilter(self, obj, event):
        if event.type() in (QEvent.Type.Expose, QEvent.Type.Paint) and obj is WINDOW_HANDLE():
            print("VISIBLE", flush=True)
            import os
            os._exit(0)
        return False
"""

ANCHOR = (
    "import sys\n"
    "from PySide6.QtWidgets import QApplication, QMainWindow\n" + _FILTER + "app = QApplication(sys.argv[:1])\n"
    "w = QMainWindow()\n"
    "w.resize(1440, 900)\n"
    "WINDOW_HANDLE = lambda: w.windowHandle()\n"
    "f = _Exposed(); app.installEventFilter(f)\n"
    "w.show()\n"
    "app.exec()\n"
)

APP = (
    "import sys, tempfile\n"
    "from PySide6.QtWidgets import QApplication\n" + _FILTER + "app = QApplication(sys.argv[:1])\n"
    "from PySide6.QtCore import QSettings\n"
    "from balance_gui.gui.app import create_window\n"
    "s = QSettings(tempfile.mktemp(suffix='.ini'), QSettings.Format.IniFormat)\n"
    "w = None\n"
    "WINDOW_HANDLE = lambda: w.windowHandle() if w is not None else None\n"
    "f = _Exposed(); app.installEventFilter(f)\n"
    "w = create_window(None, settings=s)\n"
    "app.exec()\n"
)


def reexec_under_xvfb() -> None:
    if os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") or os.environ.get("_BENCH_XVFB"):
        return
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        sys.exit("no display: install Xvfb (apt-get install xvfb), set DISPLAY, or QT_QPA_PLATFORM=offscreen")
    os.environ["_BENCH_XVFB"] = "1"
    os.execv(xvfb, [xvfb, "-a", "-s", "-screen 0 1600x1000x24", sys.executable, *sys.argv])


def launch(code: str, timeout_s: float = 60.0) -> float:
    """Seconds from just before exec to the child's first expose of its window."""
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("VISIBLE"):
                return time.perf_counter() - t0
        _, err = proc.communicate(timeout=timeout_s)
        raise RuntimeError(f"the window never became visible:\n{err[-2000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="launches of each (median reported)")
    args = parser.parse_args(argv)
    reexec_under_xvfb()
    launch(ANCHOR)  # warm the file cache for both: the first launch after a build reads every .pyc
    launch(APP)
    anchor, app = [], []
    load_before = os.getloadavg()
    for _ in range(args.rounds):
        anchor.append(launch(ANCHOR))
        app.append(launch(APP))
    load_after = os.getloadavg()
    a, b = statistics.median(anchor), statistics.median(app)
    platform = os.environ.get("QT_QPA_PLATFORM") or ("xcb (Xvfb)" if os.environ.get("_BENCH_XVFB") else "xcb")
    print(f"platform {platform}, {os.cpu_count()} CPUs, load average {load_before[0]:.2f} -> {load_after[0]:.2f}")
    print(f"anchor (PySide6.QtWidgets + empty QMainWindow shown): {a:.3f} s  [{', '.join(f'{t:.3f}' for t in anchor)}]")
    print(f"balance-gui window visible:                           {b:.3f} s  [{', '.join(f'{t:.3f}' for t in app)}]")
    print(f"ratio app / anchor: {b / a:.2f}x; the app's own part: {b - a:.3f} s")
    print("quality bar (visible within 1 s):", "met" if b < 1.0 else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
