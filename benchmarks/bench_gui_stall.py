"""How long the GUI's event loop ever stalls while the window works, and how fast it appears.

A QTimer ticks every 5 ms on the GUI thread and records the longest gap between two ticks
(minus the 5 ms it should be) while:

1. the window scans a generated tree of empty files (default 1,000,000 files in 1,000 class
   folders) through its own scan worker, and
2. the window runs a real simulation of 10,000,000 draws through its own sampler worker,
   with the live plots redrawing at ~30 Hz;
3. the window's Check Images action checks bench_check.py's tree (20,000 small real JPEG/PNG
   files) in worker processes, cold (the check cache goes to a fresh folder), with its
   progress bar redrawn by the window's timer (issue 9);
4. the window's gallery scrolls a 50,000-image class (the same files hard-linked to 50,000
   names) from top to bottom in about 10 s, thumbnails decoding as they come into view.

With ``--table ROWS`` it measures instead a label table in the window (issue 17): a ROWS-row
Parquet table (bench_tables.py's: 1,000 long-tailed classes, a short path column) generated once
and kept in the temp folder, opened through the window's own scan worker; it reports the open time
(Open to the class table and plots shown), the longest GUI-thread stall over that time, and the
pyarrow one-liner's time (``read_table(columns=["label"])`` + ``value_counts``, in a subprocess) with
the ratio. ``--profile`` prints the GUI thread's slowest calls during the open (cProfile on the
GUI thread only: the worker's reading is not in it).

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_gui_stall.py --table 10000000

It also measures launch to a visible window (a fresh Python process to the window's first
expose, as bench_launch.py does) beside an empty PySide6 window's. The quality bar: visible
within 1 s, no stall over 100 ms.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_gui_stall.py
    ... --files 100000 --draws 1000000      (a quicker run)
    ... --skip-check --skip-gallery          (without the image phases)

The trees are kept in the temp folder between runs (``--tree`` picks the folder).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

TICK_MS = 5


def build_tree(root: str, files: int, classes: int) -> str:
    """``classes`` folders, ``files`` empty .jpg files spread over them with a long tail."""
    marker = os.path.join(root, ".complete")
    if os.path.exists(marker):
        return root
    import numpy as np

    print(f"building {files:,} empty files in {classes:,} class folders under {root} (kept for next runs)…", flush=True)
    t0 = time.perf_counter()
    shares = 1.0 / np.arange(1, classes + 1) ** 0.8  # long-tailed
    counts = np.floor(shares / shares.sum() * files).astype(np.int64)
    counts[0] += files - counts.sum()
    for c, n in enumerate(counts):
        folder = os.path.join(root, f"class_{c:05d}")
        os.makedirs(folder, exist_ok=True)
        for i in range(int(n)):
            os.close(os.open(os.path.join(folder, f"{i:07d}.jpg"), os.O_CREAT | os.O_WRONLY, 0o644))
    open(marker, "w").close()
    print(f"  built in {time.perf_counter() - t0:.1f} s", flush=True)
    return root


def linked_class(tree: str, folder: str, images: int) -> str:
    """A one-class ImageFolder of ``images`` hard links to the image files of ``tree``."""
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


def measure_startup() -> tuple[float, float]:
    """Seconds from launching a fresh interpreter to the main window's first expose (as a user sees
    it), and to an empty PySide6 window's: bench_launch.py's measure, compiled bytecode as installed."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench_launch

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    return bench_launch.launch(bench_launch.APP)[0], bench_launch.launch(bench_launch.ANCHOR)[0]


