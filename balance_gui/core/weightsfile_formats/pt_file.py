"""``.pt``: ``torch.save`` of a dict that ``torch.load(f, weights_only=True)`` reads.

A dataset's file holds weights, targets, class_weights, classes, class_to_idx, samples, scheme, root,
format_version, [excluded,] and last a sha256 ``fingerprint`` of all of them; a table-like source's
holds its rows and label hash (``core.table_identity``) instead of ``samples``. A per-image file
holds the image-weights record with its weights and image ids as tensors. torch is imported only
here, and only when a .pt is written or read."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from typing import Any

import numpy as np

from ..errors import WeightsFileError
from .base import (
    EXCLUDED_VERSION,
    IMAGE_WEIGHTS_KIND,
    Export,
    ImageExport,
    WeightsFormat,
    check_excluded_indices,
    check_excluded_version,
    check_fingerprint,
    check_version,
    clip,
    image_weights_bad,
    is_str_list,
    write_buffer,
)

NEWEST = EXCLUDED_VERSION
OPTIONAL_KEYS = ("excluded", "fingerprint")
KEYS = (
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


def record_keys(record: dict[str, Any]) -> tuple[str, ...]:
    """The keys a record must hold: a table-like source's holds its rows by position and the hash
    of its labels (``core.table_identity``) instead of ``samples``."""
    if "source" not in record:
        return KEYS
    from ..table_identity import IDENTITY_KEYS  # the table modules load only for a table's file

    return (*(k for k in KEYS if k != "samples"), *IDENTITY_KEYS)


def record_fingerprint(record: dict[str, Any]) -> str:
    """sha256 over every field, so any edit to a ``.pt`` file is caught on load."""
    torch = sys.modules.get("torch")  # a record holding tensors was made by torch, so it is imported
    h = hashlib.sha256()
    keys = record_keys(record)
    for key in (*keys, "excluded") if "excluded" in record else keys:
        value = record[key]
        if torch is not None and isinstance(value, torch.Tensor):
            h.update(str(value.dtype).encode() + value.contiguous().numpy().tobytes())
        else:
            h.update(json.dumps(value, sort_keys=True, ensure_ascii=True).encode())
        h.update(b"\0" + key.encode() + b"\0")
    return h.hexdigest()


def _save(path: str | os.PathLike[str], record: dict[str, Any]) -> None:
    import torch

    buffer = io.BytesIO()
    torch.save(record, buffer)
    write_buffer(path, buffer.getbuffer())


def write(path: str | os.PathLike[str], data: Export) -> None:
    import torch

    index = data.index
    record: dict[str, Any] = {
        "weights": torch.from_numpy(data.per_sample.copy()),
        "targets": torch.from_numpy(index.targets.copy()),
        "class_weights": torch.from_numpy(data.class_weights.copy()),
        "classes": list(index.classes),
        "class_to_idx": dict(index.class_to_idx),
    }
    if data.identity is None:
        record["samples"] = index.relative_paths()
    record.update(scheme=data.scheme, root=data.root, format_version=data.version)
    if data.identity is not None:
        record.update(data.identity)
    if data.excluded is not None:
        record["excluded"] = torch.from_numpy(np.flatnonzero(data.excluded).astype(np.int64))
    record["fingerprint"] = record_fingerprint(record)
    _save(path, record)


def _load(path: str) -> Any:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def read(path: str) -> dict[str, Any]:
    import zipfile

    import torch

    if not zipfile.is_zipfile(path):
        raise WeightsFileError(f"{path} is not a torch.save file (truncated or not a .pt?)")
    # torch.save stores its entries uncompressed: a compressed entry could claim any size.
    with zipfile.ZipFile(path) as archive:
        entries = archive.infolist()
    if any(e.compress_type != zipfile.ZIP_STORED for e in entries) or sum(e.file_size for e in entries) > (
        os.path.getsize(path)
    ):
        raise WeightsFileError(f"{path} is not a torch.save file: its entries claim more bytes than the file holds")
    try:
        record = _load(path)
    except Exception as e:
        raise WeightsFileError(
            f"{path} cannot be loaded safely (weights_only=True refused it or it is "
            f"corrupted): {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from e
    if not isinstance(record, dict):
        raise WeightsFileError(f"{path} holds a {type(record).__name__}, not a balance-gui weights record")
    table = "source" in record  # a table-like source's record: rows by position, no paths
    keys = record_keys(record)
    missing = [k for k in keys if k not in record]
    if missing:
        raise WeightsFileError(f"{path} lacks the key(s) {', '.join(missing)}")
    unknown = [k for k in record if k not in keys and k not in OPTIONAL_KEYS]
    if unknown:  # the fingerprint covers the known keys only: anything else could be changed unseen
        shown = ", ".join(clip(repr(k), 60) for k in unknown[:5])
        raise WeightsFileError(f"{path} holds key(s) a balance-gui weights record has not: {shown} (edited file?)")
    check_version(path, record["format_version"], NEWEST)
    weights, targets, class_w = record["weights"], record["targets"], record["class_weights"]
    for key, t in (("weights", weights), ("targets", targets), ("class_weights", class_w)):
        if not isinstance(t, torch.Tensor) or t.ndim != 1 or t.device.type != "cpu":
            raise WeightsFileError(f"{path}: {key!r} must be a 1-D CPU tensor")
    if weights.dtype.is_complex or class_w.dtype.is_complex or targets.dtype.is_floating_point:
        raise WeightsFileError(f"{path}: weights must be real numbers and targets integers")
    classes, samples, class_to_idx = record["classes"], record.get("samples", []), record["class_to_idx"]
    if not (is_str_list(classes) and is_str_list(samples) and isinstance(class_to_idx, dict)):
        raise WeightsFileError(f"{path}: 'classes' and 'samples' must be lists of names, 'class_to_idx' a dict")
    if not isinstance(record["scheme"], str) or not isinstance(record["root"], str):
        raise WeightsFileError(f"{path}: 'scheme' and 'root' must be text")
    check_fingerprint(path, record.get("fingerprint"), record_fingerprint(record))
    if table and len(weights) != len(targets):
        raise WeightsFileError(f"{path}: {len(weights)} weights and {len(targets)} targets should be the same number")
    if not table and not (len(weights) == len(targets) == len(samples)):
        raise WeightsFileError(
            f"{path}: {len(weights)} weights, {len(targets)} targets and {len(samples)} "
            "samples should be the same number"
        )
    identity = None
    if table:
        from ..table_identity import read_identity

        identity = read_identity(path, record, len(weights))
    if len(class_w) != len(classes) or class_to_idx != {c: i for i, c in enumerate(classes)}:
        raise WeightsFileError(f"{path}: classes, class_to_idx and class_weights disagree")
    targets_np = targets.numpy().astype(np.int64)
    if targets_np.size and (targets_np.min() < 0 or targets_np.max() >= len(classes)):
        raise WeightsFileError(f"{path}: targets point outside the {len(classes)} classes")
    weights_np = weights.numpy().astype(np.float64)
    excluded = record.get("excluded")
    check_excluded_version(path, record["format_version"], excluded is not None)
    if excluded is None:
        excluded_np = np.zeros(0, dtype=np.int64)
    else:
        if not isinstance(excluded, torch.Tensor) or excluded.ndim != 1 or excluded.dtype != torch.int64:
            raise WeightsFileError(f"{path}: 'excluded' must be a 1-D int64 tensor of sample indices")
        excluded_np = excluded.numpy().copy()
        check_excluded_indices(path, excluded_np, weights_np)
    out = {
        "weights": weights_np,
        "targets": targets_np,
        "classes": classes,
        "class_weights": class_w.numpy().astype(np.float64),
        "samples": samples,
        "scheme": record["scheme"],
        "root": record["root"],
        "excluded": excluded_np,
    }
    if identity is not None:
        del out["samples"]
        out["table"] = identity
    return out


def write_image(path: str | os.PathLike[str], data: ImageExport) -> None:
    import torch

    pt = dict(data.record)
    ids = pt["image_ids"]
    pt["weights"] = torch.from_numpy(data.weights.copy())
    pt["image_ids"] = None if ids is None else torch.tensor(ids, dtype=torch.int64)
    _save(path, pt)


def read_image(path: str) -> dict[str, Any] | None:
    import torch

    try:
        data = _load(path)
    except Exception as e:  # noqa: BLE001  (a truncated or foreign file)
        raise image_weights_bad(path, f"not a readable .pt weights file ({type(e).__name__})") from e
    if not isinstance(data, dict) or data.get("kind") != IMAGE_WEIGHTS_KIND:
        return None
    rec = dict(data)
    if not isinstance(rec.get("weights"), torch.Tensor) or rec["weights"].dtype != torch.float64:
        raise image_weights_bad(path, "its weights are not a float64 tensor")
    rec["weights"] = rec["weights"].numpy().tolist()
    if isinstance(rec.get("image_ids"), torch.Tensor):
        rec["image_ids"] = rec["image_ids"].tolist()
    return rec


FORMAT = WeightsFormat(
    extension=".pt",
    label="PyTorch weights record",
    tooltip="weights, class weights and the dataset fingerprint; torch.load(weights_only=True)",
    identified=True,
    per_sample=True,
    newest_version=NEWEST,
    write=write,
    read=read,
    write_image=write_image,
    read_image=read_image,
)
