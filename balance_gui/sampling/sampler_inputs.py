"""Validation of the samplers' arguments: each bad value gets one line naming the argument.

Weights and targets are checked on the CPU before anything touches the draw device; the checks
never use randomness, so an error never depends on the global RNG state.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..core.errors import SettingsError, WeightsError
from ..core.input_hints import refuse_unusable


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


def _check_tensor(x: torch.Tensor, name: str) -> None:
    """Refuse tensors that hold no values to read (meta) or hold them in another layout (sparse)."""
    if x.is_meta:
        raise WeightsError(f"{name} is on the meta device and holds no values; pass a CPU or GPU tensor")
    if x.layout != torch.strided:
        raise WeightsError(f"{name} is a {x.layout} tensor; pass a dense one ({name}.to_dense())")


def as_float64(x: Any, name: str) -> torch.Tensor:
    """``torch.as_tensor(x, dtype=float64)`` as WRS does: the very tensor when it already is one."""
    if isinstance(x, torch.Tensor):
        _check_tensor(x, name)
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
        _check_tensor(x, name)
        return x
    refuse_unusable(x, name)  # a dataset, dict, strings or a sampler: say what to pass instead
    try:
        with warnings.catch_warnings():  # read-only numpy arrays: we never write to them
            warnings.simplefilter("ignore", UserWarning)
            a = x if isinstance(x, np.ndarray) else np.asarray(x)
    except (TypeError, ValueError, RuntimeError, OverflowError) as e:
        raise WeightsError(f"{name} must be a 1-D sequence of numbers: {_clip(str(e))}") from None
    if a.dtype == object:  # Python ints beyond int64 among others: as floats, or refused naming the value
        a = _object_as_float64(a, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return torch.as_tensor(a)
    except (TypeError, ValueError, RuntimeError, OverflowError) as e:
        raise WeightsError(f"{name} must be a 1-D sequence of numbers: {_clip(str(e))}") from None


def _object_as_float64(a: np.ndarray, name: str) -> np.ndarray:
    """An object array as float64; a number too large for a float64 (a 400-digit integer) is
    refused naming its position and value, not left to a bare OverflowError."""
    try:
        return a.astype(np.float64)
    except (TypeError, ValueError) as e:
        raise WeightsError(f"{name} must be a 1-D sequence of numbers: {_clip(str(e))}") from None
    except OverflowError:
        for i, v in enumerate(a.flat):
            try:
                float(v)
            except OverflowError:
                where = f"{name}[{i}]" if a.ndim == 1 else f"an element of {name}"
                raise WeightsError(
                    f"{where} = {_clip(repr(v))} is too large for a float64 (at most about 1.8e308)"
                ) from None
            except (TypeError, ValueError):
                continue
        raise


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit:,} more characters)"


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
    """``x`` as validated int64 CPU class indices in ``[0, num_classes)``. A bad value is reported
    as given (``1e+20``, ``18446744073709551615``), never as what a cast to int64 made of it."""
    t = x.detach().cpu()
    _check_tensor(t, "targets")
    check_1d(t, "targets")
    if t.dtype == torch.bool:
        t = t.to(torch.int64)
    if t.is_complex():
        raise WeightsError(f"targets must be integer class indices, got dtype {t.dtype}")
    if t.dtype not in _INT64_SAFE:  # floats and unsigned 16-64 bit: checked before the cast
        f = t.to(torch.float64)
        bad = ~torch.isfinite(f) | (f != torch.round(f)) | (f < 0) | (f >= num_classes)
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            v, fv = t[i].item(), float(f[i])
            shown = (
                repr(int(v))
                if isinstance(v, float) and math.isfinite(v) and v == round(v) and abs(v) < 2**53
                else repr(v)
            )
            if not (math.isfinite(fv) and fv == round(fv)):
                raise WeightsError(f"targets[{i}] = {shown} is not an integer class index")
            _out_of_range(i, shown, fv < 0, num_classes)
    t = t.to(torch.int64)
    tv = t.numpy()  # numpy's min and max: single-threaded (torch.aminmax stalls on a busy machine)
    lo, hi = int(tv.min()), int(tv.max())
    if lo < 0:
        i = int((t < 0).nonzero()[0, 0])
        _out_of_range(i, str(int(t[i])), True, num_classes)
    if hi >= num_classes:
        i = int((t >= num_classes).nonzero()[0, 0])
        _out_of_range(i, str(int(t[i])), False, num_classes)
    return t


# Integer dtypes whose every value an int64 holds: the others are range-checked before the cast.
_INT64_SAFE = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def _out_of_range(i: int, shown: str, negative: bool, num_classes: int) -> None:
    if negative:
        raise WeightsError(f"targets[{i}] = {shown} is a negative class index")
    raise WeightsError(
        f"targets[{i}] = {shown} is out of range: class_weights has {num_classes} entries "
        f"(classes 0..{num_classes - 1})"
    )


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
    if generator is not None and generator.device.type not in ("cpu", "cuda", "mps"):
        raise SettingsError(
            f"generator is on the {generator.device.type} device, which draws no random numbers; "
            "pass a CPU (or CUDA, MPS) torch.Generator"
        )
    return generator


#: The most draws one epoch may ask for, and one simulation in all: 2**48 (about 2.8e14, days of
#: drawing). Chunked modes hold O(chunk) of them at a time; counts and positions stay far inside int64.
MAX_DRAWS = 1 << 48
#: Bytes a whole-epoch draw (stratified: the epoch's indices, a permutation of them and the
#: shuffled result, int64 each) holds per draw at its peak.
WHOLE_EPOCH_BYTES_PER_DRAW = 24


def memory_bytes() -> int | None:
    """This machine's physical memory in bytes, or None where the system does not say."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not POSIX, or the names are unknown
        return None
    return pages * size if pages > 0 and size > 0 else None


def max_whole_epoch_draws() -> int:
    """The most draws an epoch drawn whole (stratified, without replacement) may ask for here: what
    this machine's memory holds (at most :data:`MAX_DRAWS`)."""
    memory = memory_bytes()
    return MAX_DRAWS if memory is None else max(1, min(MAX_DRAWS, memory // WHOLE_EPOCH_BYTES_PER_DRAW))


def check_num_samples(value: object, name: str = "num_samples", whole_epoch: bool = False) -> int:
    """A number of draws per epoch: an int from 1 to :data:`MAX_DRAWS`, and for an epoch drawn whole
    (``whole_epoch``) no more than this machine's memory holds. The clear error comes before any
    allocation, not a MemoryError from inside torch."""
    k = check_int(value, name, low=1)
    if k > MAX_DRAWS:
        raise SettingsError(
            f"{name}={k:,} is more draws than an epoch may ask for: at most 2**48 = {MAX_DRAWS:,} "
            "(drawing them would take days); use several epochs"
        )
    if whole_epoch and k > max_whole_epoch_draws():
        memory = memory_bytes() or 0
        raise SettingsError(
            f"{name}={k:,} is too many for an epoch drawn whole (mode 'stratified', or without replacement): it "
            f"needs about {k * WHOLE_EPOCH_BYTES_PER_DRAW / 2**30:,.0f} GiB, and this machine has "
            f"{memory / 2**30:,.0f} GiB; at most {max_whole_epoch_draws():,} here. Draw fewer per epoch, "
            "or use mode 'weighted' or 'class_aware' (drawn chunk by chunk, in fixed memory)"
        )
    return k


def short_list(xs: Sequence[int], k: int = 10) -> str:
    s = ", ".join(str(x) for x in xs[:k])
    return s + (f", ... ({len(xs)} in all)" if len(xs) > k else "")
