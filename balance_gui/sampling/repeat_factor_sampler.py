"""Repeat-factor sampling (LVIS; detectron2's ``RepeatFactorTrainingSampler``), epoch by epoch.

Each epoch, image ``i`` appears ``floor(r_i)`` times, plus once more with probability
``r_i - floor(r_i)`` (stochastic rounding: ``r_i`` times on average), and the epoch is shuffled.
The epoch's draws are detectron2's, given the same generator: ``torch.rand(n)`` (float32) compared
with the fractional parts, then ``torch.randperm`` of the epoch.  Unlike detectron2's sampler,
which is one infinite stream, this one is an ordinary epoch sampler (its length varies a little
from epoch to epoch with the rounding) with the epoch keys of
:class:`~balance_gui.sampling.sampler.BalancedSampler`: without ``seed`` one draw from ``generator``
(or torch's global one) at each epoch's first ``next()``; with ``seed=S`` the epoch is a pure
function of ``(S, epoch)``, so ``set_epoch`` changes the rounding and any process recomputes any
epoch.  ``state_dict``/``load_state_dict`` are the item samplers' (``sampling.epochs``): fingerprinted
(the kind, a sha256 of the repeat factors, ``shuffle``, the seed or generator, the world size) and
exact at every cut, mid-epoch and at the epoch boundaries, through torchdata's
``StatefulDataLoader``.

Weighted sampling by the repeat factors (a fixed number of draws per epoch, image ``i`` drawn with
probability ``r_i / sum(r)``) stays available as ``BalancedSampler(repeat_factors)``.  (mmdetection's
``ClassBalancedDataset`` instead repeats image ``i`` ``ceil(r_i)`` times, the same every epoch.)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import Sampler
from torch.utils.data.distributed import DistributedSampler

from ..core.errors import SettingsError, WeightsError
from .draws import EpochKey, keyed_generator
from .epochs import EpochKeys, check_seed
from .sampler import _Live  # one iteration's cursor, counted through list iterators as the item samplers'
from .sampler_inputs import as_float64, check_1d, check_generator, check_int, check_weights
from .sampler_state import cached_digest

__all__ = ["RepeatFactorSampler", "DistributedRepeatFactorSampler", "repeat_factor_epoch"]

_TAG_REPEAT = 17  # the epoch generator's tag (the draws module uses 1..4)
_PIECE = 1 << 15  # indices turned into a Python list at a time


def repeat_factor_epoch(
    int_part: torch.Tensor, frac_part: torch.Tensor, generator: torch.Generator, shuffle: bool = True
) -> torch.Tensor:
    """One epoch of indices: detectron2's ``_get_epoch_indices`` then its shuffle, same generator
    calls (``rand`` of float32, then ``randperm``), vectorised."""
    rands = torch.rand(frac_part.numel(), generator=generator, dtype=torch.float32)
    reps = int_part.to(torch.int64) + (rands < frac_part).to(torch.int64)
    # numpy's repeat, single-threaded: torch.repeat_interleave went through torch's intra-op thread pool,
    # which stalls (~30 ms a call, even for 8 items) while another process keeps a core busy
    indices = torch.from_numpy(np.repeat(np.arange(reps.numel(), dtype=np.int64), reps.numpy()))
    if shuffle:
        indices = indices[torch.randperm(indices.numel(), generator=generator)]
    return indices


def _check_factors(repeat_factors: object) -> torch.Tensor:
    t = check_weights(as_float64(repeat_factors, "repeat_factors"), "repeat_factors")
    check_1d(t, "repeat_factors")
    if float(t.sum()) == 0.0:
        raise WeightsError(f"all {t.numel()} repeat factors are zero; at least one must be positive")
    if not math.isfinite(float(t.sum())):
        raise WeightsError("the sum of the repeat factors overflows float64")
    return t


class RepeatFactorSampler(EpochKeys, Sampler[int]):
    r"""Each epoch, image ``i`` appears ``floor(r_i)`` or ``floor(r_i) + 1`` times (mean ``r_i``), shuffled.

    Args:
        repeat_factors (sequence, ndarray or Tensor): per-image repeat factors, finite and >= 0
            (``balance_gui.core.repeat_factors.repeat_factors`` computes LVIS's).
        seed (int, optional): epoch ``e`` is a pure function of ``(seed, e)``; epochs advance by one
            per iteration unless :meth:`set_epoch` fixes them.
        generator (torch.Generator, optional): without ``seed``, each epoch takes one draw from it
            at its first ``next()`` (from torch's global generator when ``None``).
        shuffle (bool): shuffle the epoch (else indices ascend, repeats adjacent). Default: ``True``.

    ``len()`` is the length of the epoch in progress, or of the next one with ``seed``; without
    ``seed`` the next epoch's rounding is not drawn yet and ``len()`` is ``round(sum r)``.

    Example:
        >>> from balance_gui.sampling.repeat_factor_sampler import RepeatFactorSampler
        >>> s = RepeatFactorSampler([1.0, 2.0, 1.5], seed=0)
        >>> draws = sorted(s)
        >>> draws.count(1), draws.count(2) in (1, 2), len(draws) == len(s)
        (2, True, True)
    """

    def __init__(
        self,
        repeat_factors: Sequence[float] | np.ndarray | torch.Tensor,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        shuffle: bool = True,
    ) -> None:
        super().__init__()
        if seed is not None and generator is not None:
            raise SettingsError("give generator= or seed=, not both")
        self._init_keys(check_generator(generator), None if seed is None else check_seed(seed))
        self._set_factors(repeat_factors, shuffle)

    def _set_factors(self, repeat_factors: object, shuffle: bool) -> None:
        if not isinstance(shuffle, bool):
            raise SettingsError(f"shuffle must be a bool, got {shuffle!r}")
        self.repeat_factors = _check_factors(repeat_factors)
        self.shuffle = shuffle
        self._cache: tuple[tuple[EpochKey, int], torch.Tensor] | None = None

    # ------------------------------------------------------------------ epochs

    def epoch_indices(self, key: EpochKey) -> torch.Tensor:
        """The whole epoch of ``key`` (cached: ``len`` and iteration share it; factors edited in
        place are a new epoch, as they are a new fingerprint)."""
        r = self.repeat_factors
        tag = (key, r._version)
        if self._cache is not None and self._cache[0] == tag:
            return self._cache[1]
        g = keyed_generator(torch.device("cpu"), key, _TAG_REPEAT)
        int_part = torch.trunc(r)
        idx = repeat_factor_epoch(int_part, r - int_part, g, self.shuffle)
        self._cache = (tag, idx)
        return idx

    def _span(self, length: int) -> tuple[int, int]:
        """This sampler's positions ``[lo, hi)`` of an epoch of ``length`` indices (a rank's slice)."""
        return 0, length

    def _share(self, key: EpochKey) -> int:
        """How many indices this sampler hands out in the epoch of ``key``."""
        lo, hi = self._span(self.epoch_indices(key).numel())
        return hi - lo

    def _peek_key(self) -> EpochKey | None:
        """The key of the epoch in progress or about to start, when it is known without drawing."""
        c = self._cursor
        if c is not None and c.key is not None and not c.finished and c.position() < c.length:
            return c.key  # in progress
        waiting = self._pending if c is None or c.key is not None or c.finished else c.resume
        if waiting is not None and waiting.key is not None and not waiting.ended:
            return waiting.key  # a loaded state, continued by the next iteration
        if self.seed is not None:
            return (self.seed, self.epoch if self._fixed_epoch else self._auto_epoch)
        return None

    def __len__(self) -> int:
        key = self._peek_key()
        if key is None:
            return int(round(float(self.repeat_factors.sum())))
        return self._share(key)

    def __iter__(self) -> Iterator[int]:
        # the iteration (and a loaded state it continues) is bound here; its epoch starts at the
        # first next().  Items flow in C (chain -> list iterator): no Python frame per index.
        return itertools.chain.from_iterable(self._lists(self._open(_Live())))

    def _lists(self, live: _Live) -> Iterator[Iterator[int]]:
        if self._start(live, self._share):
            assert live.key is not None
            full = self.epoch_indices(live.key)
            lo, hi = self._span(full.numel())
            part = self._take(full, lo + live.start, hi)
            for a in range(0, part.numel(), _PIECE):
                yield live.track(part[a : a + _PIECE].tolist())
        live.close()

    def _take(self, full: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        if hi <= full.numel():
            return full[lo:hi]
        if full.numel() == 0:
            return full[:0]
        return full.index_select(0, torch.arange(lo, hi) % full.numel())  # pad by wrapping around

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        """Where the sampler is, and what it was made with, as ``BalancedSampler.state_dict``.

        Where: the newest iteration's epoch (its key and how many of this sampler's indices it
        handed out), or "ended" once it handed them all out, or the next epoch at position 0;
        the epoch counter; the generator's state.  What with (``config``): the kind, a sha256 of
        the repeat factors, ``shuffle`` (and for the distributed form the world size and
        ``drop_last``)."""
        return self._keys_state(self._state_config())

    def _state_config(self) -> dict[str, Any]:
        return {
            "kind": type(self).__name__,
            "repeat_factors": cached_digest(self._digests, "repeat_factors", self.repeat_factors, torch.float64),
            "shuffle": self.shuffle,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`: the first ``iter()`` after it continues the saved iteration
        (an ended one hands out nothing more), any later one starts the next epoch.

        Refused (:class:`~balance_gui.sampling.sampler_state.SamplerStateError`, naming what differs)
        when the state was made by another kind of sampler, with other repeat factors, another
        ``shuffle``, seed or world size, with a generator when this sampler has none (or the
        reverse), by an older balance-gui, or when a field is malformed.  A refused state changes
        nothing."""
        self._load_keys_state(state, self._state_config(), self._share)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n={self.repeat_factors.numel()}, "
            f"mean_epoch={float(self.repeat_factors.sum()):.1f}, "
            f"shuffle={self.shuffle}, seed={self.seed})"
        )


