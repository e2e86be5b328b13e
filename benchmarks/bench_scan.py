"""Scan speed and index memory against torchvision's ImageFolder, in one run.

Targets (issue: foundation): on 1,000,000 empty files in 1,000 classes, the scan
takes at most half of ImageFolder's time, and the index holds in at most a third
of the memory of ImageFolder's ``samples`` list.

    python benchmarks/bench_scan.py [--files 1000000] [--classes 1000] [--tree /tmp/balance-bench-tree]

The tree is generated once and reused. Times are the best of --repeat runs,
alternating the two so both see the same warm page cache.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def make_tree(root: str, files: int, classes: int) -> None:
    marker = os.path.join(root, f".complete-{files}-{classes}")
    if os.path.exists(marker):
        return
    print(f"generating {files:,} empty files in {classes:,} classes under {root} ...", flush=True)
    rng = np.random.default_rng(0)
    # long-tailed class sizes that add up to `files`
    raw = 1.0 / np.arange(1, classes + 1) ** 0.8
    sizes = np.maximum(1, np.floor(raw / raw.sum() * files)).astype(int)
    sizes[0] += files - sizes.sum()
    for c, n in enumerate(rng.permutation(sizes)):
        folder = os.path.join(root, f"class_{c:04d}")
        os.makedirs(folder, exist_ok=True)
        for i in range(n):
            os.close(os.open(os.path.join(folder, f"img_{i:07d}.jpg"), os.O_CREAT | os.O_WRONLY, 0o644))
    open(marker, "w").close()


def deep_size_of_samples(samples) -> int:
    """Bytes held by ImageFolder's samples: the list, its tuples, path strings and ints."""
    seen_ints = set()
    total = sys.getsizeof(samples)
    for path, target in samples:
        total += sys.getsizeof((path, target)) + sys.getsizeof(path)
        if id(target) not in seen_ints:  # small ints are shared
            seen_ints.add(id(target))
            total += sys.getsizeof(target)
    return total


def index_size(index) -> int:
    return (
        len(index._paths_blob)
        + index._path_starts.nbytes
        + index.targets.nbytes
        + index.counts.nbytes
        + sum(sys.getsizeof(c) for c in index.classes)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=1_000)
    parser.add_argument("--tree", default="/tmp/balance-bench-tree")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from torchvision.datasets import ImageFolder

    from balance_gui.core.dataset import scan_image_folder

    make_tree(args.tree, args.files, args.classes)
    ours_t, theirs_t = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        reference = ImageFolder(args.tree)
        theirs_t.append(time.perf_counter() - t0)
        del reference
        t0 = time.perf_counter()
        index = scan_image_folder(args.tree)
        ours_t.append(time.perf_counter() - t0)
    reference = ImageFolder(args.tree)
    assert index.samples == reference.samples, "the index disagrees with ImageFolder"
    ours_mem, theirs_mem = index_size(index), deep_size_of_samples(reference.samples)

    time_ratio = min(ours_t) / min(theirs_t)
    mem_ratio = ours_mem / theirs_mem
    print(f"tree: {len(index):,} files in {index.num_classes:,} classes")
    print(
        f"scan time      ImageFolder {min(theirs_t):7.3f} s   scan_image_folder {min(ours_t):7.3f} s   "
        f"ratio {time_ratio:.3f} (target <= 0.5)  {'PASS' if time_ratio <= 0.5 else 'FAIL'}"
    )
    print(
        f"index memory   samples list {theirs_mem / 2**20:7.1f} MiB   DatasetIndex {ours_mem / 2**20:7.1f} MiB   "
        f"ratio {mem_ratio:.3f} (target <= 0.333)  {'PASS' if mem_ratio <= 1 / 3 else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
