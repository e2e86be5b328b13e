"""Weighted samplers for PyTorch: exact, fast, resumable, distributed.

``BalancedSampler`` is a drop-in replacement for ``torch.utils.data.WeightedRandomSampler``
(WRS) with exactly its law and its stream semantics, 10-20x faster:

* with replacement, index ``i`` with probability ``w_i / sum(w)``;
* without replacement, the successive-sampling law of ``torch.multinomial(w, k, replacement=False)``.

The draws themselves are made by a strategy of :mod:`balance_gui.sampling.draws`, a pure function of
an *epoch key*.  This module decides the key, as WRS decides its randomness:

* without ``seed=``, at the first ``next()`` of an epoch, one draw from ``generator`` (advancing
  it, as WRS does) or from torch's global generator; construction consumes no randomness;
* with ``seed=S``, the key is ``(S, epoch)``: any process, rank or resumed job recomputes any epoch.

Public attributes (``weights``, ``num_samples``, ``replacement``, ``generator``, and
``targets``/``class_weights`` for the class form) may be assigned, or the tensors edited in place;
the tables are rebuilt at the start of the next epoch when their inputs changed (tensor identity
and version counter, so the check is O(1)).

Nothing here imports Qt.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import Sampler
from torch.utils.data.distributed import DistributedSampler

from ..core.errors import SettingsError, WeightsError
from ..core.labels import FromDataset
from ..core.modes import MODES as _MODES
from ..core.modes import ClassLayout, checked_mode, sampler_mode
from .draws import CHUNK_SIZE, RUNS_DIVISOR, Draw, RaceDraw, Where, runs_of
from .epochs import Cursor, EpochKeys, check_seed
from .pk_sampler import PKBatchSampler
from .sampler_inputs import (
    as_float64,
    check_1d,
    check_generator,
    check_int,
    check_num_samples,
    check_targets,
    check_weights,
    resolve_device,
    short_list,
    to_tensor,
)
from .sampler_state import cached_digest

__all__ = [
    "BalancedSampler",
    "BalancedBatchSampler",
    "DistributedBalancedSampler",
    "PKBatchSampler",
    "CHUNK_SIZE",
    "MODES",
]

#: The draw modes' names (each mode is a file of :mod:`balance_gui.core.modes`): WRS's law,
#: class-aware (classes by share, images cycled), stratified (exact class counts, images cycled).
MODES = tuple(m.key for m in _MODES)

# Iteration turns draws into Python ints this many at a time: a list of 2**15 ints (~1 MiB)
# stays in cache and its int objects are recycled by the next piece (measured ~1.5x faster
# than 2**20 at a time).
_LIST_PIECE = 1 << 15


# --------------------------------------------------------------------- building the draw


def _version(t: object) -> int:
    return t._version if isinstance(t, torch.Tensor) else -1


def _same(a: object, b: object) -> bool:
    """Equal signature entries: the same object, or equal plain values (never tensors by value)."""
    if a is b:
        return True
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return False
    return type(a) is type(b) and a == b


@dataclass
class _Built:
    """The strategy built for a set of inputs, and what it was built from (to see changes)."""

    draw: Draw
    n: int
    signature: tuple[Any, ...]


def _make_draw(
    weights: torch.Tensor | None,
    targets: torch.Tensor | None,
    class_weights: torch.Tensor | None,
    num_samples: int,
    replacement: bool,
    mode: str,
    where: Where,
) -> tuple[Draw, int]:
    """Validate the inputs (one clear line for each bad value) and build the draw strategy."""
    runs: tuple[torch.Tensor, torch.Tensor | None, torch.Tensor] | None
    if weights is not None:
        w = check_weights(weights, "weights")
        n = w.numel()
        total = float(w.sum())
        if not math.isfinite(total):
            raise WeightsError("the sum of the weights overflows float64; scale them down")
        if total == 0.0:
            raise WeightsError(f"all {n} weights are zero; at least one must be positive")
        nnz = int(torch.count_nonzero(w))
    else:
        assert targets is not None and class_weights is not None
        cw = check_weights(class_weights, "class_weights", what="class")
        t = check_targets(targets, cw.numel())
        n, K = t.numel(), cw.numel()
        starts = runs_of(t, max(64, n // RUNS_DIVISOR, K))
        if starts is not None:  # few runs (class-sorted): count through them
            lens = torch.diff(starts, append=torch.tensor([n]))
            run_cls = t.index_select(0, starts)
            counts = torch.bincount(run_cls, weights=lens.to(torch.float64), minlength=K).round().long()
            runs = (starts, lens, run_cls)
        else:
            counts = torch.bincount(t, minlength=K)
            runs = None
        cmass = counts.to(torch.float64) * cw
        total = float(cmass.sum())
        if not math.isfinite(total):
            raise WeightsError("the total class mass (count x weight) overflows float64; scale the weights down")
        if total == 0.0:
            nonempty = (counts > 0).nonzero().squeeze(1).tolist()
            raise WeightsError(
                "every class that has samples has class weight 0 (classes with samples: "
                f"{short_list(nonempty)}); at least one must be positive"
            )
        nnz = int(counts[cw > 0].sum())
    if not replacement and num_samples > nnz:
        raise WeightsError(
            f"num_samples={num_samples} exceeds the {nnz} samples with non-zero weight; "
            "without replacement each can be drawn once"
        )
    spec = sampler_mode(mode)
    if not replacement:
        return RaceDraw(w if weights is not None else cw[t], where), n
    if weights is not None:
        if spec.sample_draw is not None:
            return spec.sample_draw(w, where), n
        # classes are the groups of equal weight
        cw, t = torch.unique(w, sorted=True, return_inverse=True)
        counts = torch.bincount(t, minlength=cw.numel())
        st = runs_of(t, max(64, n // RUNS_DIVISOR, cw.numel()))
        runs = None if st is None else (st, None, t.index_select(0, st))
    return spec.class_draw(ClassLayout(t, counts, cw, runs), where), n


# ------------------------------------------------------------------------ iteration


class _Live(Cursor):
    """One iteration: its epoch's key and how far into this rank's slice it got.

    Items flow through ``itertools.chain`` over list iterators (no Python frame per index); the
    position is the items of the finished lists plus the current list's consumed part, which its
    iterator's length hint gives."""

    __slots__ = ("done", "cur", "cur_len")

    def __init__(self) -> None:
        super().__init__()
        self.done = 0
        self.cur: Iterator[Any] | None = None
        self.cur_len = 0

    def position(self) -> int:
        if self.cur is None:
            return self.start + self.done
        return self.start + self.done + self.cur_len - operator.length_hint(self.cur)

    def track(self, lst: list[Any]) -> Iterator[Any]:
        """Hand out ``lst`` next, counting it."""
        self.done += self.cur_len
        self.cur = iter(lst)
        self.cur_len = len(lst)
        return self.cur

    def close(self) -> None:
        self.done += self.cur_len
        self.cur, self.cur_len = None, 0
        self.finished = True


