"""Take the README's gallery screenshot: the gallery and the check panel on a damaged copy of the demo.

    .venv/bin/python scripts/gallery_screenshot.py [--out docs/gallery.png]

The copy of resources/demo gets a truncated JPEG, an empty file and a cross-class copy; the
gallery shows class "star" by how often a real run drew each image, the panel the check's
problems with a duplicate selected. Without a display it re-runs itself under Xvfb.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
WIDTH, HEIGHT = 1100, 520


def _reexec_under_xvfb() -> None:
    if os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") or os.environ.get("_SCREENSHOT_XVFB"):
        return
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        sys.exit("no display: install Xvfb (apt-get install xvfb) or set DISPLAY")
    os.environ["_SCREENSHOT_XVFB"] = "1"
    screen = f"-screen 0 {WIDTH + 160}x{HEIGHT + 100}x24"
    os.execv(xvfb, [xvfb, "-a", "-s", screen, sys.executable, os.path.abspath(__file__), *sys.argv[1:]])


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
    _reexec_under_xvfb()

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication, QSplitter

    from balance_gui.core.dataset import scan_image_folder
    from balance_gui.core.images import check_images
    from balance_gui.core.simulate import simulate
    from balance_gui.core.weights import class_weights
    from balance_gui.gui.gallery import SORT_MOST_DRAWN, GalleryPanel
    from balance_gui.gui.image_check import ProblemsPanel

    app = QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        index = scan_image_folder(damaged_demo(tmp))
        *_, last = simulate(index.targets, class_weights(index.counts, "inverse"), seed=0)
        result = check_images(index, cache_path=None)

        gallery = GalleryPanel(open_file=None, thumb_size=64)
        gallery.set_class(index, index.class_to_idx["star"], draw_counts=last.image_uses)
        gallery.sort.setCurrentText(SORT_MOST_DRAWN)
        problems = ProblemsPanel()
        problems.set_result(index, result)
        window = QSplitter()
        window.addWidget(gallery)
        window.addWidget(problems)
        window.setWindowTitle("balance-gui: gallery and image check")
        window.resize(WIDTH, HEIGHT)
        window.setSizes([WIDTH * 4 // 10, WIDTH * 6 // 10])
        window.show()
        problems.select_row(next(i for i, p in enumerate(result.problems) if p.kind == "duplicate"))
        loop = QEventLoop()
        QTimer.singleShot(1500, loop.quit)  # thumbnails decode on their threads; let them land and repaint
        loop.exec()
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        ok = window.grab().save(args.out)
        gallery.shutdown()
        problems.shutdown()
    app.quit()
    print(f"wrote {args.out}" if ok else f"could not write {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
