"""Hugging Face ``datasets`` folders (``Dataset.save_to_disk``), read with pyarrow alone.

Such a folder holds ``state.json`` (its Arrow files, in order, under ``_data_files``),
``dataset_info.json`` (its ``features``) and the Arrow files themselves (the IPC stream format).
The ``datasets`` package is not needed. With a ``ClassLabel`` label feature the classes are its
names in its order (empty classes kept) and -1, its "no label", is a null label; otherwise the
column is read as a table's label column. The label column is ``label`` when there is one, else
the only ClassLabel feature; ``label_column`` picks another. Paths are the ``path_column``
(``path`` when the data has such a text column), or else ``FILE#ROW``: the Arrow file and the row
in it. A ``DatasetDict`` folder (``dataset_dict.json``) is refused naming its splits: open one.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from .dataset import ProgressCallback
from .errors import DatasetError, DatasetNotFoundError
from .names import quoted
from .tables import (
    DEFAULT_LABEL_COLUMN,
    DEFAULT_PATH_COLUMN,
    TableIndex,
    TablePart,
    _column_kind,
    _Opened,
    index_from_parts,
)

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


__all__ = ["is_hf_folder", "read_hf_folder", "class_label_features"]
