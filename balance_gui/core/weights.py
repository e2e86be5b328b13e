"""Weighting schemes, per-sample weights, and the figures that describe them.

Notation: n_c images in class c, N in all, C classes. A scheme gives each class
a weight w_c; each sample gets its class's weight, and the sampler's class share
is p_c = n_c * w_c / sum_j n_j * w_j. Only relative weights matter, so
``inverse`` (N/n_c) and ``balanced`` (N/(C*n_c)) sample identically.
Empty classes always get weight 0: they are never drawn.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .errors import SettingsError, WeightsError
from .names import quoted
from .options import SchemeName

SCHEME_NAMES = tuple(SchemeName)
DEFAULT_SCHEME = "inverse"


@dataclass(frozen=True)
class Scheme:
    """A parsed weighting scheme: ``name`` plus ``param`` (q, beta) or ``custom`` weights.

    ``usable``: for custom weights read from an exported ``.json`` that excludes samples (corrupt
    files, duplicate copies), each class's ``(count, usable count)`` in that file: its weights are
    meant for the usable images only, so :func:`class_weights` takes them only on usable counts."""

    name: str
    param: float | None = None
    custom: Mapping[str, float] | None = None
    usable: Mapping[str, tuple[int, int]] | None = None
    source: str | None = None  # the custom weights file

    def __str__(self) -> str:
        if self.name in ("power", "effective", "rfs"):
            return f"{self.name}:{self.param:g}"
        return self.name


def parse_scheme(text: str | Scheme) -> Scheme:
    """Parse ``inverse``, ``balanced``, ``sqrt``, ``power:Q``, ``effective:BETA``, ``rfs:T``, ``none``,
    or ``custom:FILE.json`` (a bare path ending in ``.json`` works too)."""
    if isinstance(text, Scheme):
        return text
    raw = text.strip()
    name, _, arg = raw.partition(":")
    name = name.strip().lower()
    if name.endswith(".json") and not arg:
        name, arg = "custom", raw
    if name in ("inverse", "balanced", "sqrt", "none"):
        if arg:
            raise SettingsError(f"scheme {name!r} takes no parameter (got {raw!r})")
        return Scheme(name)
    if name in ("power", "effective"):
        what = "Q" if name == "power" else "BETA"
        try:
            value = float(arg)
        except ValueError:
            raise SettingsError(
                f"scheme {name!r} needs a number, as in '{name}:{'0.5' if name == 'power' else '0.999'}' (got {raw!r})"
            ) from None
        if not math.isfinite(value):
            raise SettingsError(f"{name} {what} must be finite (got {arg})")
        if name == "effective" and not 0.0 <= value < 1.0:
            raise SettingsError(f"effective-number BETA must be in [0, 1) (got {value:g})")
        return Scheme(name, value)
    if name == "rfs":
        try:
            t = float(arg)
        except ValueError:
            raise SettingsError(f"scheme 'rfs' needs a threshold, as in 'rfs:0.001' (got {raw!r})") from None
        if not (math.isfinite(t) and t > 0):
            raise SettingsError(f"rfs threshold T must be a finite number > 0 (got {arg})")
        return Scheme("rfs", t)
    if name == "custom":
        if not arg:
            raise SettingsError("custom scheme needs a JSON file: 'custom:weights.json'")
        custom, usable = _read_custom_weights(arg)
        return Scheme("custom", custom=custom, usable=usable, source=arg)
    raise SettingsError(
        f"unknown scheme {raw!r}; choose one of inverse, balanced, sqrt, power:Q, "
        "effective:BETA, rfs:T, none, custom:FILE.json"
    )


def load_custom_weights(path: str | os.PathLike[str]) -> dict[str, float]:
    """Read ``{"class name": weight}`` from JSON. An exported per-class ``.json`` weights file
    (with ``classes`` and ``class_weights``) is accepted too, checked as ``load_weights`` checks it
    (fingerprint, version). A key given twice, a weight that is not a number, too large for a
    float64 or not finite is refused, naming the class."""
    return _read_custom_weights(path)[0]


def _unique_keys(path: str | os.PathLike[str]) -> Any:
    """A ``json`` object hook that refuses a key given twice (json keeps the last one silently)."""

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise WeightsError(f"{os.fspath(path)}: the key {quoted(key)} is given twice; each must be unique")
            out[key] = value
        return out

    return hook


def _as_weight(path: str | os.PathLike[str], name: object, value: object) -> float:
    """A JSON value as a class weight, or a WeightsError naming the class."""
    shown = quoted(str(name))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WeightsError(f"{path}: class {shown} has weight {_clip(repr(value))}, which is not a number")
    try:
        w = float(value)
    except OverflowError:  # an integer of hundreds of digits
        raise WeightsError(
            f"{path}: class {shown} has weight {_clip(repr(value))}, too large for a float64 "
            "(at most about 1.8e308): scale the weights down, only their ratios matter"
        ) from None
    if not math.isfinite(w):
        raise WeightsError(f"class {shown} has weight {w!r}: weights must be finite and >= 0")
    return w


def _read_custom_weights(
    path: str | os.PathLike[str],
) -> tuple[dict[str, float], dict[str, tuple[int, int]] | None]:
    """The weights by class name, and for an exported file that excludes samples, each class's
    ``(count, usable count)``."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh, object_pairs_hook=_unique_keys(path))
    except FileNotFoundError:
        raise WeightsError(f"custom weights file not found: {path}") from None
    except RecursionError:
        raise WeightsError(f"cannot read custom weights file {path}: nested too deeply") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WeightsError(f"cannot read custom weights file {path}: {_clip(str(e))}") from None
    usable = None
    if isinstance(data, dict) and "format_version" in data:  # exported by balance-gui: check it as such
        from .weightsfile import read_weights_file

        info = read_weights_file(path)
        if "counts" not in info:
            raise WeightsError(f"{path}: custom weights come from a per-class .json, not a {info['format']} file")
        data = dict(zip(info["classes"], info["class_weights"].tolist(), strict=True))
        if info["num_excluded"]:
            usable = {
                c: (int(n), int(u))
                for c, n, u in zip(info["classes"], info["counts"], info["usable_counts"], strict=True)
            }
    elif isinstance(data, dict) and "classes" in data and "class_weights" in data:
        classes, weights = data["classes"], data["class_weights"]
        if not isinstance(classes, list) or not isinstance(weights, list) or len(classes) != len(weights):
            raise WeightsError(f"{path}: 'classes' and 'class_weights' must be lists of the same length")
        if not all(isinstance(c, str) for c in classes):
            raise WeightsError(f"{path}: 'classes' must be a list of class names")
        if len(set(classes)) != len(classes):
            raise WeightsError(f"{path}: 'classes' names a class twice")
        data = dict(zip(classes, weights, strict=True))
    if not isinstance(data, dict) or not data:
        raise WeightsError(f"{path}: expected a JSON object mapping class name to weight")
    return {str(name): _as_weight(path, name, value) for name, value in data.items()}, usable


