"""Simulate a sampler's epochs and watch the class counts converge.

``simulate(...)`` is a generator: it draws chunk by chunk (on the chosen device,
through ``BalancedSampler.iter_chunks``, or through torch's
``WeightedRandomSampler`` for comparison) and yields a ``SimulationStep`` after
each chunk with the cumulative per-class counts, goodness of fit against the
expected shares, and, for coverage, per-image use counts of the current epoch.
The consumer stops it at any time by no longer iterating (or ``.close()``).
The GUI plots the steps live; the CLI prints ``format_simulation_report`` of the
last one.  Nothing here imports Qt.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .errors import WeightsError
from .sampler import CHUNK_SIZE, BalancedSampler
from .weights import expected_distinct

__all__ = [
    "SimulationStep",
    "simulate",
    "chi_square_test",
    "expected_distinct",
    "format_simulation_report",
]


@dataclass(frozen=True)
class SimulationStep:
    """Where a simulation stands after one chunk.  Arrays are copies: keep them freely."""

    epoch: int  # 0-based
    draws_done: int  # cumulative over all epochs so far
    total_draws: int  # draws per epoch * epochs
    class_counts: np.ndarray  # int64 per class, cumulative over all epochs
    expected_shares: np.ndarray  # float64 per class, p_c
    image_uses: np.ndarray | None  # int64 per sample, uses in the CURRENT epoch (None if not tracked)
    distinct_seen: np.ndarray | None  # int64 per class, distinct images seen in the CURRENT epoch
    elapsed_s: float  # time spent drawing and counting (not in the consumer)
    draws_per_s: float
    chi2: float  # Pearson chi-square of class_counts against expected_shares
    p_value: float
    tv_distance: float  # 0.5 * sum |observed share - p_c|

    @property
    def done(self) -> bool:
        return self.draws_done >= self.total_draws

    @property
    def epoch_draws(self) -> int | None:
        """Draws so far in the current epoch (known when images are tracked)."""
        return None if self.image_uses is None else int(self.image_uses.sum())


# ------------------------------------------------------------------------ statistics


def chi_square_test(observed_counts, expected_shares) -> tuple[float, float]:
    """Pearson's chi-square of counts against shares, and its p-value.

    Classes with share 0 are left out (a count there gives chi2 = inf, p = 0).  Degrees of
    freedom: classes with positive share - 1.  The p-value is the upper regularised
    incomplete gamma function Q(dof/2, chi2/2) (``torch.special.gammaincc``; no scipy).
    """
    o = np.asarray(observed_counts, dtype=np.float64).ravel()
    p = np.asarray(expected_shares, dtype=np.float64).ravel()
    if o.shape != p.shape:
        raise ValueError(f"observed_counts has {o.size} entries but expected_shares has {p.size}")
    if not (np.isfinite(p).all() and (p >= 0).all()) or p.sum() <= 0:
        raise ValueError("expected_shares must be finite, >= 0, and not all zero")
    total = o.sum()
    if total <= 0:
        return 0.0, 1.0
    pos = p > 0
    if (o[~pos] > 0).any():
        return math.inf, 0.0
    o, p = o[pos], p[pos] / p[pos].sum()
    e = total * p
    chi2 = float(((o - e) ** 2 / e).sum())
    dof = int(pos.sum()) - 1
    if dof <= 0:
        return chi2, 1.0
    pv = torch.special.gammaincc(
        torch.tensor(dof / 2.0, dtype=torch.float64), torch.tensor(chi2 / 2.0, dtype=torch.float64)
    )
    return chi2, float(pv)


def _tv(counts: np.ndarray, shares: np.ndarray) -> float:
    total = counts.sum()
    if total <= 0:
        return 0.0
    return 0.5 * float(np.abs(counts / total - shares).sum())


# ------------------------------------------------------------------------ simulation


def _as_int_targets(targets) -> torch.Tensor:
    t = targets.detach().cpu() if isinstance(targets, torch.Tensor) else torch.as_tensor(np.array(targets))
    if t.dim() != 1 or t.numel() == 0:
        raise WeightsError(f"targets must be a non-empty 1-D sequence of class indices, got shape {tuple(t.shape)}")
    if t.dtype.is_floating_point or t.is_complex():
        raise WeightsError(f"targets must be integer class indices, got dtype {t.dtype}")
    t = t.to(torch.int64)
    if int(t.min()) < 0:
        i = int((t < 0).nonzero()[0, 0])
        raise WeightsError(f"targets[{i}] = {int(t[i])} is a negative class index")
    return t


def simulate(
    targets,
    class_weights=None,
    *,
    sample_weights=None,
    num_samples=None,
    epochs=1,
    replacement=True,
    mode="weighted",
    device="cpu",
    seed=0,
    batch_size=None,
    implementation="balanced",
    chunk_size=None,
    track_images=True,
) -> Iterator[SimulationStep]:
    """Draw ``epochs`` epochs and yield a ``SimulationStep`` after each chunk.

    ``targets`` (class per sample) gives the classes the draws are counted in.  The
    weights: ``class_weights`` (per class) or ``sample_weights`` (per sample); with
    neither, every sample weighs 1.  ``implementation="balanced"`` draws with
    ``BalancedSampler`` (seeded with ``seed``; epoch ``e`` is ``set_epoch(e)``, so the
    counts equal that sampler's draws); ``"torch"`` iterates torch's
    ``WeightedRandomSampler`` (CPU, Python ints, mode "weighted" only) for comparison.
    ``chunk_size`` sets how many draws pass between steps (default: the sampler's chunk,
    2**20); the last step of each epoch comes at the epoch's end.  The classes are
    ``0 .. max(targets)`` (or ``len(class_weights) - 1`` if that is more);
    ``format_simulation_report`` pads to the names it is given.

    Arguments are checked here, before the first step; the generator can be stopped at
    any time.  Each step's arrays are fresh copies (``image_uses`` is one int64 per
    sample): keep the latest step, not all of them, on large datasets, or pass
    ``track_images=False``.  ``expected_shares`` are the with-replacement shares ``p_c``; without
    replacement, counts drift from them by design as ``num_samples`` nears the number of
    samples with non-zero weight.
    """
    if implementation not in ("balanced", "torch"):
        raise ValueError(f"implementation must be 'balanced' or 'torch', got {implementation!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive int or None, got {chunk_size!r}")
    if class_weights is not None and sample_weights is not None:
        raise WeightsError("give class_weights or sample_weights, not both")
    t = _as_int_targets(targets)
    n = t.numel()
    K = int(t.max()) + 1
    if class_weights is not None:
        cw_len = len(class_weights)
        K = max(K, cw_len)
    if sample_weights is None and class_weights is None:
        sample_weights = torch.ones(n, dtype=torch.float64)
    if sample_weights is not None:
        sw = sample_weights.detach().cpu() if isinstance(sample_weights, torch.Tensor) else sample_weights
        sw = torch.as_tensor(np.asarray(sw), dtype=torch.float64)
        if sw.dim() != 1 or sw.numel() != n:
            raise WeightsError(
                f"sample_weights must be 1-D with one weight per target ({n}), got shape {tuple(sw.shape)}"
            )
        kw = dict(weights=sw)
    else:
        kw = dict(targets=t, class_weights=class_weights)

    if implementation == "balanced":
        gen = torch.Generator()
        gen.manual_seed(int(seed))
        sampler = BalancedSampler(
            num_samples=num_samples,
            replacement=replacement,
            generator=gen,
            device=device,
            mode=mode,
            batch_size=batch_size,
            **kw,
        )
        per_epoch = sampler._draws_per_epoch()
        dev = sampler.device
        shares = _shares(t, K, sampler_weights=kw)

        def epoch_chunks(e):
            sampler.set_epoch(e)
            return sampler.iter_chunks()
    else:
        if mode != "weighted":
            raise ValueError(
                "implementation='torch' has no class-aware mode: torch's WeightedRandomSampler only draws by weight"
            )
        # Validate exactly as the balanced sampler does, so errors read the same.
        if n > (1 << 24):
            raise ValueError(f"torch's WeightedRandomSampler cannot draw from more than 2**24 items ({n} given)")
        per_epoch = BalancedSampler(num_samples=num_samples, replacement=replacement, mode=mode, **kw).num_samples
        if sample_weights is not None:
            w = kw["weights"]
        else:
            w = torch.as_tensor(np.asarray(class_weights, dtype=np.float64))[t]
        shares = _shares(t, K, sampler_weights=kw)
        wrs = torch.utils.data.WeightedRandomSampler(
            w, per_epoch, replacement=replacement, generator=torch.Generator().manual_seed(int(seed))
        )
        source = wrs if batch_size is None else torch.utils.data.BatchSampler(wrs, batch_size, drop_last=False)
        dev = torch.device("cpu")
        piece = chunk_size or CHUNK_SIZE

        def epoch_chunks(e):
            it = iter(source)
            if batch_size is not None:
                it = itertools.chain.from_iterable(it)
            while True:
                block = list(itertools.islice(it, piece))
                if not block:
                    return
                yield torch.tensor(block, dtype=torch.int64)

    return _run(epoch_chunks, t.to(dev), K, n, per_epoch, epochs, shares, chunk_size, track_images, dev)


def _shares(t: torch.Tensor, K: int, sampler_weights: dict) -> np.ndarray:
    if "weights" in sampler_weights:
        mass = torch.bincount(t, weights=sampler_weights["weights"], minlength=K)
    else:
        cw = torch.as_tensor(np.asarray(sampler_weights["class_weights"], dtype=np.float64))
        counts = torch.bincount(t, minlength=K).to(torch.float64)
        mass = counts * torch.cat([cw, cw.new_zeros(K - cw.numel())])
    mass = mass.numpy().astype(np.float64)
    return mass / mass.sum()


def _pieces(chunks: Iterator[torch.Tensor], size: int | None) -> Iterator[list]:
    """Group a stream of chunks into steps of ``size`` draws (a list of tensors per step)."""
    if size is None:
        for c in chunks:
            yield [c]
        return
    acc, have = [], 0
    for c in chunks:
        while c.numel():
            take = min(size - have, c.numel())
            acc.append(c[:take])
            have += take
            c = c[take:]
            if have == size:
                yield acc
                acc, have = [], 0
    if acc:
        yield acc


def _run(epoch_chunks, t_dev, K, n, per_epoch, epochs, shares, chunk_size, track_images, dev):
    total = per_epoch * epochs
    counts = torch.zeros(K, dtype=torch.int64, device=dev)
    done = 0
    elapsed = 0.0
    for e in range(epochs):
        t0 = time.perf_counter()
        if track_images:
            uses = torch.zeros(n, dtype=torch.int64, device=dev)
            seen = torch.zeros(n, dtype=torch.bool, device=dev)
            distinct = torch.zeros(K, dtype=torch.int64, device=dev)
        it = _pieces(epoch_chunks(e), chunk_size)
        while True:
            step_parts = next(it, None)
            if step_parts is None:
                break
            for idx in step_parts:
                idx = idx.to(dev)
                counts += torch.bincount(t_dev.index_select(0, idx), minlength=K)
                if track_images:
                    uses.index_add_(0, idx, torch.ones_like(idx))
                    new = idx[~seen.index_select(0, idx)]
                    if new.numel():
                        new = torch.unique(new)
                        seen[new] = True
                        distinct += torch.bincount(t_dev.index_select(0, new), minlength=K)
                done += idx.numel()
            cc = counts.cpu().numpy().copy()
            chi2, pv = chi_square_test(cc, shares)
            elapsed += time.perf_counter() - t0
            step = SimulationStep(
                epoch=e,
                draws_done=done,
                total_draws=total,
                class_counts=cc,
                expected_shares=shares.copy(),
                image_uses=uses.cpu().numpy().copy() if track_images else None,
                distinct_seen=distinct.cpu().numpy().copy() if track_images else None,
                elapsed_s=elapsed,
                draws_per_s=done / elapsed if elapsed > 0 else 0.0,
                chi2=chi2,
                p_value=pv,
                tv_distance=_tv(cc, shares),
            )
            yield step
            t0 = time.perf_counter()


# ------------------------------------------------------------------------ report


def _fmt_share(x: float) -> str:
    return f"{100.0 * x:.3f}%"


def format_simulation_report(step: SimulationStep, classes: Sequence[str], counts: np.ndarray) -> str:
    """The text ``balance-gui simulate`` prints: one aligned row per class, then the fit.

    Columns: class name, images in the class, draws, expected share, observed share,
    expected and observed distinct images in the current epoch ("-" when images were
    not tracked).  Then the chi-square p-value, the TV distance and the draw rate.

    "expected distinct" is the with-replacement expectation ``expected_distinct``; the
    class-aware mode sees more (every image of a class before any repeat), and that
    shows in the observed column."""
    classes = [str(c) for c in classes]
    K = max(len(classes), len(step.class_counts))
    names = classes + [f"class {i}" for i in range(len(classes), K)]

    def pad(a, dtype):
        a = np.zeros(K, dtype=dtype) if a is None else np.asarray(a, dtype=dtype)
        return np.concatenate([a, np.zeros(K - a.size, dtype=dtype)]) if a.size < K else a[:K]

    n_c = pad(counts, np.int64)
    obs = pad(step.class_counts, np.int64)
    exp = pad(step.expected_shares, np.float64)
    total = int(obs.sum())
    obs_share = obs / total if total else np.zeros(K)
    k_epoch = step.epoch_draws
    if k_epoch is None and step.epoch == 0:
        k_epoch = step.draws_done
    exp_d = expected_distinct(n_c, exp, k_epoch) if k_epoch is not None else None
    obs_d = pad(step.distinct_seen, np.int64) if step.distinct_seen is not None else None

    def trunc(s: str, w: int = 40) -> str:
        return s if len(s) <= w else s[: w - 1] + "\u2026"

    rows = []
    for i in range(K):
        rows.append(
            (
                trunc(names[i]),
                f"{n_c[i]:,}",
                f"{obs[i]:,}",
                _fmt_share(exp[i]),
                _fmt_share(obs_share[i]),
                "-" if exp_d is None else f"{exp_d[i]:,.1f}",
                "-" if obs_d is None else f"{obs_d[i]:,}",
            )
        )
    head = ("class", "images", "draws", "expected share", "observed share", "expected distinct", "observed distinct")
    widths = [max(len(head[j]), *(len(r[j]) for r in rows)) for j in range(len(head))]

    def line(r):
        return "  ".join([r[0].ljust(widths[0])] + [r[j].rjust(widths[j]) for j in range(1, len(r))])

    out = [
        f"epoch {step.epoch + 1}, {step.draws_done:,} of {step.total_draws:,} draws",
        line(head),
        "  ".join("-" * w for w in widths),
    ]
    out += [line(r) for r in rows]
    out.append("")
    out.append(
        f"chi-square {step.chi2:.4g} on {int((exp > 0).sum()) - 1} degrees of freedom, p-value {step.p_value:.4g}"
    )
    out.append(f"total variation distance {step.tv_distance:.4g}")
    out.append(f"draw rate {step.draws_per_s:,.0f} draws/s ({step.elapsed_s:.3f} s)")
    return "\n".join(out)
