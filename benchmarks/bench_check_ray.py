"""The image check on Ray against the local check, in the same run: throughput, where the time goes,
object-store traffic per image, and what a 100M-image check would cost.

    python benchmarks/bench_check_ray.py [--images 3000] [--size 256] [--workers 2]

The local check runs before and after Ray (the better time counts). Both checks decode the same
generated JPEGs with the same number of workers (``--workers``; the local
check's processes, the local Ray's CPUs), without a cache. Ray is started once (its startup is shown
apart) and the check is run twice on it: the first run pays for starting its worker processes, the
second is the steady state a long check runs at. Every figure is printed as a ratio against the local
check of this run. The 100M-image estimate assumes each worker keeps this run's per-worker rate and the
checking process its per-image cost (stat + cache + merge); it says which of the two limits it.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import tempfile
import time

import numpy as np
from PIL import Image


def make_images(root: str, n: int, size: int) -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    for i in range(n):
        cls = f"c{i % 10}"
        os.makedirs(os.path.join(root, cls), exist_ok=True)
        img = base.copy()
        img[0, :16] = rng.integers(0, 256, (16, 3), dtype=np.uint8)  # distinct bytes per file
        buffer = io.BytesIO()
        Image.fromarray(img).save(buffer, "JPEG", quality=90)
        with open(os.path.join(root, cls, f"{i:06d}.jpg"), "wb") as fh:
            fh.write(buffer.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    import ray

    from balance_gui.core.dataset import scan_image_folder
    from balance_gui.core.images import check_images
    from balance_gui.core.ray_engine import RayRunner, check_images_ray

    print(f"load average (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "data")
        make_images(root, args.images, args.size)
        index = scan_image_folder(root)
        n, w = len(index), args.workers
        mb = sum(os.path.getsize(index.path(i)) for i in range(n)) / 1e6
        print(f"{n} JPEGs of {args.size}x{args.size} ({mb / n * 1000:.0f} kB each), {w} workers")

        t = time.perf_counter()
        local = check_images(index, workers=w, cache_path=None)
        local_s = time.perf_counter() - t
        cache = os.path.join(tmp, "check.json")
        check_images(index, workers=w, cache_path=cache)
        t = time.perf_counter()
        warm = check_images(index, workers=w, cache_path=cache)  # what the checking process does per file
        warm_s = time.perf_counter() - t
        assert warm.files_decoded == 0

        t = time.perf_counter()
        ray.init(num_cpus=w, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
        startup_s = time.perf_counter() - t
        try:
            runs = []
            for _ in range(2):
                runner = RayRunner()
                t = time.perf_counter()
                result = check_images_ray(index, runner=runner, cache_path=None)
                runs.append((time.perf_counter() - t, dict(runner.timings), runner.result_bytes))
                assert result.problems == local.problems and result.files_decoded == n
        finally:
            ray.shutdown()
        # The local check again, after Ray: the load of a shared machine changes; the better of the two counts.
        t = time.perf_counter()
        check_images(index, workers=w, cache_path=None)
        local_s = min(local_s, time.perf_counter() - t)

    local_rate = n / local_s
    print(f"\nlocal check:            {local_s:7.2f} s  {local_rate:7.0f} img/s  {local_rate / w:6.0f} img/s/worker")
    for label, (secs, timings, nbytes) in zip(("Ray, first run", "Ray, warm run"), runs, strict=True):
        rate = n / secs
        print(
            f"{label + ':':23} {secs:7.2f} s  {rate:7.0f} img/s  {rate / w:6.0f} img/s/worker  "
            f"= {rate / local_rate:.2f}x the local check"
        )
        print(
            f"    in the checking process: submit {timings['submit']:.3f} s, waiting on ray.wait "
            f"{timings['wait']:.2f} s, store+progress {timings['store']:.3f} s; results {nbytes / n:.0f} B/img"
        )
    print(f"Ray startup (ray.init, local, {w} CPUs): {startup_s:.2f} s = {startup_s / local_s:.1f}x the local check")
    first, warm_run = runs[0][0], runs[1][0]
    print(f"Ray worker start-up in the first run: {first - warm_run:.2f} s")
    total_first = startup_s + first
    print(f"whole Ray check from a cold start: {total_first:.2f} s = {total_first / local_s:.1f}x the local check")
    per_check_process = warm_s / n  # stat + cache lookup + merge + summary per image, in the checking process
    print(
        f"checking process per image (warm re-check: stat, cache, merge): {per_check_process * 1e6:.1f} us "
        f"= {per_check_process / (local_s / n):.3f}x the local check's time per image"
    )

    per_worker = n / runs[1][0] / w
    bytes_per_image = runs[1][2] / n
    print("\n100M images (this run's per-worker rate and per-image costs; no cache):")
    for workers in (16, 64, 256, 1024):
        decode_h = 1e8 / (per_worker * workers) / 3600
        driver_h = 1e8 * per_check_process / 3600
        print(
            f"  {workers:5} workers: decode {decode_h:7.2f} h, checking process >= {driver_h:5.2f} h "
            f"({'workers' if decode_h > driver_h else 'checking process'} limit); "
            f"results {bytes_per_image * 1e8 / 1e9:.1f} GB to the checking process; "
            f"{workers * decode_h:,.0f} worker-hours"
        )


if __name__ == "__main__":
    main()
