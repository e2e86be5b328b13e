"""``sqrt``: w_c = 1 / sqrt(n_c), shares grow with sqrt(n_c) (power:0.5)."""

from __future__ import annotations

import numpy as np

from .base import ClassCounts, Scheme, SchemeKind


def _weights(c: ClassCounts, _: Scheme) -> np.ndarray:
    return 1.0 / np.sqrt(c.safe)


SCHEME = SchemeKind(
    key="sqrt",
    label="Square root  (1 / √n_c)",
    tooltip="Half-way: shares grow with √n_c",
    weights=_weights,
)
