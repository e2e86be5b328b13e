"""``inverse``: w_c = N / n_c, every class drawn equally often."""

from __future__ import annotations

import numpy as np

from .base import ClassCounts, Scheme, SchemeKind


def _weights(c: ClassCounts, _: Scheme) -> np.ndarray:
    return c.total / c.safe


SCHEME = SchemeKind(
    key="inverse",
    label="Inverse  (N / n_c)",
    tooltip="Each class drawn equally often: w_c = N / n_c",
    weights=_weights,
)
