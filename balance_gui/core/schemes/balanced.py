"""``balanced`` (sklearn's class_weight="balanced"): w_c = N / (C n_c), the same shares as inverse."""

from __future__ import annotations

import numpy as np

from .base import ClassCounts, Scheme, SchemeKind


def _weights(c: ClassCounts, _: Scheme) -> np.ndarray:
    return c.total / (c.num_classes * c.safe)


SCHEME = SchemeKind(
    key="balanced",
    label="Balanced  (N / (C·n_c))",
    tooltip="sklearn's 'balanced': w_c = N / (C n_c), inverse divided by C: the same shares",
    weights=_weights,
)
