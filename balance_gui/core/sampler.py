"""Weighted samplers for PyTorch: exact, fast, unbounded, distributed.

``BalancedSampler`` is a drop-in replacement for
``torch.utils.data.WeightedRandomSampler`` (WRS) that draws from exactly its law:

* with replacement, index ``i`` with probability ``w_i / sum(w)``;
* without replacement, the successive-sampling law of
  ``torch.multinomial(w, k, replacement=False)`` (an exponential race:
  the ``k`` smallest keys ``E_i / w_i``, ``E_i ~ Exp(1)``, in increasing order).

How it draws with replacement: the items are cut into *segments* of equal
per-item weight (the classes of the class form, the runs of equal weight of
per-sample weights in ImageFolder order, or single items when every weight
differs).  A segment is picked by Walker's alias method (O(1) per draw, table
built vectorised in O(S log S)), then an item uniformly inside it.  A
class-sorted dataset maps (segment, offset) to an index by one addition, with
no gather through a permutation; any other order goes through a stable argsort
of the targets, built once.

The epoch's draw is defined chunk by chunk: chunk ``j`` of epoch ``e`` is drawn
with a fresh generator seeded from a hash of ``(base_seed, e, j)``.  So an epoch
streams in O(chunk) memory, every epoch is reproducible, and a distributed rank
computes only the chunks that overlap its contiguous slice of the one global
draw: the union over ranks has exactly the single-process law.

The class-aware mode draws classes by their shares and images inside a class
from a cycle of permutations (a fresh one when the class runs out, as
mmdetection's ``ClassAwareSampler``), so per-image use counts inside a class
differ by at most 1 in an epoch.  Its permutations are keyed by
``(seed, epoch, class, cycle)`` through a counter-based hash, so they are
stateless: a distributed rank only needs the class counts of the chunks before
its slice, never the permutations themselves.

Nothing here imports Qt.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

from .errors import WeightsError

__all__ = [
    "BalancedSampler",
    "BalancedBatchSampler",
    "DistributedBalancedSampler",
    "CHUNK_SIZE",
]

#: Draws per chunk of the global draw. A power of two, so a multiple of every
#: power-of-two batch size.  Part of the definition of the draws: changing it
#: changes which indices a given seed gives.
CHUNK_SIZE = 1 << 20

# Above this many alias buckets the acceptance test gets its own uniform
# instead of the fractional part of the bucket draw (which keeps 53 - log2(S)
# bits: >= 33 bits up to here).
_FRAC_LIMIT = 1 << 20
# Iteration turns draws into Python ints this many at a time: a list of 2**15 ints (~1 MiB)
# stays in cache and its int objects are recycled by the next piece (measured ~1.5x faster
# than 2**20 at a time).
_LIST_PIECE = 1 << 15
# Class-aware permutations of at least this many images come from torch.randperm.
_PERM_LOOP_MIN = 1 << 12
# On the CPU a chunk is drawn in blocks of this many draws (one float64 array: 512 KiB).
_CPU_BLOCK = 1 << 16
# Per-sample weights with at most n // _RUNS_DIVISOR runs of equal weight are
# drawn segment-wise (as classes); more runs use a per-item alias table.
_RUNS_DIVISOR = 16

_MODES = ("weighted", "class_aware")

_MASK63 = (1 << 63) - 1
_GOLDEN = 0x9E3779B97F4A7C15 - (1 << 64)  # as signed int64
_MIX1 = 0xBF58476D1CE4E5B9 - (1 << 64)
_MIX2 = 0x94D049BB133111EB - (1 << 64)

_TAG_CHUNK = 1
_TAG_NOREPL = 2
_TAG_PERM = 3


# --------------------------------------------------------------------------- seeds


def _mix_seed(*parts: int) -> int:
    """A 63-bit seed from a tuple of integers (blake2b: stable across runs and platforms)."""
    h = hashlib.blake2b(digest_size=8, person=b"balance-gui")
    for p in parts:
        h.update(int(p).to_bytes(16, "little", signed=True))
    return int.from_bytes(h.digest(), "little") & _MASK63


def _mix64(z: torch.Tensor) -> torch.Tensor:
    """splitmix64's finaliser on an int64 tensor (wrapping arithmetic, logical shifts)."""
    z = z ^ ((z >> 30) & ((1 << 34) - 1))
    z = z * _MIX1
    z = z ^ ((z >> 27) & ((1 << 37) - 1))
    z = z * _MIX2
    return z ^ ((z >> 31) & ((1 << 33) - 1))


# ---------------------------------------------------------------------- validation


