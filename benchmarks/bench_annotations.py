"""Reading an LVIS-sized COCO instances file: balance-gui's streaming reader against ``json.load``.

Generates (once, or reuses ``--file``) an instances JSON the size of LVIS v1 train (100k images,
1.3M annotations with polygons, 1,203 categories, Zipf-like class law), then runs in separate
processes, so each peak RSS is clean:

* ``json.load`` of the file (the anchor), and ``json.load`` plus turning it into index arrays
  (what a reader built on json.load costs);
* ``read_coco`` (streaming: one pass, annotations dropped as they are read);
* the figures on the index: rfs repeat factors, expected per-class instances, co-occurrence.

Prints wall time and peak RSS of each, and the ratios against ``json.load``.

    python benchmarks/bench_annotations.py [--images 100000] [--annotations 1300000]
        [--categories 1203] [--points 16] [--file PATH] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def generate(path: str, n_img: int, n_ann: int, n_cat: int, points: int, seed: int = 0) -> None:
    """Write the file in blocks (the generator itself never holds all annotations)."""
    rng = np.random.default_rng(seed)
    cat_ids = np.sort(rng.choice(np.arange(1, 2 * n_cat + 1), n_cat, replace=False))
    p = 1.0 / np.arange(1, n_cat + 1) ** 1.3
    p /= p.sum()
    image_ids = rng.permutation(np.arange(1, 2 * n_img + 1))[:n_img]
    labeled = np.flatnonzero(rng.random(n_img) >= 0.03)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('{"info": {"description": "generated LVIS-sized"}, "licenses": [], "images": [')
        fh.write(
            ", ".join(
                json.dumps(
                    {
                        "id": int(i),
                        "coco_url": f"http://images.cocodataset.org/train2017/{int(i):012d}.jpg",
                        "height": 480,
                        "width": 640,
                        "neg_category_ids": [],
                        "not_exhaustive_category_ids": [],
                    }
                )
                for i in image_ids.tolist()
            )
        )
        fh.write('], "annotations": [')
        block = 50_000
        for a in range(0, n_ann, block):
            b = min(n_ann, a + block)
            m = b - a
            img = image_ids[labeled[rng.integers(0, labeled.size, m)]].tolist()
            cls = cat_ids[rng.choice(n_cat, m, p=p)].tolist()
            boxes = np.round(rng.random((m, 4)) * 300, 2).tolist()
            polys = np.round(rng.random((m, 2 * points)) * 600, 2).tolist()
            items = [
                {
                    "id": a + j + 1,
                    "image_id": img[j],
                    "category_id": cls[j],
                    "segmentation": [polys[j]],
                    "area": round(boxes[j][2] * boxes[j][3], 2),
                    "bbox": boxes[j],
                }
                for j in range(m)
            ]
            text = json.dumps(items)[1:-1]
            fh.write(text if a == 0 else ", " + text)
        fh.write('], "categories": [')
        order = rng.permutation(n_cat)
        fh.write(
            ", ".join(
                json.dumps({"id": int(cat_ids[k]), "name": f"cat_{int(cat_ids[k])}", "synonyms": [], "frequency": "r"})
                for k in order
            )
        )
        fh.write("]}")


CHILD = r"""
import json, resource, sys, time
import numpy as np
path, what = sys.argv[1], sys.argv[2]
from balance_gui.core.annotations import read_coco


def status(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # MiB
    return float("nan")


def reset():
    # reset the peak (VmHWM) so that it covers only the work that follows; return the RSS now
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
    return status("VmRSS")


base = reset()
t = time.perf_counter()
if what == "json.load":
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    n = len(data["annotations"])
elif what == "json.load+arrays":
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    anns = data.pop("annotations")
    img = np.fromiter((a["image_id"] for a in anns), np.int64, len(anns))
    cat = np.fromiter((a["category_id"] for a in anns), np.int64, len(anns))
    n = len(anns)
    del anns
elif what == "read_coco":
    idx = read_coco(path)
    n = idx.num_annotations
elif what == "figures":
    idx = read_coco(path)
    from balance_gui.core.repeat_factors import (cooccurrence, expected_repeat_factor_epoch,
        expected_with_replacement, repeat_factors, scheme_image_weights)
    base = reset()
    t = time.perf_counter()
    r = repeat_factors(idx, 0.001)
    expected_repeat_factor_epoch(idx, r)
    expected_with_replacement(idx, scheme_image_weights(idx, "inverse"), len(idx))
    co = cooccurrence(idx)
    n = int(co.images.size)
dt = time.perf_counter() - t
peak = status("VmHWM")
if peak != peak:  # no /proc: the whole process's peak
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"what": what, "seconds": dt, "peak_mib": peak, "base_mib": base, "n": n}))
"""


def run(path: str, what: str) -> dict:
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", CHILD, path, what], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{what} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--annotations", type=int, default=1_300_000)
    ap.add_argument("--categories", type=int, default=1203)
    ap.add_argument("--points", type=int, default=16, help="polygon points per annotation")
    ap.add_argument("--file", help="use (or create) this file instead of a temporary one")
    ap.add_argument("--keep", action="store_true", help="keep the generated file")
    args = ap.parse_args()
    tmp = None
    path = args.file
    if path is None:
        tmp = tempfile.mkdtemp(prefix="bench_annotations_")
        path = os.path.join(tmp, "instances.json")
    if not os.path.exists(path):
        t = time.perf_counter()
        generate(path, args.images, args.annotations, args.categories, args.points)
        print(f"generated {path}: {os.path.getsize(path) / 2**20:,.0f} MiB in {time.perf_counter() - t:.1f} s")
    size = os.path.getsize(path) / 2**20
    try:
        rows = [run(path, w) for w in ("json.load", "json.load+arrays", "read_coco", "figures")]
    finally:
        if tmp is not None and not args.keep:
            os.remove(path)
            os.rmdir(tmp)
    anchor = rows[0]
    print(f"file: {size:,.0f} MiB, {args.images:,} images, {args.annotations:,} annotations, {args.categories} classes")
    print("peak: the most memory held during the step, above what the process held before it")
    print(f"{'':18} {'seconds':>8} {'peak MiB':>9} {'x json.load time':>17} {'x json.load peak':>17}")
    a_peak = anchor["peak_mib"] - anchor["base_mib"]
    for r in rows:
        peak = r["peak_mib"] - r["base_mib"]
        print(
            f"{r['what']:18} {r['seconds']:8.2f} {peak:9.0f} "
            f"{r['seconds'] / anchor['seconds']:17.2f} {peak / a_peak:17.3f}"
        )


if __name__ == "__main__":
    main()
