"""Image health check speed, in one run, against anchors measured in the same run.

Targets (issue 9), on a generated tree of at least 20,000 small real JPEG/PNG files:
- throughput against a single-process ``PIL.Image.open(p).load()`` + ``hashlib.sha256`` loop:
  at least 0.8 x the number of worker processes used (close to linear scaling);
- ahead of CleanVision's ``Imagelab(filepaths=...).find_issues({"exact_duplicates": {}})``
  on the same files (install it with ``pip install -e .[bench]``; skipped when missing);
- a re-check with a warm cache at least 20x faster than the first check.

    python benchmarks/bench_check.py [--files 20000] [--classes 20] [--workers N] [--repeat 3] [--tree DIR]

The tree is generated once and reused. Every timing runs on a warm page cache (the
anchor's loop reads every file first), so the ratios compare decoding and hashing, not the disk.
Times are the best of --repeat runs, the anchor and the check alternated, so both meet the same
load on a shared machine.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time

import numpy as np


def make_tree(root: str, files: int, classes: int) -> None:
    marker = os.path.join(root, f".complete-{files}-{classes}")
    if os.path.exists(marker):
        return
    from PIL import Image

    print(f"generating {files:,} small JPEG/PNG files in {classes} classes under {root} ...", flush=True)
    rng = np.random.default_rng(0)
    raw = 1.0 / np.arange(1, classes + 1) ** 0.8  # long-tailed, as real datasets are
    sizes = np.maximum(1, np.floor(raw / raw.sum() * files)).astype(int)
    sizes[0] += files - sizes.sum()
    made = 0
    for c, n in enumerate(sizes):
        folder = os.path.join(root, f"class_{c:03d}")
        os.makedirs(folder, exist_ok=True)
        for i in range(n):
            w, h = (int(x) for x in rng.integers(24, 80, size=2))
            # Smooth gradients plus noise: compresses like a photo, not like pure noise.
            base = np.add.outer(np.arange(h), np.arange(w))[..., None] * rng.integers(1, 4, size=3)
            pixels = (base + rng.integers(0, 40, size=(h, w, 3))).astype(np.uint8)
            ext = ".jpg" if made % 2 else ".png"
            Image.fromarray(pixels).save(os.path.join(folder, f"img_{i:06d}{ext}"))
            made += 1
    open(marker, "w").close()


def anchor_loop(paths: list[str]) -> float:
    """The obvious single-process check: open, decode fully, hash the bytes."""
    from PIL import Image

    t0 = time.perf_counter()
    for p in paths:
        with Image.open(p) as im:
            im.load()
        with open(p, "rb") as fh:
            hashlib.sha256(fh.read()).hexdigest()
    return time.perf_counter() - t0


def cleanvision_time(paths: list[str], workers: int) -> float | None:
    try:
        from cleanvision import Imagelab
    except ImportError:
        return None
    t0 = time.perf_counter()
    lab = Imagelab(filepaths=paths, verbose=False)
    lab.find_issues({"exact_duplicates": {}}, n_jobs=workers, verbose=False)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: the usable cores)")
    parser.add_argument("--tree", default="/tmp/balance-check-tree")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from balance_gui.core.dataset import scan_image_folder
    from balance_gui.core.images import _default_workers, check_images

    workers = args.workers or _default_workers()
    make_tree(args.tree, args.files, args.classes)
    index = scan_image_folder(args.tree)
    paths = [index.path(i) for i in range(len(index))]
    print(f"{len(paths):,} files in {index.num_classes} classes; {workers} worker process(es)", flush=True)

    anchor_loop(paths[:2000])  # warm the page cache and the imports for everyone
    anchors, colds, warms = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):  # alternated, best of each: the machine may be shared
            anchors.append(anchor_loop(paths))
            cache = os.path.join(tmp, f"check-{r}.json")
            t0 = time.perf_counter()
            first = check_images(index, workers=workers, cache_path=cache)
            colds.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            again = check_images(index, workers=workers, cache_path=cache)
            warms.append(time.perf_counter() - t0)
            assert first.files_decoded == len(paths) and again.files_decoded == 0 and again.problems == first.problems
    anchor, cold, warm = min(anchors), min(colds), min(warms)
    print(f"single-process PIL open+load + sha256 loop: {anchor:.2f} s ({len(paths) / anchor:,.0f} files/s)")
    print(f"check_images, cold cache:                   {cold:.2f} s ({len(paths) / cold:,.0f} files/s)")
    print(f"  the first one, with the fork server's start: {colds[0]:.2f} s")
    print(f"check_images, warm cache:                   {warm:.3f} s")

    cv = cleanvision_time(paths, workers)
    if cv is not None:
        print(f"cleanvision exact_duplicates:               {cv:.2f} s ({len(paths) / cv:,.0f} files/s)")

    print()
    speedup = anchor / cold
    target = 0.8 * workers
    print(f"check vs single-process loop: {speedup:.2f}x  (target >= {target:.1f}x = 0.8 x {workers} workers)")
    print(f"cold / warm re-check:         {cold / warm:.1f}x  (target >= 20x)")
    if cv is None:
        print("cleanvision vs check:         not measured (pip install -e .[bench])")
    else:
        print(f"cleanvision / check:          {cv / cold:.2f}x  (target > 1: ahead of it)")


if __name__ == "__main__":  # worker processes import this module; only the parent runs the benchmark
    main()
