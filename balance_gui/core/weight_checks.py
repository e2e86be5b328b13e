"""Checks on class weights and class counts: each bad value refused with the class it belongs to.

Shared by every weighting scheme (``core.schemes``), by ``weights.class_weights`` and by the
weights-file readers, so that a weight is judged the same wherever it comes from."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from .errors import WeightsError


def clip(text: str, limit: int = 200) -> str:
    """``text``, cut to ``limit`` characters with a note of how many were left out."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def float_array(values: ArrayLike, what: Callable[[int], str], noun: str = "weight") -> np.ndarray:
    """``values`` as float64, or a WeightsError naming (``what(i)``) the first value that is not a
    number or does not fit a float64 (a 400-digit integer): never a bare OverflowError."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (OverflowError, TypeError, ValueError) as e:
        for i, v in enumerate(np.asarray(values, dtype=object).reshape(-1)):
            try:
                float(v)
            except OverflowError:
                raise WeightsError(
                    f"{what(i)} has {noun} {clip(repr(v))}, too large for a float64 (at most about 1.8e308)"
                ) from None
            except (TypeError, ValueError):
                raise WeightsError(f"{what(i)} has {noun} {clip(repr(v))}, which is not a number") from None
        raise WeightsError(f"expected numbers: {clip(str(e))}") from None


def validate_class_weights(
    weights: ArrayLike, classes: Sequence[str] | None = None, counts: ArrayLike | None = None
) -> np.ndarray:
    """Raise :class:`WeightsError` naming the class and value of the first bad weight."""
    w = float_array(
        weights, lambda i: f"class {classes[i]!r}" if classes is not None and i < len(classes) else f"class #{i}"
    )
    names = list(classes) if classes is not None else [f"#{i}" for i in range(w.size)]
    if w.ndim != 1:
        raise WeightsError(f"class weights must be 1-D, got shape {tuple(w.shape)}")
    if len(names) != w.size:
        raise WeightsError(f"expected {len(names)} class weights, got {w.size}")
    for i in np.flatnonzero(~np.isfinite(w) | (w < 0))[:1]:
        raise WeightsError(f"class {names[i]!r} has weight {float(w[i])!r}: weights must be finite and >= 0")
    drawable = w > 0 if counts is None else (w > 0) & (np.asarray(counts, dtype=np.float64) > 0)
    if not np.any(drawable):
        raise WeightsError("all weights are zero: nothing could ever be drawn")
    return w
