"""``custom:FILE.json``: your own weight per class, from ``{"class name": weight}`` or an exported
per-class ``.json`` weights file (a bare path ending in ``.json`` means the same). In the GUI,
"custom" is the weights edited in the class table."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import SettingsError, WeightsError
from ..names import quoted
from ..weight_checks import clip, validate_class_weights
from .base import ClassCounts, Scheme, SchemeKind


def load_custom_weights(path: str | os.PathLike[str]) -> dict[str, float]:
    """Read ``{"class name": weight}`` from JSON. An exported per-class ``.json`` weights file
    (with ``classes`` and ``class_weights``) is accepted too, checked as ``load_weights`` checks it
    (fingerprint, version). A key given twice, a weight that is not a number, too large for a
    float64 or not finite is refused, naming the class."""
    return read_custom_weights(path)[0]


def _read(arg: str) -> Scheme:
    if not arg:
        raise SettingsError("custom scheme needs a JSON file: 'custom:weights.json'")
    custom, usable = read_custom_weights(arg)
    return Scheme("custom", custom=custom, usable=usable, source=arg)


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
        raise WeightsError(f"{path}: class {shown} has weight {clip(repr(value))}, which is not a number")
    try:
        w = float(value)
    except OverflowError:  # an integer of hundreds of digits
        raise WeightsError(
            f"{path}: class {shown} has weight {clip(repr(value))}, too large for a float64 "
            "(at most about 1.8e308): scale the weights down, only their ratios matter"
        ) from None
    if not math.isfinite(w):
        raise WeightsError(f"class {shown} has weight {w!r}: weights must be finite and >= 0")
    return w


def read_custom_weights(
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
        raise WeightsError(f"cannot read custom weights file {path}: {clip(str(e))}") from None
    usable = None
    if isinstance(data, dict) and "format_version" in data:  # exported by balance-gui: check it as such
        from ..weightsfile import read_weights_file  # it imports the schemes: read only when needed

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


def _weights(c: ClassCounts, scheme: Scheme) -> np.ndarray:
    if c.classes is None or scheme.custom is None:
        raise WeightsError("custom weights need the class names")
    w = _custom_vector(scheme.custom, c.classes)
    validate_class_weights(w, c.classes)  # the user's own values, empty classes included
    if scheme.usable is not None:
        _check_usable_counts(scheme, c.n, c.classes)
    return w


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


SCHEME = SchemeKind(
    key="custom",
    label="Custom  (edit in the table)",
    tooltip="Your own weight per class: edit the Weight column",
    weights=_weights,
    argument=":FILE.json",
    read=_read,
    shorthand=lambda text: text.lower().endswith(".json"),
)
