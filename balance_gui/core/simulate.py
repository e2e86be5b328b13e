"""Simulate a sampler's epochs and watch the class counts converge.

``simulate(...)`` is a generator: it draws chunk by chunk (on the chosen device,
through ``BalancedSampler.iter_chunks``, or through torch's
``WeightedRandomSampler`` for comparison) and yields a ``SimulationStep`` after
each chunk with the cumulative per-class counts, goodness of fit against the
expected shares, and, for coverage, per-image use counts of the current epoch.
The consumer stops it at any time by no longer iterating (or ``.close()``).
The GUI plots the steps live; the CLI prints ``format_simulation_report`` of the
last one (``core.reports.simulate``, also importable from here).  Nothing here imports Qt.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..sampling.draws import StratifiedDraw, mix_seed
from ..sampling.sampler import CHUNK_SIZE, BalancedSampler
from ..sampling.sampler_inputs import (
    MAX_DRAWS,
    WHOLE_EPOCH_BYTES_PER_DRAW,
    as_float64,
    check_num_samples,
    check_targets,
    max_whole_epoch_draws,
    memory_bytes,
    to_tensor,
)
from .errors import BalanceError, SettingsError, WeightsError
from .expected import ArrayLike, FitTest, fit_test, mode_shares
from .expected import distinct_with_replacement as expected_distinct
from .modes import sampler_mode
from .options import Mode
from .reports.simulate import format_simulation_report, simulation_record  # the run's report, its home
from .training import build_sampler

__all__ = [
    "SimulationStep",
    "simulate",
    "chi_square_test",
    "expected_distinct",
    "format_simulation_report",
    "simulation_record",
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
    tv_distance: float  # 0.5 * sum |observed share - expected share|
    fit: FitTest | None = None  # the same figures, with whether the chi-square is valid
    mode: str = Mode.WEIGHTED
    replacement: bool = True
    draws_per_epoch: int = 0
    weight_shares: np.ndarray | None = None  # p_c: each class's share of the total weight (one draw's law)

    @property
    def done(self) -> bool:
        return self.draws_done >= self.total_draws

    @property
    def epoch_draws(self) -> int | None:
        """Draws so far in the current epoch (known when images are tracked)."""
        return None if self.image_uses is None else int(self.image_uses.sum())


# ------------------------------------------------------------------------ statistics


def chi_square_test(observed_counts: ArrayLike, expected_shares: ArrayLike) -> tuple[float, float]:
    """Pearson's chi-square of counts against shares, and its p-value (see ``core.expected.fit_test``)."""
    f = fit_test(observed_counts, expected_shares)
    return f.chi_square, f.p_value


# ------------------------------------------------------------------------ simulation


def _as_int_targets(targets: Any) -> torch.Tensor:
    """Class indices as int64, each reported as given when it is not one (never as what a cast made
    of it), and no larger than the per-class figures the machine can hold."""
    if isinstance(targets, torch.Tensor):
        t = targets.detach().cpu()
    else:
        a = np.asarray(targets)
        if a.dtype == object:  # Python ints beyond int64 among others
            for i, v in enumerate(a.reshape(-1)):
                if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= int(v) < 2**63:
                    raise WeightsError(f"targets[{i}] = {_clip(repr(v))} is not a class index (0 to 2**63 - 1)")
            a = a.astype(np.int64)
        t = to_tensor(a, "targets")
    if t.dim() != 1 or t.numel() == 0:
        raise WeightsError(f"targets must be a non-empty 1-D sequence of class indices, got shape {tuple(t.shape)}")
    if t.dtype.is_floating_point or t.is_complex():
        raise WeightsError(f"targets must be integer class indices, got dtype {t.dtype}")
    limit = _max_classes()
    big = t.to(torch.float64) >= limit  # before any cast: uint64 values stay what they are
    if bool(big.any()):
        i = int(big.nonzero()[0, 0])
        raise SettingsError(
            f"targets[{i}] = {t[i].item()}: simulate keeps figures for every class 0..max(targets), and so many "
            f"classes are more than this machine's memory holds (at most {limit:,} here)"
        )
    return check_targets(t, limit)


