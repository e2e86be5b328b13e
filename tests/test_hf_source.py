"""Hugging Face ``save_to_disk`` folders read with pyarrow alone (core.hf_source), written here by hand
in that layout: Arrow stream files listed by state.json, features in dataset_info.json."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from balance_gui.cli import main  # noqa: E402
from balance_gui.core.dataset import open_dataset  # noqa: E402
from balance_gui.core.errors import DatasetError  # noqa: E402

NAMES = ["zebra", "ant", "cat", "yak"]  # ClassLabel order, not sorted; "yak" has no row


def _folder(root, shards, features, *, extra_columns=None):
    """Write ``shards`` (one list of rows' label values per Arrow file) as a save_to_disk folder."""
    root.mkdir()
    files = []
    for k, labels in enumerate(shards):
        name = f"data-{k:05d}-of-{len(shards):05d}.arrow"
        columns = {
            "image": pa.array([{"bytes": b"x", "path": None}] * len(labels)),
            "label": pa.array(
                labels, type=pa.int64() if all(isinstance(v, int) or v is None for v in labels) else None
            ),
        }
        for col, values in (extra_columns or {}).items():
            columns[col] = pa.array(values[k])
        table = pa.table(columns)
        with pa.ipc.new_stream(str(root / name), table.schema) as writer:
            writer.write_table(table, max_chunksize=2)
        files.append({"filename": name})
    (root / "state.json").write_text(json.dumps({"_data_files": files, "_split": "train", "_fingerprint": "0"}))
    (root / "dataset_info.json").write_text(json.dumps({"features": features}))
    return str(root)


CLASS_LABEL = {"image": {"_type": "Image"}, "label": {"names": NAMES, "_type": "ClassLabel"}}


def test_class_label_keeps_its_order_and_names(tmp_path):
    folder = _folder(tmp_path / "ds", [[0, 1, 2, 1], [2, 2, 0]], CLASS_LABEL)
    index = open_dataset(folder)
    assert index.classes == tuple(NAMES)  # its order, the empty class kept
    assert index.targets.tolist() == [0, 1, 2, 1, 2, 2, 0]
    assert index.counts.tolist() == [2, 2, 3, 0]
    assert index.relative_paths()[3:5] == ["data-00000-of-00002.arrow#3", "data-00001-of-00002.arrow#0"]


def test_no_label_is_minus_one(tmp_path, capsys):
    folder = _folder(tmp_path / "ds", [[0, -1, 2], [-1, 1]], CLASS_LABEL)
    assert main(["inspect", folder]) == 2
    err = capsys.readouterr().err
    assert "2 row(s) have no label" in err and "row 1" in err
    index = open_dataset(folder, drop_null=True)
    assert index.targets.tolist() == [0, 2, 1]
    assert index.relative_paths() == [
        "data-00000-of-00002.arrow#0",
        "data-00000-of-00002.arrow#2",
        "data-00001-of-00002.arrow#1",
    ]


def test_label_column_and_path_column(tmp_path):
    features = {**CLASS_LABEL, "coarse": {"dtype": "string", "_type": "Value"}}
    folder = _folder(
        tmp_path / "ds",
        [[0, 1], [2]],
        features,
        extra_columns={"coarse": [["b", "a"], ["b"]], "path": [["p0.jpg", "p1.jpg"], ["p2.jpg"]]},
    )
    index = open_dataset(folder, label_column="coarse")
    assert index.classes == ("a", "b") and index.targets.tolist() == [1, 0, 1]
    assert index.relative_paths() == ["p0.jpg", "p1.jpg", "p2.jpg"]  # the path column, when there is one
    with pytest.raises(DatasetError, match="no column 'fine'.*'image', 'label'"):
        open_dataset(folder, label_column="fine")


def test_mixed_label_types_across_files(tmp_path, capsys):
    folder = _folder(tmp_path / "ds", [[1, 2], ["cat", "dog"]], {"label": {"dtype": "int64", "_type": "Value"}})
    assert main(["inspect", folder]) == 2
    err = capsys.readouterr().err
    assert "mixed label types" in err and "integers" in err and "text" in err


def test_a_class_label_out_of_range_and_a_dataset_dict(tmp_path, capsys):
    folder = _folder(tmp_path / "ds", [[0, 7]], CLASS_LABEL)
    assert main(["inspect", folder]) == 2
    assert "row 1: label 7 is not one of the 4 ClassLabel names" in capsys.readouterr().err
    dd = tmp_path / "dd"
    dd.mkdir()
    (dd / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "test"]}))
    assert main(["inspect", str(dd)]) == 2
    err = capsys.readouterr().err
    assert "DatasetDict" in err and "train" in err and "test" in err


def test_export_and_verify_a_hf_folder(tmp_path, capsys):
    folder = _folder(tmp_path / "ds", [[0, 1, 2, 1], [2, 2, 0]], CLASS_LABEL)
    out = str(tmp_path / "w.pt")
    assert main(["export", folder, "-o", out, "--scheme", "inverse"]) == 0
    assert main(["verify", out, folder]) == 0
    assert "matches" in capsys.readouterr().out
    index = open_dataset(folder)
    from balance_gui.core.weightsfile import load_weights

    w = load_weights(out, index).numpy()
    present = index.counts > 0
    assert np.allclose(w, (len(index) / np.where(present, index.counts, 1))[index.targets])
