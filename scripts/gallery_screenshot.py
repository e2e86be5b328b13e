"""Take the README's gallery screenshot: the main window on a damaged copy of the demo, after
Check Images and a run, showing class "star" in the Gallery tab, most-drawn first.

    .venv/bin/python scripts/gallery_screenshot.py [--out docs/gallery.png]

The copy of resources/demo gets a truncated JPEG, an empty file and a cross-class copy; the
check runs with "Weights on usable images" on, so the Usable column and the exclusions are
live. Without a display it re-runs itself under Xvfb. Settings and the check cache go to a
temporary folder, never the user's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from screenshot import HEIGHT, WIDTH, reexec_under_xvfb  # noqa: E402  (scripts/ is on sys.path)


def damaged_demo(folder: str) -> str:
    root = os.path.join(folder, "demo")
    shutil.copytree(os.path.join(REPO, "resources", "demo"), root)
    with open(os.path.join(root, "star", "star_0003.jpg"), "r+b") as fh:
        fh.truncate(300)
    open(os.path.join(root, "dots", "dots_0001.jpg"), "wb").close()
    shutil.copy(os.path.join(root, "circle", "circle_0000.jpg"), os.path.join(root, "plus", "plus_0100.jpg"))
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "gallery.png"))
    args = parser.parse_args()
    reexec_under_xvfb(os.path.abspath(__file__))

    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    app.setApplicationName("balance-gui")
    from balance_gui.gui.app import create_window, wait_for_signal
    from balance_gui.gui.gallery import SORT_MOST_DRAWN

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CACHE_HOME"] = os.path.join(tmp, "cache")
        settings = QSettings(os.path.join(tmp, "screenshot.ini"), QSettings.Format.IniFormat)
        window = create_window(damaged_demo(tmp), settings=settings)
        window.resize(WIDTH, HEIGHT)
        window.move(0, 0)
        if window.index is None and wait_for_signal(window.scanEnded)[0] != "ok":
            raise SystemExit(f"could not open the demo copy: {window.last_error}")
        if window.torch_label.text().endswith("loading…"):
            wait_for_signal(window.devicesProbed)
        window.check_images()
        if wait_for_signal(window.checkEnded)[0] != "ok":
            raise SystemExit(f"the check failed: {window.last_error}")
        window.usable_check.setChecked(True)
        window.start_run()
        if wait_for_signal(window.runEnded)[0] != "finished":
            raise SystemExit(f"the run did not finish: {window.last_error}")
        window.histogram.set_sorted(True)
        window.select_class(window.index.class_to_idx["star"])
        window.tabs.setCurrentWidget(window.gallery)
        window.gallery.sort.setCurrentText(SORT_MOST_DRAWN)
        loop = QEventLoop()
        QTimer.singleShot(1500, loop.quit)  # thumbnails decode on their threads; let them land and repaint
        loop.exec()
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        pixmap = window.grab()
        ok = pixmap.save(args.out, "PNG")
        window.close()
    app.quit()
    print(f"wrote {args.out} ({pixmap.width()}x{pixmap.height()})" if ok else f"could not write {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
