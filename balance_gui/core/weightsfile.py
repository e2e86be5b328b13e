"""Weights files: the contract between a dataset and the training code that samples it.

Formats, chosen by extension:

``.pt``   ``torch.save`` of a dict that ``torch.load(f, weights_only=True)`` reads:
          weights, targets, class_weights, classes, class_to_idx, samples, scheme,
          root, format_version, and a sha256 ``fingerprint`` of all of them.
``.csv``  ``path,class,class_index,weight``, one row per sample.
``.json`` the per-class record: classes, counts, class_weights, expected_shares, scheme.
``.npy``  the per-sample float64 weights.

Samples are in ImageFolder order. Writes are atomic; reads never unpickle code.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import zipfile
from typing import Any

import numpy as np
import torch

from .atomic import atomic_write
from .dataset import DatasetIndex, open_dataset
from .errors import BalanceError, WeightsError, WeightsFileError
from .weights import Scheme, expected_shares, sample_weights, validate_class_weights

FORMAT_VERSION = 1
FORMATS = (".pt", ".csv", ".json", ".npy")
CSV_HEADER = ["path", "class", "class_index", "weight"]
_PT_KEYS = (
    "weights",
    "targets",
    "class_weights",
    "classes",
    "class_to_idx",
    "samples",
    "scheme",
    "root",
    "format_version",
)


def _format_of(path) -> str:
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in FORMATS:
        raise WeightsFileError(
            f"unknown weights file type {ext or '(none)'!r} for {path}; use one of {', '.join(FORMATS)}"
        )
    return ext


def _fingerprint(record: dict) -> str:
    """sha256 over every field, so any edit to a ``.pt`` file is caught on load."""
    h = hashlib.sha256()
    for key in _PT_KEYS:
        value = record[key]
        if isinstance(value, torch.Tensor):
            h.update(str(value.dtype).encode() + value.contiguous().numpy().tobytes())
        else:
            h.update(json.dumps(value, sort_keys=True, ensure_ascii=True).encode())
        h.update(b"\0" + key.encode() + b"\0")
    return h.hexdigest()


def export_weights(path: str | os.PathLike, index: DatasetIndex, class_w, scheme: str | Scheme) -> str:
    """Write ``index``'s weights under ``class_w`` to ``path``; the extension picks the format."""
    fmt = _format_of(path)
    class_w = validate_class_weights(class_w, index.classes, counts=index.counts)
    per_sample = sample_weights(index.targets, class_w)
    scheme_text = str(scheme)
    root = os.path.abspath(index.root)
    if fmt == ".pt":
        record: dict[str, Any] = {
            "weights": torch.from_numpy(per_sample.copy()),
            "targets": torch.from_numpy(index.targets.copy()),
            "class_weights": torch.from_numpy(class_w.copy()),
            "classes": list(index.classes),
            "class_to_idx": dict(index.class_to_idx),
            "samples": index.relative_paths(),
            "scheme": scheme_text,
            "root": root,
            "format_version": FORMAT_VERSION,
        }
        record["fingerprint"] = _fingerprint(record)
        buffer = io.BytesIO()
        torch.save(record, buffer)
        atomic_write(path, lambda fh: fh.write(buffer.getbuffer()))
    elif fmt == ".npy":
        atomic_write(path, lambda fh: np.save(fh, per_sample, allow_pickle=False))
    elif fmt == ".json":
        record = {
            "format_version": FORMAT_VERSION,
            "scheme": scheme_text,
            "root": root,
            "num_samples": len(index),
            "classes": list(index.classes),
            "counts": [int(n) for n in index.counts],
            "class_weights": [float(w) for w in class_w],
            "expected_shares": [float(p) for p in expected_shares(index.counts, class_w)],
        }
        text = json.dumps(record, indent=2, allow_nan=False) + "\n"
        atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))
    else:
        atomic_write(path, lambda fh: _write_csv(fh, index, per_sample))
    return os.fspath(path)


