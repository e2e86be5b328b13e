"""Speed of the exact expected figures without replacement, against an anchor in the same run.

Target (issue 14): the inclusion probabilities of successive sampling (torch.multinomial without
replacement) for 10,000 weight groups and 10M images in under a second, exact to 1e-9, with the
expected draws summing to k. The anchor is one ``torch.multinomial(weights, k, replacement=False)``
over the same 10M per-image weights: the draw whose law the figures describe.

    python benchmarks/bench_expected.py [--groups 10000] [--images 10000000] [--repeat 3]

Two weightings: inverse class frequency (classes of equal size share a weight) and 10,000 distinct
random weights over six decades (the worst case: one group per class). Times are the best of
--repeat runs, the figures and the anchor alternated so that both meet the same load.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from balance_gui.core import expected


def long_tailed_sizes(groups: int, images: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    raw = rng.pareto(1.2, groups) + 1e-3
    sizes = np.maximum(1, np.floor(raw / raw.sum() * images)).astype(np.int64)
    sizes[np.argmax(sizes)] += images - int(sizes.sum())
    return sizes


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def figures(sizes: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    expected._INCLUSION_CACHE.clear()  # time the computation, not the cache
    return expected.inclusion_probabilities(sizes, w, k)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=10_000)
    ap.add_argument("--images", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    sizes = long_tailed_sizes(args.groups, args.images)
    N = int(sizes.sum())
    rng = np.random.default_rng(1)
    weightings = {
        "inverse": 1.0 / sizes,
        "random": 10.0 ** rng.uniform(-3.0, 3.0, args.groups),
    }
    print(f"{args.groups:,} groups, {N:,} images (largest group {sizes.max():,}); best of {args.repeat}")
    print(f"{'weights':8} {'k':>10} {'groups':>7} {'figures':>9} {'anchor':>9} {'ratio':>7} {'sum - k':>10}  target")
    worst = 0.0
    for name, w in weightings.items():
        per_image = torch.from_numpy(np.repeat(w, sizes))
        distinct = np.unique(w).size
        for k in (1, 1_000, 100_000, N // 10, N // 2, N - 10):
            best, anchor = float("inf"), float("inf")
            pi = np.zeros(0)
            for _ in range(args.repeat):
                took, pi = timed(figures, sizes, w, k)
                best = min(best, took)
                anchor = min(anchor, timed(torch.multinomial, per_image, k, False)[0])
            worst = max(worst, best)
            gap = float(np.dot(sizes, pi)) - k
            ok = "ok" if best < 1.0 else "MISSED (< 1 s)"
            print(
                f"{name:8} {k:>10,} {distinct:>7,} {best:>8.3f}s {anchor:>8.3f}s {best / anchor:>6.2f}x "
                f"{gap / k:>10.1e}  {ok}"
            )
    print(f"slowest: {worst:.3f} s (target < 1 s)")


if __name__ == "__main__":
    main()