class _EpochHook:
    """``batch_sampler.sampler`` of a sampler in batch form: Lightning calls ``set_epoch`` only on
    ``dataloader.sampler`` and ``dataloader.batch_sampler.sampler``, never on a batch sampler
    itself; this passes it on to the owner."""

    def __init__(self, owner: EpochKeys) -> None:
        self._owner = owner

    def set_epoch(self, epoch: int) -> None:
        self._owner.set_epoch(epoch)


def _pieces(chunks: Iterator[torch.Tensor], size: int) -> Iterator[torch.Tensor]:
    """The chunks, on the CPU, as views of at most ``size`` draws: Python lists of ints are made
    (and freed) this many at a time, whatever the chunk size."""
    for c in chunks:
        c = c.cpu()
        if c.numel() <= size:
            yield c
        else:
            yield from c.split(size)


def _batches(chunks: Iterator[torch.Tensor], B: int, drop_last: bool) -> Iterator[list[int]]:
    # a batch straddling two pieces is completed as a Python list: no torch.cat of the pieces
    # (above torch's grain size it runs on the intra-op threads, which stall on a busy machine)
    carry: list[int] = []
    for c in chunks:
        c = c.cpu()
        if carry:
            need = B - len(carry)
            carry += c[:need].tolist()
            if len(carry) < B:
                continue
            yield carry
            carry = []
            c = c[need:]
        full = (c.numel() // B) * B
        if full:
            # one flat tolist, then list slices (C-level pointer copies): a little faster
            # than c.view(-1, B).tolist(), and the same lists
            flat = c[:full].tolist()
            yield from map(flat.__getitem__, map(slice, range(0, full, B), range(B, full + B, B)))
            del flat
        carry = c[full:].tolist()
    if carry and not drop_last:
        yield carry


# -------------------------------------------------------------------------- samplers


class BalancedSampler(FromDataset, EpochKeys, Sampler[int]):
    r"""Samples elements ``[0, n)`` with given weights: WRS's law and stream, streamed in chunks.

    Args:
        weights (sequence, ndarray or Tensor, optional): per-sample weights, non-negative and
            finite.  Kept as the float64 tensor ``self.weights`` (the very tensor when it is
            one).  Or, instead, ``targets`` and ``class_weights``.
        num_samples (int, optional): draws per epoch. Default: the number of samples.
        replacement (bool): draw with replacement. Default: ``True``.
        generator (torch.Generator, optional): each epoch takes one draw from it at its first
            ``next()`` (from torch's global generator when ``None``). Default: ``None``.
        device (str or torch.device): where the draws are made ("cpu", "cuda", "mps"); indices
            are always handed out as Python ints. Default: ``"cpu"``.
        targets (sequence, ndarray or Tensor, optional): class index of every sample.
        class_weights (sequence, ndarray or Tensor, optional): weight of every class; the law of
            ``weights = class_weights[targets]``, drawn faster.
        mode (str): ``"weighted"`` (WRS's law), ``"class_aware"`` (classes by their shares,
            images of a class cycled through permutations) or ``"stratified"`` (class ``c`` gets
            floor or ceil of ``k * p_c`` draws, images cycled, the epoch shuffled).  The last two
            need ``replacement=True``; per-sample weights are grouped by value for them.
            Default: ``"weighted"``.
        batch_size (int, optional): yield lists of this many indices (``len`` counts batches).
        drop_last (bool): drop a final partial batch. Default: ``False``.
        seed (int, optional): epoch ``e``'s draws are a pure function of ``(seed, e)``; epochs
            advance by one per iteration unless :meth:`set_epoch` fixes them. Default: ``None``.

    Assigning ``weights``, ``num_samples``, ``replacement``, ``generator``, ``targets`` or
    ``class_weights``, or editing those tensors in place, takes effect at the next epoch.

    Example:
        >>> import torch
        >>> from balance_gui.sampling.sampler import BalancedSampler
        >>> s = BalancedSampler([0.0, 1.0, 3.0], num_samples=6, generator=torch.Generator().manual_seed(0))
        >>> draws = list(s)
        >>> len(draws), 0 in draws
        (6, False)
        >>> s.weights
        tensor([0., 1., 3.], dtype=torch.float64)
        >>> s.weights[1] = 0.0  # takes effect at the next epoch
        >>> sorted(set(s))
        [2]
    """

    def __init__(
        self,
        weights: Sequence[float] | np.ndarray | torch.Tensor | None = None,
        num_samples: int | None = None,
        replacement: bool = True,
        generator: torch.Generator | None = None,
        device: str | torch.device = "cpu",
        *,
        targets: Sequence[int] | np.ndarray | torch.Tensor | None = None,
        class_weights: Sequence[float] | np.ndarray | torch.Tensor | None = None,
        mode: str = "weighted",
        batch_size: int | None = None,
        drop_last: bool = False,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self._init_common(weights, targets, class_weights, device, mode, batch_size, drop_last)
        self.num_samples = self._n_items() if num_samples is None else num_samples
        self.replacement = replacement
        if seed is not None and generator is not None:
            raise SettingsError("give generator= or seed=, not both")
        self._init_keys(check_generator(generator), None if seed is None else check_seed(seed))
        self._ensure_built()

    # ------------------------------------------------------------------ inputs

    def _init_common(
        self,
        weights: object,
        targets: object,
        class_weights: object,
        device: str | torch.device,
        mode: str,
        batch_size: int | None,
        drop_last: bool,
    ) -> None:
        sampler_mode(mode)  # one of the modes, or a SettingsError naming them
        if batch_size is not None:
            batch_size = check_int(batch_size, "batch_size", low=1)
        if weights is not None:
            if targets is not None or class_weights is not None:
                raise WeightsError("give either per-sample weights, or targets and class_weights, not both")
            self.weights: torch.Tensor | None = as_float64(weights, "weights")
            self.targets: torch.Tensor | None = None
            self.class_weights: torch.Tensor | None = None
        else:
            if targets is None or class_weights is None:
                raise WeightsError("give per-sample weights, or both targets and class_weights")
            self.weights = None
            self.targets = to_tensor(targets, "targets")
            self.class_weights = as_float64(class_weights, "class_weights")
        self.mode = mode
        self.batch_size = batch_size
        self.drop_last = bool(drop_last)
        self.device = resolve_device(device)
        self._built: _Built | None = None

    def _n_items(self) -> int:
        t = self.weights if self.weights is not None else self.targets
        assert t is not None
        return t.numel() if t.dim() == 1 else 0  # a bad shape is reported by the validation

    def _requested(self) -> object:
        """The number of draws per epoch asked for (the global one for a distributed sampler)."""
        return self.num_samples

    def _signature(self) -> tuple[Any, ...]:
        return (
            self.weights,
            _version(self.weights),
            self.targets,
            _version(self.targets),
            self.class_weights,
            _version(self.class_weights),
            self._requested(),
            self.replacement,
            self.mode,
        )

    def _ensure_built(self) -> _Built:
        """The draw strategy for the current inputs, rebuilt if any changed since the last build."""
        b = self._built
        sig = self._signature()
        if b is not None and all(map(_same, sig, b.signature)):
            return b
        check_generator(self.generator)
        if not isinstance(self.replacement, bool):
            raise SettingsError(f"replacement must be a bool, got {self.replacement!r}")
        spec = checked_mode(self.mode, self.replacement)
        # normalise assigned values as WRS's constructor would (a list becomes a float64 tensor)
        if self.weights is not None:
            self.weights = as_float64(self.weights, "weights")
            check_1d(self.weights, "weights")
        else:
            if self.targets is None or self.class_weights is None:
                raise WeightsError("give per-sample weights, or both targets and class_weights")
            self.targets = to_tensor(self.targets, "targets")
            self.class_weights = as_float64(self.class_weights, "class_weights")
            check_1d(self.targets, "targets")
            check_1d(self.class_weights, "class_weights")
        k = check_num_samples(self._requested(), whole_epoch=spec.whole_epoch or not self.replacement)
        where = Where(self.device, int(CHUNK_SIZE))
        draw, n = _make_draw(self.weights, self.targets, self.class_weights, k, self.replacement, self.mode, where)
        self._built = _Built(draw, n, self._signature())
        self._after_build(k)
        return self._built

    def _after_build(self, k: int) -> None:
        """Hook: derived sizes (the distributed sampler's per-rank counts)."""

    # ------------------------------------------------------------------ epochs

    def _begin(self, live: _Live) -> _Built | None:
        """Start (or resume) the iteration's epoch at its first ``next()``: None if it has
        nothing to hand out (it continues an ended state)."""
        built = self._ensure_built()  # before any randomness: errors never depend on the RNG
        lo, hi, _ = self._slice(built.draw)
        return built if self._start(live, hi - lo) else None

    # ------------------------------------------------------------------ sizes

    def _slice(self, draw: Draw) -> tuple[int, int, int]:
        """(lo, hi, length): this rank's positions [lo, hi) of the global draw of ``length`` draws."""
        k = int(self._requested())  # type: ignore[call-overload]
        return 0, k, k

    def _draws_per_epoch(self) -> int:
        built = self._ensure_built()
        lo, hi, _ = self._slice(built.draw)
        return hi - lo

    def __len__(self) -> int:
        m = self._draws_per_epoch()
        if self.batch_size is None:
            return m
        if self.drop_last:
            return m // self.batch_size
        return -(-m // self.batch_size)

    # ------------------------------------------------------------------ iteration

    def _chunks(self, live: _Live, built: _Built) -> Iterator[torch.Tensor]:
        lo, hi, length = self._slice(built.draw)
        assert live.key is not None
        return built.draw.chunks(live.key, min(lo + live.start, hi), hi, length)

    def iter_chunks(self) -> Iterator[torch.Tensor]:
        """This epoch's draws as int64 tensors on the sampler's device, chunk by chunk, in draw
        order.  The epoch starts at the first ``next()``, as with iteration."""
        return self._chunk_stream(self._open(_Live()))

    def _chunk_stream(self, live: _Live) -> Iterator[torch.Tensor]:
        built = self._begin(live)
        if built is not None:
            for c in self._chunks(live, built):
                live.done += c.numel()
                yield c
        live.finished = True

    def _lists(self, live: _Live) -> Iterator[Iterator[int]]:
        built = self._begin(live)
        if built is not None:
            for piece in _pieces(self._chunks(live, built), _LIST_PIECE):
                yield live.track(piece.tolist())
        live.close()

    def _batch_lists(self, live: _Live) -> Iterator[list[int]]:
        built = self._begin(live)
        assert self.batch_size is not None
        if built is not None:
            for batch in _batches(_pieces(self._chunks(live, built), _LIST_PIECE), self.batch_size, self.drop_last):
                live.done += len(batch)
                yield batch
        live.finished = True

    def __iter__(self) -> Iterator[Any]:
        # the iteration (and a loaded state it continues) is bound here; its epoch starts at
        # the first next()
        live = self._open(_Live())
        if self.batch_size is None:
            # Items flow in C (chain -> list iterator): no Python frame per index.
            return itertools.chain.from_iterable(self._lists(live))
        return self._batch_lists(live)

    @property
    def sampler(self) -> _EpochHook:
        """In batch form, an object whose ``set_epoch`` sets this sampler's epoch: Lightning calls
        ``set_epoch`` on ``dataloader.batch_sampler.sampler``, never on the batch sampler itself, so
        passed as ``batch_sampler=`` the sampler follows Lightning's epochs (a distributed one with
        ``use_distributed_sampler=False`` would otherwise repeat epoch 0). Absent in the index form
        (passed as ``sampler=``, the sampler itself is what Lightning calls)."""
        if getattr(self, "batch_size", None) is None:
            raise AttributeError("sampler: only the batch form has one (for Lightning's set_epoch)")
        return _EpochHook(self)

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        """Where the sampler is, and what it was made with.

        Where: the newest iteration's epoch (its key and how many draws of this rank's slice it
        handed out), or "ended" once it handed out the whole epoch, or the next epoch at position
        0 when ``iter()`` was called but nothing drawn; the epoch counter; the generator's state.
        What with (``config``): the kind, sha256 fingerprints of the weights/targets/class
        weights, ``num_samples``, replacement, mode, batch form and device type.

        ``load_state_dict`` into a new sampler built with the same data and arguments continues
        exactly there, as torchdata's ``StatefulDataLoader`` does, mid-epoch and at the epoch
        boundaries: the first ``iter()`` after loading continues the saved iteration (an ended
        one hands out nothing more), any later one starts the next epoch."""
        return self._keys_state(self._state_config())

    def _state_config(self) -> dict[str, Any]:
        """What the state is valid for: a sampler made with these inputs and settings."""
        self._ensure_built()
        d = self._digests
        return {
            "kind": type(self).__name__,
            "weights": cached_digest(d, "weights", self.weights, torch.float64),
            "targets": cached_digest(d, "targets", self.targets, torch.int64),
            "class_weights": cached_digest(d, "class_weights", self.class_weights, torch.float64),
            "num_samples": int(cast(int, self._requested())),
            "replacement": self.replacement,
            "mode": self.mode,
            "batch_size": self.batch_size,
            "drop_last": self.drop_last,
            "device": self.device.type,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`: the next ``iter()`` continues the saved iteration.

        Refused (:class:`~balance_gui.sampling.sampler_state.SamplerStateError`, naming what differs)
        when the state was made by another kind of sampler, with other weights, targets,
        ``num_samples``, mode, replacement, batch form, device type or seed, with a generator
        when this sampler has none (or without one when it has one), by a version of
        balance-gui that did not record these (version 1), or when a field is of the wrong type
        or out of range.  A refused state changes nothing."""
        config = self._state_config()
        built = self._ensure_built()
        lo, hi, _ = self._slice(built.draw)
        self._load_keys_state(state, config, hi - lo, self.batch_size or 1)

    def __repr__(self) -> str:
        built = self._built
        return (
            f"{type(self).__name__}(n={None if built is None else built.n}, num_samples={self.num_samples}, "
            f"replacement={self.replacement}, mode={self.mode!r}, device={str(self.device)!r}, "
            f"batch_size={self.batch_size}, seed={self.seed}, "
            f"draw={None if built is None else type(built.draw).__name__})"
        )


class BalancedBatchSampler(BalancedSampler, Sampler[list[int]]):
    r"""``BalancedSampler`` in batch form, for ``DataLoader(batch_sampler=...)``: lists of
    ``batch_size`` indices cut straight from the drawn tensors (same law, same seeding).

    Args: as :class:`BalancedSampler`; ``batch_size`` (int) is required.

    Example:
        >>> from balance_gui.sampling.sampler import BalancedBatchSampler
        >>> b = BalancedBatchSampler(targets=[0, 0, 0, 1], class_weights=[1.0, 3.0], batch_size=2, seed=0)
        >>> [len(batch) for batch in b]
        [2, 2]
    """

    def __init__(
        self,
        weights: Sequence[float] | np.ndarray | torch.Tensor | None = None,
        num_samples: int | None = None,
        replacement: bool = True,
        generator: torch.Generator | None = None,
        device: str | torch.device = "cpu",
        *,
        targets: Sequence[int] | np.ndarray | torch.Tensor | None = None,
        class_weights: Sequence[float] | np.ndarray | torch.Tensor | None = None,
        mode: str = "weighted",
        batch_size: int | None = None,
        drop_last: bool = False,
        seed: int | None = None,
    ) -> None:
        if batch_size is None:
            raise SettingsError("BalancedBatchSampler needs batch_size")
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
            seed=seed,
        )

    def __iter__(self) -> Iterator[list[int]]:  # type: ignore[override]
        return self._batch_lists(self._open(_Live()))


class DistributedBalancedSampler(BalancedSampler, DistributedSampler):  # type: ignore[misc]
    r"""Each rank gets a disjoint contiguous slice of one global draw per epoch.

    A :class:`torch.utils.data.distributed.DistributedSampler`, so Lightning and Accelerate see it
    as already distributed and do not shard it again.

    Args:
        weights, targets, class_weights, replacement, device, mode, batch_size: as
            :class:`BalancedSampler`.
        num_replicas (int, optional): world size. Default: from ``torch.distributed``.
        rank (int, optional): this rank. Default: from ``torch.distributed``.
        seed (int): the epoch key's seed; all ranks must share it and call ``set_epoch`` with
            the same epoch (default 0, as ``DistributedSampler``). Default: ``0``.
        drop_last (bool): floor instead of ceil of ``num_samples / world`` per rank; in batch
            form also drops a final partial batch. Default: ``False``.
        num_samples (int, optional): global draws per epoch (``global_num_samples``; assignable).
            Default: the number of samples.

    Each rank gets ``m = ceil(num_samples / world)`` draws (``floor`` with ``drop_last``): with
    replacement the global draw has ``m * world`` draws; the whole-epoch modes (without
    replacement, stratified) draw ``num_samples`` and pad by wrapping around.  Rank ``r`` hands
    out positions ``[r*m, (r+1)*m)``.  With ``num_replicas=1`` the draws equal
    ``BalancedSampler(seed=seed)``'s.  ``num_samples`` is this rank's count and ``total_size`` is
    ``m * world``, as in ``DistributedSampler``.

    Example:
        >>> from balance_gui.sampling.sampler import DistributedBalancedSampler
        >>> ranks = [DistributedBalancedSampler([1.0] * 10, num_replicas=2, rank=r, seed=3) for r in (0, 1)]
        >>> [len(s) for s in ranks]
        [5, 5]
    """

    def __init__(
        self,
        weights: Sequence[float] | np.ndarray | torch.Tensor | None = None,
        num_replicas: int | None = None,
        rank: int | None = None,
        seed: int = 0,
        drop_last: bool = False,
        *,
        num_samples: int | None = None,
        replacement: bool = True,
        device: str | torch.device = "cpu",
        targets: Sequence[int] | np.ndarray | torch.Tensor | None = None,
        class_weights: Sequence[float] | np.ndarray | torch.Tensor | None = None,
        mode: str = "weighted",
        batch_size: int | None = None,
    ) -> None:
        if num_replicas is not None:
            check_int(num_replicas, "num_replicas", low=1)
        if rank is not None:
            check_int(rank, "rank", low=0)
        seed = check_seed(seed)
        self._init_common(weights, targets, class_weights, device, mode, batch_size, drop_last)
        if num_replicas is None or rank is None:
            import torch.distributed as dist

            if not (dist.is_available() and dist.is_initialized()):
                raise RuntimeError("torch.distributed is not initialised: pass num_replicas and rank")
        self.global_num_samples = self._n_items() if num_samples is None else num_samples
        # DistributedSampler's own checks and attributes (rank range, world from torch.distributed)
        try:
            DistributedSampler.__init__(
                self,
                cast(Any, range(1)),
                num_replicas=num_replicas,
                rank=rank,
                shuffle=True,
                seed=seed,
                drop_last=drop_last,
            )
        except ValueError as e:
            raise SettingsError(str(e)) from None
        self.replacement = replacement
        self._init_keys(None, seed)
        self._fixed_epoch = True  # the epoch is 0 until set_epoch, as DistributedSampler
        self._ensure_built()

    @property
    def num_samples(self) -> int:
        """This rank's draws per epoch (as ``DistributedSampler``); assign ``global_num_samples``."""
        return self._m

    @num_samples.setter
    def num_samples(self, value: int) -> None:
        if getattr(self, "_ready", False):
            raise AttributeError(
                "num_samples is this rank's share of the global draw; assign global_num_samples instead"
            )
        self._m = value  # DistributedSampler.__init__'s figure, until the first build

    def _requested(self) -> object:
        return self.global_num_samples

    def _after_build(self, k: int) -> None:
        world = self.num_replicas
        self._m = k // world if self.drop_last else -(-k // world)
        self.total_size = self._m * world
        self.dataset = cast(Any, range(k))  # DistributedSampler's view: the global draw
        self._ready = True

    def _slice(self, draw: Draw) -> tuple[int, int, int]:
        m, r = self._m, self.rank
        return r * m, (r + 1) * m, int(self.global_num_samples) if draw.wraps else self.total_size

    def _state_config(self) -> dict[str, Any]:
        # the world size shapes the slices; the rank does not enter: every rank's state is at the
        # same position of the same epoch, so one rank's state (Lightning saves rank 0's) serves all
        return {**super()._state_config(), "num_replicas": self.num_replicas}
