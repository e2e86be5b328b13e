"""Parquet and Arrow IPC/Feather manifests (core.tables): read in batches, never stat the images."""

from __future__ import annotations

import csv
import os

import numpy as np
import pyarrow as pa
import pyarrow.feather as pf
import pyarrow.parquet as pq
import pytest

from balance_gui.cli import main  # noqa: E402
from balance_gui.core import tables  # noqa: E402
from balance_gui.core.dataset import open_dataset, scan_manifest  # noqa: E402
from balance_gui.core.errors import DatasetError, SettingsError  # noqa: E402
from balance_gui.core.weightsfile import load_weights  # noqa: E402

LABELS = ["dog", "cat", "cat", "bird", "dog", "cat", "emu", "cat", "bird", "dog", "cat"]


def _rows(n_repeat: int = 1) -> tuple[list[str], list[str]]:
    labels = LABELS * n_repeat
    paths = [f"images/{lab}/{i:05d}.jpg" for i, lab in enumerate(labels)]
    return paths, labels


def _write(path: str, table: pa.Table, **kw: object) -> str:
    low = path.lower()
    if low.endswith(".parquet"):
        pq.write_table(table, path, **kw)
    elif low.endswith(".feather"):
        pf.write_feather(table, path)
    elif low.endswith(".ipc"):  # the stream format
        with pa.ipc.new_stream(path, table.schema) as writer:
            for batch in table.to_batches(max_chunksize=4):
                writer.write_batch(batch)
    else:  # .arrow: the IPC file format, in several record batches
        with pa.ipc.new_file(path, table.schema) as writer:
            for batch in table.to_batches(max_chunksize=4):
                writer.write_batch(batch)
    return path


def _csv(path: str, paths: list[str], labels: list[str]) -> str:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label"])
        w.writerows(zip(paths, labels, strict=True))
    return path


@pytest.mark.parametrize("ext", [".parquet", ".feather", ".arrow", ".ipc"])
def test_table_equals_the_same_csv_manifest(tmp_path, monkeypatch, ext):
    monkeypatch.setattr(tables, "BATCH_ROWS", 4)  # several batches, each with its own dictionary
    paths, labels = _rows(3)
    table = pa.table({"path": paths, "label": labels, "extra": list(range(len(paths)))})
    index = open_dataset(_write(str(tmp_path / f"m{ext}"), table, row_group_size=5))
    oracle = scan_manifest(_csv(str(tmp_path / "m.csv"), paths, labels), check_files=False)
    assert index.classes == oracle.classes == ("bird", "cat", "dog", "emu")
    assert np.array_equal(index.targets, oracle.targets)
    assert np.array_equal(index.counts, oracle.counts)
    assert index.relative_paths() == oracle.relative_paths() == paths
    assert index.path(7) == os.path.join(str(tmp_path), paths[7])
    assert index.source == "manifest" and index.root == str(tmp_path)
    assert index.targets.dtype == np.int8  # the narrowest integer for 4 classes


def test_integer_and_dictionary_labels_and_other_columns(tmp_path):
    ints = [10, 2, 2, 33, 10, 2]
    table = pa.table(
        {
            "file": [f"f{i}.png" for i in range(6)],
            "y": pa.array(ints, pa.int64()),
            "name": pa.array(["b", "a", "a", "c", "b", "a"]).dictionary_encode(),
        }
    )
    path = _write(str(tmp_path / "t.parquet"), table)
    by_int = open_dataset(path, path_column="file", label_column="y")
    assert by_int.classes == ("2", "10", "33")  # integers ascending, not as text
    assert by_int.targets.tolist() == [1, 0, 0, 2, 1, 0]
    assert by_int.relative_paths() == [f"f{i}.png" for i in range(6)]
    by_dict = open_dataset(path, path_column="file", label_column="name")
    assert by_dict.classes == ("a", "b", "c")
    assert by_dict.targets.tolist() == [1, 0, 0, 2, 1, 0]