class StallMeter:
    def __init__(self):
        from PySide6.QtCore import Qt, QTimer

        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.reset()

    def reset(self):
        self.last = time.perf_counter()
        self.longest = 0.0
        self.ticks = 0
        self.long_gaps: list[tuple[float, float]] = []  # (when the gap ended, its length) over 50 ms

    def _tick(self):
        now = time.perf_counter()
        gap = now - self.last
        self.longest = max(self.longest, gap)
        if gap > 0.05:
            self.long_gaps.append((now, gap))
        self.last = now
        self.ticks += 1

    def start(self):
        self.reset()
        self.timer.start()

    def stop(self) -> float:
        self._tick()
        self.timer.stop()
        return max(self.longest - TICK_MS / 1000, 0.0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=1_000)
    parser.add_argument("--draws", type=int, default=10_000_000)
    parser.add_argument("--tree", default=None, help="where the generated tree lives (kept)")
    parser.add_argument("--skip-startup", action="store_true")
    parser.add_argument("--check-tree", default=os.path.join(tempfile.gettempdir(), "balance-check-tree"))
    parser.add_argument("--check-files", type=int, default=20_000, help="files in the checked tree")
    parser.add_argument("--gallery-images", type=int, default=50_000, help="images in the scrolled class")
    parser.add_argument("--scroll-s", type=float, default=10.0, help="seconds to scroll the gallery top to bottom")
    parser.add_argument("--skip-check", action="store_true")
    parser.add_argument("--skip-gallery", action="store_true")
    parser.add_argument("--table", type=int, default=0, metavar="ROWS", help="open a ROWS-row Parquet table instead")
    parser.add_argument("--profile", action="store_true", help="with --table: the GUI thread's slowest calls")
    parser.add_argument(
        "--table-gallery", action="store_true", help="with --table: then click the largest class, Gallery tab shown"
    )
    args = parser.parse_args(argv)
    if args.table:
        return table_case(args.table, args.profile, args.table_gallery)

    tree = args.tree or os.path.join(tempfile.gettempdir(), f"balance-gui-bench-{args.files}-{args.classes}")
    build_tree(tree, args.files, args.classes)

    results = {}
    if not args.skip_startup:
        measure_startup()  # warm the file and bytecode caches
        runs = [measure_startup() for _ in range(3)]
        app_s = sorted(r[0] for r in runs)[1]
        anchor_s = sorted(r[1] for r in runs)[1]
        results["startup"] = app_s
        print(
            f"launch to visible window:         {app_s:.3f} s (median of 3: "
            f"{', '.join(f'{r[0]:.3f}' for r in runs)}); an empty PySide6 window {anchor_s:.3f} s, "
            f"ratio {app_s / anchor_s:.2f}x",
            flush=True,
        )

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("balance-gui-bench")
    from balance_gui.gui.app import wait_for_signal
    from balance_gui.gui.main_window import MainWindow

    settings = QSettings(os.path.join(tempfile.mkdtemp(), "bench.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.resize(1440, 900)
    window.show()
    wait_for_signal(window.devicesProbed, 120)  # torch loaded: its import is not what we measure
    meter = StallMeter()

    meter.start()
    t0 = time.perf_counter()
    window.open_path(tree)
    outcome = wait_for_signal(window.scanEnded, 3600)[0]
    scan_s = time.perf_counter() - t0
    stall = meter.stop()
    if outcome != "ok":
        print(f"scan ended: {outcome}: {window.last_error}")
        return 1
    n = len(window.index)
    results["scan_stall"] = stall
    print(
        f"scan of {n:,} files in {window.index.num_classes:,} classes: {scan_s:.2f} s; "
        f"longest stall {1000 * stall:.1f} ms ({meter.ticks} ticks)",
        flush=True,
    )

    window.sampler.num_samples.setValue(args.draws)
    window.sampler.epochs.setValue(1)
    meter.start()
    t0 = time.perf_counter()
    window.start_run()
    ended = wait_for_signal(window.runEnded, 3600)[0]
    run_s = time.perf_counter() - t0
    stall = meter.stop()
    step = window.last_step
    if ended != "finished":
        print(f"run ended: {ended}: {window.last_error}")
        return 1
    results["sample_stall"] = stall
    print(
        f"sampling {step.draws_done:,} draws over {n:,} images: {run_s:.2f} s "
        f"({step.draws_per_s:,.0f} draws/s in the sampler); longest stall {1000 * stall:.1f} ms "
        f"({meter.ticks} ticks)",
        flush=True,
    )

    if not (args.skip_check and args.skip_gallery):
        from bench_check import make_tree

        make_tree(args.check_tree, args.check_files, 20)
    if not args.skip_check:
        os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp()  # a cold check: no cached results
        opened = wait_for_signal_after(window, window.scanEnded, lambda: window.open_path(args.check_tree))
        if opened != "ok":
            print(f"opening the check tree: {opened}: {window.last_error}")
            return 1
        meter.start()
        t0 = time.perf_counter()
        ended = wait_for_signal_after(window, window.checkEnded, window.check_images)
        check_s = time.perf_counter() - t0
        stall = meter.stop()
        if ended != "ok":
            print(f"check ended: {ended}: {window.last_error}")
            return 1
        results["check_stall"] = stall
        print(
            f"check of {len(window.index):,} real images (Check Images): {check_s:.2f} s; "
            f"{window.problems.model.rowCount():,} problem rows; longest stall {1000 * stall:.1f} ms "
            f"({meter.ticks} ticks)",
            flush=True,
        )
    if not args.skip_gallery:
        folder = linked_class(args.check_tree, f"{args.check_tree}-linked-{args.gallery_images}", args.gallery_images)
        opened = wait_for_signal_after(window, window.scanEnded, lambda: window.open_path(folder))
        if opened != "ok":
            print(f"opening the gallery tree: {opened}: {window.last_error}")
            return 1
        window.tabs.setCurrentWidget(window.gallery)
        t0 = time.perf_counter()
        window.select_class(0)
        app.processEvents()
        print(f"gallery of {len(window.index):,} images set up in {time.perf_counter() - t0:.3f} s", flush=True)
        results["gallery_stall"] = stall = scroll_gallery(app, window.gallery, args.scroll_s, meter)
        gallery = window.gallery
        print(
            f"scrolled {len(window.index):,} thumbnails top to bottom in ~{args.scroll_s:.0f} s; "
            f"{gallery.loader.decoded:,} decoded, {gallery.model.cached():,} cached; "
            f"longest stall {1000 * stall:.1f} ms ({meter.ticks} ticks)",
            flush=True,
        )

    window.close()
    ok = all(results[k] <= 0.1 for k in results if k.endswith("_stall")) and results.get("startup", 0) <= 1.0
    print("quality bar (shown < 1 s, every stall < 100 ms):", "met" if ok else "NOT met")
    return 0 if ok else 2


def table_file(rows: int) -> str:
    """bench_tables.py's Parquet manifest of ``rows`` rows, generated once into the temp folder."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench_tables

    folder = os.path.join(tempfile.gettempdir(), f"balance-gui-bench-table-{rows}")
    path = os.path.join(folder, "labels.parquet")
    if not os.path.exists(path):
        os.makedirs(folder, exist_ok=True)
        print(f"generating {rows:,} rows into {path} (kept for next runs)…", flush=True)
        t0 = time.perf_counter()
        bench_tables.generate(path + ".part", os.devnull, rows, 0)
        os.replace(path + ".part", path)
        print(f"  generated in {time.perf_counter() - t0:.1f} s", flush=True)
    return path


def table_case(rows: int, profile: bool, gallery: bool = False) -> int:
    """Open a ``rows``-row table in the window: open time, longest stall, ratio to the one-liner."""
    import subprocess

    path = table_file(rows)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench_tables

    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"uptime: {load}", flush=True)
    oneliner = bench_tables.run(path, "oneliner")[0]
    print(f"pyarrow one-liner (read_table(columns=[label]) + value_counts, subprocess): {oneliner:.2f} s", flush=True)

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("balance-gui-bench")
    from balance_gui.gui.app import wait_for_signal
    from balance_gui.gui.main_window import MainWindow

    settings = QSettings(os.path.join(tempfile.mkdtemp(), "bench.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.resize(1440, 900)
    window.show()
    wait_for_signal(window.devicesProbed, 120)  # torch loaded: its import is not what we measure
    meter = StallMeter()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    loaded_at: list[float] = []
    cpu_at: list[float] = []  # the GUI thread's CPU time when the index arrives: the views' work follows
    window.scan_task.loaded.connect(
        lambda *_: (loaded_at.append(time.perf_counter()), cpu_at.append(time.thread_time()))
    )
    meter.start()
    t0 = time.perf_counter()
    outcome = wait_for_signal_after(window, window.scanEnded, lambda: window.open_path(path))
    app.processEvents()  # the views' queued redraws: the tables and plots shown
    open_s = time.perf_counter() - t0
    views_cpu = time.thread_time() - cpu_at[0] if cpu_at else float("nan")
    stall = meter.stop()
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    if outcome != "ok":
        print(f"open ended: {outcome}: {window.last_error}")
        return 1
    print(
        f"table of {len(window.index):,} rows in {window.index.num_classes:,} classes opened in the window: "
        f"{open_s:.2f} s ({open_s / oneliner:.2f}x the one-liner); longest stall {1000 * stall:.1f} ms "
        f"({meter.ticks} ticks)",
        flush=True,
    )
    scan_end = loaded_at[0] - t0 if loaded_at else float("nan")
    print(f"  GUI thread CPU from the index's arrival to the views shown: {1000 * views_cpu:.0f} ms")
    for when, gap in meter.long_gaps:  # where the stalls fell: during the read, or after it on the GUI thread
        print(
            f"  stall of {1000 * gap:.0f} ms ending at {when - t0:.2f} s "
            f"(the scan handed its index over at {scan_end:.2f} s)"
        )
    if gallery:  # a click on the largest class with the Gallery tab shown: its samples and paths
        meter.start()  # the tab first: made on first show, apart from the click
        window.tabs.setCurrentWidget(window.gallery)
        for _ in range(20):
            app.processEvents()
            time.sleep(0.02)
        print(f"Gallery tab made and shown: longest stall {1000 * meter.stop():.1f} ms", flush=True)
        meter.start()
        t0 = time.perf_counter()
        largest = int(window.index.counts.argmax())
        # Until the gallery has its samples and first paths (found in a worker for a big index).
        wait_for_signal_after(window, window.gallery.filled, lambda: window.select_class(largest), 600)
        app.processEvents()
        click_s = time.perf_counter() - t0
        gallery_stall = meter.stop()
        print(
            f"gallery of the largest class ({window.gallery.model.rowCount():,} images) shown in {click_s:.2f} s; "
            f"longest stall {1000 * gallery_stall:.1f} ms",
            flush=True,
        )
    window.close()
    ok = stall <= 0.1 and open_s <= 2 * oneliner
    print("quality bar (stall < 100 ms, open within 2x the one-liner):", "met" if ok else "NOT met")
    return 0 if ok else 2


def wait_for_signal_after(window, signal, action, timeout_s: float = 3600):
    """Run ``action`` and wait for ``signal``'s first argument (connected before the action starts)."""
    from PySide6.QtCore import QEventLoop, QTimer

    got: list = []
    loop = QEventLoop()

    def done(*args):
        got.append(args[0] if args else None)
        loop.quit()

    signal.connect(done)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    action()
    if not got:
        loop.exec()
    signal.disconnect(done)
    return got[0] if got else "timeout"


def scroll_gallery(app, gallery, seconds: float, meter: StallMeter) -> float:
    """Scroll ``gallery`` from top to bottom in ~``seconds`` at 60 steps/s; the longest stall."""
    from PySide6.QtCore import QEventLoop, QTimer

    scroll = gallery.view.verticalScrollBar()
    steps = max(1, int(seconds * 60))
    loop = QEventLoop()
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
    tick.start()
    loop.exec()
    return meter.stop()


if __name__ == "__main__":
    sys.exit(main())
