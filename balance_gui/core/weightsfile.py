"""Weights files: the contract between a dataset and the training code that samples it.

Formats, chosen by extension:

``.pt``   ``torch.save`` of a dict that ``torch.load(f, weights_only=True)`` reads:
          weights, targets, class_weights, classes, class_to_idx, samples, scheme,
          root, format_version, [excluded,] and last a sha256 ``fingerprint`` of all of them.
``.csv``  ``path,class,class_index,weight,fingerprint``, one row per sample; only the
          last row fills ``fingerprint`` (``format_version=2 sha256=HEX``), so a file cut
          at a row end has none.
``.json`` the per-class record: format_version, scheme, root, num_samples, classes,
          counts, class_weights, expected_shares, [usable_counts, excluded,] and a sha256
          ``fingerprint`` of the rest.
``.npy``  the per-sample float64 weights: nothing else, so nothing to check them against.

Excluded samples (``export_weights(..., excluded=mask)``: corrupt files and duplicate copies
found by the image health check) get weight 0 in every per-sample format. A ``.pt`` also lists
their indices (``excluded``, int64, ImageFolder order) and a ``.json`` its ``usable_counts`` and
per-class ``excluded`` counts; both keys exist only when something is excluded.

Samples are in ImageFolder order. Writes are atomic; reads never unpickle code, and
every size a file declares is checked against the file's own size before anything
is allocated. A file without its fingerprint, or one that does not match it, is refused.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch

from .atomic import atomic_write
from .dataset import DatasetIndex, open_dataset
from .errors import BalanceError, SettingsError, WeightsError, WeightsFileError
from .expected import expected_shares
from .labels import FolderDataset, as_dataset_index
from .names import quoted
from .table_identity import (
    IDENTITY_KEYS,
    has_columns,
    kept_rows,
    open_options,
    read_identity,
    table_identity,
    table_problems,
)
from .weights import Scheme, fit_class_weights, sample_weights, validate_class_weights

#: Version 2: the fingerprint is mandatory in .pt, .csv and .json. Version 1 .pt files carry one too.
FORMAT_VERSION = 2
#: Version 3: a .pt or .json that excludes samples (the ``excluded`` keys). Files without exclusions
#: stay version 2, byte for byte what earlier releases wrote. A version-2 reader would misread a
#: .json with exclusions: it ignores unknown keys (they are under the fingerprint it checks), and
#: spreads the class weights over every sample of the dataset, so the excluded samples would be drawn
#: again. Version 3 makes it refuse with "upgrade balance-gui" instead (and, for a .pt, instead of
#: the false "modified after export" its fingerprint check would give). A .csv keeps version 2: its
#: rows are unchanged, weight 0 marks the excluded ones, and any reader draws them never.
EXCLUDED_VERSION = 3
#: Version 4, for a .csv only: a path or class cell that a spreadsheet would run as a formula (it starts
#: with = + - @, a tab or a carriage return, after any single quotes) is written with one more single
#: quote in front, as OWASP recommends, and the reader takes it off. Files without such a cell stay
#: version 2; an older reader refuses a version-4 file ("upgrade") instead of reading "'=x" as a name.
CSV_QUOTED_VERSION = 4
READ_VERSION = CSV_QUOTED_VERSION
#: The newest version of each format (a .pt or .json never has version 4).
_NEWEST = {".pt": EXCLUDED_VERSION, ".json": EXCLUDED_VERSION, ".csv": CSV_QUOTED_VERSION}
FORMATS = (".pt", ".csv", ".json", ".npy")
#: Formats that name their classes, so that a file can be told apart from another dataset's.
IDENTIFIED_FORMATS = (".pt", ".csv", ".json")
CSV_HEADER = ["path", "class", "class_index", "weight", "fingerprint"]
#: A table-like source's .csv names each sample by its table row number (see core.table_identity).
TABLE_CSV_HEADER = ["row", *CSV_HEADER[1:]]
_CSV_V1_HEADER = CSV_HEADER[:4]
_CSV_TRAILER = re.compile(r"format_version=(\d{1,9}) sha256=([0-9a-f]{64})")
_FORMULA_START = "=+-@\t\r"  # OWASP: a cell starting so is a formula to Excel, LibreOffice, Sheets
_QUOTED_FORMULA = re.compile("'*[" + re.escape(_FORMULA_START) + "]")
_QUOTED_LIMIT = 200  # characters of a bad field an error message quotes
_INT64_MAX = int(np.iinfo(np.int64).max)
_PT_OPTIONAL_KEYS = ("excluded", "fingerprint")
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
#: A table-like source's .pt: its rows by position and the hash of its labels instead of ``samples``.
_TABLE_PT_KEYS = (*(k for k in _PT_KEYS if k != "samples"), *IDENTITY_KEYS)


def _format_of(path: str | os.PathLike) -> str:
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in FORMATS:
        raise WeightsFileError(
            f"unknown weights file type {ext or '(none)'!r} for {os.fspath(path)}; use one of {', '.join(FORMATS)}"
        )
    return ext


def _fingerprint(record: dict[str, Any]) -> str:
    """sha256 over every field, so any edit to a ``.pt`` file is caught on load."""
    h = hashlib.sha256()
    keys = _TABLE_PT_KEYS if "source" in record else _PT_KEYS
    for key in (*keys, "excluded") if "excluded" in record else keys:
        value = record[key]
        if isinstance(value, torch.Tensor):
            h.update(str(value.dtype).encode() + value.contiguous().numpy().tobytes())
        else:
            h.update(json.dumps(value, sort_keys=True, ensure_ascii=True).encode())
        h.update(b"\0" + key.encode() + b"\0")
    return h.hexdigest()


def _json_fingerprint(record: dict[str, Any]) -> str:
    """sha256 of the record's canonical JSON, without the fingerprint itself."""
    rest = {k: v for k, v in record.items() if k != "fingerprint"}
    text = json.dumps(rest, sort_keys=True, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _csv_fingerprint(version: int, rows: Sequence[Sequence[str]]) -> str:
    """sha256 of the format version and every row's four fields."""
    h = hashlib.sha256(f"balance-gui csv format_version={version}\n".encode())
    # NUL cannot occur in a path or a class name, so it separates fields unambiguously.
    h.update("".join("\0".join(r) + "\n" for r in rows).encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def export_weights(
    path: str | os.PathLike,
    index: DatasetIndex | FolderDataset,
    class_w: Sequence[float] | np.ndarray,
    scheme: str | Scheme,
    *,
    excluded: np.ndarray | None = None,
) -> str:
    """Write ``index``'s weights under ``class_w`` to ``path``; the extension picks the format.

    ``excluded``: None, or one bool per sample (True: left out, as a corrupt file or a duplicate
    copy). Excluded samples get weight 0 whatever ``class_w`` says, and the file records them.
    ``class_w`` is then meant for the usable counts (see ``core.images.usable_weights``).

    A table-like source (a Parquet/Arrow table, a Hugging Face folder, WebDataset shards) is named
    by its rows and a hash of its labels instead of its paths (``core.table_identity``): its paths
    are never read.
    """
    index = as_dataset_index(index)  # a torchvision ImageFolder is read as the index it describes
    fmt = _format_of(path)
    source = getattr(index, "source_file", "")
    if source and os.path.exists(path) and os.path.exists(source) and os.path.samefile(path, source):
        raise WeightsFileError(
            f"cannot write {os.fspath(path)}: it is the manifest this dataset was read from, and the weights "
            "would replace it; choose another output file"
        )
    mask = _excluded_mask(excluded, len(index))
    usable = index.counts if mask is None else np.bincount(index.targets[~mask], minlength=index.num_classes)
    class_w = fit_class_weights(validate_class_weights(class_w, index.classes, counts=usable), usable)
    per_sample = sample_weights(index.targets, class_w)
    if mask is not None:
        per_sample[mask] = 0.0
    scheme_text = str(scheme)
    root = os.path.abspath(index.root)
    version = FORMAT_VERSION if mask is None else EXCLUDED_VERSION
    identity = table_identity(index) if fmt in IDENTIFIED_FORMATS else None
    if fmt == ".pt":
        record: dict[str, Any] = {
            "weights": torch.from_numpy(per_sample.copy()),
            "targets": torch.from_numpy(index.targets.copy()),
            "class_weights": torch.from_numpy(class_w.copy()),
            "classes": list(index.classes),
            "class_to_idx": dict(index.class_to_idx),
        }
        if identity is None:
            record["samples"] = index.relative_paths()
        record.update(scheme=scheme_text, root=root, format_version=version)
        if identity is not None:
            record.update(identity)
        if mask is not None:
            record["excluded"] = torch.from_numpy(np.flatnonzero(mask).astype(np.int64))
        record["fingerprint"] = _fingerprint(record)
        buffer = io.BytesIO()
        torch.save(record, buffer)
        atomic_write(path, lambda fh: fh.write(buffer.getbuffer()))
    elif fmt == ".npy":
        # Serialised in memory first: numpy's own file writer reports a full disk as
        # "N requested and M written" with no errno, which reads as a contradiction.
        buffer = io.BytesIO()
        np.save(buffer, per_sample, allow_pickle=False)
        atomic_write(path, lambda fh: fh.write(buffer.getbuffer()))
    elif fmt == ".json":
        record = {
            "format_version": version,
            "scheme": scheme_text,
            "root": root,
            "num_samples": len(index),
            "classes": list(index.classes),
            "counts": [int(n) for n in index.counts],
            "class_weights": [float(w) for w in class_w],
            # The law the sampler follows: over the usable samples only, when some are excluded.
            "expected_shares": [float(p) for p in expected_shares(usable, class_w)],
        }
        if identity is not None:
            record.update(identity)
        if mask is not None:
            record["usable_counts"] = [int(n) for n in usable]
            record["excluded"] = [int(a - b) for a, b in zip(index.counts, usable, strict=True)]
        record["fingerprint"] = _json_fingerprint(record)
        text = json.dumps(record, indent=2, allow_nan=False) + "\n"
        atomic_write(path, lambda fh: fh.write(text.encode("utf-8", "surrogateescape")))
    elif identity is None:
        atomic_write(path, lambda fh: _write_csv(fh, index, per_sample))
    else:
        atomic_write(path, lambda fh: _write_table_csv(fh, index, per_sample))
    return os.fspath(path)


def _excluded_mask(excluded: np.ndarray | None, num_samples: int) -> np.ndarray | None:
    """The exclusion mask as a bool array, or None when nothing is excluded (the file stays version 2)."""
    if excluded is None:
        return None
    mask = np.asarray(excluded)
    if mask.dtype != np.bool_ or mask.shape != (num_samples,):
        raise SettingsError(
            f"excluded must be a bool array with one entry per sample ({num_samples}), "
            f"got {mask.dtype} of shape {mask.shape}"
        )
    if mask.all():
        raise SettingsError("excluded leaves out every sample: nothing could ever be drawn")
    return mask.copy() if mask.any() else None


def quote_formula(cell: str) -> str:
    """``cell`` as a .csv holds it: one single quote more in front when it starts, after any single
    quotes, with a character that makes a spreadsheet run it as a formula (OWASP's CSV injection
    advice). :func:`unquote_formula` undoes it, so every name round-trips."""
    return "'" + cell if cell[:1] in _FORMULA_START or (cell[:1] == "'" and _QUOTED_FORMULA.match(cell)) else cell


def unquote_formula(cell: str) -> str:
    """The name a version-4 .csv cell holds (see :func:`quote_formula`)."""
    return cell[1:] if cell[:1] == "'" and _QUOTED_FORMULA.match(cell, 1) else cell


def _write_csv(fh: Any, index: DatasetIndex, per_sample: np.ndarray) -> None:
    classes = [quote_formula(c) for c in index.classes]
    paths = index.relative_paths()
    quoted_any = classes != list(index.classes)
    for i, p in enumerate(paths):
        if p[:1] in _FORMULA_START or p[:1] == "'":
            q = quote_formula(p)
            quoted_any |= q != p
            paths[i] = q
    version = CSV_QUOTED_VERSION if quoted_any else FORMAT_VERSION
    rows = [
        (p, classes[t], str(t), repr(w))
        for p, t, w in zip(paths, index.targets.tolist(), per_sample.tolist(), strict=True)
    ]
    fingerprint = _csv_fingerprint(version, rows)
    text = io.TextIOWrapper(fh, encoding="utf-8", errors="surrogateescape", newline="")
    writer = csv.writer(text)
    writer.writerow(CSV_HEADER)
    writer.writerows((*r, "") for r in rows[:-1])
    writer.writerow((*rows[-1], f"format_version={version} sha256={fingerprint}"))
    text.flush()
    text.detach()


def _write_table_csv(fh: Any, index: DatasetIndex, per_sample: np.ndarray) -> None:
    """A table-like source's .csv: each sample named by its table row, written and hashed a slice of
    rows at a time (the same fields and fingerprint as ``_write_csv``, without the paths)."""
    classes = [quote_formula(c) for c in index.classes]
    version = CSV_QUOTED_VERSION if classes != list(index.classes) else FORMAT_VERSION
    rows = kept_rows(index)
    h = hashlib.sha256(f"balance-gui csv format_version={version}\n".encode())
    text = io.TextIOWrapper(fh, encoding="utf-8", errors="surrogateescape", newline="")
    writer = csv.writer(text)
    writer.writerow(TABLE_CSV_HEADER)
    step = 1 << 16
    for start in range(0, len(rows), step):
        stop = min(start + step, len(rows))
        part = [
            (str(r), classes[t], str(t), repr(w))
            for r, t, w in zip(
                rows[start:stop].tolist(),
                index.targets[start:stop].tolist(),
                per_sample[start:stop].tolist(),
                strict=True,
            )
        ]
        h.update("".join("\0".join(r) + "\n" for r in part).encode("utf-8", "surrogateescape"))
        if stop < len(rows):
            writer.writerows((*r, "") for r in part)
        else:  # the last row carries the fingerprint of them all
            writer.writerows((*r, "") for r in part[:-1])
            writer.writerow((*part[-1], f"format_version={version} sha256={h.hexdigest()}"))
    text.flush()
    text.detach()


# ---------------------------------------------------------------- reading


def load_weights(path: str | os.PathLike, dataset: Any = None) -> torch.Tensor:
    """Read a weights file as a float64 tensor, one weight per sample.

    With ``dataset`` (an ImageFolder, a DatasetIndex, or a dataset root path),
    first check that the file belongs to it, and raise :class:`WeightsFileError`
    saying what differs. A ``.json`` file holds per-class weights: it returns
    those, or per-sample weights when ``dataset`` is given.
    """
    from .annotation_weights import image_weights_hook  # per-image weights of COCO / path,labels data

    hooked = image_weights_hook(path, dataset)
    if hooked is not None:
        return torch.from_numpy(hooked["weights"])
    if dataset is None:
        info = read_weights_file(path)
        return torch.from_numpy(info["weights"] if info["format"] != ".json" else info["class_weights"])
    info = verify_weights_file(path, dataset)
    if info["sample_weights"] is None:
        raise WeightsFileError(
            f"{os.fspath(path)} excludes {info['num_excluded']:,} samples (corrupt or duplicate copies), but a "
            ".json names no files, so it cannot give per-sample weights: export .pt, .csv or .npy for those"
        )
    return torch.from_numpy(info["sample_weights"])


def verify_weights_file(path: str | os.PathLike[str], dataset: Any) -> dict[str, Any]:
    """Read ``path`` and check it against ``dataset`` as :func:`load_weights` does; return
    what :func:`read_weights_file` returns plus ``sample_weights`` (one per sample of
    ``dataset``; None for a ``.json`` that excludes samples, as it names none). Only formats
    in :data:`IDENTIFIED_FORMATS` can show they belong to the dataset: for a ``.npy`` only the
    length is checked. ``num_excluded`` says how many samples the file leaves out. A COCO or
    ``path,labels`` dataset is checked by ``annotation_weights.verify_image_weights``."""
    from .annotation_weights import image_weights_hook

    if dataset is not None and (hooked := image_weights_hook(path, dataset)) is not None:
        return hooked
    info = read_weights_file(path)
    view = _dataset_view(_open_as_exported(info, dataset))
    check_matches(info, view, path)
    if info["format"] != ".json":
        info["sample_weights"] = info["weights"]
    elif not info["num_excluded"]:
        info["sample_weights"] = sample_weights(view["targets"], info["class_weights"])
    else:  # a .json names no files, so it cannot say which samples get weight 0
        info["sample_weights"] = None
    return info


def open_as_exported(path: str | os.PathLike[str], dataset: Any) -> Any:
    """``dataset``, opened when it is a path: a table (or Hugging Face folder) with the label and
    path columns the weights file ``path`` was exported from, anything else as ``open_dataset`` does."""
    if not isinstance(dataset, (str, os.PathLike)):
        return dataset
    return _open_as_exported(read_weights_file(path) if has_columns(dataset) else {}, dataset)


def _open_as_exported(info: dict[str, Any], dataset: Any) -> Any:
    if not isinstance(dataset, (str, os.PathLike)):
        return dataset
    options: dict[str, Any] = {}
    if has_columns(dataset) and "table" in info:
        options = open_options(info["table"])
    elif has_columns(dataset) and "rows" in info and len(info["rows"]) and info["rows"][-1] >= len(info["rows"]):
        options = {"drop_null": True}  # a table's .csv that skips rows: those without a label were left out
    return open_dataset(dataset, **options)


def read_weights_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read and sanity-check a weights file into a plain dict (``format`` plus what it holds)."""
    fmt = _format_of(path)
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WeightsFileError(f"weights file not found: {path}")
    readers: dict[str, Callable[[str], dict[str, Any]]] = {
        ".pt": _read_pt,
        ".npy": _read_npy,
        ".json": _read_json,
        ".csv": _read_csv,
    }
    try:
        info = readers[fmt](path)
    except BalanceError:
        raise
    except Exception as e:  # any parse failure of a truncated or corrupted file
        reason = str(e).splitlines()[0] if str(e) else ""
        raise WeightsFileError(
            f"{path} is not a readable {fmt} weights file (truncated or corrupted?): {type(e).__name__}: {reason}"
        ) from e
    info["format"] = fmt
    info["num_excluded"] = _num_excluded(info)
    try:
        if "weights" in info:
            _validate_sample_weights(info["weights"])
        if "class_weights" in info:
            validate_class_weights(info["class_weights"], info.get("classes"))
    except WeightsError as e:
        raise WeightsFileError(f"{path}: invalid weights: {e}") from e
    return info


def _num_excluded(info: dict[str, Any]) -> int:
    """Samples the file leaves out. A .csv marks them by weight 0 only: it counts the weight-0 rows of
    classes that have weight (a class weighted 0 by the scheme is not an exclusion, and a class whose
    every image is excluded cannot be told from one). A .npy names nothing, and counts none."""
    if "excluded" in info:
        return len(info["excluded"])
    if "usable_counts" in info:
        return int((info["counts"] - info["usable_counts"]).sum())
    if info["format"] == ".csv":
        # Class indices come from the file: np.isin, not a table as long as the largest index.
        w, t = info["weights"], info["targets"]
        return int(((w == 0) & np.isin(t, t[w > 0])).sum())
    return 0


def _validate_sample_weights(w: np.ndarray) -> None:
    if w.ndim != 1:
        raise WeightsError(f"per-sample weights must be 1-D, got shape {w.shape}")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise WeightsError(f"sample {bad[0]} has weight {float(w[bad[0]])!r}: weights must be finite and >= 0")
    if not np.any(w > 0):
        raise WeightsError("all weights are zero: nothing could ever be drawn")
    with np.errstate(over="ignore"):
        if not np.isfinite(w.sum()):
            raise WeightsError("the weights sum to more than float64 holds: scale them down")


def _check_version(path: str, version: object, fmt: str) -> None:
    """Refuse a version this reader does not know, as numpy's ``_check_version`` does."""
    if isinstance(version, bool) or not isinstance(version, int):
        raise WeightsFileError(f"{path}: format_version must be an integer, found {_clip(repr(version))}")
    newest = min(READ_VERSION, _NEWEST[fmt])
    if version > newest:
        raise WeightsFileError(
            f"{path} has format_version {version}, newer than this balance-gui reads "
            f"(up to {newest}): upgrade balance-gui"
        )
    if version < 1:
        raise WeightsFileError(f"{path}: unknown format_version {version}")


def _no_fingerprint(path: str) -> WeightsFileError:
    return WeightsFileError(
        f"{path} has no fingerprint, so edits to it cannot be detected: export it again with this balance-gui"
    )


def _check_fingerprint(path: str, found: object, expected: str) -> None:
    """Refuse a file whose stored fingerprint is missing or is not the one of its content."""
    if found is None:
        raise _no_fingerprint(path)
    if found != expected:
        raise WeightsFileError(f"{path} was modified after export: its fingerprint does not match its content")


def _is_str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


def _read_pt(path: str) -> dict[str, Any]:
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
        record = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsFileError(
            f"{path} cannot be loaded safely (weights_only=True refused it or it is "
            f"corrupted): {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from e
    if not isinstance(record, dict):
        raise WeightsFileError(f"{path} holds a {type(record).__name__}, not a balance-gui weights record")
    table = "source" in record  # a table-like source's record: rows by position, no paths
    keys = _TABLE_PT_KEYS if table else _PT_KEYS
    missing = [k for k in keys if k not in record]
    if missing:
        raise WeightsFileError(f"{path} lacks the key(s) {', '.join(missing)}")
    unknown = [k for k in record if k not in keys and k not in _PT_OPTIONAL_KEYS]
    if unknown:  # the fingerprint covers the known keys only: anything else could be changed unseen
        shown = ", ".join(_clip(repr(k), 60) for k in unknown[:5])
        raise WeightsFileError(f"{path} holds key(s) a balance-gui weights record has not: {shown} (edited file?)")
    _check_version(path, record["format_version"], ".pt")
    weights, targets, class_w = record["weights"], record["targets"], record["class_weights"]
    for key, t in (("weights", weights), ("targets", targets), ("class_weights", class_w)):
        if not isinstance(t, torch.Tensor) or t.ndim != 1 or t.device.type != "cpu":
            raise WeightsFileError(f"{path}: {key!r} must be a 1-D CPU tensor")
    if weights.dtype.is_complex or class_w.dtype.is_complex or targets.dtype.is_floating_point:
        raise WeightsFileError(f"{path}: weights must be real numbers and targets integers")
    classes, samples, class_to_idx = record["classes"], record.get("samples", []), record["class_to_idx"]
    if not (_is_str_list(classes) and _is_str_list(samples) and isinstance(class_to_idx, dict)):
        raise WeightsFileError(f"{path}: 'classes' and 'samples' must be lists of names, 'class_to_idx' a dict")
    if not isinstance(record["scheme"], str) or not isinstance(record["root"], str):
        raise WeightsFileError(f"{path}: 'scheme' and 'root' must be text")
    _check_fingerprint(path, record.get("fingerprint"), _fingerprint(record))
    if table and len(weights) != len(targets):
        raise WeightsFileError(f"{path}: {len(weights)} weights and {len(targets)} targets should be the same number")
    if not table and not (len(weights) == len(targets) == len(samples)):
        raise WeightsFileError(
            f"{path}: {len(weights)} weights, {len(targets)} targets and {len(samples)} "
            "samples should be the same number"
        )
    identity = read_identity(path, record, len(weights)) if table else None
    if len(class_w) != len(classes) or class_to_idx != {c: i for i, c in enumerate(classes)}:
        raise WeightsFileError(f"{path}: classes, class_to_idx and class_weights disagree")
    targets_np = targets.numpy().astype(np.int64)
    if targets_np.size and (targets_np.min() < 0 or targets_np.max() >= len(classes)):
        raise WeightsFileError(f"{path}: targets point outside the {len(classes)} classes")
    weights_np = weights.numpy().astype(np.float64)
    excluded = record.get("excluded")
    _check_excluded_version(path, record["format_version"], excluded is not None)
    if excluded is None:
        excluded_np = np.zeros(0, dtype=np.int64)
    else:
        if not isinstance(excluded, torch.Tensor) or excluded.ndim != 1 or excluded.dtype != torch.int64:
            raise WeightsFileError(f"{path}: 'excluded' must be a 1-D int64 tensor of sample indices")
        excluded_np = excluded.numpy().copy()
        _check_excluded_indices(path, excluded_np, weights_np)
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


def _clip(text: str, limit: int = _QUOTED_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how many were left out."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def _shown_row(row: Sequence[str] | None) -> str:
    """A CSV row as an error message quotes it: at most its first fields, clipped."""
    if row is None or len(row) <= 5:
        return _clip(repr(row))
    return f"{_clip(repr(list(row[:5])))} and {len(row) - 5:,} more fields"


def _check_excluded_version(path: str, version: int, has_excluded: bool) -> None:
    """Exclusions and version 3 come together (see EXCLUDED_VERSION): a version-2 reader must not see them."""
    if has_excluded != (version >= EXCLUDED_VERSION):
        what = "lists excluded samples" if has_excluded else "lists no excluded samples"
        raise WeightsFileError(f"{path}: format_version {version} but the file {what} (edited file?)")


def _check_excluded_indices(path: str, excluded: np.ndarray, weights: np.ndarray) -> None:
    """Excluded indices: in range, sorted, unique, not every sample, and each of weight 0."""
    if not excluded.size:
        raise WeightsFileError(f"{path}: 'excluded' is present but empty (a file without exclusions omits it)")
    if excluded[0] < 0 or excluded[-1] >= len(weights):
        raise WeightsFileError(f"{path}: 'excluded' points outside the {len(weights)} samples")
    if np.any(np.diff(excluded) <= 0):
        raise WeightsFileError(f"{path}: 'excluded' must be sorted sample indices without repeats")
    if len(excluded) >= len(weights):
        raise WeightsFileError(f"{path}: 'excluded' leaves out every sample")
    nonzero = excluded[weights[excluded] != 0]
    if nonzero.size:
        raise WeightsFileError(
            f"{path}: sample {int(nonzero[0])} is excluded but has weight {float(weights[nonzero[0]])!r}, not 0"
        )


def _read_npy(path: str) -> dict[str, Any]:
    fmt = np.lib.format
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        version = fmt.read_magic(fh)
        if version == (1, 0):
            shape, fortran_order, dtype = fmt.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran_order, dtype = fmt.read_array_header_2_0(fh)
        else:
            raise WeightsFileError(f"{path}: unsupported .npy format version {version[0]}.{version[1]}")
        if dtype.hasobject or dtype.kind not in "fiu":
            raise WeightsFileError(f"{path}: holds {dtype} values, not numbers")
        if len(shape) != 1:
            raise WeightsFileError(f"{path}: per-sample weights must be 1-D, got shape {shape}")
        # The header's size must be what the file holds, before anything is allocated.
        if shape[0] * dtype.itemsize != size - fh.tell():
            raise WeightsFileError(
                f"{path}: the header announces {shape[0]} values of {dtype.itemsize} bytes, "
                f"but {size - fh.tell()} bytes follow it (truncated or corrupted?)"
            )
        w = np.fromfile(fh, dtype=dtype, count=shape[0])
    return {"weights": w.astype(np.float64)}


def _unique_keys(path: str) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """A ``json`` object hook that refuses a key given twice (json keeps the last one silently,
    so two readers may disagree on what the file says)."""

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise WeightsFileError(f"{path}: the key {quoted(_clip(key, 60))} is given twice (edited file?)")
            out[key] = value
        return out

    return hook


def _read_json(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
        record = json.load(fh, object_pairs_hook=_unique_keys(path))
    keys = ("classes", "counts", "class_weights")
    if not isinstance(record, dict) or any(k not in record for k in (*keys, "format_version")):
        raise WeightsFileError(f"{path}: expected a JSON object with format_version, {', '.join(keys)}")
    _check_version(path, record["format_version"], ".json")
    classes, counts, class_w = (record[k] for k in keys)
    if not _is_str_list(classes):
        raise WeightsFileError(f"{path}: 'classes' must be a list of class names, found {type(classes).__name__}")
    if not isinstance(counts, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= _INT64_MAX for n in counts
    ):
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
                f"{path}: class {quoted(name)} has weight {_clip(repr(w))}: "
                "not a finite float64 (at most about 1.8e308)"
            )
    _check_fingerprint(path, record.get("fingerprint"), _json_fingerprint(record))
    counts_np = np.asarray(counts, dtype=np.int64)
    has_excluded = "usable_counts" in record or "excluded" in record
    _check_excluded_version(path, record["format_version"], has_excluded)
    usable_np = counts_np
    if has_excluded:
        usable, excluded = record.get("usable_counts"), record.get("excluded")
        if not all(
            isinstance(v, list)
            and len(v) == len(classes)
            and all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= _INT64_MAX for n in v)
            for v in (usable, excluded)
        ):
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
        out["table"] = read_identity(path, record, sum(counts))
    return out


def _read_csv(path: str) -> dict[str, Any]:
    rows: list[tuple[str, str, str, str]] = []
    trailer = None
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header == _CSV_V1_HEADER:
            raise _no_fingerprint(path)
        if header not in (CSV_HEADER, TABLE_CSV_HEADER):
            raise WeightsFileError(
                f"{path}: header must be {','.join(CSV_HEADER)} (or {','.join(TABLE_CSV_HEADER)} for a table), "
                f"found {_shown_row(header)}"
            )
        for line_no, row in enumerate(reader, start=2):
            if trailer is not None:
                raise WeightsFileError(f"{path}, line {line_no}: rows follow the fingerprint (edited file?)")
            if len(row) != 5:
                raise WeightsFileError(f"{path}, line {line_no}: expected 5 fields, got {len(row)}")
            rows.append((row[0], row[1], row[2], row[3]))
            if row[4]:
                trailer = (line_no, row[4])
    if not rows:
        raise WeightsFileError(f"{path}: the file lists no samples")
    if trailer is None:
        raise WeightsFileError(f"{path}: the fingerprint on the last row is missing (truncated file?)")
    found = _CSV_TRAILER.fullmatch(trailer[1])
    if found is None:
        raise WeightsFileError(f"{path}, line {trailer[0]}: the fingerprint field is not 'format_version=N sha256=HEX'")
    version = int(found.group(1))
    _check_version(path, version, ".csv")
    _check_fingerprint(path, found.group(2), _csv_fingerprint(version, rows))
    if version >= CSV_QUOTED_VERSION:  # cells a spreadsheet would run carry one more quote: take it off
        rows = [(unquote_formula(p), unquote_formula(c), i, w) for p, c, i, w in rows]
    targets, weights = [], []
    names: dict[int, str] = {}
    for line_no, (_, name, index_text, weight_text) in enumerate(rows, start=2):
        try:
            t, w = int(index_text), float(weight_text)
        except ValueError:
            raise WeightsFileError(
                f"{path}, line {line_no}: class_index and weight must be numbers, "
                f"got {_clip(repr(index_text))}, {_clip(repr(weight_text))}"
            ) from None
        if not 0 <= t <= _INT64_MAX:
            raise WeightsFileError(f"{path}, line {line_no}: class_index must be a whole number >= 0, got {t}")
        if names.setdefault(t, name) != name:
            raise WeightsFileError(
                f"{path}, line {line_no}: class_index {t} is {quoted(names[t])} on another row, {quoted(name)} here"
            )
        targets.append(t)
        weights.append(w)
    if header == TABLE_CSV_HEADER:
        return {
            "rows": _table_rows(path, rows),
            "targets": np.asarray(targets, dtype=np.int64),
            "weights": np.asarray(weights, dtype=np.float64),
            "classes_seen": dict(sorted(names.items())),
        }
    return {
        "samples": [r[0] for r in rows],
        "targets": np.asarray(targets, dtype=np.int64),
        "weights": np.asarray(weights, dtype=np.float64),
        # Classes with no sample (empty folders) have no row: only the classes seen, by index.
        "classes_seen": dict(sorted(names.items())),
    }


def _table_rows(path: str, rows: Sequence[Sequence[str]]) -> np.ndarray:
    """The ``row`` field of a table's .csv: table row numbers, ascending."""
    out = np.empty(len(rows), dtype=np.int64)
    for i, r in enumerate(rows):
        text = r[0]
        if not (text.isascii() and text.isdigit() and len(text) <= 18):
            raise WeightsFileError(f"{path}, line {i + 2}: row must be a table row number, got {_clip(repr(text))}")
        out[i] = int(text)
    bad = np.flatnonzero(np.diff(out) <= 0)
    if bad.size:
        raise WeightsFileError(f"{path}, line {int(bad[0]) + 3}: rows must be in table order, without repeats")
    return out


# ---------------------------------------------------------------- matching


def _dataset_view(dataset: Any) -> dict[str, Any]:
    """classes, relative sample paths and targets of a DatasetIndex, ImageFolder or root path."""
    if isinstance(dataset, (str, os.PathLike)):
        dataset = open_dataset(dataset)
    if isinstance(dataset, DatasetIndex):
        return {
            "classes": list(dataset.classes),
            "targets": dataset.targets,
            "samples": dataset.relative_paths,
            "counts": dataset.counts,
            "index": dataset,  # a table-like source is checked by its rows and labels (core.table_identity)
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
            "index": None,  # a folder: a table's weights file does not belong to it
        }
    raise SettingsError(f"dataset must be an ImageFolder, a DatasetIndex or a path, not {type(dataset).__name__}")


def _shown(items: Iterable[object], limit: int = 5) -> str:
    items = list(items)
    text = ", ".join(quoted(str(x)) for x in items[:limit])
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")


def check_matches(info: dict[str, Any], view: dict[str, Any], path: str | os.PathLike) -> None:
    """Raise :class:`WeightsFileError` listing every way the file and the dataset differ."""
    problems = []
    if "classes" in info and info["classes"] != view["classes"]:
        problems.append(_class_difference(info["classes"], view["classes"]))
    elif "classes_seen" in info:
        seen = info["classes_seen"]
        present = {i: c for i, (c, n) in enumerate(zip(view["classes"], view["counts"], strict=True)) if n}
        if seen != present:
            problems.append(_class_difference(list(seen.values()), list(present.values())))
    if ("table" in info or "rows" in info) and "index" in view:  # rows by position, labels by hash
        problems = table_problems(info, view["index"], problems)
    elif "samples" in info:
        problems.extend(_sample_difference(info["samples"], view["samples"]()))
    elif "counts" in info:
        if not problems and not np.array_equal(info["counts"], view["counts"]):
            pairs = zip(view["classes"], info["counts"], view["counts"], strict=False)
            diff = [(c, int(a), int(b)) for c, a, b in pairs if a != b]
            problems.append(
                "class counts differ: "
                + ", ".join(f"{quoted(c)} has {a} in the file, {b} in the dataset" for c, a, b in diff[:5])
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


def _class_difference(file_classes: list[str], data_classes: list[str]) -> str:
    only_file = [c for c in file_classes if c not in set(data_classes)]
    only_data = [c for c in data_classes if c not in set(file_classes)]
    if len(only_file) == len(only_data) and only_file:
        return "classes renamed: " + ", ".join(
            f"{quoted(a)} -> {quoted(b)}" for a, b in zip(only_file, only_data, strict=False)
        )
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
            f"files reordered: sample {first} is {quoted(file_samples[first])} in the file, "
            f"{quoted(data_samples[first])} in the dataset"
        )
    return problems