def _write_csv(fh, index: DatasetIndex, per_sample: np.ndarray) -> None:
    text = io.TextIOWrapper(fh, encoding="utf-8", errors="surrogateescape", newline="")
    writer = csv.writer(text)
    writer.writerow(CSV_HEADER)
    classes = index.classes
    writer.writerows(
        (p, classes[t], t, repr(w))
        for p, t, w in zip(index.relative_paths(), index.targets.tolist(), per_sample.tolist(), strict=False)
    )
    text.flush()
    text.detach()


# ---------------------------------------------------------------- reading


def load_weights(path: str | os.PathLike, dataset=None) -> torch.Tensor:
    """Read a weights file as a float64 tensor, one weight per sample.

    With ``dataset`` (an ImageFolder, a DatasetIndex, or a dataset root path),
    first check that the file belongs to it, and raise :class:`WeightsFileError`
    saying what differs. A ``.json`` file holds per-class weights: it returns
    those, or per-sample weights when ``dataset`` is given.
    """
    info = read_weights_file(path)
    if dataset is not None:
        view = _dataset_view(dataset)
        check_matches(info, view, path)
        if info["format"] == ".json":
            return torch.from_numpy(sample_weights(view["targets"], info["class_weights"]))
    return torch.from_numpy(info["weights"] if info["format"] != ".json" else info["class_weights"])


def read_weights_file(path: str | os.PathLike) -> dict:
    """Read and sanity-check a weights file into a plain dict (``format`` plus what it holds)."""
    fmt = _format_of(path)
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WeightsFileError(f"weights file not found: {path}")
    try:
        info = {".pt": _read_pt, ".npy": _read_npy, ".json": _read_json, ".csv": _read_csv}[fmt](path)
    except (BalanceError, MemoryError):
        raise
    except Exception as e:  # any parse failure of a truncated or corrupted file
        raise WeightsFileError(
            f"{path} is not a readable {fmt} weights file (truncated or corrupted?): {type(e).__name__}: {e}"
        ) from e
    info["format"] = fmt
    try:
        if "weights" in info:
            _validate_sample_weights(info["weights"])
        if "class_weights" in info:
            validate_class_weights(info["class_weights"], info.get("classes"))
    except WeightsError as e:
        raise WeightsFileError(f"{path}: invalid weights: {e}") from e
    return info


def _validate_sample_weights(w: np.ndarray) -> None:
    if w.ndim != 1:
        raise WeightsError(f"per-sample weights must be 1-D, got shape {w.shape}")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise WeightsError(f"sample {bad[0]} has weight {float(w[bad[0]])!r}: weights must be finite and >= 0")
    if not np.any(w > 0):
        raise WeightsError("all weights are zero: nothing could ever be drawn")