def test_narrowest_target_type(tmp_path):
    labels = [f"c{i:03d}" for i in range(200)] * 2
    table = pa.table({"path": [f"{i}.jpg" for i in range(400)], "label": labels})
    index = open_dataset(_write(str(tmp_path / "t.parquet"), table))
    assert index.targets.dtype == np.int16 and index.num_classes == 200
    assert index.counts.tolist() == [2] * 200


def test_unused_dictionary_values_are_no_class(tmp_path):
    col = pa.DictionaryArray.from_arrays(pa.array([0, 2, 0], pa.int32()), pa.array(["x", "unused", "z"]))
    table = pa.table({"path": ["a", "b", "c"], "label": col})
    index = open_dataset(_write(str(tmp_path / "t.arrow"), table))
    assert index.classes == ("x", "z") and index.counts.tolist() == [2, 1]


def _fails(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_bad_input_is_one_line_exit_2(tmp_path, capsys):
    good = _write(str(tmp_path / "t.parquet"), pa.table({"path": ["a", "b"], "label": ["x", "y"]}))
    err = _fails(capsys, ["inspect", good, "--label-column", "class"])
    assert "no column 'class'" in err and "'path', 'label'" in err

    with_nulls = pa.table({"path": ["a", "b", "c", "d"], "label": ["x", None, "y", None]})
    nulls = _write(str(tmp_path / "n.parquet"), with_nulls)
    err = _fails(capsys, ["inspect", nulls])
    assert "2 row(s) have no label" in err and "row 1" in err and "--drop-null" in err

    floats = _write(str(tmp_path / "f.parquet"), pa.table({"path": ["a"], "label": [0.5]}))
    assert "holds double" in _fails(capsys, ["inspect", floats])

    data = open(good, "rb").read()
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(data[: len(data) // 2])
    assert "not a readable Parquet file" in _fails(capsys, ["inspect", str(cut)])

    text = tmp_path / "text.parquet"
    text.write_text("path,label\na,b\n")
    assert "not a readable Parquet file" in _fails(capsys, ["export", str(text), "-o", str(tmp_path / "w.pt")])

    feather = tmp_path / "x.feather"
    feather.write_bytes(b"\x00" * 64)
    assert "not a readable Arrow IPC/Feather file" in _fails(capsys, ["inspect", str(feather)])

    csv_file = _csv(str(tmp_path / "m.csv"), ["a"], ["x"])
    assert "--label-column do(es) not apply" in _fails(capsys, ["inspect", csv_file, "--label-column", "y"])

    bom = _write(str(tmp_path / "bom.parquet"), pa.table({"path": ["a", "b"], "label": ["cat", "\ufeffcat"]}))
    err = _fails(capsys, ["inspect", bom])
    assert "row 1: label" in err and "U+FEFF" in err

    blank = _write(str(tmp_path / "b.parquet"), pa.table({"path": ["a", "b"], "label": ["x", " "]}))
    assert "row 1: the label is empty" in _fails(capsys, ["inspect", blank])


def test_drop_null_leaves_the_rows_out(tmp_path, capsys):
    table = pa.table({"path": ["a", "b", "c", "d", "e"], "label": ["x", None, "y", None, "x"]})
    path = _write(str(tmp_path / "n.parquet"), table)
    index = open_dataset(path, drop_null=True)
    assert index.classes == ("x", "y") and index.counts.tolist() == [2, 1]
    assert index.relative_paths() == ["a", "c", "e"]
    assert index.dropped_rows == 2 and any("2 row(s) without a label" in w for w in index.warnings())
    assert main(["inspect", path, "--drop-null", "--json"]) == 0
    assert '"count": 2' in capsys.readouterr().out


def test_null_paths_are_refused_when_read(tmp_path):
    index = open_dataset(_write(str(tmp_path / "t.parquet"), pa.table({"path": ["a", None], "label": ["x", "y"]})))
    with pytest.raises(DatasetError, match="have no path"):
        index.relative_paths()


def test_a_table_changed_after_opening_is_refused(tmp_path):
    path = _write(str(tmp_path / "t.parquet"), pa.table({"path": ["a", "b"], "label": ["x", "y"]}))
    index = open_dataset(path)
    _write(path, pa.table({"path": ["a", "b", "c"], "label": ["x", "y", "y"]}))
    with pytest.raises(DatasetError, match="changed since it was opened"):
        index.relative_path(0)


def test_table_options_for_a_folder_are_refused(tmp_path):
    (tmp_path / "cls").mkdir()
    with pytest.raises(SettingsError, match="--path-column"):
        open_dataset(str(tmp_path), path_column="p")


def test_inspect_export_verify_never_stat_the_images(tmp_path, monkeypatch, capsys):
    """The images do not exist, and no path under their folder is ever stat-ed."""
    paths, labels = _rows(2)
    table_path = _write(str(tmp_path / "t.parquet"), pa.table({"path": paths, "label": labels}))
    touched: list[str] = []
    real_stat, real_lstat = os.stat, os.lstat

    def spy(real):
        def stat(p, *a, **k):
            touched.append(os.fspath(p) if not isinstance(p, int) else "")
            return real(p, *a, **k)

        return stat

    monkeypatch.setattr(os, "stat", spy(real_stat))
    monkeypatch.setattr(os, "lstat", spy(real_lstat))
    out = str(tmp_path / "w.pt")
    assert main(["inspect", table_path]) == 0
    assert main(["export", table_path, "-o", out]) == 0
    assert main(["verify", out, table_path]) == 0
    assert main(["export", "--manifest", table_path, "-o", str(tmp_path / "w.csv")]) == 0
    assert main(["verify", str(tmp_path / "w.csv"), "--manifest", table_path]) == 0
    capsys.readouterr()
    assert not [p for p in touched if "images" in p]


def test_weights_from_a_table_end_to_end(tmp_path, capsys):
    """Export from a Parquet table, verify against it, against a copy with one label changed (refused,
    naming the row), and load the weights with the table as the dataset."""
    import torch

    from balance_gui import BalancedSampler

    paths, labels = _rows(2)
    table_path = _write(str(tmp_path / "t.parquet"), pa.table({"path": paths, "label": labels}))
    for ext in (".pt", ".csv"):
        out = str(tmp_path / f"w{ext}")
        assert main(["export", table_path, "-o", out]) == 0
        assert main(["verify", out, table_path]) == 0
        assert "matches" in capsys.readouterr().out
        changed = list(labels)
        changed[13] = "cat" if changed[13] != "cat" else "dog"  # same classes, one row relabelled
        other = _write(str(tmp_path / "changed.parquet"), pa.table({"path": paths, "label": changed}))
        assert main(["verify", out, other]) == 2
        err = capsys.readouterr().err
        assert "does not match" in err and "row 13" in err

    index = open_dataset(table_path)
    w = load_weights(str(tmp_path / "w.pt"), table_path)
    counts = np.bincount(index.targets, minlength=index.num_classes)
    assert w.dtype == torch.float64 and len(w) == len(index)
    assert np.allclose(w.numpy(), (len(index) / counts)[index.targets])
    sampler = BalancedSampler(weights=w, num_samples=4000, generator=torch.Generator().manual_seed(0))
    drawn = np.bincount(index.targets[np.fromiter(iter(sampler), dtype=np.int64)], minlength=index.num_classes)
    assert np.all(np.abs(drawn / 4000 - 0.25) < 0.05)  # inverse weights: every class about 1/4
    # the class form straight from the narrow label column (int8 targets)
    class_form = BalancedSampler(
        targets=index.targets, class_weights=1.0 / counts, num_samples=4000, generator=torch.Generator().manual_seed(1)
    )
    drawn = np.bincount(index.targets[np.fromiter(iter(class_form), dtype=np.int64)], minlength=index.num_classes)
    assert np.all(np.abs(drawn / 4000 - 0.25) < 0.05)
    assert main(["simulate", table_path, "--num-samples", "2000", "--json"]) == 0
    out = capsys.readouterr().out
    assert all(f'"{c}"' in out for c in index.classes)


def test_gui_open_dialog_lists_the_table_extensions():
    import inspect

    from balance_gui.gui import main_window

    source = inspect.getsource(main_window.MainWindow.choose_manifest)
    assert all(f"*{ext}" in source for ext in tables.TABLE_EXTENSIONS)