class DistributedRepeatFactorSampler(RepeatFactorSampler, DistributedSampler):  # type: ignore[misc]
    r"""Each rank gets a disjoint contiguous slice of one global repeat-factor epoch.

    A :class:`torch.utils.data.distributed.DistributedSampler`, so Lightning and Accelerate see it
    as already distributed and do not shard it again.

    Args:
        repeat_factors: as :class:`RepeatFactorSampler`.
        num_replicas (int, optional): world size. Default: from ``torch.distributed``.
        rank (int, optional): this rank. Default: from ``torch.distributed``.
        seed (int): all ranks must share it and call ``set_epoch`` with the same epoch (default 0,
            as ``DistributedSampler``). Default: ``0``.
        drop_last (bool): floor instead of ceil of the epoch's length over the world size.
        shuffle (bool): as :class:`RepeatFactorSampler`.

    Epoch ``e`` has ``L`` indices (the same on every rank: the key is ``(seed, e)``); each rank
    gets ``m = ceil(L / world)`` (``floor`` with ``drop_last``), the global epoch padded by wrapping
    around; rank ``r`` hands out positions ``[r*m, (r+1)*m)``.  ``num_samples`` is ``m`` of the
    current epoch and ``total_size`` is ``m * world``.  A state records the world size but not the
    rank: every rank is at the same position of the same epoch, so the state of one rank (Lightning
    saves rank 0's) resumes them all.  Lightning counts an epoch's batches when it sets up the
    loader: make the loader again each epoch (``reload_dataloaders_every_n_epochs=1``, with
    ``set_epoch(self.current_epoch)`` in the hook) or it cuts an epoch longer than the first.

    Example:
        >>> from balance_gui.sampling.repeat_factor_sampler import DistributedRepeatFactorSampler
        >>> ranks = [DistributedRepeatFactorSampler([1.0] * 10, num_replicas=2, rank=r) for r in (0, 1)]
        >>> [len(s) for s in ranks], sorted(list(ranks[0]) + list(ranks[1])) == list(range(10))
        ([5, 5], True)
    """

    def __init__(
        self,
        repeat_factors: Sequence[float] | np.ndarray | torch.Tensor,
        num_replicas: int | None = None,
        rank: int | None = None,
        seed: int = 0,
        drop_last: bool = False,
        *,
        shuffle: bool = True,
    ) -> None:
        if num_replicas is not None:
            check_int(num_replicas, "num_replicas", low=1)
        if rank is not None:
            check_int(rank, "rank", low=0)
        seed = check_seed(seed)
        if num_replicas is None or rank is None:
            import torch.distributed as dist

            if not (dist.is_available() and dist.is_initialized()):
                raise RuntimeError("torch.distributed is not initialised: pass num_replicas and rank")
        self._set_factors(repeat_factors, shuffle)
        try:
            DistributedSampler.__init__(
                self,
                cast(Any, range(1)),
                num_replicas=num_replicas,
                rank=rank,
                shuffle=shuffle,
                seed=seed,
                drop_last=bool(drop_last),
            )
        except ValueError as e:
            raise SettingsError(str(e)) from None
        self._init_keys(None, seed)
        self._fixed_epoch = True  # the epoch is 0 until set_epoch, as DistributedSampler
        self._ready = True

    # DistributedSampler's attributes, figured for the current epoch
    @property
    def num_samples(self) -> int:
        """This rank's indices in the current epoch."""
        if not getattr(self, "_ready", False):
            return int(self._init_m)  # DistributedSampler.__init__'s own figure
        return len(self)

    @num_samples.setter
    def num_samples(self, value: int) -> None:
        if getattr(self, "_ready", False):
            raise AttributeError("num_samples follows the epoch's repeat-factor rounding; it cannot be assigned")
        self._init_m = value

    @property
    def total_size(self) -> int:
        return self.num_samples * self.num_replicas

    @total_size.setter
    def total_size(self, value: int) -> None:
        if getattr(self, "_ready", False):
            raise AttributeError("total_size follows the epoch's repeat-factor rounding; it cannot be assigned")

    def _span(self, length: int) -> tuple[int, int]:
        world = self.num_replicas
        m = length // world if self.drop_last else -(-length // world)
        return self.rank * m, (self.rank + 1) * m

    def _state_config(self) -> dict[str, Any]:
        # the world size and drop_last shape the slices; the rank does not enter (see the class doc)
        return {**super()._state_config(), "num_replicas": self.num_replicas, "drop_last": self.drop_last}