def _float_array(values: ArrayLike, what: Callable[[int], str], noun: str = "weight") -> np.ndarray:
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
                    f"{what(i)} has {noun} {_clip(repr(v))}, too large for a float64 (at most about 1.8e308)"
                ) from None
            except (TypeError, ValueError):
                raise WeightsError(f"{what(i)} has {noun} {_clip(repr(v))}, which is not a number") from None
        raise WeightsError(f"expected numbers: {_clip(str(e))}") from None


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def class_weights(
    counts: Sequence[int] | np.ndarray, scheme: str | Scheme = DEFAULT_SCHEME, classes: Sequence[str] | None = None
) -> np.ndarray:
    """Per-class weights (float64) for class ``counts`` under ``scheme``. Empty classes get 0."""
    scheme = parse_scheme(scheme)
    n = _float_array(counts, lambda i: f"class #{i}", "count")
    if n.ndim != 1 or n.size == 0:
        raise WeightsError("class counts must be a non-empty 1-D sequence")
    if np.any(n < 0):
        raise WeightsError("class counts must be >= 0")
    total, num_classes = n.sum(), n.size
    present = n > 0
    safe = np.where(present, n, 1.0)
    w: np.ndarray
    if scheme.name == "inverse":
        w = total / safe
    elif scheme.name == "balanced":
        w = total / (num_classes * safe)
    elif scheme.name == "sqrt":
        w = 1.0 / np.sqrt(safe)
    elif scheme.name == "power":
        assert scheme.param is not None
        q1, log_n = scheme.param - 1.0, np.log(safe)
        with np.errstate(over="ignore"):
            log_w = q1 * log_n
        if np.isfinite(log_w[present]).all():
            # n**(q-1) over- or underflows for large |q|: the same law, scaled so the largest weight is 1.
            shift = log_w[present].max() if abs(log_w[present]).max() > 700 else 0.0
            w = np.exp(log_w - shift)
        else:  # |q| near the float64 limit: relative to the class of largest weight, in one product
            ref = log_n[present].max() if q1 > 0 else log_n[present].min()
            with np.errstate(over="ignore", under="ignore"):
                w = np.exp(q1 * (log_n - ref))
    elif scheme.name == "effective":
        assert scheme.param is not None
        beta = scheme.param
        w = (1.0 - beta) / -np.expm1(safe * np.log(beta)) if beta > 0 else np.ones_like(safe)
        w = np.where(present, w, 0.0)
        w = w * (num_classes / w.sum()) if w.sum() > 0 else w
    elif scheme.name == "rfs":  # repeat-factor sampling (LVIS): r_c = max(1, sqrt(T / f_c)), f_c = n_c / N
        assert scheme.param is not None  # sqrt(T) * sqrt(N / n_c): T / f_c overflows for T near 1e308
        w = np.maximum(1.0, math.sqrt(scheme.param) * np.sqrt(total / safe))
    elif scheme.name == "none":
        w = np.ones_like(safe)
    elif scheme.name == "custom":
        if classes is None or scheme.custom is None:
            raise WeightsError("custom weights need the class names")
        w = _custom_vector(scheme.custom, classes)
        validate_class_weights(w, classes)  # the user's own values, empty classes included
        if scheme.usable is not None:
            _check_usable_counts(scheme, n, classes)
    else:  # pragma: no cover - parse_scheme rejects other names
        raise WeightsError(f"unknown scheme {scheme.name!r}")
    w = np.where(present, w, 0.0)
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


