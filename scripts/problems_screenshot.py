"""Screenshot the Problems tab: the main window on a damaged copy of the demo after Check Images,
a label conflict expanded with one copy selected; and the gallery of one of its classes, badged.

    .venv/bin/python scripts/problems_screenshot.py [--out problems.png] [--gallery-out gallery-marks.png]

The copy of resources/demo gets three corrupt files, a picture under three labels (circle, plus,
square: a label conflict), one under two (cross, diamond) and two copies inside triangle. Without
a display it re-runs itself under Xvfb. Settings and the check cache go to a temporary folder.
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

COPIES = (
    ("circle/circle_0000.jpg", "plus/plus_0100.jpg"),
    ("circle/circle_0000.jpg", "square/square_0900.jpg"),
    ("cross/cross_0005.jpg", "diamond/diamond_0100.jpg"),
    ("triangle/triangle_0001.jpg", "triangle/triangle_0900.jpg"),
    ("triangle/triangle_0001.jpg", "triangle/triangle_0901.jpg"),
)


def damaged_demo(folder: str) -> str:
    root = os.path.join(folder, "demo")
    shutil.copytree(os.path.join(REPO, "resources", "demo"), root)
    with open(os.path.join(root, "star", "star_0003.jpg"), "r+b") as fh:
        fh.truncate(300)
    open(os.path.join(root, "dots", "dots_0001.jpg"), "wb").close()
    with open(os.path.join(root, "ring", "notes.jpg"), "w") as fh:
        fh.write("meeting notes\n")
    for source, copy in COPIES:
        shutil.copy(os.path.join(root, source), os.path.join(root, copy))
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="problems.png")
    parser.add_argument("--gallery-out", default="gallery-marks.png")
    args = parser.parse_args()
    reexec_under_xvfb(os.path.abspath(__file__))

    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    app.setApplicationName("balance-gui")
    from balance_gui.gui.app import create_window, wait_for_signal
    from balance_gui.gui.problems_model import KIND_CONFLICT

    def settle(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)  # thumbnails decode on their threads; let them land and repaint
        loop.exec()

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CACHE_HOME"] = os.path.join(tmp, "cache")
        settings = QSettings(os.path.join(tmp, "screenshot.ini"), QSettings.Format.IniFormat)
        window = create_window(damaged_demo(tmp), settings=settings)
        window.resize(WIDTH, HEIGHT)
        window.move(0, 0)
        if window.index is None and wait_for_signal(window.scanEnded)[0] != "ok":
            raise SystemExit(f"could not open the demo copy: {window.last_error}")
        window.check_images()
        if wait_for_signal(window.checkEnded)[0] != "ok":
            raise SystemExit(f"the check failed: {window.last_error}")
        window.usable_check.setChecked(True)
        panel = window.problems
        window.tabs.setCurrentWidget(panel)
        model = panel.model
        conflict = next(r for r in range(model.rowCount()) if model.index(r, 0).data() == KIND_CONFLICT)
        panel.select_row(conflict, copy=1)
        settle(1500)
        ok = window.grab().save(args.out, "PNG")

        window.select_class(window.index.class_to_idx["plus"])
        window.tabs.setCurrentWidget(window.gallery)
        window.gallery.view.scrollToBottom()
        settle(1500)
        ok = window.grab().save(args.gallery_out, "PNG") and ok
        window.close()
    app.quit()
    print(f"wrote {args.out} and {args.gallery_out}" if ok else "could not write the screenshots")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
