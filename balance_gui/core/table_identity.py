"""What a weights file of a table-like source records instead of paths: its rows by position and
a hash of its labels.

A Parquet/Arrow table, a Hugging Face ``save_to_disk`` folder or WebDataset shards can hold 100M
rows: listing each row's path in the weights file would mean reading the path column and holding
100M strings. Sample weights depend on the labels only, so the file names the rows by position
and fingerprints the label column (:data:`IDENTITY_KEYS`):

``source``        ``parquet``, ``arrow`` (IPC/Feather), ``hf`` or ``webdataset``: for reference, the
                  same rows and labels in another format (Parquet converted to Feather) still match
``num_rows``      the rows of the source, those left out for a null label (``--drop-null``) included
``dropped_rows``  how many of them were left out
``label_column``  the column the labels come from (None for WebDataset shards)
``path_column``   the column of paths (None when there is none), for reference: never read to verify
``label_sha256``  sha256 of every row's class index as a little-endian int32, -1 for a row left out

A ``.csv`` lists its rows' table row numbers, classes and class indices instead (see
``weightsfile``). Verifying reads the label column again, by record batch, and never the paths:
no image file is opened or stat-ed.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import Any

import numpy as np

from .dataset import DatasetIndex
from .errors import WeightsFileError
from .names import quoted
from .tables import TableIndex, is_table_file

IDENTITY_KEYS = ("source", "num_rows", "dropped_rows", "label_column", "path_column", "label_sha256")
LABEL_DTYPE = np.dtype("<i4")  # what label_sha256 hashes: one class index per row, -1 for a row left out
_SLICE = 1 << 22  # rows hashed at a time: a 16 MiB buffer whatever the table's size
_SHA256 = re.compile("[0-9a-f]{64}")
_INT64_MAX = int(np.iinfo(np.int64).max)
_NAMES = {"parquet": "Parquet table", "arrow": "Arrow/Feather table", "hf": "Hugging Face dataset folder"}


def source_kind(index: object) -> str | None:
    """``index``'s ``source`` key, or None when its samples are files named by path (a folder, a manifest)."""
    if isinstance(index, TableIndex):
        return index.table_format or "table"
    if isinstance(index, DatasetIndex) and index.source == "webdataset":
        return "webdataset"
    return None


def null_rows(index: DatasetIndex) -> np.ndarray:
    """The table rows left out for a null label, ascending (none for WebDataset: it keeps no positions)."""
    rows = getattr(index, "null_rows", None)
    return rows if isinstance(rows, np.ndarray) else np.zeros(0, dtype=np.int64)


def label_sha256(targets: np.ndarray, left_out: np.ndarray) -> str:
    """sha256 of the class index of every row as ``LABEL_DTYPE``, -1 at the rows ``left_out``
    (sorted table rows; ``targets`` holds the others, in order). Streamed in slices: no copy of the
    whole column, whatever its integer type."""
    h = hashlib.sha256()
    num_rows = len(targets) + len(left_out)
    kept = 0
    for start in range(0, num_rows, _SLICE):
        stop = min(start + _SLICE, num_rows)
        lo, hi = np.searchsorted(left_out, [start, stop])
        holes = left_out[lo:hi] - start
        n = stop - start - len(holes)
        if len(holes):
            chunk = np.full(stop - start, -1, dtype=LABEL_DTYPE)
            keep = np.ones(stop - start, dtype=bool)
            keep[holes] = False
            chunk[keep] = targets[kept : kept + n]
        else:
            chunk = targets[kept : kept + n].astype(LABEL_DTYPE)
        kept += n
        h.update(chunk.tobytes())
    return h.hexdigest()


