"""Counting a Parquet manifest: balance-gui's table reader against the pyarrow one-liner.

Generates (once, or reuses ``--file``) a Parquet manifest of N rows (``path``, ``label``: 1,000
classes under a Zipf-like law, paths like ``images/class_0042/000001234.jpg``), and a CSV manifest
of the same first ``--csv-rows`` rows, then runs each case in its own process, so each peak RSS
is clean:

* the anchor: ``pq.read_table(path, columns=["label"]).column("label").value_counts()``;
* ``open_dataset(M.parquet)``: what ``inspect`` does (labels read in batches; paths not read);
* the same, then the paths read into the index (what ``export`` and ``verify`` add);
* the CSV manifest through ``scan_manifest`` and through ``open_dataset`` (the columnar dispatch
  in front of it must cost nothing).

Prints wall time and peak RSS of each, and the ratios against the anchor (goal: counting within
2x of its time and of its peak memory).

    python benchmarks/bench_tables.py [--rows 30000000] [--csv-rows 1000000] [--file PATH] [--keep]
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = 1000
BLOCK = 1_000_000


def _block(start: int, stop: int, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    p = 1.0 / np.arange(1, CLASSES + 1) ** 1.1
    labels = rng.choice(CLASSES, size=stop - start, p=p / p.sum())
    names = [f"class_{c:04d}" for c in range(CLASSES)]
    lab = [names[c] for c in labels]
    paths = [f"images/{n}/{i:09d}.jpg" for n, i in zip(lab, range(start, stop), strict=True)]
    return paths, lab


def generate(parquet: str, csv_path: str, rows: int, csv_rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    schema = pa.schema([("path", pa.string()), ("label", pa.string())])
    with pq.ParquetWriter(parquet, schema) as writer, open(csv_path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["path", "label"])
        for start in range(0, rows, BLOCK):
            paths, labels = _block(start, min(rows, start + BLOCK), rng)
            writer.write_table(pa.table({"path": paths, "label": labels}, schema=schema))
            if start < csv_rows:
                n = min(len(paths), csv_rows - start)
                out.writerows(zip(paths[:n], labels[:n], strict=True))


CHILD = r"""
import sys, time
path, what = sys.argv[1], sys.argv[2]
import numpy as np
import pyarrow as pa, pyarrow.parquet as pq
from balance_gui.core.dataset import open_dataset, scan_manifest
t0 = time.perf_counter()
if what == "oneliner":
    counts = pq.read_table(path, columns=["label"]).column("label").value_counts()
    total = sum(counts.field("counts").to_pylist())
elif what == "count":
    total = len(open_dataset(path))
elif what == "paths":
    index = open_dataset(path)
    index.relative_path(0)
    total = len(index)
elif what == "csv_scan":
    total = len(scan_manifest(path, check_files=False))
elif what == "csv_open":
    total = len(open_dataset(path, check_files=False))
elapsed = time.perf_counter() - t0
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child would report its parent's peak
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
print(f"{elapsed:.4f} {peak:.1f} {total}")
"""


def run(path: str, what: str) -> tuple[float, float, int]:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", CHILD, path, what], env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{what} failed:\n{out.stderr}")
    t, peak, total = out.stdout.split()
    return float(t), float(peak), int(total)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=30_000_000)
    ap.add_argument("--csv-rows", type=int, default=1_000_000)
    ap.add_argument("--file", help="a Parquet manifest to reuse (its .csv beside it)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--repeat", type=int, default=2, help="runs per case; the fastest counts")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench_tables_")
    parquet = args.file or os.path.join(tmp, "manifest.parquet")
    csv_path = os.path.splitext(parquet)[0] + ".csv"
    if not (args.file and os.path.exists(parquet) and os.path.exists(csv_path)):
        generate(parquet, csv_path, args.rows, min(args.csv_rows, args.rows))
    try:
        results = {}
        for what, path in (
            ("oneliner", parquet),
            ("count", parquet),
            ("paths", parquet),
            ("csv_scan", csv_path),
            ("csv_open", csv_path),
        ):
            runs = [run(path, what) for _ in range(args.repeat)]
            results[what] = (min(r[0] for r in runs), min(r[1] for r in runs), runs[0][2])
        t0, m0, n0 = results["oneliner"]
        print(f"Parquet manifest: {n0:,} rows, {CLASSES} classes ({os.path.getsize(parquet) / 2**20:,.0f} MiB)")
        print(f"{'case':<48}{'time s':>9}{'peak MiB':>10}{'x time':>8}{'x peak':>8}")
        labels = {
            "oneliner": "pyarrow read_table(label) + value_counts",
            "count": "open_dataset(.parquet) (inspect: counts)",
            "paths": "open_dataset(.parquet) + paths (export/verify)",
        }
        for what in ("oneliner", "count", "paths"):
            t, m, _ = results[what]
            print(f"{labels[what]:<48}{t:>9.2f}{m:>10.0f}{t / t0:>8.2f}{m / m0:>8.2f}")
        ts, ms, ns = results["csv_scan"]
        to, mo, _ = results["csv_open"]
        print(f"CSV manifest: {ns:,} rows (check_files=False)")
        print(f"{'scan_manifest(.csv)':<48}{ts:>9.2f}{ms:>10.0f}{1.0:>8.2f}{1.0:>8.2f}")
        print(
            f"{'open_dataset(.csv) (columnar dispatch first)':<48}{to:>9.2f}{mo:>10.0f}{to / ts:>8.2f}{mo / ms:>8.2f}"
        )
        ok_t, ok_m = results["count"][0] / t0 <= 2, results["count"][1] / m0 <= 2
        print(
            f"counting within 2x of the one-liner: time {'yes' if ok_t else 'NO'}, "
            f"peak memory {'yes' if ok_m else 'NO'}"
        )
    finally:
        if not args.keep and not args.file:
            for f in (parquet, csv_path):
                if os.path.exists(f):
                    os.remove(f)
            os.rmdir(tmp)


if __name__ == "__main__":
    main()
