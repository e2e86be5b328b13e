"""Named recipes: catalyst's down- and up-sampling, and a raw-to-balanced schedule over epochs.

* :func:`downsampling_sampler`: every epoch, each class gets exactly ``min_c n_c`` draws, a
  random subset of its images, each at most once (catalyst's ``BalanceClassSampler(mode=
  "downsampling")``): ``num_samples = C x min count``, stratified, equal class shares.
* :func:`upsampling_sampler`: each class gets exactly ``max_c n_c`` draws, its images cycled
  (each used ``floor`` or ``ceil`` of ``max / n_c`` times; the largest class once each), as
  catalyst's ``mode="upsampling"``: ``num_samples = C x max count``.
* :class:`BalanceSchedule`: the ``power:q`` scheme (class shares proportional to ``n_c ** q``)
  with ``q`` moved linearly from ``start_q`` (1: the raw distribution) at epoch 0 to ``end_q``
  (0: class-balanced) at epoch ``epochs - 1``, held there after; the training loop calls
  ``schedule.set_epoch(epoch)`` and the sampler draws with that epoch's weights.

Only classes with images count in ``C`` (an empty class is never drawn).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..core.errors import SettingsError, WeightsError
from ..core.labels import read_labels
from ..core.weights import Scheme, class_weights
from .sampler import BalancedSampler
from .sampler_inputs import check_int, check_targets, to_tensor

__all__ = ["downsampling_sampler", "upsampling_sampler", "BalanceSchedule"]

TargetsLike = Sequence[int] | np.ndarray | torch.Tensor

_RESERVED = ("weights", "targets", "class_weights", "num_samples", "mode", "replacement")


def _targets(targets_or_dataset: Any) -> torch.Tensor:
    """Class indices (int64, CPU): from a sequence, array or tensor, or read from a dataset."""
    if isinstance(targets_or_dataset, (torch.Tensor, np.ndarray, list, tuple)):
        return check_targets(to_tensor(targets_or_dataset, "targets"), 1 << 62)
    return torch.from_numpy(read_labels(targets_or_dataset).targets)


def _stratified(targets: Any, per_class: str, kwargs: dict[str, Any]) -> BalancedSampler:
    for key in _RESERVED:
        if key in kwargs:
            raise SettingsError(f"the {per_class}-sampling recipe sets {key}= itself; do not pass it")
    t = _targets(targets)
    counts = torch.bincount(t)
    present = counts > 0
    c = int(present.sum())
    m = int(counts[present].min()) if per_class == "down" else int(counts.max())
    cw = torch.where(present, 1.0 / counts.clamp(min=1).to(torch.float64), torch.zeros((), dtype=torch.float64))
    return BalancedSampler(targets=t, class_weights=cw, num_samples=c * m, mode="stratified", **kwargs)


def downsampling_sampler(targets: Any, **kwargs: Any) -> BalancedSampler:
    """Down-sampling: each epoch every class gets exactly ``min_c n_c`` draws, distinct images.

    ``targets``: class indices (sequence, array or tensor) or a dataset whose labels
    :func:`~balance_gui.core.labels.read_labels` reads.  Other keyword arguments go to
    :class:`BalancedSampler` (``seed``, ``generator``, ``batch_size``, ``drop_last``, ``device``).

    Example:
        >>> from collections import Counter
        >>> from balance_gui.sampling.recipes import downsampling_sampler
        >>> targets = [0] * 7 + [1] * 3 + [2] * 5
        >>> s = downsampling_sampler(targets, seed=0)
        >>> draws = list(s)
        >>> len(s), sorted(Counter(targets[i] for i in draws).items()), len(set(draws))
        (9, [(0, 3), (1, 3), (2, 3)], 9)
    """
    return _stratified(targets, "down", kwargs)


def upsampling_sampler(targets: Any, **kwargs: Any) -> BalancedSampler:
    """Up-sampling: each epoch every class gets exactly ``max_c n_c`` draws, images cycled.

    Arguments as :func:`downsampling_sampler`.

    Example:
        >>> from collections import Counter
        >>> from balance_gui.sampling.recipes import upsampling_sampler
        >>> targets = [0] * 7 + [1] * 3 + [2] * 5
        >>> s = upsampling_sampler(targets, seed=0)
        >>> draws = list(s)
        >>> len(s), sorted(Counter(targets[i] for i in draws).items())
        (21, [(0, 7), (1, 7), (2, 7)])
        >>> sorted(Counter(i for i in draws if targets[i] == 1).values())  # 7 draws over 3 images
        [2, 2, 3]
    """
    return _stratified(targets, "up", kwargs)


class BalanceSchedule:
    r"""Class shares moved from raw to balanced over the epochs: ``power:q``, ``q`` linear in the epoch.

    Args:
        targets: class indices (sequence, array or tensor), or a dataset whose labels
            :func:`~balance_gui.core.labels.read_labels` reads.
        start_q (float): ``q`` at epoch 0 (1.0: the raw class distribution). Default: ``1.0``.
        end_q (float): ``q`` from epoch ``epochs - 1`` on (0.0: class-balanced). Default: ``0.0``.
        epochs (int): epochs over which ``q`` moves (at least 2).

    At epoch ``e`` the class weights are ``w_c = n_c ** (q_e - 1)``, so the class shares are
    ``n_c ** q_e / sum_j n_j ** q_j`` with ``q_e = start_q + (end_q - start_q) * min(e, epochs -
    1) / (epochs - 1)``.  :meth:`sampler` makes a :class:`BalancedSampler` (class-weights form) that
    :meth:`set_epoch` updates: call it at the start of every epoch, before iterating.

    Example:
        >>> import torch
        >>> from balance_gui.sampling.recipes import BalanceSchedule
        >>> targets = [0] * 90 + [1] * 10
        >>> schedule = BalanceSchedule(targets, start_q=1.0, end_q=0.0, epochs=3)
        >>> [schedule.q(e) for e in range(4)]
        [1.0, 0.5, 0.0, 0.0]
        >>> [schedule.shares(e).round(3).tolist() for e in range(3)]
        [[0.9, 0.1], [0.75, 0.25], [0.5, 0.5]]
        >>> sampler = schedule.sampler(num_samples=1000, seed=0)
        >>> for epoch in range(3):
        ...     schedule.set_epoch(epoch)  # the sampler's class weights and epoch
        ...     drawn = sum(targets[i] for i in sampler) / 1000  # one epoch of training: minority share
        ...     expected = schedule.shares(epoch)[1]
        ...     print(epoch, round(expected, 3), abs(drawn - expected) < 0.05)
        0 0.1 True
        1 0.25 True
        2 0.5 True
    """

    def __init__(self, targets: Any, start_q: float = 1.0, end_q: float = 0.0, *, epochs: int) -> None:
        for name, v in (("start_q", start_q), ("end_q", end_q)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise SettingsError(f"{name} must be a finite number, got {v!r}")
        self.epochs = check_int(epochs, "epochs", low=2)
        self.start_q, self.end_q = float(start_q), float(end_q)
        self.targets = _targets(targets)
        self.counts = torch.bincount(self.targets).numpy()
        self._samplers: list[BalancedSampler] = []

    def q(self, epoch: int) -> float:
        """The exponent at ``epoch``: ``start_q`` at 0, ``end_q`` from ``epochs - 1`` on."""
        e = check_int(epoch, "epoch", low=0)
        frac = min(e, self.epochs - 1) / (self.epochs - 1)
        return self.start_q + (self.end_q - self.start_q) * frac

    def class_weights(self, epoch: int) -> torch.Tensor:
        """Per-class weights at ``epoch``: ``n_c ** (q - 1)`` (0 for empty classes), float64."""
        return torch.from_numpy(class_weights(self.counts, Scheme("power", self.q(epoch))))

    def shares(self, epoch: int) -> np.ndarray:
        """Each class's share of the draws at ``epoch``: ``n_c ** q / sum_j n_j ** q``."""
        mass = self.counts * self.class_weights(epoch).numpy()
        return np.asarray(mass / mass.sum())

    def sampler(self, **kwargs: Any) -> BalancedSampler:
        """A :class:`BalancedSampler` over the targets with epoch 0's weights, updated by :meth:`set_epoch`.
        Keyword arguments go to it (``num_samples``, ``seed``, ``batch_size``, ``mode``, ...)."""
        for key in ("weights", "targets", "class_weights"):
            if key in kwargs:
                raise SettingsError(f"the schedule sets {key}= itself; do not pass it")
        s = BalancedSampler(targets=self.targets, class_weights=self.class_weights(0), **kwargs)
        self._samplers.append(s)
        return s

    def attach(self, sampler: BalancedSampler) -> None:
        """Update ``sampler`` too at every :meth:`set_epoch` (a class-weights form over these targets:
        a ``DistributedBalancedSampler`` on each rank, say)."""
        t = getattr(sampler, "targets", None)
        if t is None or getattr(sampler, "class_weights", None) is None:
            raise WeightsError(
                "the schedule sets class weights: attach a sampler built with targets= and class_weights="
            )
        if t.numel() != self.targets.numel():
            raise WeightsError(f"the sampler has {t.numel()} targets, the schedule {self.targets.numel()}")
        self._samplers.append(sampler)

    def set_epoch(self, epoch: int) -> None:
        """Give the attached samplers ``epoch``'s class weights (from their next epoch on) and call
        their ``set_epoch(epoch)``."""
        cw = self.class_weights(epoch)
        for s in self._samplers:
            s.class_weights = cw.clone()
            s.set_epoch(epoch)

    def __repr__(self) -> str:
        return (
            f"BalanceSchedule(classes={len(self.counts)}, start_q={self.start_q:g}, end_q={self.end_q:g}, "
            f"epochs={self.epochs})"
        )
