"""Class weights from a weighting scheme, per-sample weights, and the dataset's figures.

Notation: n_c images in class c, N in all, C classes. A scheme gives each class
a weight w_c; each sample gets its class's weight, and the sampler's class share
is p_c = n_c * w_c / sum_j n_j * w_j. Only relative weights matter, so
``inverse`` (N/n_c) and ``balanced`` (N/(C*n_c)) sample identically.
Empty classes always get weight 0: they are never drawn.

The schemes themselves (their spelling, text and formula) are the files of :mod:`.schemes`;
``Scheme``, ``parse_scheme`` and ``load_custom_weights`` are importable from here as before.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .errors import WeightsError
from .schemes import DEFAULT_SCHEME, SCHEMES, ClassCounts, Scheme, parse_scheme, scheme_kind
from .schemes.custom import load_custom_weights
from .weight_checks import float_array, validate_class_weights

__all__ = [
    "DEFAULT_SCHEME",
    "SCHEME_NAMES",
    "DatasetFigures",
    "Scheme",
    "class_weights",
    "dataset_figures",
    "fit_class_weights",
    "load_custom_weights",
    "make_weights_for_balanced_classes",
    "parse_scheme",
    "sample_weights",
    "validate_class_weights",
]

SCHEME_NAMES = tuple(kind.key for kind in SCHEMES)


def class_weights(
    counts: Sequence[int] | np.ndarray, scheme: str | Scheme = DEFAULT_SCHEME, classes: Sequence[str] | None = None
) -> np.ndarray:
    """Per-class weights (float64) for class ``counts`` under ``scheme``. Empty classes get 0."""
    scheme = parse_scheme(scheme)
    n = float_array(counts, lambda i: f"class #{i}", "count")
    if n.ndim != 1 or n.size == 0:
        raise WeightsError("class counts must be a non-empty 1-D sequence")
    if np.any(n < 0):
        raise WeightsError("class counts must be >= 0")
    w = scheme_kind(scheme.name).weights(ClassCounts(n, classes), scheme)
    w = np.where(n > 0, w, 0.0)
    validate_class_weights(w, classes, counts=n)
    return fit_class_weights(w, n)


def fit_class_weights(class_w: np.ndarray, counts: Sequence[int] | np.ndarray) -> np.ndarray:
    """``class_w``, divided by its largest value when the total mass ``sum n_c * w_c``
    would overflow (or underflow) float64; otherwise unchanged. The law p_c is the same:
    only relative weights matter. Weights already checked to be finite and >= 0."""
    w = np.asarray(class_w, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):
        total = float((np.asarray(counts, dtype=np.float64) * w).sum())
    if np.finfo(np.float64).tiny <= total < math.inf:
        return w
    top = float(w.max())
    if not 0.0 < top < math.inf:
        return w
    with np.errstate(under="ignore"):
        return w / top


def sample_weights(targets: np.ndarray, class_w: np.ndarray) -> np.ndarray:
    """Each sample gets its class's weight (float64)."""
    return np.asarray(class_w, dtype=np.float64)[np.asarray(targets)]


@dataclass(frozen=True)
class DatasetFigures:
    num_samples: int
    num_classes: int
    empty_classes: int
    imbalance_ratio: float  # largest over smallest non-empty class
    normalized_entropy: float  # H / ln C; 1 is perfectly balanced
    gini: float  # 0 is perfectly balanced

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def dataset_figures(counts: ArrayLike) -> DatasetFigures:
    n = np.asarray(counts, dtype=np.float64)
    total, num_classes = n.sum(), n.size
    nonempty = n[n > 0]
    p = nonempty / total
    entropy = float(-(p * np.log(p)).sum())
    sorted_n = np.sort(n)
    ranks = np.arange(1, num_classes + 1)
    gini = float((2 * (ranks * sorted_n).sum()) / (num_classes * total) - (num_classes + 1) / num_classes)
    return DatasetFigures(
        num_samples=int(total),
        num_classes=int(num_classes),
        empty_classes=int((n == 0).sum()),
        imbalance_ratio=float(nonempty.max() / nonempty.min()),
        normalized_entropy=entropy / math.log(num_classes) if num_classes > 1 else 1.0,
        gini=max(gini, 0.0),
    )


def make_weights_for_balanced_classes(images: Iterable[Sequence[Any]], nclasses: int) -> list[float]:
    """The seed recipe, same signature and results: each image gets N / count[its class].

    ``images`` is a sequence of ``(path, class_index)`` such as ``ImageFolder.imgs``.
    Empty classes are skipped instead of dividing by zero.
    """
    count = [0] * nclasses
    for item in images:
        count[item[1]] += 1
    total = float(sum(count))
    weight_per_class = [total / float(c) if c else 0.0 for c in count]
    return [weight_per_class[item[1]] for item in images]