def table_identity(index: DatasetIndex) -> dict[str, Any] | None:
    """The :data:`IDENTITY_KEYS` of ``index``, or None when it is not a table-like source."""
    kind = source_kind(index)
    if kind is None:
        return None
    left_out = null_rows(index)
    table = index if isinstance(index, TableIndex) else None
    return {
        "source": kind,
        "num_rows": len(index) + len(left_out),
        "dropped_rows": len(left_out),
        "label_column": table.label_column if table is not None else None,
        "path_column": (table.path_column or None) if table is not None else None,
        "label_sha256": label_sha256(index.targets, left_out),
    }


def read_identity(path: str, record: dict[str, Any], num_samples: int) -> dict[str, Any]:
    """The identity keys of a ``.pt`` or ``.json`` record, checked (``num_samples``: the weights or
    the counts it holds); a :class:`WeightsFileError` naming the key otherwise."""
    out: dict[str, Any] = {k: record.get(k) for k in IDENTITY_KEYS}
    source = out["source"]
    if not isinstance(source, str) or not 0 < len(source) <= 64:
        raise WeightsFileError(f"{path}: 'source' must name the kind of table (parquet, arrow, hf, webdataset)")
    for key in ("num_rows", "dropped_rows"):
        n = out[key]
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= _INT64_MAX:
            raise WeightsFileError(f"{path}: {key!r} must be a whole number >= 0")
    for key in ("label_column", "path_column"):
        if out[key] is not None and not isinstance(out[key], str):
            raise WeightsFileError(f"{path}: {key!r} must be a column name or null")
    if not isinstance(out["label_sha256"], str) or not _SHA256.fullmatch(out["label_sha256"]):
        raise WeightsFileError(f"{path}: 'label_sha256' must be 64 lowercase hex digits")
    if out["num_rows"] - out["dropped_rows"] != num_samples:
        raise WeightsFileError(
            f"{path}: num_rows {out['num_rows']:,} less dropped_rows {out['dropped_rows']:,} should be its "
            f"{num_samples:,} samples"
        )
    return out


def has_columns(dataset: str | os.PathLike[str]) -> bool:
    """Whether ``dataset`` is a path that ``open_dataset`` reads with label and path columns."""
    from .hf_source import is_hf_folder

    return is_table_file(dataset) or is_hf_folder(dataset)


def open_options(identity: dict[str, Any]) -> dict[str, Any]:
    """``open_dataset`` keywords that read a table (or Hugging Face folder) as a file with this
    identity was exported from it: the same label and path columns, rows without a label left out
    if they were."""
    out: dict[str, Any] = {}
    if identity.get("label_column") is not None:
        out["label_column"] = identity["label_column"]
    if identity.get("path_column") is not None:
        out["path_column"] = identity["path_column"]
    if identity.get("dropped_rows"):
        out["drop_null"] = True
    return out


# ---------------------------------------------------------------- matching


def _describe(identity: dict[str, Any]) -> str:
    what = _NAMES.get(identity["source"], f"{identity['source']} source")
    column = identity.get("label_column")
    return f"a {what} of {identity['num_rows']:,} rows" + (f" (label column {quoted(column)})" if column else "")


def _rows_text(n: int, dropped: int) -> str:
    return f"{n:,} rows" + (f" ({dropped:,} without a label left out)" if dropped else "")


def _table_row(left_out: np.ndarray, sample: int) -> int:
    """The table row of sample ``sample`` (the ``sample``-th row kept)."""
    if not len(left_out):
        return sample
    lo, hi = sample, sample + len(left_out)  # the row r with r - (rows left out before r) == sample
    while lo < hi:
        mid = (lo + hi) // 2
        if mid - int(np.searchsorted(left_out, mid, side="right")) < sample:
            lo = mid + 1
        else:
            hi = mid
    return lo


def kept_rows(index: DatasetIndex) -> np.ndarray:
    """The table row of each sample of ``index`` (int64): ``0..n-1`` unless rows were left out."""
    left_out = null_rows(index)
    if not len(left_out):
        return np.arange(len(index), dtype=np.int64)
    keep = np.ones(len(index) + len(left_out), dtype=bool)
    keep[left_out] = False
    return np.flatnonzero(keep).astype(np.int64)


