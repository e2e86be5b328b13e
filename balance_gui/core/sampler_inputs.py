"""Validation of the samplers' arguments: each bad value gets one line naming the argument.

Weights and targets are checked on the CPU before anything touches the draw device; the checks
never use randomness, so an error never depends on the global RNG state.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .errors import SettingsError, WeightsError
from .input_hints import refuse_unusable


def resolve_device(device: str | torch.device) -> torch.device:
    """The torch.device to draw on, or a SettingsError saying why it cannot be used here."""
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError):
        raise SettingsError(f"unknown device {device!r}; use 'cpu', 'cuda', 'cuda:N' or 'mps'") from None
    if d.type == "cuda":
        if not torch.cuda.is_available():
            raise SettingsError(
                f"device {device!r} is not available: no CUDA GPU or driver (torch.cuda.is_available() is False)"
            )
        if d.index is not None and d.index >= torch.cuda.device_count():
            raise SettingsError(f"device {device!r} is not available: {torch.cuda.device_count()} CUDA GPU(s)")
    elif d.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise SettingsError(
                f"device {device!r} is not available: MPS needs Apple silicon and a PyTorch built with MPS"
            )
    elif d.type != "cpu":
        raise SettingsError(f"device {device!r} is not supported; use 'cpu', 'cuda' or 'mps'")
    return d


def as_float64(x: Any, name: str) -> torch.Tensor:
    """``torch.as_tensor(x, dtype=float64)`` as WRS does: the very tensor when it already is one."""
    if isinstance(x, torch.Tensor):
        if x.is_meta:
            raise WeightsError(f"{name} is on the meta device and holds no values; pass a CPU or GPU tensor")
        if x.is_complex():
            raise WeightsError(f"{name} must be real numbers, got dtype {x.dtype}")
        return torch.as_tensor(x, dtype=torch.float64)
    t = to_tensor(x, name)
    if t.is_complex():
        raise WeightsError(f"{name} must be real numbers, got dtype {t.dtype}")
    return t.to(torch.float64)


def to_tensor(x: Any, name: str) -> torch.Tensor:
    """A tensor from a tensor, ndarray or sequence (no copy where torch can share)."""
    if isinstance(x, torch.Tensor):
        if x.is_meta:
            raise WeightsError(f"{name} is on the meta device and holds no values; pass a CPU or GPU tensor")
        return x
    refuse_unusable(x, name)  # a dataset, dict, strings or a sampler: say what to pass instead
    try:
        with warnings.catch_warnings():  # read-only numpy arrays: we never write to them
            warnings.simplefilter("ignore", UserWarning)
            if isinstance(x, np.ndarray):
                if x.dtype == object:
                    x = x.astype(np.float64)
                return torch.as_tensor(x)
            return torch.as_tensor(np.asarray(x))
    except (TypeError, ValueError, RuntimeError) as e:
        raise WeightsError(f"{name} must be a 1-D sequence of numbers: {e}") from None


def check_1d(t: torch.Tensor, name: str) -> None:
    if t.dim() != 1:
        raise WeightsError(f"{name} must be 1-D, but has shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise WeightsError(f"{name} is empty")


def check_weights(t: torch.Tensor, name: str, what: str = "index") -> torch.Tensor:
    """``t`` as validated float64 CPU weights: 1-D, finite, non-negative."""
    check_1d(t, name)
    t = t.detach().to("cpu", torch.float64)
    lo, hi = torch.aminmax(t)  # NaN propagates into both
    if not (float(lo) >= 0.0 and float(hi) < math.inf):
        bad = ~(t >= 0) | (t == math.inf)
        i = int(bad.nonzero()[0, 0])
        v = float(t[i])
        label = f"{name}[{i}]" if what == "index" else f"{name}[{i}] (class {i})"
        if math.isnan(v):
            raise WeightsError(f"{label} is NaN; weights must be finite and >= 0")
        if math.isinf(v):
            raise WeightsError(f"{label} is infinite; weights must be finite and >= 0")
        raise WeightsError(f"{label} = {v!r} is negative; weights must be >= 0")
    return t


def check_targets(x: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``x`` as validated int64 CPU class indices in ``[0, num_classes)``."""
    t = x.detach().cpu()
    check_1d(t, "targets")
    if t.dtype == torch.bool:
        t = t.to(torch.int64)
    if t.is_complex():
        raise WeightsError(f"targets must be integer class indices, got dtype {t.dtype}")
    if t.dtype.is_floating_point:
        bad = ~torch.isfinite(t) | (t != torch.round(t))
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            raise WeightsError(f"targets[{i}] = {t[i].item()!r} is not an integer class index")
    t = t.to(torch.int64)
    tv = t.numpy()  # numpy's min and max: single-threaded (torch.aminmax stalls on a busy machine)
    lo, hi = int(tv.min()), int(tv.max())
    if lo < 0:
        i = int((t < 0).nonzero()[0, 0])
        raise WeightsError(f"targets[{i}] = {int(t[i])} is a negative class index")
    if hi >= num_classes:
        i = int((t >= num_classes).nonzero()[0, 0])
        raise WeightsError(
            f"targets[{i}] = {int(t[i])} is out of range: class_weights has {num_classes} entries "
            f"(classes 0..{num_classes - 1})"
        )
    return t


def check_int(value: object, name: str, low: int | None = None, high: int | None = None) -> int:
    """An int (Python or numpy, never bool or float) in ``[low, high]``, or a SettingsError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise SettingsError(f"{name} must be an int, got {value!r}")
    v = int(value)
    if low is not None and v < low:
        raise SettingsError(f"{name} must be >= {low}, got {v}")
    if high is not None and v > high:
        raise SettingsError(f"{name} must be <= {high}, got {v}")
    return v


def check_generator(generator: object) -> torch.Generator | None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return generator


def short_list(xs: Sequence[int], k: int = 10) -> str:
    s = ", ".join(str(x) for x in xs[:k])
    return s + (f", ... ({len(xs)} in all)" if len(xs) > k else "")
