"""``effective:BETA`` (Cui et al. 2019, class-balanced loss): w_c = (1 - β) / (1 - β^n_c),
normalised to sum to C over the classes with images."""

from __future__ import annotations

import math

import numpy as np

from .base import ClassCounts, Parameter, Scheme, SchemeKind


def _weights(c: ClassCounts, scheme: Scheme) -> np.ndarray:
    assert scheme.param is not None
    beta, safe = scheme.param, c.safe
    w = (1.0 - beta) / -np.expm1(safe * np.log(beta)) if beta > 0 else np.ones_like(safe)
    w = np.where(c.present, w, 0.0)
    return w * (c.num_classes / w.sum()) if w.sum() > 0 else w


def _check(beta: float, text: str) -> str | None:
    if not math.isfinite(beta):
        return f"effective BETA must be finite (got {text})"
    if not 0.0 <= beta < 1.0:
        return f"effective-number BETA must be in [0, 1) (got {beta:g})"
    return None


SCHEME = SchemeKind(
    key="effective",
    label="Effective number  (β)",
    tooltip="Cui et al. 2019: w_c = (1 − β) / (1 − β^n_c); β → 1 approaches inverse, β = 0 is none",
    weights=_weights,
    parameter=Parameter(
        symbol="β",
        syntax="BETA",
        noun="a number",
        example="0.999",
        default=0.999,
        low=0.0,
        high=0.99999,
        decimals=5,
        step=0.001,
        tooltip="β in [0, 1): 0 is none; closer to 1 approaches inverse",
        check=_check,
    ),
)
