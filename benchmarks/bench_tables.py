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
2x of its time and of its peak memory). The same two are also timed as whole processes (from the
parent's start of the process to its exit: interpreter, imports, reading, counting, printing):
``python -c`` the one-liner, against ``balance-gui inspect M.parquet --json``.

Then the sampler over a table of ``--sampler-rows`` rows (default 100M; 0 skips it): a Hugging Face
``save_to_disk`` folder holding only a ClassLabel column (1,000 long-tailed classes), a class-form
``.json`` weights file exported from it, and, in a fresh process each, ``load_sampler(w.json, X)``
for X the folder's index (``open_dataset``) and the ``datasets.Dataset`` (``load_from_disk``, when
``datasets`` is installed): open, build, one epoch drawn (``iter_chunks``, N draws), against the
anchor of benchmarks/bench_sampler.py (a): ``torch.multinomial`` on the per-sample weights, per draw
(it takes at most 2^24 categories: timed on the first 10M rows' weights, 10M draws), target: the
epoch >= 10x faster; with peak RSS.

    python benchmarks/bench_tables.py [--rows 30000000] [--csv-rows 1000000] [--file PATH] [--keep]
                                      [--sampler-rows 100000000] [--only parquet|sampler]
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time

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


# A whole process: the parent times it from start to exit; it prints its peak RSS (VmHWM) last.
WHOLE = r"""
import atexit, sys
def hwm():
    peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
    print(f"VMHWM {peak:.1f}", file=sys.stderr)
atexit.register(hwm)
path, what = sys.argv[1], sys.argv[2]
if what == "oneliner":
    import pyarrow.parquet as pq
    print(pq.read_table(path, columns=["label"]).column("label").value_counts())
else:
    from balance_gui.cli import main
    rc = main(["inspect", path, "--json"])
    if rc:
        raise SystemExit(rc)
"""


def run_whole(path: str, what: str) -> tuple[float, float]:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", WHOLE, path, what], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if out.returncode:
        raise SystemExit(f"{what} (whole process) failed:\n{out.stderr}")
    peak = float(out.stderr.strip().splitlines()[-1].split()[1])
    return elapsed, peak


SAMPLER_CHILD = r"""
import sys, time, gc
import torch
folder, weights, what = sys.argv[1], sys.argv[2], sys.argv[3]
from balance_gui import load_sampler, open_dataset
import balance_gui.core.hf_source, balance_gui.core.tables, balance_gui.core.training, pyarrow.compute  # not timed
if what == "datasets":
    import datasets
def hwm():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
def drain(sampler):
    return sum(c.numel() for c in sampler.iter_chunks())
t0 = time.perf_counter()
if what == "index":
    data = open_dataset(folder)
else:
    import datasets
    data = datasets.load_from_disk(folder)
t1 = time.perf_counter()
sampler = load_sampler(weights, data)
t2 = time.perf_counter()
build_peak = hwm()
drawn = drain(sampler)
t3 = time.perf_counter()
peak = hwm()
gc.collect()
epochs = []
for _ in range(2):
    t = time.perf_counter(); drain(sampler); epochs.append(time.perf_counter() - t)
targets = sampler.targets if getattr(sampler, "targets", None) is not None else None
import numpy as np
labels = torch.from_numpy(np.asarray(data.targets, dtype=np.int64)) if what == "index" else None
if labels is None:
    from balance_gui import read_labels
    labels = torch.from_numpy(read_labels(data).targets)
# torch.multinomial takes at most 2^24 categories: the anchor draws 10M from the first 10M rows'
# weights (bench_sampler's N), and the comparison is per draw.
m = min(len(labels), 10_000_000)
counts = torch.bincount(labels).double()
w = (1.0 / counts)[labels[:m]]
del labels
gc.collect()
anchor = []
for _ in range(2):
    t = time.perf_counter(); torch.multinomial(w, m, True); anchor.append(time.perf_counter() - t)
per_draw = min(anchor) / m * drawn
print(f"{t1 - t0:.3f} {t2 - t1:.3f} {t3 - t2:.3f} {min(epochs + [t3 - t2]):.3f} {per_draw:.3f}", end=" ")
print(f"{build_peak:.1f} {peak:.1f} {drawn}")
"""


def generate_hf(folder: str, rows: int) -> None:
    """A save_to_disk folder of ``rows`` rows: one ClassLabel column of 1,000 long-tailed classes, written
    as ``save_to_disk`` writes it (an Arrow IPC stream, ``state.json``, ``dataset_info.json``) but with
    pyarrow in large batches (``save_to_disk`` itself writes about 100k rows/s here)."""
    import json

    import pyarrow as pa

    os.makedirs(folder)
    rng = np.random.default_rng(0)
    p = 1.0 / np.arange(1, CLASSES + 1) ** 1.1
    p /= p.sum()
    name = "data-00000-of-00001.arrow"
    names = [f"class_{c:04d}" for c in range(CLASSES)]
    features = {"label": {"names": names, "_type": "ClassLabel"}}
    schema = pa.schema([("label", pa.int64())], metadata={"huggingface": json.dumps({"info": {"features": features}})})
    with pa.OSFile(os.path.join(folder, name), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for start in range(0, rows, 10 * BLOCK):
            labels = rng.choice(CLASSES, size=min(10 * BLOCK, rows - start), p=p).astype(np.int64)
            writer.write_table(pa.table({"label": labels}, schema=schema))
    state = {
        "_data_files": [{"filename": name}],
        "_fingerprint": "bench",
        "_format_columns": None,
        "_format_kwargs": {},
        "_format_type": None,
        "_output_all_columns": False,
        "_split": None,
    }
    with open(os.path.join(folder, "state.json"), "w") as fh:
        json.dump(state, fh)
    with open(os.path.join(folder, "dataset_info.json"), "w") as fh:
        json.dump({"citation": "", "description": "", "features": features, "homepage": "", "license": ""}, fh)


def sampler_cases(rows: int, keep: bool) -> None:
    import shutil

    tmp = tempfile.mkdtemp(prefix="bench_tables_sampler_")
    folder = os.path.join(tmp, "hf")
    weights = os.path.join(tmp, "w.json")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
    try:
        t = time.perf_counter()
        generate_hf(folder, rows)
        print(f"generated a {rows:,}-row Hugging Face folder in {time.perf_counter() - t:.0f} s", flush=True)
        subprocess.run(
            [sys.executable, "-m", "balance_gui", "export", folder, "-o", weights],
            env=env,
            check=True,
            capture_output=True,
        )
        print(f"load_sampler over a {rows:,}-row table, class form (.json), one epoch of N draws:")
        head = f"{'dataset object':<34}{'open s':>8}{'build s':>9}{'epoch s':>9}{'multinomial s':>15}"
        print(f"{head}{'x faster':>10}{'build peak MiB':>16}{'peak MiB':>10}")
        for what in ("index", "datasets"):
            if what == "datasets":
                try:
                    import datasets  # noqa: F401
                except ImportError:
                    print("datasets.Dataset: skipped (datasets is not installed)")
                    continue
            out = subprocess.run(
                [sys.executable, "-c", SAMPLER_CHILD, folder, weights, what], env=env, capture_output=True, text=True
            )
            if out.returncode:
                raise SystemExit(f"sampler case {what} failed:\n{out.stderr}")
            t_open, t_build, t_first, t_epoch, t_multi, build_peak, peak, drawn = out.stdout.split()
            assert int(drawn) == rows
            name = "open_dataset(folder)" if what == "index" else "datasets.load_from_disk(folder)"
            ratio = float(t_multi) / float(t_epoch)
            print(
                f"{name:<34}{float(t_open):>8.2f}{float(t_build):>9.2f}{float(t_epoch):>9.2f}{float(t_multi):>15.2f}"
                f"{ratio:>10.1f}{float(build_peak):>16.0f}{float(peak):>10.0f}"
            )
        print(
            "(epoch: the fastest of three, the first included; multinomial: torch.multinomial's time per draw at 10M "
            "categories, its limit being 2^24, times N; target >= 10x, as bench_sampler (a); build peak: the "
            "process's peak RSS once load_sampler returns, peak: after the first epoch)"
        )
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept: {tmp}")


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
    ap.add_argument("--sampler-rows", type=int, default=100_000_000, help="rows of the sampler case (0: skip it)")
    ap.add_argument("--only", choices=("parquet", "sampler"), help="run only these cases")
    args = ap.parse_args()
    if args.only != "parquet" and args.sampler_rows > 0:
        sampler_cases(args.sampler_rows, args.keep)
    if args.only == "sampler":
        return
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
        whole = {}
        for what in ("oneliner", "inspect"):
            runs_w = [run_whole(parquet, what) for _ in range(args.repeat)]
            whole[what] = (min(r[0] for r in runs_w), min(r[1] for r in runs_w))
        (wt0, wm0), (wt, wm) = whole["oneliner"], whole["inspect"]
        print("Whole processes (start to exit, as a user runs them):")
        print(f"{'python -c one-liner':<48}{wt0:>9.2f}{wm0:>10.0f}{1.0:>8.2f}{1.0:>8.2f}")
        print(f"{'balance-gui inspect M.parquet --json':<48}{wt:>9.2f}{wm:>10.0f}{wt / wt0:>8.2f}{wm / wm0:>8.2f}")
        print(
            f"whole process within 2x of the one-liner's: time {'yes' if wt / wt0 <= 2 else 'NO'}, "
            f"peak memory {'yes' if wm / wm0 <= 2 else 'NO'}"
        )
    finally:
        if not args.keep and not args.file:
            for f in (parquet, csv_path):
                if os.path.exists(f):
                    os.remove(f)
            os.rmdir(tmp)


if __name__ == "__main__":
    main()
