"""Image-level balancing of multi-label data: repeat factors, image weights, and what they do to
the classes (expected images and instances per class, co-occurrence).

A sampler can only pick images; an image carries several classes (``index.pair_class`` between
``index.pair_starts``), each ``n_ic`` times (``index.pair_count``).  Notation: ``[c in i]`` is 1
when image i carries class c; ``N`` is the number of images (unlabelled ones included).

* ``rfs:T`` (LVIS, detectron2's ``RepeatFactorTrainingSampler``): class repeat factor
  ``r_c = max(1, sqrt(T / f_c))`` with ``f_c = count_c / N`` the share of images carrying c; image
  repeat factor ``r(I) = max over its classes of r_c``, 1.0 for an image without labels.
* Other schemes: an image's weight is the ``max`` (default), ``mean`` or ``sum`` of its classes'
  weights (from :func:`balance_gui.core.weights.class_weights` on the image counts).  ``max`` is the
  default because it is rfs's rule (an image is drawn as often as its rarest class needs, whatever
  else it shows); ``sum`` draws crowded images more for being crowded (their common classes gain
  most), ``mean`` dilutes a rare class by the common ones it appears with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .annotations import MultiLabelIndex
from .errors import SettingsError, WeightsError
from .expected import inclusion_probabilities
from .weights import Scheme, class_weights, parse_scheme

REDUCTIONS = ("max", "mean", "sum")
DEFAULT_REDUCTION = "max"


def class_repeat_factors(counts: ArrayLike, num_images: int, threshold: float, sqrt: bool = True) -> np.ndarray:
    """``r_c = max(1, sqrt(T / f_c))``, ``f_c = counts_c / num_images`` (without ``sqrt``: ``T / f_c``).
    A class in no image gets 0 (it is never drawn)."""
    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and threshold > 0):
        raise SettingsError(f"rfs threshold T must be a finite number > 0 (got {threshold!r})")
    n = np.asarray(counts, dtype=np.float64)
    if num_images <= 0 or np.any(n > num_images) or np.any(n < 0):
        raise WeightsError(f"class image counts must lie in [0, {num_images}]")
    present = n > 0
    f = np.where(present, n, 1.0) / num_images
    ratio = threshold / f
    r = np.maximum(1.0, np.sqrt(ratio) if sqrt else ratio)
    return np.where(present, r, 0.0)


def _reduce(index: MultiLabelIndex, per_pair: np.ndarray, how: str, empty: float) -> np.ndarray:
    n = len(index)
    sizes = np.diff(index.pair_starts)
    out = np.full(n, float(empty), dtype=np.float64)
    has = np.flatnonzero(sizes > 0)
    if has.size:
        starts = index.pair_starts[has]
        if how == "max":
            out[has] = np.maximum.reduceat(per_pair, starts)
        else:
            s = np.add.reduceat(per_pair, starts)
            out[has] = s / sizes[has] if how == "mean" else s
    return out


def repeat_factors(index: MultiLabelIndex, threshold: float, sqrt: bool = True) -> np.ndarray:
    """Per image (float64, file order): the max of its classes' repeat factors, 1.0 without labels
    (detectron2's ``repeat_factors_from_category_frequency``)."""
    r_c = class_repeat_factors(index.counts, len(index), threshold, sqrt)
    return _reduce(index, r_c[index.pair_class], "max", 1.0)


def image_weights(
    index: MultiLabelIndex, class_w: ArrayLike, reduce: str = DEFAULT_REDUCTION, empty_weight: float | None = None
) -> np.ndarray:
    """Per image: the ``max``, ``mean`` or ``sum`` of its (distinct) classes' weights.

    An image without labels gets ``empty_weight``; by default the smallest weight of a class that
    has images (the weight of the most common kind of image: 1 under ``none``, and rfs's 1.0)."""
    if reduce not in REDUCTIONS:
        raise SettingsError(f"reduce must be one of {', '.join(REDUCTIONS)}, got {reduce!r}")
    w = np.asarray(class_w, dtype=np.float64)
    if w.shape != (index.num_classes,):
        raise WeightsError(f"expected {index.num_classes} class weights, got shape {tuple(w.shape)}")
    if not np.all(np.isfinite(w) & (w >= 0)):
        raise WeightsError("class weights must be finite and >= 0")
    if empty_weight is None:
        live = w[(index.counts > 0) & (w > 0)]
        empty_weight = float(live.min()) if live.size else 0.0
    elif not (math.isfinite(empty_weight) and empty_weight >= 0):
        raise SettingsError(f"empty_weight must be finite and >= 0, got {empty_weight!r}")
    return _reduce(index, w[index.pair_class], reduce, empty_weight)


def scheme_image_weights(
    index: MultiLabelIndex, scheme: str | Scheme = "rfs:0.001", reduce: str = DEFAULT_REDUCTION
) -> np.ndarray:
    """Per-image weights for a scheme: ``rfs:T`` gives the repeat factors (``reduce`` must be max);
    any other scheme its class weights on the image counts, reduced per image."""
    s = parse_scheme(scheme)
    if s.name == "rfs":
        if reduce != "max":
            raise SettingsError("rfs:T takes the max over an image's classes (LVIS's rule); use reduce='max'")
        assert s.param is not None
        return repeat_factors(index, s.param)
    return image_weights(index, class_weights(index.counts, s, index.classes), reduce)


# -------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class ClassLevel:
    """Per-class figures of an image-level draw: images carrying the class, and its instances."""

    images: np.ndarray  # float64 per class
    instances: np.ndarray  # float64 per class
    draws: float  # images drawn (expected epoch length for repeat factors)


def _per_class(index: MultiLabelIndex, per_image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    on_pair = per_image[index.pair_image]
    k = index.num_classes
    images = np.bincount(index.pair_class, weights=on_pair, minlength=k)
    instances = np.bincount(index.pair_class, weights=on_pair * index.pair_count, minlength=k)
    return images, instances


def _check_image_weights(index: MultiLabelIndex, w: ArrayLike, name: str) -> np.ndarray:
    a = np.asarray(w, dtype=np.float64)
    if a.shape != (len(index),):
        raise WeightsError(f"{name} must hold one value per image ({len(index)}), got shape {tuple(a.shape)}")
    if not np.all(np.isfinite(a) & (a >= 0)):
        raise WeightsError(f"{name} must be finite and >= 0")
    return a


def expected_with_replacement(index: MultiLabelIndex, weights: ArrayLike, draws: int) -> ClassLevel:
    """``k`` draws with replacement, image i with probability ``w_i / sum w``: expected images of c
    ``k sum_i w_i [c in i] / sum w`` and instances ``k sum_i w_i n_ic / sum w``."""
    w = _check_image_weights(index, weights, "weights")
    total = w.sum()
    if total <= 0:
        raise WeightsError("all image weights are zero: nothing could ever be drawn")
    images, instances = _per_class(index, w * (draws / total))
    return ClassLevel(images, instances, float(draws))


def expected_without_replacement(index: MultiLabelIndex, weights: ArrayLike, draws: int) -> ClassLevel:
    """``k`` draws without replacement (torch.multinomial's successive sampling): image i is in the
    epoch with probability pi_i (:func:`balance_gui.core.expected.inclusion_probabilities`, images
    grouped by equal weight); expected images of c ``sum_i pi_i [c in i]``, instances
    ``sum_i pi_i n_ic``."""
    w = _check_image_weights(index, weights, "weights")
    values, group = np.unique(w, return_inverse=True)
    pi = inclusion_probabilities(np.bincount(group, minlength=values.size), values, draws)[group]
    images, instances = _per_class(index, pi)
    return ClassLevel(images, instances, float(draws))


def expected_repeat_factor_epoch(index: MultiLabelIndex, factors: ArrayLike) -> ClassLevel:
    """One epoch of :class:`~balance_gui.sampling.repeat_factor_sampler.RepeatFactorSampler`: image i
    appears ``r_i`` times on average, so class c's images ``sum_i r_i [c in i]`` and instances
    ``sum_i r_i n_ic``; the epoch's expected length is ``sum_i r_i``."""
    r = _check_image_weights(index, factors, "repeat factors")
    images, instances = _per_class(index, r)
    return ClassLevel(images, instances, float(r.sum()))


def sampled_per_class(index: MultiLabelIndex, drawn: ArrayLike) -> ClassLevel:
    """What a list of drawn image indices gave each class: images drawn carrying it (with their
    multiplicity) and instances."""
    d = np.asarray(drawn, dtype=np.int64).ravel()
    m = np.bincount(d, minlength=len(index)).astype(np.float64)
    if m.size != len(index):
        raise WeightsError(f"drawn indices must lie in [0, {len(index)})")
    images, instances = _per_class(index, m)
    return ClassLevel(images, instances, float(d.size))


# ---------------------------------------------------------------------- co-occurrence


@dataclass(frozen=True)
class Cooccurrence:
    """Images carrying both classes of a pair, for every pair that occurs (``a < b``), as sparse
    triples sorted by pair; the diagonal (images carrying the class) is ``index.counts``."""

    a: np.ndarray  # int32
    b: np.ndarray  # int32
    images: np.ndarray  # int64
    counts: np.ndarray  # int64 per class
    num_classes: int

    def top_pairs(self, k: int = 10, classes: Sequence[str] | None = None) -> list[tuple[str | int, str | int, int]]:
        """The ``k`` pairs found together in the most images (ties by class order)."""
        order = np.lexsort((self.b, self.a, -self.images))[:k]

        def name(c: int) -> str | int:
            return classes[c] if classes is not None else c

        return [(name(int(self.a[j])), name(int(self.b[j])), int(self.images[j])) for j in order]

    def dense(self) -> np.ndarray:
        """The full symmetric C x C matrix (for small C: a heat map), counts on the diagonal."""
        m = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        m[self.a, self.b] = self.images
        m[self.b, self.a] = self.images
        m[np.arange(self.num_classes), np.arange(self.num_classes)] = self.counts
        return m

    def submatrix(self, classes: ArrayLike) -> np.ndarray:
        """The symmetric matrix of the given classes only (in the order given), counts on the
        diagonal: a heat map of the top classes of a file with thousands, never C x C."""
        sel = np.asarray(classes, dtype=np.int64).ravel()
        if sel.size and (sel.min() < 0 or sel.max() >= self.num_classes or np.unique(sel).size != sel.size):
            raise SettingsError(f"classes must be distinct indices in [0, {self.num_classes})")
        pos = np.full(self.num_classes, -1, dtype=np.int64)
        pos[sel] = np.arange(sel.size)
        m = np.zeros((sel.size, sel.size), dtype=np.int64)
        pa, pb = pos[self.a], pos[self.b]
        keep = (pa >= 0) & (pb >= 0)
        m[pa[keep], pb[keep]] = self.images[keep]
        m[pb[keep], pa[keep]] = self.images[keep]
        m[np.arange(sel.size), np.arange(sel.size)] = self.counts[sel]
        return m

    def share_with(self, c: int) -> np.ndarray:
        """Per class d: the share of class c's images that also carry d (0 when c has none)."""
        row = np.zeros(self.num_classes, dtype=np.float64)
        sel = self.a == c
        row[self.b[sel]] += self.images[sel]
        sel = self.b == c
        row[self.a[sel]] += self.images[sel]
        return row / self.counts[c] if self.counts[c] else row


def cooccurrence(index: MultiLabelIndex) -> Cooccurrence:
    """Every pair of classes that share an image, with the number of images: O(sum_i m_i^2) for
    images of m_i classes, never a dense C x C array."""
    sizes = np.diff(index.pair_starts)
    k = index.num_classes
    # for pair position p in image i (with e the end of i's pairs), partners are p+1 .. e-1
    ends = np.repeat(index.pair_starts[1:], sizes)
    p = np.arange(index.pair_class.size, dtype=np.int64)
    partners = ends - p - 1
    total = int(partners.sum())
    left = np.repeat(p, partners)
    offset = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(partners) - partners, partners)
    right = left + 1 + offset
    ca = index.pair_class[left].astype(np.int64)
    cb = index.pair_class[right].astype(np.int64)  # classes are ascending inside an image: ca < cb
    keys, n = np.unique(ca * k + cb, return_counts=True)
    return Cooccurrence(
        (keys // k).astype(np.int32), (keys % k).astype(np.int32), n.astype(np.int64), index.counts.copy(), k
    )


__all__ = [
    "REDUCTIONS",
    "DEFAULT_REDUCTION",
    "ClassLevel",
    "Cooccurrence",
    "class_repeat_factors",
    "cooccurrence",
    "expected_repeat_factor_epoch",
    "expected_with_replacement",
    "expected_without_replacement",
    "image_weights",
    "repeat_factors",
    "sampled_per_class",
    "scheme_image_weights",
]
