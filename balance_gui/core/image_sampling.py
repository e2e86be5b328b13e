"""Run an image-level sampler on a multi-label index and compare, per class, the images and
instances it drew against the exact expectations.

``rfs:T`` runs :class:`~balance_gui.sampling.repeat_factor_sampler.RepeatFactorSampler` (epochs of
``sum r`` images on average); any other scheme runs
:class:`~balance_gui.sampling.sampler.BalancedSampler` on the per-image weights (the max of the image's
class weights), ``num_samples`` draws per epoch, with or without replacement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .annotations import MultiLabelIndex
from .errors import SettingsError, WeightsError
from .repeat_factors import (
    DEFAULT_REDUCTION,
    ClassLevel,
    expected_repeat_factor_epoch,
    expected_with_replacement,
    expected_without_replacement,
    sampled_per_class,
    scheme_image_weights,
)
from .weights import Scheme, parse_scheme


@dataclass(frozen=True)
class ImageLevelRun:
    """Per epoch: expected and sampled (mean over the epochs) images and instances per class."""

    scheme: str
    sampler: str  # "repeat_factor", "with_replacement" or "without_replacement"
    epochs: int
    expected: ClassLevel
    sampled: ClassLevel  # means per epoch
    image_uses: np.ndarray  # int64 per image: times drawn over all epochs


def simulate_image_level(
    index: MultiLabelIndex,
    scheme: str | Scheme,
    *,
    epochs: int = 1,
    num_samples: int | None = None,
    replacement: bool = True,
    seed: int = 0,
    device: str = "cpu",
    image_weights: ArrayLike | None = None,
) -> ImageLevelRun:
    """Draw ``epochs`` epochs and count, per class, the images carrying it and its instances.
    ``image_weights`` (per image, file order) replaces the scheme's: custom class weights, as the
    GUI's table edits make them (under ``rfs:T`` they are the repeat factors).
    (The samplers, and torch, are imported here: the figures alone stay torch-free.)"""
    from ..sampling.repeat_factor_sampler import RepeatFactorSampler
    from ..sampling.sampler import BalancedSampler

    s = parse_scheme(scheme)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise SettingsError(f"epochs must be an int >= 1, got {epochs!r}")
    if image_weights is None:
        w = scheme_image_weights(index, s, DEFAULT_REDUCTION)
    else:
        w = np.asarray(image_weights, dtype=np.float64)
        if w.shape != (len(index),) or not np.all(np.isfinite(w) & (w >= 0)):
            raise WeightsError(f"image_weights must be {len(index)} finite values >= 0, got shape {w.shape}")
    uses = np.zeros(len(index), dtype=np.int64)
    if s.name == "rfs":
        if num_samples is not None or not replacement:
            raise SettingsError("rfs:T runs repeat-factor epochs: --num-samples and --no-replacement do not apply")
        expected = expected_repeat_factor_epoch(index, w)
        rfs = RepeatFactorSampler(w, seed=seed)
        for _ in range(epochs):
            uses += np.bincount(np.fromiter(rfs, dtype=np.int64), minlength=len(index))
        kind = "repeat_factor"
    else:
        k = len(index) if num_samples is None else num_samples
        expected = (expected_with_replacement if replacement else expected_without_replacement)(index, w, k)
        bs = BalancedSampler(w, num_samples=k, replacement=replacement, seed=seed, device=device)
        for _ in range(epochs):
            for chunk in bs.iter_chunks():
                uses += np.bincount(chunk.cpu().numpy(), minlength=len(index))
        kind = "with_replacement" if replacement else "without_replacement"
    got = sampled_per_class(index, np.repeat(np.arange(len(index)), uses))
    sampled = ClassLevel(got.images / epochs, got.instances / epochs, got.draws / epochs)
    return ImageLevelRun(str(s), kind, epochs, expected, sampled, uses)


__all__ = ["ImageLevelRun", "simulate_image_level"]