def _check_usable_counts(scheme: Scheme, counts: np.ndarray, classes: Sequence[str]) -> None:
    """Custom weights from a file that excludes samples apply to the usable counts only: on every
    sample they would give the excluded ones (corrupt files, duplicate copies) weight again."""
    assert scheme.usable is not None
    for name, n in zip(classes, counts.tolist(), strict=True):
        total, usable = scheme.usable.get(name, (n, n))
        if total == usable or n == usable:
            continue
        excluded = sum(t - u for t, u in scheme.usable.values())
        if n == total:
            why = f"here {quoted(name)} counts all {total:,} of its images, the excluded ones too"
        else:
            why = f"{quoted(name)} has {usable:,} usable images in the file, {int(n):,} here"
        raise WeightsError(
            f"{scheme.source}: these weights were exported with {excluded:,} samples excluded (corrupt files "
            f"or duplicate copies) and apply to the usable images only, but {why}: run with --usable "
            "(the image check finds them again, and they stay excluded), or export the weights again"
        )


def _custom_vector(custom: Mapping[str, float], classes: Sequence[str]) -> np.ndarray:
    unknown = [c for c in custom if c not in set(classes)]
    if unknown:
        raise WeightsError(
            f"custom weights name class(es) the dataset lacks: {', '.join(repr(c) for c in unknown[:10])}"
        )
    missing = [c for c in classes if c not in custom]
    if missing:
        raise WeightsError(f"custom weights give no weight for class(es): {', '.join(repr(c) for c in missing[:10])}")
    return np.array([custom[c] for c in classes], dtype=np.float64)


def validate_class_weights(
    weights: ArrayLike, classes: Sequence[str] | None = None, counts: ArrayLike | None = None
) -> np.ndarray:
    """Raise :class:`WeightsError` naming the class and value of the first bad weight."""
    w = _float_array(
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
