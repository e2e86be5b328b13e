"""P x K batches for distributed training: every rank its own batches of one global draw.

All ranks compute the same global sequence of P x K batches (a pure function of ``(seed,
epoch)``, as :class:`~balance_gui.sampling.pk_sampler.PKBatchSampler` with ``seed=``); rank ``r`` of
``W`` takes batches ``r, r + W, r + 2W, ...`` of it (strided, not contiguous slices: at every
training step the ``W`` ranks together hold ``W`` consecutive global batches, so a run stopped
after ``s`` steps has used exactly the first ``s * W`` batches of the global draw).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from ..core.errors import SettingsError
from .draws import EpochKey
from .epochs import check_seed
from .pk_sampler import PKBatchSampler
from .sampler_inputs import check_int

__all__ = ["DistributedPKBatchSampler"]


def world_and_rank(num_replicas: int | None, rank: int | None) -> tuple[int, int]:
    """``(num_replicas, rank)``: as given, or from ``torch.distributed`` (as ``DistributedSampler``)."""
    if num_replicas is not None:
        check_int(num_replicas, "num_replicas", low=1)
    if rank is not None:
        check_int(rank, "rank", low=0)
    if num_replicas is None or rank is None:
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError("torch.distributed is not initialised: pass num_replicas and rank")
        num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
        rank = dist.get_rank() if rank is None else rank
    world, r = int(num_replicas), int(rank)
    if r >= world:
        raise SettingsError(f"rank must be in [0, {world - 1}] for num_replicas={world}, got {r}")
    return world, r


class _EpochHook:
    """``batch_sampler.sampler`` for Lightning: it calls ``set_epoch`` on ``dataloader.sampler`` and
    ``dataloader.batch_sampler.sampler``, never on a batch sampler itself."""

    def __init__(self, owner: DistributedPKBatchSampler) -> None:
        self._owner = owner

    def set_epoch(self, epoch: int) -> None:
        self._owner.set_epoch(epoch)


class DistributedPKBatchSampler(PKBatchSampler):
    r""":class:`PKBatchSampler` for DDP: each rank gets its own ``P x K`` batches of one global draw.

    Args:
        targets, classes_per_batch, samples_per_class, class_weights: as :class:`PKBatchSampler`.
        num_batches (int, optional): global batches per epoch, all ranks together.
            Default: ``N // (P * K)``.
        num_replicas (int, optional): world size. Default: from ``torch.distributed``.
        rank (int, optional): this rank. Default: from ``torch.distributed``.
        seed (int): the epoch key's seed; all ranks must share it and call ``set_epoch`` with the
            same epoch (the epoch is 0 until then, as ``DistributedSampler``). Default: ``0``.
        drop_last (bool): ``floor`` instead of ``ceil`` of ``num_batches / world`` batches per
            rank. Default: ``False``.

    Each rank gets ``m = ceil(num_batches / world)`` batches (``floor`` with ``drop_last``); the
    global draw is the ``m * world`` batches of ``PKBatchSampler(..., num_batches=m * world,
    seed=seed)`` at the same epoch (``self.num_batches``), and rank ``r`` takes batches ``r, r +
    world, ...`` of it: the ranks' batches are disjoint and together they are the global draw.
    With ``num_replicas=1`` the batches equal ``PKBatchSampler(seed=seed)``'s.

    With Lightning, pass it as ``batch_sampler=`` and set ``Trainer(use_distributed_sampler=False)``
    (Lightning cannot re-create a batch sampler, and says so): rank and world come from
    ``torch.distributed``, and Lightning's ``set_epoch`` reaches it through ``.sampler``.

    Example:
        >>> from balance_gui.sampling.distributed_pk import DistributedPKBatchSampler
        >>> targets = [0] * 6 + [1] * 6 + [2] * 6
        >>> ranks = [DistributedPKBatchSampler(targets, 2, 2, num_batches=4, num_replicas=2, rank=r) for r in (0, 1)]
        >>> [len(s) for s in ranks]
        [2, 2]
        >>> mine = [list(s) for s in ranks]
        >>> sorted(mine[0] + mine[1]) == sorted(PKBatchSampler(targets, 2, 2, num_batches=4, seed=0))
        True
    """

    def __init__(
        self,
        targets: Sequence[int] | np.ndarray | torch.Tensor,
        classes_per_batch: int,
        samples_per_class: int,
        class_weights: Sequence[float] | np.ndarray | torch.Tensor | None = None,
        num_batches: int | None = None,
        num_replicas: int | None = None,
        rank: int | None = None,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        world, r = world_and_rank(num_replicas, rank)
        seed = check_seed(seed)
        if not isinstance(drop_last, bool):
            raise SettingsError(f"drop_last must be a bool, got {drop_last!r}")
        super().__init__(targets, classes_per_batch, samples_per_class, class_weights, num_batches, seed=seed)
        requested = self.num_batches
        m = requested // world if drop_last else -(-requested // world)
        if m == 0:
            raise SettingsError(
                f"num_batches={requested} gives no batch to each of {world} ranks with drop_last=True; "
                f"ask for at least {world}"
            )
        self.num_replicas, self.rank, self.drop_last = world, r, drop_last
        self.requested_num_batches = requested
        self.num_batches = m * world  # the global draw
        self._fixed_epoch = True  # epoch 0 until set_epoch, as DistributedSampler

    @property
    def sampler(self) -> _EpochHook:
        """An object whose ``set_epoch`` sets this sampler's epoch (what Lightning calls each epoch)."""
        return _EpochHook(self)

    def __len__(self) -> int:
        """This rank's batches per epoch."""
        return self.num_batches // self.num_replicas

    def _epoch(self, key: EpochKey) -> Iterator[list[int]]:
        # the global draw, every world-th batch from this rank's
        return itertools.islice(super()._epoch(key), self.rank, None, self.num_replicas)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(P={self.classes_per_batch}, K={self.samples_per_class}, "
            f"batches={len(self)} of {self.num_batches}, rank={self.rank}, num_replicas={self.num_replicas}, "
            f"seed={self.seed}, epoch={self.epoch})"
        )
