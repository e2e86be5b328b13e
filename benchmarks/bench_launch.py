"""Launch to visible: seconds from exec'ing a fresh Python to the main window's first expose,
as a user sees it, against an anchor measured in the same run.

The anchor is the least any PySide6 app can do: ``import PySide6.QtWidgets``, a QApplication and
an empty QMainWindow shown. The app's figure is ``balance_gui.gui.app.create_window`` (what
``balance-gui`` runs), settings in a temporary file. Both report the first Expose event of
their window (the first frame the window system asks it to paint), caught by an event filter,
so the time includes the interpreter's start, every import, building the widgets and the
first layout. Modules load from compiled bytecode, as in an installed package (see ``PYCACHE``).
The child prints a line then; the parent's clock runs from before ``Popen``.

Runs alternate (anchor, app, anchor, app, ...) so a load change on the machine hits both; the
medians and their ratio are printed, with the machine's load average (``os.getloadavg``), since
other processes on a small machine move both figures; so is the CPU time each child used until its
window showed (``time.process_time``), which they move far less: the work itself. Each set runs
twice: on the machine as it is, then with one more process keeping a core busy (``--load busy``),
as a user's other work would.

    .venv/bin/python benchmarks/bench_launch.py            (under a display, or it re-runs under xvfb-run)
    .venv/bin/python benchmarks/bench_launch.py --rounds 9 --load quiet
    .venv/bin/python benchmarks/bench_launch.py --root /another/checkout   (its balance_gui: before/after)
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
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_FILTER = """
from PySide6.QtCore import QObject, QEvent
class _Exposed(QObject):
    def eventFilter(self, obj, event):
        if event.type() in (QEvent.Type.Expose, QEvent.Type.Paint) and obj is WINDOW_HANDLE():
            import time
            print("VISIBLE", time.process_time(), flush=True)
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


# Compiled bytecode, as an installed package has it: a child that compiles every module of the
# package at each launch (PYTHONDONTWRITEBYTECODE, set on some development machines) is not what a
# user sees. The cache lives outside the tree, one per run; the warm-up launch fills it.
PYCACHE = tempfile.mkdtemp(prefix="bench-launch-pycache-")


def launch(code: str, timeout_s: float = 60.0, root: str = REPO) -> tuple[float, float]:
    """Seconds from just before exec to the child's first expose of its window, and the CPU seconds
    the child used until then (all its threads): the work itself, which other processes do not move."""
    env = dict(os.environ)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=root, env=env
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("VISIBLE"):
                return time.perf_counter() - t0, float(line.split()[1])
        _, err = proc.communicate(timeout=timeout_s)
        raise RuntimeError(f"the window never became visible:\n{err[-2000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def busy_core() -> subprocess.Popen[bytes]:
    """One more process spinning on a core, for the loaded figures."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


Runs = list[tuple[float, float]]


def measure(rounds: int, root: str) -> tuple[Runs, Runs]:
    launch(ANCHOR)  # warm the file cache for both: the first launch after a build reads every .pyc
    launch(APP, root=root)
    anchor, app = [], []
    for _ in range(rounds):
        anchor.append(launch(ANCHOR))
        app.append(launch(APP, root=root))
    return anchor, app


def report(label: str, anchor: Runs, app: Runs, load: tuple[float, float]) -> None:
    print(f"-- {label}: load average {load[0]:.2f} -> {load[1]:.2f}")
    for i, what in ((0, "wall"), (1, "CPU")):
        a = statistics.median(r[i] for r in anchor)
        b = statistics.median(r[i] for r in app)
        runs_a = ", ".join(f"{r[i]:.3f}" for r in anchor)
        runs_b = ", ".join(f"{r[i]:.3f}" for r in app)
        print(f"{what:>4} anchor (PySide6.QtWidgets + empty QMainWindow shown): {a:.3f} s  [{runs_a}]")
        print(f"{what:>4} balance-gui window visible:                           {b:.3f} s  [{runs_b}]")
        print(f"{what:>4} ratio app / anchor: {b / a:.2f}x; the app's own part: {b - a:.3f} s")
    wall = statistics.median(r[0] for r in app)
    print("quality bar (visible within 1 s, wall):", "met" if wall < 1.0 else "NOT met")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="launches of each (median reported)")
    parser.add_argument(
        "--load", choices=("both", "quiet", "busy"), default="both", help="machine as is, one core busy, or both"
    )
    parser.add_argument("--root", default=REPO, help="the checkout whose balance_gui is launched (default: this one)")
    args = parser.parse_args(argv)
    reexec_under_xvfb()
    platform = os.environ.get("QT_QPA_PLATFORM") or ("xcb (Xvfb)" if os.environ.get("_BENCH_XVFB") else "xcb")
    print(f"platform {platform}, {os.cpu_count()} CPUs, balance_gui from {os.path.abspath(args.root)}")
    for load in ("quiet", "busy"):
        if args.load not in (load, "both"):
            continue
        spinner = busy_core() if load == "busy" else None
        try:
            before = os.getloadavg()
            anchor, app = measure(args.rounds, args.root)
            after = os.getloadavg()
        finally:
            if spinner is not None:
                spinner.kill()
                spinner.wait()
        report("as the machine is" if load == "quiet" else "one core kept busy", anchor, app, (before[0], after[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