def table_problems(info: dict[str, Any], index: DatasetIndex | None, class_problems: list[str]) -> list[str]:
    """How a weights file of a table-like source (``table`` or ``rows`` in ``info``) and ``index``
    differ; ``class_problems`` are the differences of their classes, found by the caller."""
    file_id = info.get("table")
    data_id = table_identity(index) if index is not None else None
    if data_id is None:
        exported = _describe(file_id) if file_id else "a table"
        what = "a folder of files" if index is None or index.source == "folder" else "a manifest of files"
        return [f"the file was exported from {exported} and names its rows by position; the dataset is {what}"]
    assert index is not None  # a table identity comes from an index
    left_out = null_rows(index)
    problems = []
    if file_id is not None:
        a, b = file_id["label_column"], data_id["label_column"]
        if a is not None and b is not None and a != b:
            problems.append(
                f"the file's labels come from column {quoted(a)}, the dataset's from {quoted(b)} "
                "(pick the column with --label-column)"
            )
        problems.extend(class_problems)
        if (file_id["num_rows"], file_id["dropped_rows"]) != (data_id["num_rows"], data_id["dropped_rows"]):
            problems.append(
                f"the file covers {_rows_text(file_id['num_rows'], file_id['dropped_rows'])}, the table has "
                f"{_rows_text(data_id['num_rows'], data_id['dropped_rows'])}: rows were added or removed"
            )
        if problems or file_id["label_sha256"] == data_id["label_sha256"]:
            return problems
    else:  # a .csv: its rows by number, and their classes
        problems.extend(class_problems)
        rows, kept = info["rows"], kept_rows(index)
        if len(rows) != len(kept):
            problems.append(
                f"the file lists {len(rows):,} rows, the table has {_rows_text(len(kept), len(left_out))}: "
                "rows were added or removed"
            )
        elif not np.array_equal(rows, kept):
            i = int(np.flatnonzero(rows != kept)[0])
            problems.append(f"the file's sample {i} is table row {int(rows[i])}, the dataset's is row {int(kept[i])}")
        if problems:
            return problems
    # A .pt or .json gets here only when its label_sha256 differs; a .csv compares its classes row by row.
    differ = file_id is not None or not np.array_equal(info["targets"], index.targets)
    return [_label_difference(info, index, left_out)] if differ else []


def _label_difference(info: dict[str, Any], index: DatasetIndex, left_out: np.ndarray) -> str:
    classes = index.classes
    if "targets" in info and not np.array_equal(info["targets"], index.targets):
        first = int(np.flatnonzero(info["targets"] != index.targets)[0])
        a, b = int(info["targets"][first]), int(index.targets[first])
        file_class = quoted(classes[a]) if a < len(classes) else f"index {a}"
        hashed = " (label_sha256 differs)" if "table" in info else ""
        return (
            f"row {_table_row(left_out, first)} is class {file_class} in the file, {quoted(classes[b])} in the "
            f"table{hashed}"
        )
    if "counts" in info and not np.array_equal(info["counts"], index.counts):
        pairs = zip(classes, info["counts"], index.counts, strict=False)
        diff = [(c, int(a), int(b)) for c, a, b in pairs if a != b]
        return "labels differ (label_sha256), class counts too: " + ", ".join(
            f"{quoted(c)} has {a:,} in the file, {b:,} in the table" for c, a, b in diff[:5]
        )
    if "targets" in info:
        return "the rows left out without a label are other rows (label_sha256 differs)"
    return (
        "the class counts are the same but the labels are on other rows (label_sha256 differs): "
        "rows reordered or relabelled"
    )


__all__ = [
    "IDENTITY_KEYS",
    "LABEL_DTYPE",
    "has_columns",
    "kept_rows",
    "label_sha256",
    "open_options",
    "read_identity",
    "source_kind",
    "table_identity",
    "table_problems",
]
