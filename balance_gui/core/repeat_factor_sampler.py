"""Repeat-factor sampling (LVIS; detectron2's ``RepeatFactorTrainingSampler``), epoch by epoch.

Each epoch, image ``i`` appears ``floor(r_i)`` times, plus once more with probability
``r_i - floor(r_i)`` (stochastic rounding: ``r_i`` times on average), and the epoch is shuffled.
The epoch's draws are detectron2's, given the same generator: ``torch.rand(n)`` (float32) compared
with the fractional parts, then ``torch.randperm`` of the epoch.  Unlike detectron2's sampler,
which is one infinite stream, this one is an ordinary epoch sampler (its length varies a little
from epoch to epoch with the rounding) with the epoch keys of
:class:`~balance_gui.core.sampler.BalancedSampler`: without ``seed`` one draw from ``generator``
(or torch's global one) at each epoch's first ``next()``; with ``seed=S`` the epoch is a pure
function of ``(S, epoch)``, so ``set_epoch`` changes the rounding and any process recomputes any
epoch.  ``state_dict``/``load_state_dict`` resume in the middle of an epoch.

Weighted sampling by repeat factors (mmdetection's ``ClassBalancedDataset`` draws each image
``r_i`` times in expectation too) stays available as ``BalancedSampler(repeat_factors)``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator, Sequence
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import Sampler
from torch.utils.data.distributed import DistributedSampler

from .draws import EpochKey, keyed_generator
from .epochs import EpochKeys, check_seed
from .errors import SettingsError, WeightsError
from .sampler_inputs import as_float64, check_1d, check_generator, check_int, check_weights

__all__ = ["RepeatFactorSampler", "DistributedRepeatFactorSampler", "repeat_factor_epoch"]

_TAG_REPEAT = 17  # the epoch generator's tag (the draws module uses 1..4)
_STATE_VERSION = 1
_PIECE = 1 << 15


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
        >>> from balance_gui.core.repeat_factor_sampler import RepeatFactorSampler
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
        self._int_part = torch.trunc(self.repeat_factors)
        self._frac_part = self.repeat_factors - self._int_part
        self._cache: tuple[EpochKey, torch.Tensor] | None = None
        self._live: tuple[EpochKey, int] | None = None  # the epoch handed out and how far
        self._resume: tuple[EpochKey, int] | None = None
        self._pos_fn: Any = None
        self._live_len = 0

    # ------------------------------------------------------------------ epochs

    def epoch_indices(self, key: EpochKey) -> torch.Tensor:
        """The whole epoch of ``key`` (cached: ``len`` and iteration share it)."""
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        g = keyed_generator(torch.device("cpu"), key, _TAG_REPEAT)
        idx = repeat_factor_epoch(self._int_part, self._frac_part, g, self.shuffle)
        self._cache = (key, idx)
        return idx

    def _peek_key(self) -> EpochKey | None:
        """The key of the epoch in progress or about to start, when it is known without drawing."""
        if self._resume is not None:
            return self._resume[0]
        if self._live is not None and self._pos_fn is not None and self._pos_fn() < self._live_len:
            return self._live[0]
        if self.seed is not None:
            return (self.seed, self.epoch if self._fixed_epoch else self._auto_epoch)
        return None

    def _epoch_length(self) -> int:
        key = self._peek_key()
        if key is None:
            return int(round(float(self.repeat_factors.sum())))
        return int(self.epoch_indices(key).numel())

    def __len__(self) -> int:
        return self._epoch_length()

    def _slice(self, length: int) -> tuple[int, int]:
        return 0, length

    def __iter__(self) -> Iterator[int]:
        # a generator: the epoch (and its key's draw from the generator) starts at the first next()
        if self._resume is not None:
            (key, start), self._resume = self._resume, None
        else:
            key, start = self._next_key(), 0
        full = self.epoch_indices(key)
        lo, hi = self._slice(full.numel())
        part = self._take(full, lo, hi)
        self._live, self._live_len = (key, start), hi - lo
        done, cur_len = start, 0
        cur: Iterator[int] = iter(())

        def position() -> int:
            return done + cur_len - operator.length_hint(cur)

        self._pos_fn = position
        for a in range(start, part.numel(), _PIECE):
            done += cur_len
            lst = part[a : a + _PIECE].tolist()
            cur, cur_len = iter(lst), len(lst)
            yield from cur  # the position is read from the list iterator's length hint
        done, cur_len, cur = done + cur_len, 0, iter(())

    def _take(self, full: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        if hi <= full.numel():
            return full[lo:hi]
        if full.numel() == 0:
            return full[:0]
        return full.index_select(0, torch.arange(lo, hi) % full.numel())  # pad by wrapping around

    # ------------------------------------------------------------------ state

    def _position(self) -> int | None:
        if self._resume is not None:
            return self._resume[1]
        if self._live is None or self._pos_fn is None:
            return None
        return int(self._pos_fn())

    def state_dict(self) -> dict[str, Any]:
        """The epoch in progress (its key and how many of its indices were handed out), the epoch
        counter and the generator's state, as ``BalancedSampler.state_dict``."""
        live = self._resume or self._live
        pos = self._position()
        if self._resume is None and pos is not None and pos >= self._live_len:
            live = None  # the epoch was handed out in full: the next iteration starts a new one
        return {
            "version": _STATE_VERSION,
            "seed": self.seed,
            "epoch": self.epoch,
            "fixed_epoch": self._fixed_epoch,
            "auto_epoch": self._auto_epoch,
            "live": None if live is None else {"key": list(live[0]), "position": pos},
            "generator": None if self.generator is None else self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`: the next iteration continues the epoch that was in progress."""
        if not isinstance(state, dict) or state.get("version") != _STATE_VERSION:
            raise SettingsError(f"not a {type(self).__name__} state (version {_STATE_VERSION})")
        if state["seed"] != self.seed:
            raise SettingsError(f"the state was saved with seed={state['seed']}, this sampler has seed={self.seed}")
        self.epoch = int(state["epoch"])
        self._fixed_epoch = bool(state["fixed_epoch"])
        self._auto_epoch = int(state["auto_epoch"])
        if state["generator"] is not None and self.generator is not None:
            self.generator.set_state(state["generator"])
        live = state["live"]
        self._live, self._pos_fn = None, None
        self._resume = None if live is None else ((int(live["key"][0]), int(live["key"][1])), int(live["position"]))

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
    current epoch and ``total_size`` is ``m * world``.

    Example:
        >>> from balance_gui.core.repeat_factor_sampler import DistributedRepeatFactorSampler
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
        length = RepeatFactorSampler._epoch_length(self)
        return length // self.num_replicas if self.drop_last else -(-length // self.num_replicas)

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

    def _epoch_length(self) -> int:
        return self.num_samples

    def _slice(self, length: int) -> tuple[int, int]:
        world = self.num_replicas
        m = length // world if self.drop_last else -(-length // world)
        return self.rank * m, (self.rank + 1) * m
