"""Hugging Face ``datasets`` folders (``Dataset.save_to_disk``), read with pyarrow alone.

Such a folder holds ``state.json`` (its Arrow files, in order, under ``_data_files``),
``dataset_info.json`` (its ``features``) and the Arrow files themselves (the IPC stream format).
The ``datasets`` package is not needed. With a ``ClassLabel`` label feature the classes are its
names in its order (empty classes kept) and -1, its "no label", is a null label; otherwise the
column is read as a table's label column. The label column is ``label`` when there is one, else
the only ClassLabel feature; ``label_column`` picks another. Paths are the ``path_column``
(``path`` when the data has such a text column), or else ``FILE#ROW``: the Arrow file and the row
in it. A ``DatasetDict`` folder (``dataset_dict.json``) is refused naming its splits: open one.

The image check reads the folder's image column (:func:`hf_image_records`), and a ``datasets.Dataset``
loaded in Python gives its labels straight from its Arrow table (:func:`arrow_labels`).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .dataset import ProgressCallback
from .errors import DatasetError, DatasetNotFoundError
from .names import quoted
from .tables import (
    DEFAULT_LABEL_COLUMN,
    DEFAULT_PATH_COLUMN,
    TableIndex,
    TablePart,
    _column_kind,
    _minus_one_is_null,
    _missing_column,
    _Opened,
    index_from_parts,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from .labels import Labels
    from .record_check import Record

STATE_FILE = "state.json"
INFO_FILE = "dataset_info.json"
DICT_FILE = "dataset_dict.json"


def is_hf_folder(path: str | os.PathLike[str]) -> bool:
    """A folder written by ``save_to_disk``: a Dataset (state.json) or a DatasetDict (dataset_dict.json)."""
    text = os.fspath(path)
    return os.path.isdir(text) and (
        os.path.isfile(os.path.join(text, STATE_FILE)) or os.path.isfile(os.path.join(text, DICT_FILE))
    )


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError as e:
        raise DatasetError(f"{path} is missing: not a complete Hugging Face dataset folder") from e
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path}: not readable JSON ({str(e).splitlines()[0] if str(e) else e})") from e


def _data_files(folder: str) -> list[str]:
    state = _read_json(os.path.join(folder, STATE_FILE))
    files = state.get("_data_files") if isinstance(state, dict) else None
    if not isinstance(files, list) or not files or not all(isinstance(f, dict) for f in files):
        raise DatasetError(f"{os.path.join(folder, STATE_FILE)}: no '_data_files' list naming the Arrow files")
    out = []
    for f in files:
        name = f.get("filename")
        if not isinstance(name, str) or os.path.basename(name) != name:
            raise DatasetError(f"{os.path.join(folder, STATE_FILE)}: a data file name is not a plain file name")
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            raise DatasetNotFoundError(f"{path}: listed in {STATE_FILE} but missing")
        out.append(path)
    return out


def class_label_features(folder: str) -> dict[str, list[str]]:
    """The ClassLabel features of ``dataset_info.json``: column -> class names, in order."""
    info_path = os.path.join(folder, INFO_FILE)
    if not os.path.isfile(info_path):
        return {}
    info = _read_json(info_path)
    features = info.get("features") if isinstance(info, dict) else None
    out: dict[str, list[str]] = {}
    if isinstance(features, dict):
        for name, feature in features.items():
            if isinstance(feature, dict) and feature.get("_type") == "ClassLabel":
                names = feature.get("names")
                if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                    raise DatasetError(f"{info_path}: ClassLabel {quoted(name)} has no list of names")
                out[name] = names
    return out


def _features(folder: str) -> dict[str, Any]:
    info_path = os.path.join(folder, INFO_FILE)
    if not os.path.isfile(info_path):
        return {}
    info = _read_json(info_path)
    features = info.get("features") if isinstance(info, dict) else None
    return features if isinstance(features, dict) else {}


def image_features(folder: str) -> list[str]:
    """The columns of ``dataset_info.json`` that are ``Image`` features, in order."""
    return [name for name, f in _features(folder).items() if isinstance(f, dict) and f.get("_type") == "Image"]


def read_hf_folder(
    path: str | os.PathLike[str],
    *,
    path_column: str | None = None,
    label_column: str | None = None,
    drop_null: bool = False,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> TableIndex:
    """Index a ``save_to_disk`` folder of a Hugging Face ``Dataset`` (see the module's documentation)."""
    folder = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if not os.path.isfile(os.path.join(folder, STATE_FILE)):
        splits = _read_json(os.path.join(folder, DICT_FILE))
        names = splits.get("splits") if isinstance(splits, dict) else None
        shown = ", ".join(quoted(os.path.join(folder, str(s))) for s in names) if isinstance(names, list) else "?"
        raise DatasetError(f"{folder} is a DatasetDict of several splits: open one of them ({shown})")
    parts = [TablePart(f, "ipc") for f in _data_files(folder)]
    class_labels = class_label_features(folder)
    schema = _Opened(parts[0]).schema
    if label_column is None:
        if DEFAULT_LABEL_COLUMN in schema.names or len(class_labels) != 1:
            label_column = DEFAULT_LABEL_COLUMN
        else:
            label_column = next(iter(class_labels))
    if path_column is None and DEFAULT_PATH_COLUMN in schema.names:
        if _column_kind(schema.field(DEFAULT_PATH_COLUMN).type) == "str":
            path_column = DEFAULT_PATH_COLUMN
    return index_from_parts(
        parts,
        source=folder,
        root=folder,
        label_column=label_column,
        path_column=path_column,
        drop_null=drop_null,
        class_names=class_labels.get(label_column),
        index_source="manifest" if path_column else "hf-dataset",
        progress=progress,
        cancel=cancel,
    )


# ---------------------------------------------------------------- the image column, for the image check


def _image_kind(t: pa.DataType) -> str | None:
    """How a column holds images: ``struct`` (an Image feature: bytes and/or path), ``bytes``, ``path``."""
    import pyarrow as pa

    if pa.types.is_struct(t):
        names = {t.field(k).name for k in range(t.num_fields)}
        return "struct" if names & {"bytes", "path"} else None
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "bytes"
    return "path" if _column_kind(t) == "str" else None


def hf_image_records(index: TableIndex, image_column: str | None) -> Iterator[Record] | None:
    """The image of each sample of ``index`` (read from a ``save_to_disk`` folder), for the image check:
    the bytes of ``image_column`` (default: the folder's one Image feature, else its one binary
    column), or the file a path in it names (relative to the folder). None when the folder has no
    such column and none was named. Rows left out of the index (``drop_null``) are skipped."""
    import pyarrow as pa

    folder = index.source_file
    parts = [TablePart(f, "ipc") for f in _data_files(folder)]
    schema = _Opened(parts[0]).schema
    if image_column is None:
        found = image_features(folder) or [f.name for f in schema if _image_kind(f.type) == "bytes"]
        if len(found) > 1:
            shown = ", ".join(quoted(c) for c in found)
            raise DatasetError(f"{folder}: several image columns ({shown}): pick one with --image-column")
        if not found:
            return None
        image_column = found[0]
    if image_column not in schema.names:
        raise _missing_column(parts[0], schema, image_column, "--image-column")
    column_type = schema.field(image_column).type
    kind = _image_kind(column_type)
    if kind is None:
        raise DatasetError(
            f"{folder}: column {quoted(image_column)} holds {column_type}: not images "
            "(an Image feature, bytes, or file paths)"
        )
    if kind == "struct" and column_type.get_field_index("bytes") < 0:
        kind = "struct-path"
    label = index.label_column if index.dropped_rows else None  # which rows the index kept
    class_label = index.label_column in class_label_features(folder)
    column: str = image_column

    def records() -> Iterator[Record]:
        import pyarrow.compute as pc

        from .images import ImageBytes, _unread

        position = 0
        for part in parts:
            mtime_ns = os.stat(part.path).st_mtime_ns
            for batch in _Opened(part).batches([column] if label is None else [column, label]):
                col = batch.column(0)
                if label is not None:
                    labels = batch.column(1)
                    if class_label:
                        labels = _minus_one_is_null(labels)
                    if labels.null_count:
                        col = col.filter(pc.is_valid(labels))
                if kind == "struct":
                    data = pc.struct_field(col, "bytes").to_pylist()
                    paths: list[Any] = (
                        pc.struct_field(col, "path").to_pylist()
                        if column_type.get_field_index("path") >= 0
                        else [None] * len(col)
                    )
                elif kind == "struct-path":
                    data, paths = [None] * len(col), pc.struct_field(col, "path").to_pylist()
                elif kind == "bytes":
                    data, paths = col.to_pylist(), [None] * len(col)
                else:
                    data, paths = [None] * len(col), col.cast(pa.large_string()).to_pylist()
                valid = col.is_valid().to_pylist() if col.null_count else None
                for k in range(len(col)):
                    if valid is not None and not valid[k]:
                        yield position, _unread(f"no image: column {quoted(column)} is null in this row")
                    elif data[k] is not None:
                        yield position, ImageBytes(data[k], mtime_ns)
                    elif paths[k]:
                        yield position, os.path.join(folder, paths[k])
                    else:
                        yield position, _unread(f"no image: column {quoted(column)} holds neither bytes nor a path")
                    position += 1
        if position != len(index):
            raise DatasetError(f"{folder} changed since it was opened: open it again")

    return records()


# ---------------------------------------------------------------- a datasets.Dataset loaded in Python


def arrow_labels(dataset: Any, column: str) -> Labels | None:
    """The labels in ``column`` of a Hugging Face ``datasets.Dataset`` (duck-typed: its Arrow table,
    ``dataset.data.table``, and its row selection, ``dataset._indices``, after ``select``, ``filter``
    or ``shuffle``), read from the Arrow buffers: no row becomes a Python object. A ClassLabel
    feature gives the classes, in its order (empty ones kept); integers without one are classes
    0..max; text labels are numbered by their sorted names. None when ``dataset`` holds no such table."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from .labels import Labels, _encode, _hf_names

    table = getattr(getattr(dataset, "data", None), "table", None)
    if not isinstance(table, pa.Table) or column not in table.column_names:
        return None
    indices = getattr(dataset, "_indices", None)
    if indices is not None:
        indices = getattr(indices, "table", indices)
        if not isinstance(indices, pa.Table) or indices.num_columns != 1:
            return None  # a selection this code does not know: the caller reads the column its own way
    col = table.column(column)
    source = f"column {column!r}"
    if col.null_count:
        first = int(pc.index(pc.is_null(col), True).as_py())
        raise DatasetError(f"{source}: {col.null_count:,} row(s) have no label (null), the first is row {first}")
    rows = None if indices is None else indices.column(0).to_numpy().astype(np.int64, copy=False)
    if _column_kind(col.type) == "str":
        encoded = pc.dictionary_encode(col).combine_chunks()
        names = encoded.dictionary.to_pylist()  # one Python string per class, not per row
        order = np.argsort(np.array(names, dtype=object), kind="stable")
        rank = np.empty(len(names), dtype=np.int64)
        rank[order] = np.arange(len(names))
        codes = rank[encoded.indices.to_numpy()]
        targets = codes if rows is None else codes[rows]
        present = np.bincount(targets, minlength=len(names)) > 0
        kept = np.flatnonzero(present[order])  # classes that occur (after a selection), by name
        remap = np.full(len(names), -1, dtype=np.int64)
        remap[kept] = np.arange(len(kept))
        targets = remap[targets]
        classes = tuple(str(names[order[k]]) for k in kept)
        if not len(targets):
            raise DatasetError(f"{source} is empty: the dataset has no labelled samples")
        return Labels(targets, classes, np.bincount(targets, minlength=len(classes)).astype(np.int64), source)
    if _column_kind(col.type) != "int":
        return None  # floats, lists, ...: the caller says what is wrong with them
    values = col.to_numpy()
    return _encode(values if rows is None else values[rows], source, _hf_names(dataset, column), len(dataset))


__all__ = [
    "arrow_labels",
    "class_label_features",
    "hf_image_records",
    "image_features",
    "is_hf_folder",
    "read_hf_folder",
]