def _max_classes() -> int:
    """The most classes a simulation keeps figures for: a few int64 and float64 arrays per class and
    per step (about 128 bytes a class), within this machine's memory."""
    return max(1 << 20, (memory_bytes() or 1 << 36) // 128)


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def simulate(
    targets: Any,
    class_weights: Any = None,
    *,
    sample_weights: Any = None,
    num_samples: int | None = None,
    epochs: int = 1,
    replacement: bool = True,
    mode: str = "weighted",
    device: str | torch.device = "cpu",
    seed: int = 0,
    batch_size: int | None = None,
    implementation: str = "balanced",
    chunk_size: int | None = None,
    track_images: bool = True,
) -> Generator[SimulationStep, None, None]:
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
    ``track_images=False``.  ``expected_shares`` are the expected shares of the draws done so
    far in this ``mode`` (``core.expected``): the weight shares ``p_c`` with replacement, the
    successive-sampling inclusion shares without; ``weight_shares`` is always ``p_c``.
    """
    if implementation not in ("balanced", "torch"):
        raise SettingsError(f"implementation must be 'balanced' or 'torch', got {implementation!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise SettingsError(f"epochs must be a positive int, got {epochs!r}")
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
        raise SettingsError(f"chunk_size must be a positive int or None, got {chunk_size!r}")
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
        sw = as_float64(sample_weights, "sample_weights").detach().cpu()
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
        # A stratified epoch is drawn whole by the sampler (O(k) memory); here only its counts matter,
        # so it is streamed chunk by chunk (below) and the sampler is built for one draw, to check the rest.
        streamed = str(mode) == "stratified"
        sampler = _settings_checked(
            build_sampler,  # the one builder of the app's sampler (core.training)
            labels=t,  # per-sample weights draw by class in the class-aware and stratified modes
            num_samples=1 if streamed else num_samples,
            replacement=replacement,
            generator=gen,
            device=device,
            mode=mode,
            batch_size=batch_size,
            **kw,
        )
        dev = sampler.device
        if streamed:
            per_epoch = check_num_samples(n if num_samples is None else num_samples)
            draw = sampler._ensure_built().draw
            assert isinstance(draw, StratifiedDraw)

            def epoch_chunks(e: int) -> Iterator[torch.Tensor]:
                key = sampler._next_key()  # as the sampler's own epoch would: one draw from the generator
                return stratified_chunks(draw, key, per_epoch, draw.where.chunk, dev)
        else:
            per_epoch = sampler._draws_per_epoch()

            def epoch_chunks(e: int) -> Iterator[torch.Tensor]:
                sampler.set_epoch(e)
                return sampler.iter_chunks()

        _check_total(per_epoch, epochs)
        expect = _Expected(t, K, kw, per_epoch, mode, replacement)
    else:
        if not sampler_mode(mode).torch_sampler:
            raise SettingsError(
                "implementation='torch' has no class-aware mode: torch's WeightedRandomSampler only draws by weight"
            )
        # Validate exactly as the balanced sampler does, so errors read the same.
        if n > (1 << 24):
            raise SettingsError(f"torch's WeightedRandomSampler cannot draw from more than 2**24 items ({n} given)")
        per_epoch = _settings_checked(
            BalancedSampler, num_samples=num_samples, replacement=replacement, mode=mode, **kw
        ).num_samples
        if per_epoch > max_whole_epoch_draws() * WHOLE_EPOCH_BYTES_PER_DRAW // _WRS_BYTES_PER_DRAW:
            raise SettingsError(
                f"num_samples={per_epoch:,} is too many for torch's WeightedRandomSampler, which draws the whole "
                f"epoch at once and lists it as Python ints (about {_WRS_BYTES_PER_DRAW} bytes a draw): more than "
                "this machine's memory; use implementation='balanced'"
            )
        _check_total(per_epoch, epochs)
        if sample_weights is not None:
            w = kw["weights"]
        else:
            w = torch.as_tensor(np.asarray(class_weights, dtype=np.float64))[t]
        expect = _Expected(t, K, kw, per_epoch, mode, replacement)
        wrs = torch.utils.data.WeightedRandomSampler(
            w,  # type: ignore[arg-type]  # torch's stub says Sequence; it takes a tensor
            per_epoch,
            replacement=replacement,
            generator=torch.Generator().manual_seed(int(seed)),
        )
        source = wrs if batch_size is None else torch.utils.data.BatchSampler(wrs, batch_size, drop_last=False)
        dev = torch.device("cpu")
        piece = chunk_size or CHUNK_SIZE

        def epoch_chunks(e: int) -> Iterator[torch.Tensor]:
            it: Iterator[Any] = iter(source)
            if batch_size is not None:
                it = itertools.chain.from_iterable(it)
            while True:
                block = list(itertools.islice(it, piece))
                if not block:
                    return
                yield torch.tensor(block, dtype=torch.int64)

    return _run(epoch_chunks, t.to(dev), K, n, per_epoch, epochs, expect, chunk_size, track_images, dev)


def _check_total(per_epoch: int, epochs: int) -> None:
    """A run draws at most MAX_DRAWS in all: its cumulative counts stay far inside int64."""
    if per_epoch * epochs > MAX_DRAWS:
        raise SettingsError(
            f"{per_epoch:,} draws per epoch x {epochs:,} epochs = {per_epoch * epochs:,} draws: a simulation draws "
            f"at most 2**48 = {MAX_DRAWS:,} in all (that already takes days); use fewer epochs or draws"
        )


# torch's WeightedRandomSampler holds an epoch as an int64 tensor, then as a list of Python ints.
_WRS_BYTES_PER_DRAW = 48
# Part of the streamed stratified order's key (the sampler's tags, in sampling.draws, are 1 to 4).
_TAG_STREAM = 0x5354


def stratified_chunks(
    draw: StratifiedDraw, key: tuple[int, int], length: int, chunk: int, device: torch.device | str = "cpu"
) -> Iterator[torch.Tensor]:
    """The stratified epoch of ``draw`` for ``key``, as int64 tensors of at most ``chunk`` draws,
    in O(n + chunk) memory whatever ``length`` (the sampler draws it whole: O(length)).

    The epoch holds exactly the sampler's draws (the same uses of every item, from
    ``StratifiedDraw.uses``); their order has the law of the sampler's shuffle, a uniformly random
    permutation, though not its realisation: each chunk is a uniformly random subset of the draws
    left (chosen as distinct positions in them laid end to end), in random order."""
    uses, _ = draw.uses(key, length)
    counts = uses.numpy()
    items = np.flatnonzero(counts)
    left = counts[items].astype(np.int64)
    rng = np.random.default_rng(mix_seed(key[0], key[1], _TAG_STREAM))
    remaining = int(length)
    while remaining > 0:
        c = min(chunk, remaining)
        take = left if c == remaining else _subset_counts(rng, left, c, remaining)
        out = np.repeat(items, take)
        rng.shuffle(out)
        left = left - take
        remaining -= c
        yield torch.from_numpy(out).to(device)


def _subset_counts(rng: np.random.Generator, left: np.ndarray, c: int, total: int) -> np.ndarray:
    """Per item, how many of its ``left`` copies a uniformly random ``c``-subset of all ``total``
    copies holds: a multivariate hypergeometric draw. numpy's (exact) serves totals below 1e9, its
    limit; above, ``c`` is at most a thousandth of the total, and the subset is ``c`` distinct
    uniform positions in the copies laid end to end (exact too)."""
    if total < _NUMPY_HYPERGEOMETRIC_LIMIT:
        return rng.multivariate_hypergeometric(left, c)
    positions = _distinct_integers(rng, total, c)
    return np.bincount(np.searchsorted(np.cumsum(left), positions, side="right"), minlength=left.size)


_NUMPY_HYPERGEOMETRIC_LIMIT = 10**9


def _distinct_integers(rng: np.random.Generator, high: int, m: int) -> np.ndarray:
    """``m`` distinct integers, uniformly among the ``m``-subsets of ``[0, high)`` (for ``m`` much
    smaller than ``high``): uniform draws until ``m`` distinct values are seen, a set that favours
    no value. Sorted."""
    out = np.sort(rng.integers(0, high, m))
    while True:
        out = out[np.concatenate(([True], out[1:] != out[:-1]))]
        if out.size == m:
            return out
        out = np.sort(np.concatenate([out, rng.integers(0, high, m - out.size)]))


def _settings_checked(make: Callable[..., BalancedSampler], **kwargs: Any) -> BalancedSampler:
    """Build the sampler; its argument checks (a plain ValueError for a mode, device or draw count
    it cannot use) are the user's settings here, so they leave as SettingsError: one clear line
    at the CLI and the GUI, not a bug report."""
    try:
        return make(**kwargs)
    except ValueError as e:
        if isinstance(e, BalanceError):  # already the user's error, with its own type
            raise
        raise SettingsError(str(e)) from e


class _Expected:
    """Expected cumulative class counts of a run, from ``core.expected``.

    The images are grouped by (class, weight): with class weights a group is a class; with
    per-sample weights a class may hold several groups, and the race law needs each one."""

    def __init__(self, t: torch.Tensor, K: int, sampler_weights: dict, per_epoch: int, mode: str, replacement: bool):
        targets = t.numpy()
        if "weights" in sampler_weights:
            w = sampler_weights["weights"].numpy().astype(np.float64)
            pairs, sizes = np.unique(np.stack([targets.astype(np.float64), w]), axis=1, return_counts=True)
            self.group_class = pairs[0].astype(np.int64)
            self.group_weight = pairs[1]
            self.group_size = sizes.astype(np.float64)
        else:
            cw = np.asarray(sampler_weights["class_weights"], dtype=np.float64)
            self.group_class = np.arange(K)
            self.group_weight = np.concatenate([cw, np.zeros(max(K - cw.size, 0))])
            self.group_size = np.bincount(targets, minlength=K).astype(np.float64)
        self.K = K
        self.per_epoch = per_epoch
        self.mode = str(mode)
        self.replacement = bool(replacement)
        self.even_by_design = sampler_mode(self.mode).even_by_design or not self.replacement
        mass = np.bincount(self.group_class, weights=self.group_size * self.group_weight, minlength=K)
        self.weight_shares = mass / mass.sum()
        self._epoch = self._counts(per_epoch)

    def _counts(self, draws: int) -> np.ndarray:
        g = draws * mode_shares(self.group_size, self.group_weight, draws, self.mode, self.replacement)
        return np.bincount(self.group_class, weights=g, minlength=self.K)

    def shares(self, draws_done: int) -> np.ndarray:
        """Expected share of each class among the first ``draws_done`` draws of the run."""
        full, part = divmod(int(draws_done), self.per_epoch)
        counts = full * self._epoch + (self._counts(part) if part else 0.0)
        total = counts.sum()
        return counts / total if total > 0 else self.weight_shares.copy()


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


def _run(
    epoch_chunks: Callable[[int], Iterator[torch.Tensor]],
    t_dev: torch.Tensor,
    K: int,
    n: int,
    per_epoch: int,
    epochs: int,
    expect: _Expected,
    chunk_size: int | None,
    track_images: bool,
    dev: torch.device,
) -> Generator[SimulationStep, None, None]:
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
            shares = expect.shares(done)
            fit = fit_test(cc, shares, even_by_design=expect.even_by_design)
            elapsed += time.perf_counter() - t0
            step = SimulationStep(
                epoch=e,
                draws_done=done,
                total_draws=total,
                class_counts=cc,
                expected_shares=shares,
                image_uses=uses.cpu().numpy().copy() if track_images else None,
                distinct_seen=distinct.cpu().numpy().copy() if track_images else None,
                elapsed_s=elapsed,
                draws_per_s=done / elapsed if elapsed > 0 else 0.0,
                chi2=fit.chi_square,
                p_value=fit.p_value,
                tv_distance=fit.tv_distance,
                fit=fit,
                mode=expect.mode,
                replacement=expect.replacement,
                draws_per_epoch=per_epoch,
                weight_shares=expect.weight_shares.copy(),
            )
            yield step
            t0 = time.perf_counter()
