"""``none``: every image weight 1, shares as in the dataset."""

from __future__ import annotations

import numpy as np

from .base import ClassCounts, Scheme, SchemeKind


def _weights(c: ClassCounts, _: Scheme) -> np.ndarray:
    return np.ones_like(c.safe)


SCHEME = SchemeKind(
    key="none",
    label="None  (uniform)",
    tooltip="Every image weight 1: shares as in the dataset",
    weights=_weights,
)
