"""Take the README's screenshots: the real app on resources/demo after a completed run.

    .venv/bin/python scripts/screenshot.py [--out docs/screenshot.png]
    .venv/bin/python scripts/screenshot.py --classes 10000 --out docs/screenshot-10000.png

``--classes C`` opens a generated long-tailed tree instead (C class folders of empty .jpg
files, the head class 2,000 images, then 2000 / rank^0.9, at least 1), kept in the temp
folder between runs.

Without a display it re-runs itself under Xvfb (xvfb-run), so the window is drawn by the
real xcb platform, fonts and all. Settings go to a temporary file, never the user's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

WIDTH, HEIGHT = 1440, 900


def reexec_under_xvfb(script: str) -> None:
    """Without a display, run ``script`` again (same arguments) under Xvfb, drawn by the real xcb platform."""
    if os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") or os.environ.get("_SCREENSHOT_XVFB"):
        return
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        sys.exit("no display: install Xvfb (apt-get install xvfb) or set DISPLAY")
    os.environ["_SCREENSHOT_XVFB"] = "1"
    os.execv(
        xvfb,
        [
            xvfb,
            "-a",
            "-s",
            f"-screen 0 {WIDTH + 160}x{HEIGHT + 100}x24",
            sys.executable,
            script,
            *sys.argv[1:],
        ],
    )


def long_tail_tree(classes: int, head: int = 2000) -> str:
    root = os.path.join(tempfile.gettempdir(), f"balance-gui-longtail-{classes}")
    marker = os.path.join(root, ".complete")
    if os.path.exists(marker):
        return root
    for rank in range(1, classes + 1):
        folder = os.path.join(root, f"species_{rank:05d}")
        os.makedirs(folder, exist_ok=True)
        for i in range(max(1, round(head / rank**0.9))):
            open(os.path.join(folder, f"img_{i:04d}.jpg"), "wb").close()
    open(marker, "w").close()
    return root


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "screenshot.png"))
    parser.add_argument("--data", default=os.path.join(REPO, "resources", "demo"))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--classes", type=int, default=0, help="open a generated long-tailed tree of this many classes")
    parser.add_argument("--size", default=f"{WIDTH}x{HEIGHT}", help="window size, WIDTHxHEIGHT")
    args = parser.parse_args(argv)
    reexec_under_xvfb(os.path.abspath(__file__))
    if args.classes:
        args.data = long_tail_tree(args.classes)

    from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    app.setApplicationName("balance-gui")
    from balance_gui.gui.app import create_window, wait_for_signal

    settings = QSettings(os.path.join(tempfile.mkdtemp(), "screenshot.ini"), QSettings.Format.IniFormat)
    window = create_window(args.data, settings=settings)
    width, height = (int(v) for v in args.size.lower().split("x"))
    window.resize(width, height)
    window.move(0, 0)

    if window.index is None:
        outcome = wait_for_signal(window.scanEnded)[0]
        if outcome != "ok":
            raise SystemExit(f"could not open {args.data}: {window.last_error}")
    if window.torch_label.text().endswith("loading…"):
        wait_for_signal(window.devicesProbed)
    window.sampler.epochs.setValue(args.epochs)
    window.start_run()
    if wait_for_signal(window.runEnded)[0] != "finished":
        raise SystemExit(f"the run did not finish: {window.last_error}")
    window.histogram.set_sorted(True)  # the long tail reads best largest-first
    if args.classes:
        window.select_class(args.classes // 2)  # a tail class, marked in the middle of the curve
    window.table.sortByColumn(2, Qt.SortOrder.DescendingOrder)
    window.table.scrollToTop()
    loop = QEventLoop()
    QTimer.singleShot(400, loop.quit)  # let layouts and the last repaint settle
    loop.exec()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    pixmap = window.grab()
    if not pixmap.save(args.out, "PNG"):
        raise SystemExit(f"could not write {args.out}")
    print(f"wrote {args.out} ({pixmap.width()}x{pixmap.height()}) on platform {app.platformName()}")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
