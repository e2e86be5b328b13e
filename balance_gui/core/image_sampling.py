"""Run an image-level sampler on a multi-label index and compare, per class, the images and
instances it drew against the exact expectations.

``rfs:T`` runs :class:`~balance_gui.sampling.repeat_factor_sampler.RepeatFactorSampler` (epochs of
``sum r`` images on average); any other scheme runs
:class:`~balance_gui.sampling.sampler.BalancedSampler` on the per-image weights (the max of the image's
class weights), ``num_samples`` draws per epoch, with or without replacement.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .annotations import MultiLabelIndex
from .errors import SettingsError, WeightsError
from .repeat_factors import (
    DEFAULT_REDUCTION,
    ClassLevel,
    _per_class,
    expected_repeat_factor_epoch,
    expected_with_replacement,
    expected_without_replacement,
    scheme_image_weights,
)
from .weights import Scheme, parse_scheme


@dataclass(frozen=True)
class ImageLevelRun:
    """Per epoch: expected and sampled (mean over the epochs drawn so far) images and instances per
    class. A step of a run in progress has ``epochs_done < epochs``; the last one, ``epochs_done ==
    epochs``. Arrays are copies: keep them freely."""

    scheme: str
    sampler: str  # "repeat_factor", "with_replacement" or "without_replacement"
    epochs: int
    expected: ClassLevel
    sampled: ClassLevel  # means per epoch drawn
    image_uses: np.ndarray  # int64 per image: times drawn over all epochs so far
    epochs_done: float = 0.0  # epochs drawn so far; a part of one within a chunked epoch

    @property
    def done(self) -> bool:
        return self.epochs_done >= self.epochs


def image_level_steps(
    index: MultiLabelIndex,
    scheme: str | Scheme,
    *,
    epochs: int = 1,
    num_samples: int | None = None,
    replacement: bool = True,
    seed: int = 0,
    device: str = "cpu",
    image_weights: ArrayLike | None = None,
    interval_s: float = 0.0,
) -> Generator[ImageLevelRun, None, None]:
    """Draw ``epochs`` epochs, counting per class the images carrying it and its instances, and
    yield the figures so far after each chunk of draws (``BalancedSampler.iter_chunks``) or each
    repeat-factor epoch, at most one step per ``interval_s`` (a step costs a pass over the images
    and their classes), and always the last. The consumer stops the run by no longer iterating.

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
    chunks: Callable[[], Iterator[np.ndarray]]
    if s.name == "rfs":
        if num_samples is not None or not replacement:
            raise SettingsError("rfs:T runs repeat-factor epochs: --num-samples and --no-replacement do not apply")
        expected = expected_repeat_factor_epoch(index, w)
        rfs = RepeatFactorSampler(w, seed=seed)
        per_epoch = 0  # an epoch's length is its own: it counts whole

        def chunks() -> Iterator[np.ndarray]:
            yield np.fromiter(rfs, dtype=np.int64)

        kind = "repeat_factor"
    else:
        per_epoch = len(index) if num_samples is None else num_samples
        expected = (expected_with_replacement if replacement else expected_without_replacement)(index, w, per_epoch)
        bs = BalancedSampler(w, num_samples=per_epoch, replacement=replacement, seed=seed, device=device)

        def chunks() -> Iterator[np.ndarray]:
            for chunk in bs.iter_chunks():
                yield chunk.cpu().numpy()

        kind = "with_replacement" if replacement else "without_replacement"

    def step(epochs_done: float) -> ImageLevelRun:
        # sampled_per_class of the draws, from their counts (the list of draws grows with every epoch)
        images, instances = _per_class(index, uses.astype(np.float64))
        draws = float(uses.sum())
        sampled = ClassLevel(images / epochs_done, instances / epochs_done, draws / epochs_done)
        return ImageLevelRun(str(s), kind, epochs, expected, sampled, uses.copy(), epochs_done)

    last = time.perf_counter()
    for epoch in range(epochs):
        drawn = 0
        for chunk in chunks():
            uses += np.bincount(chunk, minlength=len(index))
            drawn += chunk.size
            done_now = epoch + (drawn / per_epoch if per_epoch and drawn < per_epoch else 1)
            now = time.perf_counter()
            if done_now < epochs and now - last >= interval_s:
                last = now
                yield step(done_now)
    yield step(epochs)  # the divisor is the int epochs: the one-shot figures, bit for bit


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
    """Draw ``epochs`` epochs and count, per class, the images carrying it and its instances: the
    last step of :func:`image_level_steps`."""
    steps = image_level_steps(
        index,
        scheme,
        epochs=epochs,
        num_samples=num_samples,
        replacement=replacement,
        seed=seed,
        device=device,
        image_weights=image_weights,
        interval_s=math.inf,
    )
    return deque(steps, maxlen=1)[0]


__all__ = ["ImageLevelRun", "image_level_steps", "simulate_image_level"]