def _resolve_device(device) -> torch.device:
    """The torch.device to draw on, or a ValueError saying why it cannot be used here."""
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}; use 'cpu', 'cuda', 'cuda:N' or 'mps'") from None
    if d.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {device!r} is not available: no CUDA GPU or driver (torch.cuda.is_available() is False)"
            )
        if d.index is not None and d.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} is not available: {torch.cuda.device_count()} CUDA GPU(s)")
    elif d.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(
                f"device {device!r} is not available: MPS needs Apple silicon and a PyTorch built with MPS"
            )
    elif d.type != "cpu":
        raise ValueError(f"device {device!r} is not supported; use 'cpu', 'cuda' or 'mps'")
    return d


def _to_cpu_tensor(x, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    try:
        with warnings.catch_warnings():  # read-only numpy arrays: we never write to them
            warnings.simplefilter("ignore", UserWarning)
            if isinstance(x, np.ndarray):
                if x.dtype == object:
                    x = x.astype(np.float64)
                return torch.as_tensor(x)
            return torch.as_tensor(np.asarray(x))
    except (TypeError, ValueError, RuntimeError) as e:
        raise WeightsError(f"{name} must be a 1-D sequence of numbers: {e}") from None


def _check_1d(t: torch.Tensor, name: str) -> None:
    if t.dim() != 1:
        raise WeightsError(f"{name} must be 1-D, but has shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise WeightsError(f"{name} is empty")


def _as_weights(x, name: str, what: str = "index") -> torch.Tensor:
    """Validated float64 CPU weights: 1-D, finite, non-negative, finite sum."""
    t = _to_cpu_tensor(x, name)
    _check_1d(t, name)
    if t.is_complex():
        raise WeightsError(f"{name} must be real numbers, got dtype {t.dtype}")
    t = t.to(torch.float64)
    lo, hi = torch.aminmax(t)  # NaN propagates into both
    lo, hi = float(lo), float(hi)
    if not (lo >= 0.0 and hi < math.inf):
        bad = ~(t >= 0) | (t == math.inf)
        i = int(bad.nonzero()[0, 0])
        v = float(t[i])
        label = f"{name}[{i}]" if what == "index" else f"{name}[{i}] (class {i})"
        if math.isnan(v):
            raise WeightsError(f"{label} is NaN; weights must be finite and >= 0")
        if math.isinf(v):
            raise WeightsError(f"{label} is infinite; weights must be finite and >= 0")
        raise WeightsError(f"{label} = {v!r} is negative; weights must be >= 0")
    return t


def _as_targets(x, num_classes: int) -> torch.Tensor:
    t = _to_cpu_tensor(x, "targets")
    _check_1d(t, "targets")
    if t.dtype == torch.bool:
        t = t.to(torch.int64)
    if t.is_complex():
        raise WeightsError(f"targets must be integer class indices, got dtype {t.dtype}")
    if t.dtype.is_floating_point:
        bad = ~torch.isfinite(t) | (t != torch.round(t))
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            raise WeightsError(f"targets[{i}] = {t[i].item()!r} is not an integer class index")
    t = t.to(torch.int64)
    lo, hi = (int(v) for v in torch.aminmax(t))
    if lo < 0:
        i = int((t < 0).nonzero()[0, 0])
        raise WeightsError(f"targets[{i}] = {int(t[i])} is a negative class index")
    if hi >= num_classes:
        i = int((t >= num_classes).nonzero()[0, 0])
        raise WeightsError(
            f"targets[{i}] = {int(t[i])} is out of range: class_weights has {num_classes} entries "
            f"(classes 0..{num_classes - 1})"
        )
    return t


# ---------------------------------------------------------------------- alias table


def _build_alias(mass: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Walker's alias table for ``mass`` (float64, >= 0, positive sum), built vectorised.

    Bucket ``k`` (chosen uniformly) yields ``k`` with probability ``prob[k]``, else
    ``alias[k]``.  Item ``i`` then has probability ``mass[i] / sum(mass)`` (up to
    float64 rounding).  A zero-mass item gets ``prob = 0`` and is never an alias,
    so it is never drawn.

    Construction: scaled masses ``p = mass * S / total`` split into light (< 1) and
    heavy (>= 1) items.  The deficits ``1 - p`` of the light items, laid end to end,
    are covered by the surpluses ``p - 1`` of the heavy items laid end to end; a
    light item's alias is the heavy item covering the start of its deficit, and a
    heavy item whose surplus ends strictly inside a light item's deficit covers the
    rest of that deficit from its own bucket, aliased to the next heavy item.
    """
    S = mass.numel()
    total = float(mass.sum())
    p = (mass / total).mul_(S)  # divide first: S / total can overflow for tiny totals
    heavy = p >= 1.0
    if not bool(heavy.any()):  # only by rounding: the mean of p is 1
        heavy[int(p.argmax())] = True
    H = heavy.nonzero().squeeze(1)
    L = (~heavy).nonzero().squeeze(1)
    del heavy
    prob = torch.ones(S, dtype=torch.float64)
    alias = torch.arange(S, dtype=torch.int32 if S < (1 << 31) else torch.int64)
    if L.numel() == 0:
        return prob, alias
    nL, nH = L.numel(), H.numel()
    pL = p.index_select(0, L)
    sur = p.index_select(0, H).sub_(1.0).clamp_(min=0.0)
    del p
    prob.index_copy_(0, L, pL)
    D = torch.cumsum(pL.neg_().add_(1.0), 0)  # ends of the light deficits (laid end to end)
    del pL
    Sh = torch.cumsum(sur, 0)  # ends of the heavy surpluses
    del sur
    # light i: alias = the heavy item whose surplus covers the start of its deficit, D[i-1]
    i32 = S < (1 << 31)
    J = torch.cat(
        [
            torch.searchsorted(Sh, D.new_zeros(1), right=True, out_int32=i32),
            torch.searchsorted(Sh, D[:-1], right=True, out_int32=i32),
        ]
    ).clamp_(max=nH - 1)
    alias.index_copy_(0, L, H.index_select(0, J).to(alias.dtype))
    del J
    if nH > 1:
        # heavy j < last whose surplus ends strictly inside light I's deficit: it keeps
        # 1 - (D[I] - Sh[j]) of its own bucket, aliased to heavy j + 1
        Sj = Sh[:-1]
        Il = torch.searchsorted(D, Sj, right=True, out_int32=i32)
        Ic = Il.clamp(max=nL - 1)
        Dprev = torch.where(Ic > 0, D.index_select(0, (Ic - 1).clamp_(min=0)), torch.zeros((), dtype=D.dtype))
        inside = (Il < nL) & (Dprev < Sj)
        hp = (1.0 - (D.index_select(0, Ic) - Sj)).clamp_(0.0, 1.0)
        del Il, Ic, Dprev, D
        sel = inside.nonzero().squeeze(1)
        Hs = H.index_select(0, sel)
        prob.index_copy_(0, Hs, hp.index_select(0, sel))
        alias.index_copy_(0, Hs, H.index_select(0, sel + 1).to(alias.dtype))
    return prob, alias


def _compact_index(ix: torch.Tensor) -> torch.Tensor:
    """An alias table's dtype: int64 for small tables (no mixed-dtype ops per draw), int32 for
    large ones that fit (halves the memory of per-item tables)."""
    if ix.numel() <= _FRAC_LIMIT:
        return ix.to(torch.int64)
    return ix.to(torch.int32) if ix.numel() < (1 << 31) else ix.to(torch.int64)


def _runs(x: torch.Tensor, max_runs: int) -> torch.Tensor | None:
    """Start positions of the runs of equal values of ``x``, or None if there are more than ``max_runs``."""
    n = x.numel()
    if n == 1:
        return torch.zeros(1, dtype=torch.int64)
    change = x[1:] != x[:-1]
    if int(torch.count_nonzero(change)) + 1 > max_runs:  # (bool .sum() would allocate int64)
        return None
    return torch.cat([torch.zeros(1, dtype=torch.int64), change.nonzero().squeeze(1) + 1])


# -------------------------------------------------------------------------- sampler


class BalancedSampler(Sampler[int]):
    """Weighted random sampler with WRS's law, streamed in chunks, seeded per epoch.

    Args:
        weights: per-sample weights (1-D tensor, ndarray or sequence; any
            non-negative finite values).  Or, instead, ``targets`` (1-D class
            index per sample) and ``class_weights`` (1-D weight per class): the
            same law as ``weights = class_weights[targets]``, drawn faster.
        num_samples: draws per epoch (default: number of items).
        replacement: draw with replacement (default) or without.
        generator: only its ``initial_seed()`` is used, as the base seed of
            every epoch's draw; without one, a base seed is drawn once from
            torch's default RNG at construction.
        device: where the draws are made ("cpu", "cuda", "mps"); ``__iter__``
            always hands out Python ints on the CPU.
        mode: "weighted" (WRS's law) or "class_aware" (classes by their shares,
            images inside a class from a cycle of permutations; with
            replacement only).  Per-sample weights are grouped by value for it.
        batch_size: None yields ints; B yields lists of B ints (then ``len()``
            is the number of batches) and the last partial batch is dropped
            when ``drop_last``.

    Epochs: ``set_epoch(e)`` fixes the epoch; until it is first called, each
    new iteration uses the next epoch (0, 1, 2, ...), so successive iterations
    differ, as with WRS.
    """

    num_samples: int

    def __init__(
        self,
        weights=None,
        num_samples=None,
        replacement=True,
        generator=None,
        device="cpu",
        *,
        targets=None,
        class_weights=None,
        mode="weighted",
        batch_size=None,
        drop_last=False,
    ):
        super().__init__()
        if generator is not None:
            base_seed = int(generator.initial_seed())
        else:
            base_seed = int(torch.randint(0, 1 << 62, (), dtype=torch.int64).item())
        self._setup(
            weights, num_samples, replacement, device, targets, class_weights, mode, batch_size, drop_last, base_seed
        )
        self._epoch: int | None = None
        self._auto_epoch = 0

    # ------------------------------------------------------------------ setup

    def _setup(
        self, weights, num_samples, replacement, device, targets, class_weights, mode, batch_size, drop_last, base_seed
    ):
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement must be a bool, got {replacement!r}")
        if mode == "class_aware" and not replacement:
            raise ValueError("class_aware mode draws with replacement; use replacement=True")
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0
        ):
            raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
        self.mode = mode
        self.replacement = replacement
        self.batch_size = batch_size
        self.drop_last = bool(drop_last)
        self.base_seed = int(base_seed)
        self.device = _resolve_device(device)
        self._fdtype = torch.float32 if self.device.type == "mps" else torch.float64
        self._chunk_size = int(CHUNK_SIZE)
        self._block = _CPU_BLOCK if self.device.type == "cpu" else self._chunk_size

        # ---- the weights, validated on the CPU before anything touches the device
        if weights is not None:
            if targets is not None or class_weights is not None:
                raise WeightsError("give either per-sample weights, or targets and class_weights, not both")
            w = _as_weights(weights, "weights")
            self._n = n = w.numel()
            total = float(w.sum())
            if not math.isfinite(total):
                raise WeightsError("the sum of the weights overflows float64; scale them down")
            if total == 0.0:
                raise WeightsError(f"all {n} weights are zero; at least one must be positive")
            self._nnz = int(torch.count_nonzero(w))
            self._class_form = False
            self._w = w
            self._targets = self._cw = None
        else:
            if targets is None or class_weights is None:
                raise WeightsError("give per-sample weights, or both targets and class_weights")
            cw = _as_weights(class_weights, "class_weights", what="class")
            t = _as_targets(targets, cw.numel())
            self._n = n = t.numel()
            K = cw.numel()
            starts = _runs(t, max(64, n // _RUNS_DIVISOR, K))
            if starts is not None:  # few runs (class-sorted): count through them
                lens = torch.diff(starts, append=torch.tensor([n]))
                run_cls = t.index_select(0, starts)
                counts = torch.bincount(run_cls, weights=lens.to(torch.float64), minlength=K).round().long()
                self._t_runs = (starts, lens, run_cls)
            else:
                counts = torch.bincount(t, minlength=K)
                self._t_runs = None
            mass = counts.to(torch.float64) * cw
            total = float(mass.sum())
            if not math.isfinite(total):
                raise WeightsError("the total class mass (count x weight) overflows float64; scale the weights down")
            if total == 0.0:
                nonempty = (counts > 0).nonzero().squeeze(1).tolist()
                raise WeightsError(
                    "every class that has samples has class weight 0 (classes with samples: "
                    f"{_short_list(nonempty)}); at least one must be positive"
                )
            self._nnz = int(counts[cw > 0].sum())
            self._class_form = True
            self._w = None
            self._targets, self._cw, self._counts = t, cw, counts

        if num_samples is None:
            num_samples = n
        if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples <= 0:
            raise ValueError(f"num_samples must be a positive int, got {num_samples!r}")
        num_samples = int(num_samples)
        if not replacement and num_samples > self._nnz:
            raise WeightsError(
                f"num_samples={num_samples} exceeds the {self._nnz} samples with non-zero weight; "
                "without replacement each can be drawn once"
            )
        self._global_num_samples = num_samples
        self.num_samples = num_samples

        # ---- tables for the chosen law, built on the CPU, then moved
        self._path = None
        if not replacement:
            self._path = "race"
        elif mode == "class_aware":
            self._build_class_aware()
            self._path = "class_aware"
        else:
            self._build_weighted()
        # Per-sample / class data not needed any more by the draw paths are dropped.
        if replacement:
            self._w = None
            if self._class_form:
                self._targets = self._t_runs = None

    def _per_sample_weights(self) -> torch.Tensor:
        if self._w is not None:
            return self._w
        return self._cw[self._targets]

    def _build_weighted(self):
        n = self._n
        order = None
        if self._class_form:
            t, cw = self._targets, self._cw
            if self._t_runs is not None:  # class-sorted (or few runs): segments are the runs
                starts, lens, run_cls = self._t_runs
                mass = lens.to(torch.float64) * cw.index_select(0, run_cls)
            else:  # scattered classes: segments are the classes, through a stable argsort
                order = torch.argsort(t, stable=True)
                lens = self._counts
                starts = torch.cumsum(lens, 0) - lens
                mass = lens.to(torch.float64) * cw
        else:
            w = self._w
            starts = _runs(w, max(64, n // _RUNS_DIVISOR))
            if starts is None:  # per-item alias table
                prob, alias = _build_alias(w)
                self._S = n
                self._prob = prob.to(self.device, self._fdtype)
                self._alias = _compact_index(alias).to(self.device)
                self._path = "items"
                return
            lens = torch.diff(starts, append=torch.tensor([n]))
            mass = lens.to(torch.float64) * w[starts]
        keep = mass > 0
        if not bool(keep.all()):
            starts, lens, mass = starts[keep], lens[keep], mass[keep]
        prob, alias = _build_alias(mass)
        self._S = mass.numel()
        self._prob = prob.to(self.device, self._fdtype)
        self._alias = _compact_index(alias).to(self.device)
        self._seg_start = starts.to(self.device)
        self._seg_len = lens.to(self.device)
        self._seg_lenf = lens.to(self.device, self._fdtype)
        self._order = None if order is None else order.to(self.device)
        self._path = "segments" if order is None else "segments+order"

    def _build_class_aware(self):
        n = self._n
        if self._class_form:
            t, cw, counts = self._targets, self._cw, self._counts
            runs = self._t_runs
        else:
            cw, t = torch.unique(self._w, sorted=True, return_inverse=True)
            counts = torch.bincount(t, minlength=cw.numel())
            starts = _runs(t, max(64, n // _RUNS_DIVISOR, cw.numel()))
            runs = None if starts is None else (starts, None, t.index_select(0, starts))
        K = cw.numel()
        if runs is not None and runs[0].numel() == int(torch.count_nonzero(counts)):
            # every class is one contiguous run: no permutation needed
            gstart = torch.zeros(K, dtype=torch.int64)
            gstart[runs[2]] = runs[0]
            order = None
        else:
            order = torch.argsort(t, stable=True)
            gstart = torch.cumsum(counts, 0) - counts
        mass = counts.to(torch.float64) * cw
        prob, alias = _build_alias(mass)
        self._K = K
        self._S = K
        self._prob = prob.to(self.device, self._fdtype)
        self._alias = _compact_index(alias).to(self.device)
        self._ca_n = counts.to(self.device)
        self._ca_start = gstart.to(self.device)
        self._order = None if order is None else order.to(self.device)
        self._ca_perm_dtype = torch.int32 if n < (1 << 31) else torch.int64

    # ------------------------------------------------------------------ epochs

    def set_epoch(self, epoch: int) -> None:
        """Fix the epoch: same epoch and seed give the same draws; another epoch, other draws."""
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)):
            raise TypeError(f"epoch must be an int, got {epoch!r}")
        self._epoch = int(epoch)

    def _take_epoch(self) -> int:
        if self._epoch is not None:
            return self._epoch
        e = self._auto_epoch
        self._auto_epoch += 1
        return e

    # ------------------------------------------------------------------ sizes

    def _slice(self) -> tuple[int, int, int]:
        """(lo, hi, L): this rank's positions [lo, hi) in the global draw of length L."""
        return 0, self._global_num_samples, self._global_num_samples

    def _draws_per_epoch(self) -> int:
        lo, hi, _ = self._slice()
        return hi - lo

    def __len__(self) -> int:
        m = self._draws_per_epoch()
        if self.batch_size is None:
            return m
        if self.drop_last:
            return m // self.batch_size
        return -(-m // self.batch_size)

    # ------------------------------------------------------------------ drawing

    def _generator(self, *parts: int) -> torch.Generator:
        g = torch.Generator(device=self.device)
        g.manual_seed(_mix_seed(self.base_seed, *parts))
        return g

    def _blocks(self, k: int):
        """Sub-ranges a chunk is drawn in: cache-sized on the CPU (each elementwise pass then
        stays in L2, about twice as fast), the whole chunk on a GPU."""
        B = self._block
        return [(a, min(a + B, k)) for a in range(0, k, B)]

    def _buckets(self, k: int, g: torch.Generator) -> torch.Tensor:
        """k draws from the alias table: bucket ids (segments, items or classes)."""
        S = self._S
        x = torch.rand(k, dtype=self._fdtype, generator=g, device=self.device).mul_(S)
        b = x.long()
        if self._fdtype != torch.float64:  # float32 products can round up to S
            b.clamp_(max=S - 1)
        if S <= _FRAC_LIMIT and self._fdtype == torch.float64:
            acc = x.sub_(b)  # the fractional part: >= 33 bits of a 53-bit uniform
        else:
            acc = torch.rand(k, dtype=self._fdtype, generator=g, device=self.device)
        return torch.where(acc < self._prob.index_select(0, b), b, self._alias.index_select(0, b))

    def _draw_buckets(self, k: int, g: torch.Generator) -> torch.Tensor:
        if k <= self._block:
            return self._buckets(k, g)
        out = torch.empty(k, dtype=torch.int64, device=self.device)
        for a, b in self._blocks(k):
            out[a:b] = self._buckets(b - a, g)
        return out

    def _draw_weighted(self, k: int, g: torch.Generator) -> torch.Tensor:
        if self._path == "items":
            return self._draw_buckets(k, g)
        out = torch.empty(k, dtype=torch.int64, device=self.device)
        for a, b in self._blocks(k):
            kk = b - a
            s = self._buckets(kk, g)
            u = torch.rand(kk, dtype=self._fdtype, generator=g, device=self.device)
            off = u.mul_(self._seg_lenf.index_select(0, s)).long()
            if self._fdtype != torch.float64:  # float32 products can round up to the length
                off = torch.minimum(off, self._seg_len.index_select(0, s) - 1)
            if self._order is None:
                torch.add(self._seg_start.index_select(0, s), off, out=out[a:b])
            else:
                torch.index_select(self._order, 0, self._seg_start.index_select(0, s).add_(off), out=out[a:b])
        return out

    def _draw_race(self, epoch: int) -> torch.Tensor:
        """The whole epoch without replacement: k smallest E_i / w_i, in increasing order."""
        k = self._global_num_samples
        w = self._per_sample_weights().to(self.device, self._fdtype)
        g = self._generator(epoch, _TAG_NOREPL)
        keys = torch.empty_like(w).exponential_(generator=g).div_(w)  # zero weight -> inf
        del w
        if 8 * k >= keys.numel():
            idx = torch.sort(keys, stable=True).indices[:k]
        else:
            idx = torch.topk(keys, k, largest=False, sorted=True).indices
        return idx.contiguous()

    # ---- class-aware

    def _ca_state(self) -> dict:
        K = self._K
        return {
            "pos": torch.zeros(K, dtype=torch.int64, device=self.device),
            "cur_q": torch.full((K,), -1, dtype=torch.int64, device=self.device),
            "cur": None,  # current permutation of every class, laid out as the classes
        }

    def _permutations(
        self, bc: torch.Tensor, bq: torch.Tensor, bsz: torch.Tensor, boff: torch.Tensor, E: int, perm_seed: int
    ) -> torch.Tensor:
        """Permutation ``q`` of class ``c`` for each block ``(bc, bq)``, laid out at ``boff``.

        Each permutation depends only on ``(perm_seed, c, q)``: large classes use
        ``torch.randperm`` with a generator seeded from that triple; small ones sort
        counter-based hash keys, all blocks at once (one stable sort by key, then one
        by block)."""
        dev = self.device
        out = torch.empty(E, dtype=torch.int64, device=dev)
        big = bsz >= _PERM_LOOP_MIN
        if bool(big.any()):
            ib = big.nonzero().squeeze(1)
            for c, q, o, n in zip(*(x.index_select(0, ib).tolist() for x in (bc, bq, boff, bsz)), strict=False):
                gp = torch.Generator(device=dev)
                gp.manual_seed(_mix_seed(perm_seed, c, q))
                out[o : o + n] = torch.randperm(n, generator=gp, device=dev)
            small = (~big).nonzero().squeeze(1)
            if small.numel() == 0:
                return out
            bc, bq, bsz, boff = (x.index_select(0, small) for x in (bc, bq, bsz, boff))
        Bs = bc.numel()
        Es = int(bsz.sum())
        soff = torch.cumsum(bsz, 0) - bsz
        eb = torch.repeat_interleave(torch.arange(Bs, device=dev), bsz, output_size=Es)
        ei = torch.arange(Es, device=dev) - soff.index_select(0, eb)
        hb = _mix64(_mix64(bc * _GOLDEN + perm_seed) + bq * _GOLDEN)
        keys = _mix64(hb.index_select(0, eb) + (ei + 1) * _GOLDEN)
        o = torch.sort(keys, stable=True).indices
        del keys
        o = o.index_select(0, torch.sort(eb.index_select(0, o), stable=True).indices)
        # o now lists each block's elements, block after block, in key order
        out.index_copy_(0, boff.index_select(0, eb) + ei, ei.index_select(0, o))
        return out

    def _draw_class_aware(self, k: int, g: torch.Generator, state: dict, perm_seed: int) -> torch.Tensor:
        """One chunk of class-aware draws.  Class ``c``'s draws in the epoch walk through
        the concatenation of its permutations ``q = 0, 1, ...``; ``state`` holds each class's
        position in that stream and its current permutation (a cache: the content is a
        function of ``(perm_seed, c, q)`` only)."""
        dev = self.device
        cls = self._draw_buckets(k, g)
        K = self._K
        ncls = self._ca_n
        gstart = self._ca_start
        pos = state["pos"]
        cur_q = state["cur_q"]
        m = torch.bincount(cls, minlength=K)
        sv, si = torch.sort(cls, stable=True)
        del cls
        first = torch.cumsum(m, 0) - m
        nn = ncls.index_select(0, sv)
        s = pos.index_select(0, sv) + (torch.arange(k, device=dev) - first.index_select(0, sv))
        q = torch.div(s, nn, rounding_mode="floor")
        r = s - q * nn
        del s, nn
        nsafe = ncls.clamp(min=1)
        qa = torch.div(pos, nsafe, rounding_mode="floor")
        qb = torch.div(pos + m - 1, nsafe, rounding_mode="floor")
        gen_from = torch.where(cur_q == qa, qa + 1, qa)
        nb = torch.where(m > 0, (qb - gen_from + 1).clamp(min=0), torch.zeros_like(qa))
        B = int(nb.sum())
        if state["cur"] is None:
            state["cur"] = torch.zeros(self._n, dtype=self._ca_perm_dtype, device=dev)
        cur = state["cur"]
        gsv = gstart.index_select(0, sv)
        if B:
            bfirst = torch.cumsum(nb, 0) - nb
            bc = torch.repeat_interleave(torch.arange(K, device=dev), nb, output_size=B)
            bq = gen_from.index_select(0, bc) + (torch.arange(B, device=dev) - bfirst.index_select(0, bc))
            bsz = ncls.index_select(0, bc)
            boff = torch.cumsum(bsz, 0) - bsz
            E = int(bsz.sum())
            newflat = self._permutations(bc, bq, bsz, boff, E, perm_seed)
            cached = q == cur_q.index_select(0, sv)
            bidx = (bfirst.index_select(0, sv) + (q - gen_from.index_select(0, sv))).clamp_(0, B - 1)
            pnew = (boff.index_select(0, bidx) + r).clamp_(0, E - 1)
            val = torch.where(cached, cur.index_select(0, gsv + r).to(torch.int64), newflat.index_select(0, pnew))
            del cached, bidx, pnew
            # keep each touched class's last permutation for the next chunk
            cu = (nb > 0).nonzero().squeeze(1)
            lb = bfirst.index_select(0, cu) + nb.index_select(0, cu) - 1
            lsz = ncls.index_select(0, cu)
            tot = int(lsz.sum())
            ce = torch.repeat_interleave(torch.arange(cu.numel(), device=dev), lsz, output_size=tot)
            ci = torch.arange(tot, device=dev) - (torch.cumsum(lsz, 0) - lsz).index_select(0, ce)
            dst = gstart.index_select(0, cu).index_select(0, ce).add_(ci)
            src = boff.index_select(0, lb).index_select(0, ce).add_(ci)
            cur.index_copy_(0, dst, newflat.index_select(0, src).to(cur.dtype))
            cur_q.index_copy_(0, cu, qb.index_select(0, cu))
        else:
            val = cur.index_select(0, gsv + r).to(torch.int64)
        pos += m
        out = torch.empty(k, dtype=torch.int64, device=dev)
        out.index_copy_(0, si, gsv.add_(val))
        if self._order is not None:
            out = self._order.index_select(0, out)
        return out

    def _ca_replay(self, k: int, g: torch.Generator, state: dict) -> None:
        """Advance the class positions over a chunk that this rank does not hand out."""
        cls = self._draw_buckets(k, g)
        state["pos"] += torch.bincount(cls, minlength=self._K)

    # ---- the epoch, chunk by chunk

    def _epoch_chunks(self, epoch: int) -> Iterator[torch.Tensor]:
        lo, hi, L = self._slice()
        if hi <= lo:
            return
        C = self._chunk_size
        if not self.replacement:
            full = self._draw_race(epoch)
            N = full.numel()
            if hi <= N:
                part = full[lo:hi]
            else:  # distributed padding: wrap around, as DistributedSampler does
                part = full.index_select(0, torch.arange(lo, hi, device=full.device) % N)
            del full
            for a in range(0, part.numel(), C):
                yield part[a : a + C]
            return
        j0, j1 = lo // C, (hi - 1) // C
        state = None
        if self._path == "class_aware":
            state = self._ca_state()
            perm_seed = _mix_seed(self.base_seed, epoch, _TAG_PERM)
            for j in range(j0):
                self._ca_replay(C, self._generator(epoch, _TAG_CHUNK, j), state)
        for j in range(j0, j1 + 1):
            a = j * C
            k = min(C, L - a)
            g = self._generator(epoch, _TAG_CHUNK, j)
            if state is not None:
                d = self._draw_class_aware(k, g, state, perm_seed)
            else:
                d = self._draw_weighted(k, g)
            s0, s1 = max(lo - a, 0), min(hi - a, k)
            yield d if (s0 == 0 and s1 == k) else d[s0:s1]

    def iter_chunks(self) -> Iterator[torch.Tensor]:
        """This epoch's draws as int64 tensors on the sampler's device, chunk by chunk, in draw order.

        Takes the epoch when called (not at the first ``next``)."""
        return self._epoch_chunks(self._take_epoch())

    def __iter__(self):
        chunks = _pieces(self.iter_chunks(), _LIST_PIECE)
        if self.batch_size is None:
            # Items flow in C (chain -> list iterator): no Python frame per index.
            return itertools.chain.from_iterable(map(_chunk_to_list, chunks))
        return _batches(chunks, self.batch_size, self.drop_last)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n={self._n}, num_samples={self.num_samples}, "
            f"replacement={self.replacement}, mode={self.mode!r}, device={str(self.device)!r}, "
            f"batch_size={self.batch_size}, path={self._path!r})"
        )


def _pieces(chunks: Iterator[torch.Tensor], size: int) -> Iterator[torch.Tensor]:
    """The chunks, on the CPU, as views of at most ``size`` draws: Python lists of ints are made
    (and freed) this many at a time, whatever the chunk size."""
    for c in chunks:
        c = c.cpu()
        if c.numel() <= size:
            yield c
        else:
            yield from c.split(size)


def _chunk_to_list(t: torch.Tensor) -> list:
    return t.cpu().tolist()


def _batches(chunks: Iterator[torch.Tensor], B: int, drop_last: bool) -> Iterator[list]:
    carry = None
    for c in chunks:
        c = c.cpu()
        if carry is not None:
            c = torch.cat([carry, c])
        full = (c.numel() // B) * B
        if full:
            # one flat tolist, then list slices (C-level pointer copies): a little faster
            # than c.view(-1, B).tolist(), and the same lists
            flat = c[:full].tolist()
            yield from map(flat.__getitem__, map(slice, range(0, full, B), range(B, full + B, B)))
            del flat
        carry = c[full:] if full < c.numel() else None
    if carry is not None and not drop_last:
        yield carry.tolist()


def _short_list(xs: Sequence[int], k: int = 10) -> str:
    s = ", ".join(str(x) for x in xs[:k])
    return s + (f", ... ({len(xs)} in all)" if len(xs) > k else "")


class BalancedBatchSampler(BalancedSampler):
    """``BalancedSampler`` in batch form, for ``DataLoader(batch_sampler=...)``: yields lists of
    ``batch_size`` indices cut straight from the drawn tensors (same law, same seeding)."""

    def __init__(
        self,
        weights=None,
        num_samples=None,
        replacement=True,
        generator=None,
        device="cpu",
        *,
        targets=None,
        class_weights=None,
        mode="weighted",
        batch_size=None,
        drop_last=False,
    ):
        if batch_size is None:
            raise ValueError("BalancedBatchSampler needs batch_size")
        super().__init__(
            weights,
            num_samples,
            replacement,
            generator,
            device,
            targets=targets,
            class_weights=class_weights,
            mode=mode,
            batch_size=batch_size,
            drop_last=drop_last,
        )


class DistributedBalancedSampler(BalancedSampler):
    """Each rank gets a disjoint contiguous slice of one global draw per epoch.

    ``num_samples`` (argument) is the global number of draws per epoch (default: the
    number of items).  Each rank gets ``m = ceil(num_samples / world)`` draws
    (``floor`` with ``drop_last``): with replacement the global draw has ``m * world``
    draws; without replacement it has ``num_samples`` draws, padded by wrapping
    around (or cut, with ``drop_last``).  Rank ``r`` hands out positions
    ``[r*m, (r+1)*m)``.  All ranks must use the same ``seed`` and call
    ``set_epoch`` with the same epoch (default 0, like ``DistributedSampler``).
    With ``num_replicas=1`` the draws equal ``BalancedSampler``'s with a generator
    seeded with ``seed``.  ``drop_last`` also drops a final partial batch in batch form.

    The attribute ``num_samples`` is this rank's number of draws (as in
    ``DistributedSampler``); ``total_size`` is ``m * world``.
    """

    def __init__(
        self,
        weights=None,
        num_replicas=None,
        rank=None,
        seed=0,
        drop_last=False,
        *,
        num_samples=None,
        replacement=True,
        device="cpu",
        targets=None,
        class_weights=None,
        mode="weighted",
        batch_size=None,
    ):
        Sampler.__init__(self)
        if num_replicas is None or rank is None:
            import torch.distributed as dist

            if not (dist.is_available() and dist.is_initialized()):
                raise RuntimeError("torch.distributed is not initialised: pass num_replicas and rank")
            if num_replicas is None:
                num_replicas = dist.get_world_size()
            if rank is None:
                rank = dist.get_rank()
        num_replicas, rank = int(num_replicas), int(rank)
        if num_replicas < 1:
            raise ValueError(f"num_replicas must be >= 1, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, {num_replicas - 1}], got {rank}")
        self._setup(
            weights, num_samples, replacement, device, targets, class_weights, mode, batch_size, drop_last, int(seed)
        )
        self.seed = int(seed)
        self.num_replicas = self._world = num_replicas
        self.rank = self._rank = rank
        N = self._global_num_samples
        self._m = N // num_replicas if self.drop_last else -(-N // num_replicas)
        self.total_size = self._m * num_replicas
        self.num_samples = self._m
        self._epoch = 0
        self._auto_epoch = 0

    def _slice(self) -> tuple[int, int, int]:
        m, r = self._m, self._rank
        return r * m, (r + 1) * m, self.total_size
