#!/usr/bin/env python
"""Benchmarks of balance_gui.sampling.sampler against torch's WeightedRandomSampler (run by hand).

Every ratio is measured in the same run.  Dataset: N items (default 10,000,000) in
1,000 long-tailed classes (Zipf counts, class-sorted as ImageFolder orders them),
class weights 1 / count; N draws per epoch with replacement; construction included.

Every case runs twice: on the quiet machine, and loaded, with one busy process per core but
one (Python loops spinning, started and stopped by this script), as when data-loader workers
keep the cores busy.  torch keeps its default thread settings in both passes.

    python benchmarks/bench_sampler.py              # N = 10M (about ten minutes on 2 cores)
    python benchmarks/bench_sampler.py --n 1000000  # quick
    python benchmarks/bench_sampler.py --load busy  # only the loaded pass
    python benchmarks/bench_sampler.py --big        # also (f) with arbitrary per-sample weights at 10 N

Cases (targets from the issues):
  (a) epoch index draw, class form: >= 10x faster than torch.multinomial on the per-sample
      weights, and within 3x of two float64 torch.rand(N) calls.
  (b) arbitrary per-sample weights: >= 2x faster than torch.multinomial; per-sample weights
      with few distinct values (class weights expanded, ImageFolder order): within 2x of (a).
  (c) a full epoch through BatchSampler(sampler, 256): >= 5x faster than with WRS
      (Python's per-index floor, BatchSampler over range(N), printed beside it).
  (d) the batch form, batch size 256: >= 10x faster than BatchSampler(WRS, 256).
  (e) peak extra memory of one epoch (construction + iteration, peak RSS in a fresh
      subprocess per case, /proc/self/clear_refs + VmHWM): <= 1/5 of WRS's (quiet pass only:
      memory does not depend on the load).
  (f) 10 N items (100M by default): works, time per draw within 2x of the N case.
  (g) with CUDA: 10 N items on the GPU, ratio to torch.multinomial on the GPU (skipped without).
  (h) what a DataLoader consumer sees, distinct per-sample weights, the sampler built once (as a
      DataLoader holds it): the epoch's draw >= 8x faster than torch.multinomial, and the epoch
      as Python ints, list(iter(sampler)), >= 5x faster than list(iter(WRS)) (which is
      torch.multinomial then tolist()).  The first epoch with construction, the class form, and
      the floor of making N Python ints are printed beside them.
  (i) class-aware (mode="class_aware", mmdetection's ClassAwareSampler: classes by their shares,
      images cycled through keyed permutations), class form, the sampler built once:
      list(iter(sampler)) within 2x of list(iter(WRS)) (ratio >= 0.5), quiet and loaded: it does
      more than WRS, every class's images permuted each epoch (a sort of up to N keys), for use
      counts inside a class that differ by at most 1.  The epoch's draw against torch.multinomial
      (the (a) anchor) and the shuffled-targets form are printed beside it.
  (j) without replacement, distinct per-sample weights, the sampler built once: N / 10 draws and
      N draws (a whole permutation), each >= 1x torch.multinomial(replacement=False) (the same
      exponential race), and N draws as Python ints >= 1x list(iter(WRS(replacement=False))).
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.utils.data import BatchSampler, WeightedRandomSampler  # noqa: E402

from balance_gui.sampling.sampler import BalancedSampler  # noqa: E402

BATCH = 256


# ---------------------------------------------------------------------------- load


def _spin(stop, started) -> None:
    """A busy core: a Python loop until ``stop`` is set."""
    started.release()
    while not stop.is_set():
        for _ in range(100_000):
            pass


class BusyCores:
    """One process spinning per core but one, while the ``with`` block runs."""

    def __init__(self, count: int) -> None:
        self.count = count
        ctx = multiprocessing.get_context("spawn")  # the children never touch torch's thread pool
        self.stop = ctx.Event()
        self.started = ctx.Semaphore(0)
        self.procs = [ctx.Process(target=_spin, args=(self.stop, self.started), daemon=True) for _ in range(count)]

    def __enter__(self) -> BusyCores:
        for p in self.procs:
            p.start()
        for _ in self.procs:
            if not self.started.acquire(timeout=120):
                raise RuntimeError("a busy process did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for p in self.procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join()


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# ---------------------------------------------------------------------------- data


def long_tail_counts(n: int, k: int) -> torch.Tensor:
    c = 1.0 / torch.arange(1, k + 1, dtype=torch.float64)
    counts = (c / c.sum() * n).floor().long().clamp(min=1)
    counts[0] += n - int(counts.sum())
    return counts


def make_data(n: int, k: int):
    counts = long_tail_counts(n, k)
    targets = torch.repeat_interleave(torch.arange(k), counts)  # class-sorted, as ImageFolder
    cw = 1.0 / counts.to(torch.float64)
    return counts, targets, cw


def drain(sampler) -> int:
    total = 0
    for c in sampler.iter_chunks():
        total += c.numel()
    return total


def consume(it) -> None:
    for _ in it:
        pass


def best(f, repeats: int) -> float:
    ts = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


# ---------------------------------------------------------------------------- memory (subprocess)


def _vm_hwm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def mem_case(case: str, n: int, k: int) -> dict:
    counts, targets, cw = make_data(n, k)
    w = cw[targets] if case in ("wrs", "ours_runs") else None
    if case in ("wrs_items", "ours_items"):
        w = torch.rand(n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    gc.collect()
    base = _rss_bytes()
    with open("/proc/self/clear_refs", "w") as f:  # reset the peak-RSS mark
        f.write("5")
    if case in ("wrs", "wrs_items"):
        consume(WeightedRandomSampler(w, n))
    elif case == "ours_class":
        consume(BalancedSampler(targets=targets, class_weights=cw))
    elif case == "ours_class_batch":
        consume(BalancedSampler(targets=targets, class_weights=cw, batch_size=BATCH))
    else:
        consume(BalancedSampler(w))
    return {"extra_bytes": _vm_hwm_bytes() - base}


def run_mem_case(case: str, n: int, k: int) -> float | None:
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--mem-case", case, "--n", str(n), "--classes", str(k)],
            capture_output=True,
            text=True,
            check=True,
            timeout=900,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])["extra_bytes"]
    except (subprocess.CalledProcessError, OSError, ValueError, KeyError) as e:
        print(f"  memory case {case} failed: {e}", file=sys.stderr)
        return None


# ---------------------------------------------------------------------------- report

ROWS: list[tuple] = []


def record(case: str, what: str, ours: str, ref: str, ratio: float | None, target: str, ok: bool | None):
    ROWS.append(
        (
            case,
            what,
            ours,
            ref,
            "-" if ratio is None else f"{ratio:.2f}",
            target,
            "info" if ok is None else ("PASS" if ok else "FAIL"),
        )
    )
    print(f"  ({case}) {what}: {ours} vs {ref} -> ratio {ROWS[-1][4]} [{target}] {ROWS[-1][6]}", flush=True)


def fmt_s(t: float) -> str:
    return f"{t:.3f} s"


def fmt_mb(b: float) -> str:
    return f"{b / 2**20:.0f} MiB"


def print_table(title: str, rows: list[tuple]) -> None:
    head = ("case", "what", "ours", "reference", "ratio", "target", "result")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=False))  # noqa: E731
    print()
    print(title)
    print(line(head))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))
    fails = sum(r[6] == "FAIL" for r in rows)
    print(f"\n{sum(r[6] == 'PASS' for r in rows)} PASS, {fails} FAIL")


# ---------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000_000, help="items (and draws per epoch)")
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3, help="best of this many runs for our timings")
    ap.add_argument("--ref-repeats", type=int, default=2, help="best of this many for the slow references")
    ap.add_argument("--big", action="store_true", help="(f) also with arbitrary per-sample weights at 10 N")
    ap.add_argument("--no-memory", action="store_true", help="skip (e)")
    ap.add_argument(
        "--load",
        choices=("both", "quiet", "busy"),
        default="both",
        help="quiet machine, one busy process per core but one, or both passes (default)",
    )
    ap.add_argument("--mem-case", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.mem_case:
        print(json.dumps(mem_case(args.mem_case, args.n, args.classes)))
        return

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cores()} cores, N = {args.n:,} items "
        f"in {args.classes} classes, {args.n:,} draws with replacement",
        flush=True,
    )
    tables = []
    if args.load in ("both", "quiet"):
        print("\nquiet machine", flush=True)
        ROWS.clear()
        run_pass(args, memory=not args.no_memory)
        tables.append(("quiet machine", list(ROWS)))
    if args.load in ("both", "busy"):
        busy = max(1, cores() - 1)
        title = (
            f"loaded machine: {busy} busy process(es) on {cores()} cores, "
            f"torch at its default {torch.get_num_threads()} threads"
        )
        print(f"\n{title}", flush=True)
        ROWS.clear()
        with BusyCores(busy):
            run_pass(args, memory=False)
        tables.append((title, list(ROWS)))
    for title, rows in tables:
        print_table(title, rows)


def run_pass(args: argparse.Namespace, memory: bool) -> None:
    """Every case once, recorded in ROWS."""
    n, k, R, RR = args.n, args.classes, args.repeats, args.ref_repeats
    counts, targets, cw = make_data(n, k)
    w_class = cw[targets]  # the equivalent per-sample weights (few distinct values, ImageFolder order)
    w_items = torch.rand(n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))  # all distinct

    # (a)
    t_class = best(lambda: drain(BalancedSampler(targets=targets, class_weights=cw, num_samples=n)), R)
    t_multi = best(lambda: torch.multinomial(w_class, n, True), RR)
    t_rand2 = best(lambda: (torch.rand(n, dtype=torch.float64), torch.rand(n, dtype=torch.float64)), R)
    record(
        "a",
        "class form vs torch.multinomial",
        fmt_s(t_class),
        fmt_s(t_multi),
        t_multi / t_class,
        ">= 10",
        t_multi / t_class >= 10,
    )
    record(
        "a",
        "class form vs two float64 torch.rand(N)",
        fmt_s(t_class),
        fmt_s(t_rand2),
        t_class / t_rand2,
        "<= 3",
        t_class / t_rand2 <= 3,
    )
    shuffled = targets[torch.randperm(n, generator=torch.Generator().manual_seed(1))]
    t_shuf = best(lambda: drain(BalancedSampler(targets=shuffled, class_weights=cw, num_samples=n)), R)
    del shuffled
    record(
        "a",
        "shuffled targets (argsort gather) vs class-sorted",
        fmt_s(t_shuf),
        fmt_s(t_class),
        t_shuf / t_class,
        "-",
        None,
    )

    # (b)
    t_items = best(lambda: drain(BalancedSampler(w_items)), R)
    t_multi_items = best(lambda: torch.multinomial(w_items, n, True), RR)
    record(
        "b",
        "distinct per-sample weights vs torch.multinomial",
        fmt_s(t_items),
        fmt_s(t_multi_items),
        t_multi_items / t_items,
        ">= 2",
        t_multi_items / t_items >= 2,
    )
    t_runs = best(lambda: drain(BalancedSampler(w_class)), R)
    record(
        "b",
        "per-sample weights, few distinct values, vs class form",
        fmt_s(t_runs),
        fmt_s(t_class),
        t_runs / t_class,
        "<= 2",
        t_runs / t_class <= 2,
    )

    # (c), (d)
    t_floor = best(lambda: consume(BatchSampler(range(n), BATCH, False)), R)
    t_ours_bs = best(lambda: consume(BatchSampler(BalancedSampler(targets=targets, class_weights=cw), BATCH, False)), R)
    t_wrs_bs = best(lambda: consume(BatchSampler(WeightedRandomSampler(w_class, n), BATCH, False)), RR)
    record(
        "c",
        "BatchSampler(ours, 256) vs BatchSampler(WRS, 256)",
        fmt_s(t_ours_bs),
        fmt_s(t_wrs_bs),
        t_wrs_bs / t_ours_bs,
        ">= 5",
        t_wrs_bs / t_ours_bs >= 5,
    )
    record(
        "c",
        "  Python per-index floor: BatchSampler(range(N), 256)",
        fmt_s(t_floor),
        fmt_s(t_ours_bs),
        t_ours_bs / t_floor,
        "(ours / floor)",
        None,
    )
    t_batch = best(lambda: consume(BalancedSampler(targets=targets, class_weights=cw, batch_size=BATCH)), R)
    record(
        "d",
        "batch form (256) vs BatchSampler(WRS, 256)",
        fmt_s(t_batch),
        fmt_s(t_wrs_bs),
        t_wrs_bs / t_batch,
        ">= 10",
        t_wrs_bs / t_batch >= 10,
    )
    t_items_bs = best(lambda: consume(BalancedSampler(w_items, batch_size=BATCH)), R)
    t_wrs_items_bs = best(lambda: consume(BatchSampler(WeightedRandomSampler(w_items, n), BATCH, False)), 1)
    record(
        "d",
        "  batch form, distinct per-sample weights, vs BatchSampler(WRS)",
        fmt_s(t_items_bs),
        fmt_s(t_wrs_items_bs),
        t_wrs_items_bs / t_items_bs,
        "-",
        None,
    )

    # (h) what a DataLoader consumer sees: the sampler built once, each epoch into Python ints
    s_items = BalancedSampler(w_items)
    drain(s_items)
    t_h_draw = best(lambda: drain(s_items), R)
    record(
        "h",
        "distinct per-sample weights, epoch draw (built sampler) vs torch.multinomial",
        fmt_s(t_h_draw),
        fmt_s(t_multi_items),
        t_multi_items / t_h_draw,
        ">= 8",
        t_multi_items / t_h_draw >= 8,
    )
    t_h_iter = best(lambda: list(iter(s_items)), R)
    t_wrs_iter = best(lambda: list(iter(WeightedRandomSampler(w_items, n))), RR)
    record(
        "h",
        "distinct per-sample weights, list(iter(ours)) vs list(iter(WRS))",
        fmt_s(t_h_iter),
        fmt_s(t_wrs_iter),
        t_wrs_iter / t_h_iter,
        ">= 5",
        t_wrs_iter / t_h_iter >= 5,
    )
    del s_items
    t_h_first = best(lambda: list(iter(BalancedSampler(w_items))), RR)
    record(
        "h",
        "  the same, construction included (a first epoch)",
        fmt_s(t_h_first),
        fmt_s(t_wrs_iter),
        t_wrs_iter / t_h_first,
        "-",
        None,
    )
    s_class = BalancedSampler(targets=targets, class_weights=cw)
    t_h_class = best(lambda: list(iter(s_class)), R)
    del s_class
    t_wrs_class_iter = best(lambda: list(iter(WeightedRandomSampler(w_class, n))), RR)
    record(
        "h",
        "  class form, list(iter(ours)) vs list(iter(WRS))",
        fmt_s(t_h_class),
        fmt_s(t_wrs_class_iter),
        t_wrs_class_iter / t_h_class,
        "-",
        None,
    )
    ar = torch.arange(n)
    t_ints = best(lambda: list(iter(ar.tolist())), R)
    del ar
    record(
        "h",
        "  Python-int floor: list(iter(arange(N).tolist()))",
        fmt_s(t_ints),
        fmt_s(t_h_iter),
        t_h_iter / t_ints,
        "(ours / floor)",
        None,
    )

    # (i) class-aware: classes by their shares, images cycled through keyed permutations
    s_ca = BalancedSampler(targets=targets, class_weights=cw, mode="class_aware")
    drain(s_ca)
    t_ca = best(lambda: drain(s_ca), R)
    record(
        "i",
        "class-aware, epoch draw (built sampler) vs torch.multinomial",
        fmt_s(t_ca),
        fmt_s(t_multi),
        t_multi / t_ca,
        "-",
        None,
    )
    t_ca_iter = best(lambda: list(iter(s_ca)), R)
    record(
        "i",
        "class-aware, list(iter(ours)) vs list(iter(WRS))",
        fmt_s(t_ca_iter),
        fmt_s(t_wrs_class_iter),
        t_wrs_class_iter / t_ca_iter,
        ">= 0.5",
        t_wrs_class_iter / t_ca_iter >= 0.5,
    )
    del s_ca
    shuffled = targets[torch.randperm(n, generator=torch.Generator().manual_seed(1))]
    s_ca = BalancedSampler(targets=shuffled, class_weights=cw, mode="class_aware")
    del shuffled
    drain(s_ca)
    t_ca_shuf = best(lambda: drain(s_ca), R)
    del s_ca
    record(
        "i",
        "  class-aware, shuffled targets vs class-sorted",
        fmt_s(t_ca_shuf),
        fmt_s(t_ca),
        t_ca_shuf / t_ca,
        "-",
        None,
    )

    # (j) without replacement: the k smallest keys E_i / w_i (torch.multinomial's law)
    for k_j, label in ((max(1, n // 10), "N/10 draws"), (n, "N draws (a permutation)")):
        s_r = BalancedSampler(w_items, replacement=False, num_samples=k_j)
        drain(s_r)
        t_r = best(lambda s_r=s_r: drain(s_r), R)
        t_multi_r = best(lambda k_j=k_j: torch.multinomial(w_items, k_j, False), RR)
        record(
            "j",
            f"without replacement, {label} vs torch.multinomial(replacement=False)",
            fmt_s(t_r),
            fmt_s(t_multi_r),
            t_multi_r / t_r,
            ">= 1",
            t_multi_r / t_r >= 1,
        )
    t_r_iter = best(lambda: list(iter(s_r)), R)
    t_wrs_r_iter = best(lambda: list(iter(WeightedRandomSampler(w_items, n, replacement=False))), RR)
    del s_r
    record(
        "j",
        "without replacement, N draws, list(iter(ours)) vs list(iter(WRS))",
        fmt_s(t_r_iter),
        fmt_s(t_wrs_r_iter),
        t_wrs_r_iter / t_r_iter,
        ">= 1",
        t_wrs_r_iter / t_r_iter >= 1,
    )
    del w_items
    gc.collect()

    # (e)
    if not memory:
        print("  (e) skipped" + (" (--no-memory)" if args.no_memory else " (memory: quiet pass only)"))
    else:
        m_wrs = run_mem_case("wrs", n, k)
        m_class = run_mem_case("ours_class", n, k)
        m_batch = run_mem_case("ours_class_batch", n, k)
        m_wrs_items = run_mem_case("wrs_items", n, k)
        m_items = run_mem_case("ours_items", n, k)
        if m_wrs and m_class is not None:
            record(
                "e",
                "peak extra memory, class form vs WRS",
                fmt_mb(m_class),
                fmt_mb(m_wrs),
                m_class / m_wrs,
                "<= 0.2",
                m_class / m_wrs <= 0.2,
            )
        if m_wrs and m_batch is not None:
            record(
                "e",
                "peak extra memory, batch form vs WRS",
                fmt_mb(m_batch),
                fmt_mb(m_wrs),
                m_batch / m_wrs,
                "<= 0.2",
                m_batch / m_wrs <= 0.2,
            )
        if m_wrs_items and m_items is not None:
            record(
                "e",
                "  distinct per-sample weights (alias table) vs WRS",
                fmt_mb(m_items),
                fmt_mb(m_wrs_items),
                m_items / m_wrs_items,
                "-",
                None,
            )

    # (f)
    del w_class, targets
    gc.collect()
    big_n = 10 * n
    try:
        bc, bt, bcw = make_data(big_n, k)
        t_big = best(lambda: drain(BalancedSampler(targets=bt, class_weights=bcw, num_samples=big_n)), min(R, 2))
        per_small, per_big = t_class / n, t_big / big_n
        record(
            "f",
            f"{big_n:,} items, class form: time per draw vs {n:,}",
            f"{per_big * 1e9:.1f} ns",
            f"{per_small * 1e9:.1f} ns",
            per_big / per_small,
            "<= 2",
            per_big / per_small <= 2,
        )
        del bc, bt, bcw
        gc.collect()
    except (RuntimeError, MemoryError) as e:
        record("f", f"{big_n:,} items, class form", f"failed: {e}", "-", None, "<= 2", False)
    if args.big:
        wb = torch.rand(big_n, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
        t_bi = best(lambda: drain(BalancedSampler(wb)), 1)
        record(
            "f",
            f"{big_n:,} items, distinct per-sample weights: per draw vs {n:,}",
            f"{t_bi / big_n * 1e9:.1f} ns",
            f"{t_items / n * 1e9:.1f} ns",
            (t_bi / big_n) / (t_items / n),
            "<= 2",
            (t_bi / big_n) / (t_items / n) <= 2,
        )
        del wb
        gc.collect()
    else:
        print("  (f) distinct per-sample weights at 10 N: skipped (pass --big)")

    # (g)
    if not torch.cuda.is_available():
        print("  (g) skipped: no CUDA")
    else:
        dev = "cuda"
        gc_, gt, gcw = make_data(big_n, k)
        gt, gcw = gt.to(dev), gcw.to(dev)

        def ours_gpu():
            drain(BalancedSampler(targets=gt, class_weights=gcw, num_samples=big_n, device=dev))
            sync(dev)

        ours_gpu()  # warm-up
        t_g = best(ours_gpu, R)
        # torch.multinomial refuses more than 2**24 categories: compare per draw at the size it accepts
        mn = min(big_n, 1 << 24)
        mc, mt, mcw = make_data(mn, k)
        wg = mcw[mt].to(dev)

        def multi_gpu():
            torch.multinomial(wg, mn, True)
            sync(dev)

        multi_gpu()
        t_mg = best(multi_gpu, R)
        ratio = (t_mg / mn) / (t_g / big_n)
        record(
            "g",
            f"CUDA {big_n:,} items, class form vs torch.multinomial (at {mn:,}), per draw",
            f"{t_g / big_n * 1e9:.2f} ns",
            f"{t_mg / mn * 1e9:.2f} ns",
            ratio,
            "speed-up",
            None,
        )
        t_g_cpu_chunks = best(
            lambda: consume(
                BatchSampler(
                    BalancedSampler(targets=gt, class_weights=gcw, num_samples=big_n, device=dev), BATCH, False
                )
            ),
            1,
        )
        record(
            "g", f"CUDA {big_n:,} draws through BatchSampler(ours, 256)", fmt_s(t_g_cpu_chunks), "-", None, "-", None
        )


if __name__ == "__main__":
    main()
