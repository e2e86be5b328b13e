"""How long the GUI's event loop stalls while the image check runs, and while scrolling a
50,000-image class in the gallery (issue 9: at most 100 ms each).

Uses the widgets themselves (GalleryPanel, ProblemsPanel, make_check_job), not the main window,
which wires them. The stall meter is bench_gui_stall's: a 5 ms QTimer records its longest gap.

1. check: the tree of bench_check.py (20,000 small JPEG/PNG files) is checked by
   ``make_check_job`` in its worker, with a progress bar polled at 10 Hz as a window would;
2. scroll: a class of 50,000 images (the 20,000 files hard-linked to 50,000 names) is scrolled
   from top to bottom in about 10 s, the thumbnails decoding as they come into view.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_gallery_stall.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def linked_class(tree: str, folder: str, images: int) -> str:
    """A one-class ImageFolder of ``images`` hard links to the files of ``tree``."""
    marker = os.path.join(folder, f".complete-{images}")
    if os.path.exists(marker):
        return folder
    sources = sorted(os.path.join(d, f) for d, _, files in os.walk(tree) for f in files if f.endswith((".jpg", ".png")))
    big = os.path.join(folder, "big")
    os.makedirs(big, exist_ok=True)
    for i in range(images):
        src = sources[i % len(sources)]
        dst = os.path.join(big, f"{i:06d}{os.path.splitext(src)[1]}")
        if not os.path.exists(dst):
            os.link(src, dst)
    open(marker, "w").close()
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", default="/tmp/balance-check-tree", help="bench_check.py's tree")
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--images", type=int, default=50_000, help="images in the scrolled class")
    parser.add_argument("--scroll-s", type=float, default=10.0)
    args = parser.parse_args()

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from bench_check import make_tree
    from bench_gui_stall import StallMeter
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication, QProgressBar, QSplitter

    from balance_gui.core.dataset import scan_image_folder
    from balance_gui.gui.gallery import GalleryPanel
    from balance_gui.gui.image_check import ProblemsPanel, make_check_job

    make_tree(args.tree, args.files, 20)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    gallery = GalleryPanel(open_file=None)
    problems = ProblemsPanel()
    bar = QProgressBar()
    window = QSplitter()
    for w in (gallery, problems, bar):
        window.addWidget(w)
    window.resize(1440, 900)
    window.show()
    meter = StallMeter()

    index = scan_image_folder(args.tree)
    job = make_check_job(index, cache_path=None)
    loop = QEventLoop()
    job.worker.returned.connect(lambda result: problems.set_result(index, result))
    job.worker.finished.connect(loop.quit)
    poll = QTimer()
    poll.setInterval(100)

    def show_progress() -> None:
        if job.latest is not None:
            bar.setMaximum(job.latest.files_total)
            bar.setValue(job.latest.files_done)

    poll.timeout.connect(show_progress)
    poll.start()
    meter.start()
    t0 = time.perf_counter()
    job.worker.start()
    loop.exec()
    check_s = time.perf_counter() - t0
    check_stall = meter.stop()
    poll.stop()
    print(f"check of {len(index):,} files in the worker: {check_s:.2f} s; longest stall {1000 * check_stall:.1f} ms")

    big = scan_image_folder(linked_class(args.tree, args.tree + f"-linked-{args.images}", args.images))
    t0 = time.perf_counter()
    gallery.set_class(big, 0)
    app.processEvents()
    print(f"gallery of {len(big):,} images set up in {time.perf_counter() - t0:.3f} s")
    scroll = gallery.view.verticalScrollBar()
    steps = max(1, int(args.scroll_s * 60))
    tick = QTimer()
    tick.setInterval(16)
    state = {"step": 0}

    def advance() -> None:
        state["step"] += 1
        scroll.setValue(scroll.maximum() * state["step"] // steps)
        if state["step"] >= steps:
            tick.stop()
            QTimer.singleShot(500, loop.quit)  # let the last thumbnails land

    tick.timeout.connect(advance)
    meter.start()
    t0 = time.perf_counter()
    tick.start()
    loop.exec()
    scroll_s = time.perf_counter() - t0
    scroll_stall = meter.stop()
    print(
        f"scrolled {len(big):,} images top to bottom in {scroll_s:.1f} s; {gallery.loader.decoded:,} thumbnails "
        f"decoded, {gallery.model.cached():,} cached; longest stall {1000 * scroll_stall:.1f} ms"
    )
    gallery.shutdown()
    problems.shutdown()
    ok = check_stall <= 0.1 and scroll_stall <= 0.1
    print("quality bar (stalls <= 100 ms):", "met" if ok else "NOT met")
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
