"""``.json``: the per-class record: format_version, scheme, root, num_samples, classes, counts,
class_weights, expected_shares, [usable_counts, excluded,] a table-like source's rows and label hash
(``core.table_identity``), and a sha256 ``fingerprint`` of the rest. It names no samples: it gives
per-sample weights for a dataset only. A per-image file is the image-weights record as JSON."""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ..atomic import atomic_write
from ..errors import WeightsFileError
from ..expected import expected_shares
from ..names import quoted
from .base import (
    EXCLUDED_VERSION,
    IMAGE_WEIGHTS_KIND,
    INT64_MAX,
    Export,
    ImageExport,
    WeightsFormat,
    check_excluded_version,
    check_fingerprint,
    check_version,
    clip,
    image_weights_bad,
    is_str_list,
)

NEWEST = EXCLUDED_VERSION


def record_fingerprint(record: dict[str, Any]) -> str:
    """sha256 of the record's canonical JSON, without the fingerprint itself."""
    rest = {k: v for k, v in record.items() if k != "fingerprint"}
    text = json.dumps(rest, sort_keys=True, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8", "surrogateescape")))


def write(path: str | os.PathLike[str], data: Export) -> None:
    index = data.index
    record: dict[str, Any] = {
        "format_version": data.version,
        "scheme": data.scheme,
        "root": data.root,
        "num_samples": len(index),
        "classes": list(index.classes),
        "counts": [int(n) for n in index.counts],
        "class_weights": [float(w) for w in data.class_weights],
        # The law the sampler follows: over the usable samples only, when some are excluded.
        "expected_shares": [float(p) for p in expected_shares(data.usable, data.class_weights)],
    }
    if data.identity is not None:
        record.update(data.identity)
    if data.excluded is not None:
        record["usable_counts"] = [int(n) for n in data.usable]
        record["excluded"] = [int(a - b) for a, b in zip(index.counts, data.usable, strict=True)]
    record["fingerprint"] = record_fingerprint(record)
    _write_text(path, json.dumps(record, indent=2, allow_nan=False) + "\n")


def _unique_keys(path: str) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """A ``json`` object hook that refuses a key given twice (json keeps the last one silently,
    so two readers may disagree on what the file says)."""

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise WeightsFileError(f"{path}: the key {quoted(clip(key, 60))} is given twice (edited file?)")
            out[key] = value
        return out

    return hook


def _whole_numbers(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= INT64_MAX for n in value
    )


def read(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
        record = json.load(fh, object_pairs_hook=_unique_keys(path))
    keys = ("classes", "counts", "class_weights")
    if not isinstance(record, dict) or any(k not in record for k in (*keys, "format_version")):
        raise WeightsFileError(f"{path}: expected a JSON object with format_version, {', '.join(keys)}")
    check_version(path, record["format_version"], NEWEST)
    classes, counts, class_w = (record[k] for k in keys)
    if not is_str_list(classes):
        raise WeightsFileError(f"{path}: 'classes' must be a list of class names, found {type(classes).__name__}")
    if not _whole_numbers(counts):
        raise WeightsFileError(f"{path}: 'counts' must be a list of whole numbers >= 0")
    if not isinstance(class_w, list) or not all(
        isinstance(w, (int, float)) and not isinstance(w, bool) for w in class_w
    ):
        raise WeightsFileError(f"{path}: 'class_weights' must be a list of numbers")
    if not (len(classes) == len(counts) == len(class_w)):
        raise WeightsFileError(f"{path}: classes, counts and class_weights differ in length")
    for name, w in zip(classes, class_w, strict=True):
        try:
            finite = math.isfinite(w)
        except OverflowError:  # an integer of hundreds of digits
            finite = False
        if not finite:
            raise WeightsFileError(
                f"{path}: class {quoted(name)} has weight {clip(repr(w))}: not a finite float64 (at most about 1.8e308)"
            )
    check_fingerprint(path, record.get("fingerprint"), record_fingerprint(record))
    counts_np = np.asarray(counts, dtype=np.int64)
    has_excluded = "usable_counts" in record or "excluded" in record
    check_excluded_version(path, record["format_version"], has_excluded)
    usable_np = counts_np
    if has_excluded:
        usable, excluded = record.get("usable_counts"), record.get("excluded")
        if not all(isinstance(v, list) and len(v) == len(classes) and _whole_numbers(v) for v in (usable, excluded)):
            raise WeightsFileError(
                f"{path}: 'usable_counts' and 'excluded' must both be lists of whole numbers >= 0, one per class"
            )
        assert isinstance(usable, list) and isinstance(excluded, list)  # checked just above; for mypy
        if any(u + e != n for u, e, n in zip(usable, excluded, counts, strict=True)):
            raise WeightsFileError(f"{path}: for every class, usable_counts + excluded must equal counts")
        if not any(excluded):
            raise WeightsFileError(f"{path}: 'excluded' is present but excludes nothing")
        if not any(u > 0 and w > 0 for u, w in zip(usable, class_w, strict=True)):
            what = "every sample" if not any(usable) else "every sample of the classes with weight"
            raise WeightsFileError(f"{path}: 'excluded' leaves out {what}: nothing could ever be drawn")
        usable_np = np.asarray(usable, dtype=np.int64)
    out = {
        "classes": classes,
        "counts": counts_np,
        "usable_counts": usable_np,
        "class_weights": np.asarray(class_w, dtype=np.float64),
        "scheme": record.get("scheme"),
    }
    if "source" in record:  # a table-like source's record: its rows and the hash of its labels
        from ..table_identity import read_identity

        out["table"] = read_identity(path, record, sum(counts))
    return out


def write_image(path: str | os.PathLike[str], data: ImageExport) -> None:
    _write_text(path, json.dumps(data.record, indent=1, allow_nan=False) + "\n")


def read_image(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            data = json.load(fh)
    except (ValueError, RecursionError) as e:
        raise image_weights_bad(path, f"not valid JSON ({e})") from e
    return data if isinstance(data, dict) and data.get("kind") == IMAGE_WEIGHTS_KIND else None


FORMAT = WeightsFormat(
    extension=".json",
    label="JSON, one weight per class",
    tooltip="per-class weights and counts, readable by any language",
    identified=True,
    per_sample=False,
    newest_version=NEWEST,
    write=write,
    read=read,
    write_image=write_image,
    read_image=read_image,
)
