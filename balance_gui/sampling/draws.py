"""Draw strategies: how one epoch of weighted draws is made, as int64 tensors, chunk by chunk.

Each strategy owns its tables and is a pure function of an *epoch key* ``(base, epoch)``: the
samplers in :mod:`balance_gui.sampling.sampler` decide where the key comes from (a ``seed=`` and the
epoch number, or one draw from a generator) and compose a strategy with iteration, batching,
resumption and distribution.

With replacement (``ItemsDraw``, ``SegmentsDraw``, ``ClassAwareDraw``) the epoch is defined chunk
by chunk: chunk ``j`` is drawn with a fresh generator seeded from a hash of ``(base, epoch, j)``.
So an epoch streams in O(chunk) memory and a rank (or a resumed job) computes only the chunks
that overlap its slice ``[lo, hi)`` of the one global draw.

* ``ItemsDraw``: index ``i`` with probability ``w_i / sum(w)`` from a per-item Walker alias
  table (O(1) per draw, built vectorised in O(n log n)).
* ``SegmentsDraw``: the same law when the items fall into few *segments* of equal per-item
  weight (the classes of the class form, or runs of equal weight): a segment by its alias
  table, then an item uniformly inside it.  A class-sorted dataset maps (segment, offset) to an
  index by one addition; any other order goes through a stable argsort of the targets.
* ``ClassAwareDraw``: classes by their shares, images inside a class from a cycle of
  permutations (a fresh one when the class runs out, as mmdetection's ``ClassAwareSampler``), so
  per-image use counts inside a class differ by at most 1.  The permutations are keyed by
  ``(seed, epoch, class, cycle)`` through a counter-based hash: a rank only needs the class
  counts of the chunks before its slice.

Whole-epoch strategies (``RaceDraw``, ``StratifiedDraw``) draw the epoch at once (O(epoch)
memory) and hand out slices of it, wrapping around for distributed padding:

* ``RaceDraw``: without replacement, the successive-sampling law of
  ``torch.multinomial(w, k, replacement=False)`` (the ``k`` smallest keys ``E_i / w_i``).
* ``StratifiedDraw``: class ``c`` gets exactly floor or ceil of ``k * p_c`` draws (systematic
  randomised rounding: the expectation is exactly ``k * p_c``), its images used evenly (counts
  differ by at most 1), the epoch shuffled.

Nothing here imports Qt.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

#: Draws per chunk of the global draw. A power of two, so a multiple of every
#: power-of-two batch size.  Part of the definition of the draws: changing it
#: changes which indices a given seed gives.
CHUNK_SIZE = 1 << 20

# Above this many alias buckets the acceptance test gets its own uniform
# instead of the fractional part of the bucket draw (which keeps 53 - log2(S)
# bits: >= 33 bits up to here).
_FRAC_LIMIT = 1 << 20
# Class-aware permutations of at least this many images come from torch.randperm.
_PERM_LOOP_MIN = 1 << 12
# On the CPU a chunk is drawn in blocks of this many draws (one float64 array: 512 KiB).
_CPU_BLOCK = 1 << 16
# Per-sample weights with at most n // RUNS_DIVISOR runs of equal weight are
# drawn segment-wise (as classes); more runs use a per-item alias table.
RUNS_DIVISOR = 16

_MASK63 = (1 << 63) - 1
_GOLDEN = 0x9E3779B97F4A7C15 - (1 << 64)  # as signed int64
_MIX1 = 0xBF58476D1CE4E5B9 - (1 << 64)
_MIX2 = 0x94D049BB133111EB - (1 << 64)

_TAG_CHUNK = 1
_TAG_NOREPL = 2
_TAG_PERM = 3
_TAG_STRATIFIED = 4

#: An epoch's key: ``(base, epoch)``.  Every draw of the epoch is a function of it.
EpochKey = tuple[int, int]


# --------------------------------------------------------------------------- seeds


def mix_seed(*parts: int) -> int:
    """A 63-bit seed from a tuple of integers (blake2b: stable across runs and platforms)."""
    h = hashlib.blake2b(digest_size=8, person=b"balance-gui")
    for p in parts:
        h.update(int(p).to_bytes(16, "little", signed=True))
    return int.from_bytes(h.digest(), "little") & _MASK63


def mix64(z: torch.Tensor) -> torch.Tensor:
    """splitmix64's finaliser on an int64 tensor (wrapping arithmetic, logical shifts)."""
    z = z ^ ((z >> 30) & ((1 << 34) - 1))
    z = z * _MIX1
    z = z ^ ((z >> 27) & ((1 << 37) - 1))
    z = z * _MIX2
    return z ^ ((z >> 31) & ((1 << 33) - 1))


def mix64_np(z: np.ndarray) -> np.ndarray:
    """:func:`mix64` on an int64 numpy array (the same numbers; numpy wraps silently on arrays)."""
    z = z ^ ((z >> 30) & ((1 << 34) - 1))
    z *= _MIX1
    z ^= (z >> 27) & ((1 << 37) - 1)
    z *= _MIX2
    z ^= (z >> 31) & ((1 << 33) - 1)
    return z