def _read_pt(path: str) -> dict:
    if not zipfile.is_zipfile(path):
        raise WeightsFileError(f"{path} is not a torch.save file (truncated or not a .pt?)")
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsFileError(
            f"{path} cannot be loaded safely (weights_only=True refused it or it is "
            f"corrupted): {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from e
    if not isinstance(record, dict):
        raise WeightsFileError(f"{path} holds a {type(record).__name__}, not a balance-gui weights record")
    missing = [k for k in _PT_KEYS if k not in record]
    if missing:
        raise WeightsFileError(f"{path} lacks the key(s) {', '.join(missing)}")
    if "fingerprint" in record and record["fingerprint"] != _fingerprint(record):
        raise WeightsFileError(f"{path} was modified after export: its fingerprint does not match its content")
    weights, targets, class_w = record["weights"], record["targets"], record["class_weights"]
    for key, t in (("weights", weights), ("targets", targets), ("class_weights", class_w)):
        if not isinstance(t, torch.Tensor) or t.ndim != 1:
            raise WeightsFileError(f"{path}: {key!r} must be a 1-D tensor")
    classes, samples = list(record["classes"]), list(record["samples"])
    if not (len(weights) == len(targets) == len(samples)):
        raise WeightsFileError(
            f"{path}: {len(weights)} weights, {len(targets)} targets and {len(samples)} "
            "samples should be the same number"
        )
    if len(class_w) != len(classes) or dict(record["class_to_idx"]) != {c: i for i, c in enumerate(classes)}:
        raise WeightsFileError(f"{path}: classes, class_to_idx and class_weights disagree")
    targets_np = targets.numpy().astype(np.int64)
    if targets_np.size and (targets_np.min() < 0 or targets_np.max() >= len(classes)):
        raise WeightsFileError(f"{path}: targets point outside the {len(classes)} classes")
    return {
        "weights": weights.numpy().astype(np.float64),
        "targets": targets_np,
        "classes": classes,
        "class_weights": class_w.numpy().astype(np.float64),
        "samples": samples,
        "scheme": record["scheme"],
        "root": record["root"],
    }


def _read_npy(path: str) -> dict:
    w = np.load(path, allow_pickle=False)
    if w.dtype.kind not in "fiu":
        raise WeightsFileError(f"{path}: holds {w.dtype} values, not numbers")
    return {"weights": w.astype(np.float64)}


def _read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        record = json.load(fh)
    keys = ("classes", "counts", "class_weights")
    if not isinstance(record, dict) or any(k not in record for k in keys):
        raise WeightsFileError(f"{path}: expected a JSON object with {', '.join(keys)}")
    classes, counts, class_w = (list(record[k]) for k in keys)
    if not (len(classes) == len(counts) == len(class_w)):
        raise WeightsFileError(f"{path}: classes, counts and class_weights differ in length")
    return {
        "classes": [str(c) for c in classes],
        "counts": np.asarray(counts, dtype=np.int64),
        "class_weights": np.asarray(class_w, dtype=np.float64),
        "scheme": record.get("scheme"),
    }


def _read_csv(path: str) -> dict:
    samples, class_names, targets, weights = [], [], [], []
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header != CSV_HEADER:
            raise WeightsFileError(f"{path}: header must be {','.join(CSV_HEADER)}, found {header!r}")
        for line_no, row in enumerate(reader, start=2):
            if len(row) != 4:
                raise WeightsFileError(f"{path}, line {line_no}: expected 4 fields, got {len(row)}")
            samples.append(row[0])
            class_names.append(row[1])
            try:
                targets.append(int(row[2]))
                weights.append(float(row[3]))
            except ValueError:
                raise WeightsFileError(
                    f"{path}, line {line_no}: class_index and weight must be numbers, got {row[2]!r}, {row[3]!r}"
                ) from None
    if not samples:
        raise WeightsFileError(f"{path}: the file lists no samples")
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) != b"\n":
            raise WeightsFileError(f"{path}: the last line is cut short (truncated file?)")
    names: dict[int, str] = {}
    for line_no, (name, t) in enumerate(zip(class_names, targets, strict=False), start=2):
        if t < 0 or names.setdefault(t, name) != name:
            raise WeightsFileError(
                f"{path}, line {line_no}: class_index {t} is {names.get(t)!r} elsewhere, {name!r} here"
            )
    # Classes with no sample (empty folders) leave gaps: None stands for them.
    classes = [names.get(i) for i in range(max(names) + 1)]
    return {
        "samples": samples,
        "targets": np.asarray(targets, dtype=np.int64),
        "weights": np.asarray(weights, dtype=np.float64),
        "classes_seen": classes,
    }


# ---------------------------------------------------------------- matching


def _dataset_view(dataset) -> dict:
    """classes, relative sample paths and targets of a DatasetIndex, ImageFolder or root path."""
    if isinstance(dataset, (str, os.PathLike)):
        dataset = open_dataset(dataset)
    if isinstance(dataset, DatasetIndex):
        return {
            "classes": list(dataset.classes),
            "targets": dataset.targets,
            "samples": dataset.relative_paths,
            "counts": dataset.counts,
        }
    if hasattr(dataset, "classes") and hasattr(dataset, "samples"):  # torchvision ImageFolder / DatasetFolder
        root = os.fspath(dataset.root)
        prefix = root if root.endswith(os.sep) else root + os.sep
        pairs = dataset.samples
        targets = np.asarray([t for _, t in pairs], dtype=np.int64)
        return {
            "classes": list(dataset.classes),
            "targets": targets,
            "samples": lambda: [
                p[len(prefix) :] if p.startswith(prefix) else os.path.relpath(p, root) for p, _ in pairs
            ],
            "counts": np.bincount(targets, minlength=len(dataset.classes)),
        }
    raise TypeError(f"dataset must be an ImageFolder, a DatasetIndex or a path, not {type(dataset).__name__}")


