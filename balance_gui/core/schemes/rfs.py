"""``rfs:T``, LVIS repeat-factor sampling: w_c = max(1, sqrt(T / f_c)), f_c = n_c / N the class's
share of the images."""

from __future__ import annotations

import math

import numpy as np

from .base import ClassCounts, Parameter, Scheme, SchemeKind


def _weights(c: ClassCounts, scheme: Scheme) -> np.ndarray:
    assert scheme.param is not None  # sqrt(T) * sqrt(N / n_c): T / f_c overflows for T near 1e308
    return np.maximum(1.0, math.sqrt(scheme.param) * np.sqrt(c.total / c.safe))


def _check(t: float, text: str) -> str | None:
    return None if math.isfinite(t) and t > 0 else f"rfs threshold T must be a finite number > 0 (got {text})"


SCHEME = SchemeKind(
    key="rfs",
    label="Repeat factor  (rfs:T)",
    tooltip="LVIS repeat-factor sampling: w_c = max(1, √(T / f_c)), f_c the class's share of images",
    weights=_weights,
    parameter=Parameter(
        symbol="T",
        syntax="T",
        noun="a threshold",
        example="0.001",
        default=0.001,  # LVIS's threshold
        low=0.00001,
        high=1.0,
        decimals=5,
        step=0.001,
        tooltip="T: classes with a share of images below T are repeated by √(T / f_c)",
        check=_check,
    ),
)