def keyed_generator(device: torch.device, key: EpochKey, *parts: int) -> torch.Generator:
    """A fresh generator on ``device`` seeded from the epoch key and ``parts``."""
    g = torch.Generator(device=device)
    g.manual_seed(mix_seed(key[0], key[1], *parts))
    return g


# ---------------------------------------------------------------------- alias table


def _np(t: torch.Tensor) -> np.ndarray:
    """A CPU tensor's values as a numpy array (shared, no copy)."""
    return t.detach().numpy()


def build_alias(mass: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
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

    Built with numpy (single-threaded: torch's intra-op threads stall on a machine whose other
    cores are busy); each step is the same float64 operation as torch's, so the table is too.
    """
    S = mass.numel()
    total = float(mass.sum())
    p = _np(mass) / total  # divide first: S / total can overflow for tiny totals
    p *= S
    heavy = p >= 1.0
    if not heavy.any():  # only by rounding: the mean of p is 1
        heavy[int(p.argmax())] = True
    H = np.flatnonzero(heavy)
    L = np.flatnonzero(~heavy)
    del heavy
    prob = np.ones(S, dtype=np.float64)
    alias = np.arange(S, dtype=np.int32 if S < (1 << 31) else np.int64)
    if L.size == 0:
        return torch.from_numpy(prob), torch.from_numpy(alias)
    nL, nH = L.size, H.size
    pL = p.take(L)
    sur = p.take(H)
    del p
    sur -= 1.0
    np.maximum(sur, 0.0, out=sur)
    prob[L] = pL
    np.subtract(1.0, pL, out=pL)
    D = np.cumsum(pL)  # ends of the light deficits (laid end to end)
    del pL
    Sh = np.cumsum(sur)  # ends of the heavy surpluses
    del sur
    # light i: alias = the heavy item whose surplus covers the start of its deficit, D[i-1]
    J = np.empty(nL, dtype=np.int64)
    J[0] = np.searchsorted(Sh, 0.0, side="right")
    J[1:] = np.searchsorted(Sh, D[:-1], side="right")
    np.minimum(J, nH - 1, out=J)
    alias[L] = H.take(J)
    del J
    if nH > 1:
        # heavy j < last whose surplus ends strictly inside light I's deficit: it keeps
        # 1 - (D[I] - Sh[j]) of its own bucket, aliased to heavy j + 1
        Sj = Sh[:-1]
        Il = np.searchsorted(D, Sj, side="right")
        Ic = np.minimum(Il, nL - 1)
        Dprev = np.where(Ic > 0, D.take(np.maximum(Ic - 1, 0)), 0.0)
        inside = (Il < nL) & (Dprev < Sj)
        del Il, Dprev
        sel = np.flatnonzero(inside)
        del inside
        Isel = Ic.take(sel)
        del Ic
        hp = np.clip(1.0 - (D.take(Isel) - Sj.take(sel)), 0.0, 1.0)
        Hs = H.take(sel)
        prob[Hs] = hp
        alias[Hs] = H.take(sel + 1)
    return torch.from_numpy(prob), torch.from_numpy(alias)


def compact_index(ix: torch.Tensor) -> torch.Tensor:
    """An alias table's dtype: int64 for small tables (no mixed-dtype ops per draw), int32 for
    large ones that fit (halves the memory of per-item tables)."""
    if ix.numel() <= _FRAC_LIMIT:
        return ix.to(torch.int64)
    return ix.to(torch.int32) if ix.numel() < (1 << 31) else ix.to(torch.int64)


def runs_of(x: torch.Tensor, max_runs: int) -> torch.Tensor | None:
    """Start positions of the runs of equal values of ``x``, or None if there are more than ``max_runs``."""
    n = x.numel()
    if n == 1:
        return torch.zeros(1, dtype=torch.int64)
    v = _np(x)  # numpy: single-threaded (see build_alias)
    change = v[1:] != v[:-1]
    runs = int(np.count_nonzero(change)) + 1
    if runs > max_runs:
        return None
    starts = np.zeros(runs, dtype=np.int64)
    starts[1:] = np.flatnonzero(change)
    starts[1:] += 1
    return torch.from_numpy(starts)


@dataclass(frozen=True)
class Where:
    """Where and how a strategy draws: the device, the float dtype of its uniforms (float32 on
    MPS), and the chunk size (read from ``sampler.CHUNK_SIZE`` when the tables are built).

    On the CPU the per-draw work runs in numpy (``numpy=False`` keeps torch's kernels, as on a
    GPU: the same numbers, for tests).  numpy is single-threaded; torch hands every op on more
    than 32,768 elements to its intra-op threads, which stall when the machine's other cores are
    busy (data-loader workers): 2-7x slower than one thread.  The uniforms still come from torch's
    generators (drawn serially), so the draws are the same either way."""

    device: torch.device
    chunk: int = CHUNK_SIZE
    numpy: bool = True

    @property
    def cpu_numpy(self) -> bool:
        """Draw with numpy: on the CPU, unless ``numpy=False``."""
        return self.numpy and self.device.type == "cpu"

    @property
    def fdtype(self) -> torch.dtype:
        return torch.float32 if self.device.type == "mps" else torch.float64

    @property
    def block(self) -> int:
        """Sub-range a chunk is drawn in: cache-sized on the CPU (each elementwise pass then stays
        in L2, about twice as fast), the whole chunk on a GPU."""
        return _CPU_BLOCK if self.device.type == "cpu" else self.chunk


class AliasTable:
    """Walker's alias table for ``mass`` on the draw device: ``sample`` gives bucket ids.

    On the CPU the draws are made with numpy (see :class:`Where`) from torch's uniforms, with
    the same float64 operations, so the numbers are those of the torch path; each bucket's
    ``(prob, alias)`` is one record, so a draw reads one cache line of the table, not two."""

    def __init__(self, mass: torch.Tensor, where: Where) -> None:
        prob, alias = build_alias(mass)
        self.size = mass.numel()
        self.where = where
        self.cpu = where.cpu_numpy
        if self.cpu:
            a = alias.numpy()
            a_dtype = np.int64 if self.size <= _FRAC_LIMIT else a.dtype  # as compact_index
            self.rec = np.empty(self.size, dtype=[("p", np.float64), ("a", a_dtype)])
            self.rec["p"] = prob.numpy()
            self.rec["a"] = a
        else:
            self.prob = prob.to(where.device, where.fdtype)
            self.alias = compact_index(alias).to(where.device)

    def _sample_block(self, k: int, g: torch.Generator) -> torch.Tensor:
        S, dev, fd = self.size, self.where.device, self.where.fdtype
        x = torch.rand(k, dtype=fd, generator=g, device=dev).mul_(S)
        b = x.long()
        if fd != torch.float64:  # float32 products can round up to S
            b.clamp_(max=S - 1)
        if S <= _FRAC_LIMIT and fd == torch.float64:
            acc = x.sub_(b)  # the fractional part: >= 33 bits of a 53-bit uniform
        else:
            acc = torch.rand(k, dtype=fd, generator=g, device=dev)
        return torch.where(acc < self.prob.index_select(0, b), b, self.alias.index_select(0, b))

    def sample_np(self, k: int, g: torch.Generator, out: np.ndarray | None = None) -> np.ndarray:
        """On the CPU: ``k`` bucket ids (int64 numpy, into ``out`` if given), block by block;
        the same uniforms and float64 operations as the torch path."""
        S, B = self.size, self.where.block
        if out is None:
            out = np.empty(k, dtype=np.int64)
        for a in range(0, k, B):
            m = min(B, k - a)
            x = torch.rand(m, dtype=torch.float64, generator=g).numpy()
            x *= S
            b = x.astype(np.int64)
            if S <= _FRAC_LIMIT:
                x -= b  # the fractional part: >= 33 bits of a 53-bit uniform
                acc = x
            else:
                acc = torch.rand(m, dtype=torch.float64, generator=g).numpy()
            r = self.rec.take(b)
            o = out[a : a + m]
            np.copyto(o, r["a"])
            np.copyto(o, b, where=acc < r["p"])
        return out

    def sample(self, k: int, g: torch.Generator) -> torch.Tensor:
        """``k`` bucket ids (int64), drawn block by block."""
        if self.cpu:
            return torch.from_numpy(self.sample_np(k, g))
        B = self.where.block
        if k <= B:
            return self._sample_block(k, g)
        out = torch.empty(k, dtype=torch.int64, device=self.where.device)
        for a in range(0, k, B):
            out[a : min(a + B, k)] = self._sample_block(min(B, k - a), g)
        return out


# ------------------------------------------------------------------- strategies


class Draw(ABC):
    """One epoch's draws for an epoch key, as tensors for the positions ``[lo, hi)``."""

    #: Whole-epoch strategies hand out positions past the epoch's length by wrapping around
    #: (distributed padding, as ``DistributedSampler``); chunked ones draw more.
    wraps: ClassVar[bool] = False

    def __init__(self, where: Where) -> None:
        self.where = where

    @abstractmethod
    def chunks(self, key: EpochKey, lo: int, hi: int, length: int) -> Iterator[torch.Tensor]:
        """Positions ``[lo, hi)`` of the epoch's draw (``length`` draws, or the epoch length
        for a wrapping strategy), as int64 tensors on the device, in draw order."""


class _Chunked(Draw):
    """Drawn chunk by chunk; chunk ``j`` from its own generator keyed by ``(key, j)``."""

    def start(self, key: EpochKey) -> object:
        """Per-epoch state carried from chunk to chunk (none by default)."""
        return None

    def skip(self, k: int, g: torch.Generator, state: object) -> None:
        """Advance ``state`` over a chunk before the slice (nothing to do by default)."""

    @abstractmethod
    def draw(self, k: int, g: torch.Generator, state: object) -> torch.Tensor:
        """One chunk of ``k`` draws."""

    def chunks(self, key: EpochKey, lo: int, hi: int, length: int) -> Iterator[torch.Tensor]:
        if hi <= lo:
            return
        C = self.where.chunk
        j0, j1 = lo // C, (hi - 1) // C
        state = self.start(key)
        for j in range(j0):
            self.skip(C, keyed_generator(self.where.device, key, _TAG_CHUNK, j), state)
        for j in range(j0, j1 + 1):
            a = j * C
            k = min(C, length - a)
            d = self.draw(k, keyed_generator(self.where.device, key, _TAG_CHUNK, j), state)
            s0, s1 = max(lo - a, 0), min(hi - a, k)
            yield d if (s0 == 0 and s1 == k) else d[s0:s1]


class ItemsDraw(_Chunked):
    """With replacement from a per-item alias table (weights with many distinct values).

    Example:
        >>> import torch
        >>> from balance_gui.sampling.draws import ItemsDraw, Where
        >>> d = ItemsDraw(torch.tensor([0.0, 1.0, 3.0], dtype=torch.float64), Where(torch.device("cpu")))
        >>> epoch = torch.cat(list(d.chunks((7, 0), 0, 1000, 1000)))  # key (base 7, epoch 0)
        >>> epoch.numel(), int((epoch == 0).sum())
        (1000, 0)
        >>> torch.equal(torch.cat(list(d.chunks((7, 0), 500, 1000, 1000))), epoch[500:])  # any slice
        True
    """

    def __init__(self, weights: torch.Tensor, where: Where) -> None:
        super().__init__(where)
        self.table = AliasTable(weights, where)

    def draw(self, k: int, g: torch.Generator, state: object) -> torch.Tensor:
        return self.table.sample(k, g)


class SegmentsDraw(_Chunked):
    """With replacement: a segment of equal per-item weight by its mass, then an item uniformly
    inside it.  ``order`` (if any) maps positions of the class-sorted layout to indices."""

    def __init__(
        self, starts: torch.Tensor, lens: torch.Tensor, mass: torch.Tensor, order: torch.Tensor | None, where: Where
    ) -> None:
        super().__init__(where)
        keep = mass > 0
        if not bool(keep.all()):
            starts, lens, mass = starts[keep], lens[keep], mass[keep]
        dev = where.device
        self.table = AliasTable(mass, where)
        self.order = None if order is None else order.to(dev)
        if self.table.cpu:  # one record per segment: its length (as float64) and start
            self.seg = np.empty(starts.numel(), dtype=[("len", np.float64), ("start", np.int64)])
            self.seg["len"] = _np(lens)
            self.seg["start"] = _np(starts)
            self.order_np = None if self.order is None else _np(self.order)
        else:
            self.seg_start = starts.to(dev)
            self.seg_len = lens.to(dev)
            self.seg_lenf = lens.to(dev, where.fdtype)

    def _draw_np(self, k: int, g: torch.Generator) -> torch.Tensor:
        """On the CPU, with numpy: the same uniforms and float64 operations as the torch path."""
        B = self.where.block
        out = np.empty(k, dtype=np.int64)
        s = np.empty(min(B, k), dtype=np.int64)
        for a in range(0, k, B):
            m = min(B, k - a)
            sb = self.table.sample_np(m, g, s[:m])
            r = self.seg.take(sb)
            u = torch.rand(m, dtype=torch.float64, generator=g).numpy()
            u *= r["len"]
            off = u.astype(np.int64)
            if self.order_np is None:
                np.add(r["start"], off, out=out[a : a + m])
            else:
                off += r["start"]
                self.order_np.take(off, out=out[a : a + m])
        return torch.from_numpy(out)

    def draw(self, k: int, g: torch.Generator, state: object) -> torch.Tensor:
        if self.table.cpu:
            return self._draw_np(k, g)
        dev, fd, B = self.where.device, self.where.fdtype, self.where.block
        out = torch.empty(k, dtype=torch.int64, device=dev)
        for a in range(0, k, B):
            b = min(a + B, k)
            s = self.table.sample(b - a, g)
            u = torch.rand(b - a, dtype=fd, generator=g, device=dev)
            off = u.mul_(self.seg_lenf.index_select(0, s)).long()
            if fd != torch.float64:  # float32 products can round up to the length
                off = torch.minimum(off, self.seg_len.index_select(0, s) - 1)
            if self.order is None:
                torch.add(self.seg_start.index_select(0, s), off, out=out[a:b])
            else:
                torch.index_select(self.order, 0, self.seg_start.index_select(0, s).add_(off), out=out[a:b])
        return out


@dataclass
class _ClassAwareState:
    perm_seed: int
    pos: torch.Tensor  # each class's position in the stream of its permutations
    cur_q: torch.Tensor  # the cycle number of the permutation held in ``cur``
    cur: torch.Tensor | None = None  # current permutation of every class, laid out as the classes


@dataclass
class _ClassAwareStateNp:
    """:class:`_ClassAwareState` for the CPU draws, in numpy arrays."""

    perm_seed: int
    pos: np.ndarray
    cur_q: np.ndarray
    cur: np.ndarray | None = None


#: Items ``stable_argsort`` sorts per block: a block's keys and order stay in the CPU caches.
GROUP_BLOCK = 1 << 16


def stable_argsort(t: torch.Tensor, block: int = GROUP_BLOCK) -> torch.Tensor:
    """``torch.argsort(t, stable=True)`` of CPU class indices, as int64, in numpy (single-threaded:
    torch's intra-op threads stall on a busy machine); a stable sort's order is unique.

    Classes below 2**16 are grouped block by block: each block of ``block`` items is radix-sorted
    on 8- or 16-bit keys, in cache, and its run of each class is placed after that class's runs
    from the earlier blocks (the classes' start positions come from their counts). One radix
    argsort over 100M items misses the caches on every pass and takes about twice as long."""
    v = t.numpy()
    if v.size == 0:
        return torch.zeros(0, dtype=torch.int64)
    lo, hi = int(v.min()), int(v.max())
    if lo < 0 or hi >= 1 << 16:
        return torch.from_numpy(np.argsort(v, kind="stable"))
    K = hi + 1
    key: type[np.unsignedinteger[Any]] = np.uint8 if K <= 1 << 8 else np.uint16
    if v.size <= block:
        return torch.from_numpy(np.argsort(v.astype(key), kind="stable"))
    block = max(block, K)  # each block costs O(K) besides its items
    counts = np.bincount(v, minlength=K)
    cursor = np.cumsum(counts) - counts  # where each class's next item goes
    out = np.empty(v.size, dtype=np.int64)
    ramp = np.arange(block, dtype=np.int64)
    for start in range(0, v.size, block):
        b = v[start : start + block].astype(key)
        o = np.argsort(b, kind="stable")
        cb = np.bincount(b, minlength=K)
        # the j-th item of the sorted block, of class c, goes to cursor[c] + j - (c's first j in it)
        pos = (cursor - (np.cumsum(cb) - cb)).take(b.take(o))
        pos += ramp[: b.size]
        o += start
        out[pos] = o
        cursor += cb
    return torch.from_numpy(out)


def _stable_argsort_small(x: np.ndarray, bound: int) -> np.ndarray:
    """``argsort(x, stable)`` for ints in ``[0, bound)``: a radix sort when they fit 8 or 16 bits."""
    if bound <= 1 << 8:
        x = x.astype(np.uint8)
    elif bound <= 1 << 16:
        x = x.astype(np.uint16)
    return np.argsort(x, kind="stable")


class ClassAwareDraw(_Chunked):
    """Classes by their mass, images inside a class from a cycle of keyed permutations.

    ``counts``/``starts`` describe each class's block in the class-sorted layout; ``order`` maps
    that layout to indices (None when every class is already one contiguous run)."""

    def __init__(
        self, counts: torch.Tensor, starts: torch.Tensor, mass: torch.Tensor, order: torch.Tensor | None, where: Where
    ) -> None:
        super().__init__(where)
        dev = where.device
        self.n = int(counts.sum())
        self.K = counts.numel()
        self.table = AliasTable(mass, where)
        self.ncls = counts.to(dev)
        self.gstart = starts.to(dev)
        self.order = None if order is None else order.to(dev)
        self.perm_dtype = torch.int32 if self.n < (1 << 31) else torch.int64
        self.cpu = self.table.cpu  # numpy, single-threaded (see Where): the same numbers
        if self.cpu:
            self.ncls_np = _np(self.ncls).astype(np.int64)
            self.gstart_np = _np(self.gstart).astype(np.int64)
            self.order_np = None if self.order is None else _np(self.order)

    def start(self, key: EpochKey) -> _ClassAwareState | _ClassAwareStateNp:
        dev = self.where.device
        if self.cpu:
            return _ClassAwareStateNp(
                perm_seed=mix_seed(key[0], key[1], _TAG_PERM),
                pos=np.zeros(self.K, dtype=np.int64),
                cur_q=np.full(self.K, -1, dtype=np.int64),
            )
        return _ClassAwareState(
            perm_seed=mix_seed(key[0], key[1], _TAG_PERM),
            pos=torch.zeros(self.K, dtype=torch.int64, device=dev),
            cur_q=torch.full((self.K,), -1, dtype=torch.int64, device=dev),
        )

    def skip(self, k: int, g: torch.Generator, state: object) -> None:
        if isinstance(state, _ClassAwareStateNp):
            state.pos += np.bincount(self.table.sample_np(k, g), minlength=self.K)
            return
        assert isinstance(state, _ClassAwareState)
        state.pos += torch.bincount(self.table.sample(k, g), minlength=self.K)

    def _permutations_np(
        self, bc: np.ndarray, bq: np.ndarray, bsz: np.ndarray, boff: np.ndarray, E: int, perm_seed: int
    ) -> np.ndarray:
        """:meth:`_permutations` in numpy (the same permutations: large classes from the same
        ``torch.randperm``, small ones by the same keys; a stable sort's order is unique)."""
        out = np.empty(E, dtype=np.int64)
        big = bsz >= _PERM_LOOP_MIN
        if big.any():
            ib = np.flatnonzero(big)
            for c, q, o, n in zip(*(x.take(ib).tolist() for x in (bc, bq, boff, bsz)), strict=False):
                gp = torch.Generator()
                gp.manual_seed(mix_seed(perm_seed, c, q))
                out[o : o + n] = torch.randperm(n, generator=gp).numpy()
            small = np.flatnonzero(~big)
            if small.size == 0:
                return out
            bc, bq, bsz, boff = (x.take(small) for x in (bc, bq, bsz, boff))
        Bs = bc.size
        eb = np.repeat(np.arange(Bs, dtype=np.int64), bsz)
        ei = np.arange(eb.size, dtype=np.int64)
        ei -= (np.cumsum(bsz) - bsz).take(eb)
        hb = mix64_np(mix64_np(bc * _GOLDEN + perm_seed) + bq * _GOLDEN)
        keys = hb.take(eb)
        keys += (ei + 1) * _GOLDEN
        # keys are distinct inside a block, so any sort by key followed by a stable sort by
        # block gives each block its one key order (torch: two stable sorts; here numpy's
        # quicksort, then a radix sort on the block)
        o = np.argsort(mix64_np(keys))
        del keys
        o = o.take(_stable_argsort_small(eb.take(o), Bs))
        # o now lists each block's elements, block after block, in key order
        out[boff.take(eb) + ei] = ei.take(o)
        return out

    def _draw_np(self, k: int, g: torch.Generator, state: _ClassAwareStateNp) -> torch.Tensor:
        """:meth:`draw` on the CPU, with numpy: the same classes (torch's uniforms), the same
        permutations and the same integer arithmetic, so the same draws."""
        cls = self.table.sample_np(k, g)
        K, ncls, gstart = self.K, self.ncls_np, self.gstart_np
        pos, cur_q = state.pos, state.cur_q
        m = np.bincount(cls, minlength=K)
        si = _stable_argsort_small(cls, K)
        sv = cls.take(si)
        del cls
        first = np.cumsum(m) - m
        nn = ncls.take(sv)  # > 0: a class with no images has no mass
        s = (pos - first).take(sv)
        s += np.arange(k, dtype=np.int64)
        q = s // nn
        r = s - q * nn
        del s, nn
        nsafe = np.maximum(ncls, 1)
        qa = pos // nsafe
        qb = (pos + m - 1) // nsafe
        gen_from = np.where(cur_q == qa, qa + 1, qa)
        nb = np.where(m > 0, np.maximum(qb - gen_from + 1, 0), 0)
        B = int(nb.sum())
        if state.cur is None:
            state.cur = np.zeros(self.n, dtype=np.int32 if self.perm_dtype == torch.int32 else np.int64)
        cur = state.cur
        gsv = gstart.take(sv)
        gsv_r = gsv + r
        if B:
            bfirst = np.cumsum(nb) - nb
            bc = np.repeat(np.arange(K, dtype=np.int64), nb)
            bq = gen_from.take(bc) + (np.arange(B, dtype=np.int64) - bfirst.take(bc))
            bsz = ncls.take(bc)
            boff = np.cumsum(bsz) - bsz
            E = int(bsz.sum())
            newflat = self._permutations_np(bc, bq, bsz, boff, E, state.perm_seed)
            cached = q == cur_q.take(sv)
            bidx = np.clip((bfirst - gen_from).take(sv) + q, 0, B - 1)
            pnew = np.clip(boff.take(bidx) + r, 0, E - 1)
            val = np.where(cached, cur.take(gsv_r), newflat.take(pnew))
            del cached, bidx, pnew
            # keep each touched class's last permutation for the next chunk
            cu = np.flatnonzero(nb > 0)
            lb = bfirst.take(cu) + nb.take(cu) - 1
            lsz = ncls.take(cu)
            if cu.size <= 256:  # few classes: a slice copy each
                for d0, s0, n in zip(gstart.take(cu).tolist(), boff.take(lb).tolist(), lsz.tolist(), strict=True):
                    cur[d0 : d0 + n] = newflat[s0 : s0 + n]
            else:
                ce = np.repeat(np.arange(cu.size, dtype=np.int64), lsz)
                ci = np.arange(ce.size, dtype=np.int64)
                ci -= (np.cumsum(lsz) - lsz).take(ce)
                cur[gstart.take(cu).take(ce) + ci] = newflat.take(boff.take(lb).take(ce) + ci)
            cur_q[cu] = qb.take(cu)
        else:
            val = cur.take(gsv_r).astype(np.int64)
        del gsv_r
        pos += m
        out = np.empty(k, dtype=np.int64)
        out[si] = gsv + val
        if self.order_np is not None:
            out = self.order_np.take(out)
        return torch.from_numpy(out)

    def _permutations(
        self, bc: torch.Tensor, bq: torch.Tensor, bsz: torch.Tensor, boff: torch.Tensor, E: int, perm_seed: int
    ) -> torch.Tensor:
        """Permutation ``q`` of class ``c`` for each block ``(bc, bq)``, laid out at ``boff``.

        Each permutation depends only on ``(perm_seed, c, q)``: large classes use
        ``torch.randperm`` with a generator seeded from that triple; small ones sort
        counter-based hash keys, all blocks at once (one stable sort by key, then one
        by block)."""
        dev = self.where.device
        out = torch.empty(E, dtype=torch.int64, device=dev)
        big = bsz >= _PERM_LOOP_MIN
        if bool(big.any()):
            ib = big.nonzero().squeeze(1)
            for c, q, o, n in zip(*(x.index_select(0, ib).tolist() for x in (bc, bq, boff, bsz)), strict=False):
                gp = torch.Generator(device=dev)
                gp.manual_seed(mix_seed(perm_seed, c, q))
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
        hb = mix64(mix64(bc * _GOLDEN + perm_seed) + bq * _GOLDEN)
        keys = mix64(hb.index_select(0, eb) + (ei + 1) * _GOLDEN)
        o = torch.sort(keys, stable=True).indices
        del keys
        o = o.index_select(0, torch.sort(eb.index_select(0, o), stable=True).indices)
        # o now lists each block's elements, block after block, in key order
        out.index_copy_(0, boff.index_select(0, eb) + ei, ei.index_select(0, o))
        return out

    def draw(self, k: int, g: torch.Generator, state: object) -> torch.Tensor:
        """One chunk.  Class ``c``'s draws in the epoch walk through the concatenation of its
        permutations ``q = 0, 1, ...``; ``state`` holds each class's position in that stream and
        its current permutation (a cache: the content is a function of ``(perm_seed, c, q)``)."""
        if isinstance(state, _ClassAwareStateNp):
            return self._draw_np(k, g, state)
        assert isinstance(state, _ClassAwareState)
        dev = self.where.device
        cls = self.table.sample(k, g)
        K = self.K
        ncls = self.ncls
        gstart = self.gstart
        pos = state.pos
        cur_q = state.cur_q
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
        if state.cur is None:
            state.cur = torch.zeros(self.n, dtype=self.perm_dtype, device=dev)
        cur = state.cur
        gsv = gstart.index_select(0, sv)
        if B:
            bfirst = torch.cumsum(nb, 0) - nb
            bc = torch.repeat_interleave(torch.arange(K, device=dev), nb, output_size=B)
            bq = gen_from.index_select(0, bc) + (torch.arange(B, device=dev) - bfirst.index_select(0, bc))
            bsz = ncls.index_select(0, bc)
            boff = torch.cumsum(bsz, 0) - bsz
            E = int(bsz.sum())
            newflat = self._permutations(bc, bq, bsz, boff, E, state.perm_seed)
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
        if self.order is not None:
            out = self.order.index_select(0, out)
        return out


class _WholeEpoch(Draw):
    """Drawn all at once for the epoch, then handed out in chunk-sized slices."""

    wraps = True

    @abstractmethod
    def epoch(self, key: EpochKey, length: int) -> torch.Tensor:
        """The whole epoch's ``length`` draws."""

    def chunks(self, key: EpochKey, lo: int, hi: int, length: int) -> Iterator[torch.Tensor]:
        if hi <= lo:
            return
        full = self.epoch(key, length)
        if hi <= length:
            part = full[lo:hi]
        elif full.device.type == "cpu":  # distributed padding: wrap around, as DistributedSampler does
            part = torch.from_numpy(_np(full).take(np.arange(lo, hi) % length))  # numpy: see Where
        else:
            part = full.index_select(0, torch.arange(lo, hi, device=full.device) % length)
        del full
        C = self.where.chunk
        for a in range(0, part.numel(), C):
            yield part[a : a + C]


class RaceDraw(_WholeEpoch):
    """Without replacement: the ``k`` smallest keys ``E_i / w_i`` (``E_i ~ Exp(1)``), in increasing
    order, which is the successive-sampling law of ``torch.multinomial(w, k, replacement=False)``."""

    def __init__(self, weights: torch.Tensor, where: Where) -> None:
        super().__init__(where)
        self.weights = weights  # float64 on the CPU, validated; moved to the device per epoch

    def epoch(self, key: EpochKey, length: int) -> torch.Tensor:
        if self.where.cpu_numpy:
            return torch.from_numpy(self._epoch_np(key, length))
        w = self.weights.to(self.where.device, self.where.fdtype)
        g = keyed_generator(self.where.device, key, _TAG_NOREPL)
        keys = torch.empty_like(w).exponential_(generator=g).div_(w)  # zero weight -> inf
        del w
        if 8 * length >= keys.numel():
            idx = torch.sort(keys, stable=True).indices[:length]
        else:
            idx = torch.topk(keys, length, largest=False, sorted=True).indices
        return idx.contiguous()

    def _epoch_np(self, key: EpochKey, length: int) -> np.ndarray:
        """On the CPU, with numpy (single-threaded, see :class:`Where`): the same keys (torch's
        exponentials over the same weights) and their ``length`` smallest in increasing order,
        ties by index as torch's stable sort: the same epoch."""
        g = keyed_generator(self.where.device, key, _TAG_NOREPL)
        keys = torch.empty(self.weights.numel(), dtype=torch.float64).exponential_(generator=g).numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(keys, _np(self.weights), out=keys)  # zero weight -> inf
        n = keys.size
        if length < n:  # the smallest ``length``: below the length-th key, then the first of its ties
            kth = np.partition(keys, length - 1)[length - 1]
            sel = np.flatnonzero(keys < kth)
            if sel.size < length:
                tie = np.flatnonzero(keys == kth)[: length - sel.size]
                sel = np.concatenate([sel, tie])
                sel.sort()
            ks = keys.take(sel)
        else:
            sel, ks = None, keys
        o = order_by_key(ks)
        return o if sel is None else sel.take(o)


def order_by_key(keys: np.ndarray) -> np.ndarray:
    """``argsort(keys, stable)`` for float64 keys >= 0 (inf allowed): indices by increasing key,
    ties by index.  Each key's leading bits (a non-negative float's bit pattern orders as its
    value) are packed with its index into one int64 and those are sorted (numpy's vectorised int64
    sort, about 10x faster than an argsort); runs of equal leading bits are then put in exact
    order by key and index."""
    n = keys.size
    if n < 2:
        return np.arange(n, dtype=np.int64)
    b = (n - 1).bit_length()
    comp = np.ascontiguousarray(keys, dtype=np.float64).view(np.int64) >> b
    comp <<= b
    comp |= np.arange(n, dtype=np.int64)
    comp.sort()
    idx = comp & ((1 << b) - 1)
    comp >>= b  # the leading bits, in sorted order
    tie = comp[1:] == comp[:-1]  # tie[j]: positions j and j + 1 share their leading bits
    if tie.any():
        t = np.flatnonzero(tie)
        pos = np.union1d(t, t + 1)  # the positions inside runs, increasing
        starts = np.ones(pos.size, dtype=bool)
        starts[1:] = ~tie.take(pos[1:] - 1)
        run = np.cumsum(starts)
        sub = idx.take(pos)
        idx[pos] = sub.take(np.lexsort((sub, keys.take(sub), run)))
    return idx


class StratifiedDraw(_WholeEpoch):
    """Class ``c`` gets floor or ceil of ``k * p_c`` draws (systematic rounding with one uniform
    offset: expectation exactly ``k * p_c``, sum exactly ``k``); inside a class every image is used
    ``floor(m_c / n_c)`` times and a random ``m_c mod n_c`` of them once more; the epoch is then
    shuffled.  ``groups`` is each item's class (or weight group), ``mass`` each class's mass.

    Example:
        >>> import torch
        >>> from balance_gui.sampling.draws import StratifiedDraw, Where
        >>> groups = torch.tensor([0, 0, 0, 1, 1])
        >>> d = StratifiedDraw(groups, torch.tensor([1.0, 3.0], dtype=torch.float64), Where(torch.device("cpu")))
        >>> torch.bincount(groups[d.epoch((1, 0), 10)]).tolist()  # 10 * [1/4, 3/4], rounded at random
        [2, 8]
    """

    def __init__(self, groups: torch.Tensor, mass: torch.Tensor, where: Where) -> None:
        super().__init__(where)
        self.groups = groups  # int64 on the CPU
        self.counts = torch.bincount(groups, minlength=mass.numel())
        self.shares = mass / mass.sum()

    def class_draws(self, k: int, g: torch.Generator) -> torch.Tensor:
        """Draws per class for an epoch of ``k``: floor or ceil of ``k * p_c``, summing to ``k``."""
        u = torch.rand((), dtype=torch.float64, generator=g)
        edges = torch.floor(torch.cumsum(self.shares * k, 0) + u)
        # the edge of the last class with mass is k exactly, whatever the rounding of the sum
        last = int(self.shares.nonzero()[-1, 0])
        edges[last:] = k
        return torch.diff(edges, prepend=edges.new_zeros(1)).long().clamp_(min=0)

    def epoch(self, key: EpochKey, length: int) -> torch.Tensor:
        uses, g = self.uses(key, length)
        idx = torch.repeat_interleave(torch.arange(uses.numel()), uses, output_size=length)
        return idx.index_select(0, torch.randperm(length, generator=g)).to(self.where.device)

    def uses(self, key: EpochKey, length: int) -> tuple[torch.Tensor, torch.Generator]:
        """How many times the epoch draws each item (int64, summing to ``length``: O(n), not
        O(length)), and the generator the epoch's shuffle continues from."""
        g = torch.Generator()  # on the CPU: O(n) work, independent of the draw device
        g.manual_seed(mix_seed(key[0], key[1], _TAG_STRATIFIED))
        m = self.class_draws(length, g)
        n = self.counts
        base = torch.div(m, n.clamp(min=1), rounding_mode="floor")
        extra = m - base * n  # this many images of the class get one use more
        # a uniformly random subset of size extra[c] inside each class: the smallest random keys
        keys = torch.rand(self.groups.numel(), dtype=torch.float64, generator=g)
        o = torch.argsort(keys)
        o = o.index_select(0, torch.sort(self.groups.index_select(0, o), stable=True).indices)
        rank = torch.empty_like(o)
        rank.index_copy_(0, o, torch.arange(o.numel()) - (torch.cumsum(n, 0) - n).index_select(0, self.groups[o]))
        uses = base.index_select(0, self.groups) + (rank < extra.index_select(0, self.groups)).long()
        return uses, g