def _shown(items, limit=5) -> str:
    items = list(items)
    text = ", ".join(repr(x) for x in items[:limit])
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")


def check_matches(info: dict, view: dict, path) -> None:
    """Raise :class:`WeightsFileError` listing every way the file and the dataset differ."""
    problems = []
    if "classes" in info and info["classes"] != view["classes"]:
        problems.append(_class_difference(info["classes"], view["classes"]))
    elif "classes_seen" in info:
        seen = _strip_none(info["classes_seen"])
        present = _strip_none([c if n else None for c, n in zip(view["classes"], view["counts"], strict=False)])
        if seen != present:
            problems.append(_class_difference([c for c in seen if c], [c for c in present if c]))
    if "samples" in info:
        problems.extend(_sample_difference(info["samples"], view["samples"]()))
    elif "counts" in info:
        if not problems and not np.array_equal(info["counts"], view["counts"]):
            pairs = zip(view["classes"], info["counts"], view["counts"], strict=False)
            diff = [(c, int(a), int(b)) for c, a, b in pairs if a != b]
            problems.append(
                "class counts differ: "
                + ", ".join(f"{c!r} has {a} in the file, {b} in the dataset" for c, a, b in diff[:5])
            )
    elif len(info["weights"]) != len(view["targets"]):
        problems.append(
            f"the file holds {len(info['weights'])} weights but the dataset has {len(view['targets'])} samples"
        )
    if "targets" in info and not problems and not np.array_equal(info["targets"], view["targets"]):
        first = int(np.flatnonzero(info["targets"] != view["targets"])[0])
        problems.append(
            f"sample {first} has class index {info['targets'][first]} in the file, "
            f"{view['targets'][first]} in the dataset"
        )
    if problems:
        raise WeightsFileError(f"{os.fspath(path)} does not match the dataset: " + "; ".join(problems))


def _strip_none(names: list) -> list:
    while names and names[-1] is None:
        names = names[:-1]
    return names


def _class_difference(file_classes: list[str], data_classes: list[str]) -> str:
    only_file = [c for c in file_classes if c not in set(data_classes)]
    only_data = [c for c in data_classes if c not in set(file_classes)]
    if len(only_file) == len(only_data) and only_file:
        return "classes renamed: " + ", ".join(f"{a!r} -> {b!r}" for a, b in zip(only_file, only_data, strict=False))
    parts = []
    if only_file:
        parts.append(f"classes only in the file: {_shown(only_file)}")
    if only_data:
        parts.append(f"classes only in the dataset: {_shown(only_data)}")
    if not parts:
        parts.append("classes are in a different order")
    return "; ".join(parts)


def _sample_difference(file_samples: list[str], data_samples: list[str]) -> list[str]:
    if file_samples == data_samples:
        return []
    file_set, data_set = set(file_samples), set(data_samples)
    problems = []
    missing = [s for s in file_samples if s not in data_set]
    extra = [s for s in data_samples if s not in file_set]
    if missing:
        problems.append(f"{len(missing)} file(s) missing from the dataset: {_shown(missing)}")
    if extra:
        problems.append(f"{len(extra)} extra file(s) in the dataset, not in the weights file: {_shown(extra)}")
    if not missing and not extra:
        first = next(i for i, (a, b) in enumerate(zip(file_samples, data_samples, strict=False)) if a != b)
        problems.append(
            f"files reordered: sample {first} is {file_samples[first]!r} in the file, "
            f"{data_samples[first]!r} in the dataset"
        )
    return problems
