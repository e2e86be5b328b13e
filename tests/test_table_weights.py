"""Weights files of table-like sources (issue 17): rows named by position, the label column
fingerprinted (core.table_identity), checked by verify, load_weights and load_sampler without
reading a path or touching an image."""

from __future__ import annotations

import builtins
import csv
import hashlib
import io
import json
import os
import tarfile

import numpy as np
import pyarrow as pa
import pyarrow.feather as pf
import pyarrow.parquet as pq
import pytest
import torch

from balance_gui import load_sampler  # noqa: E402
from balance_gui.cli import main  # noqa: E402
from balance_gui.core import tables  # noqa: E402
from balance_gui.core.dataset import open_dataset  # noqa: E402
from balance_gui.core.errors import WeightsFileError  # noqa: E402
from balance_gui.core.table_identity import label_sha256  # noqa: E402
from balance_gui.core.weightsfile import export_weights, load_weights, read_weights_file  # noqa: E402

NOWHERE = "IMAGES_NOWHERE"  # the folder every image path points into: it does not exist
CLASSES = ["ant", "bee", "cat", "dog"]
SHARES = [0.5, 0.3, 0.15, 0.05]
PT_KEYS = {
    "weights",
    "targets",
    "class_weights",
    "classes",
    "class_to_idx",
    "scheme",
    "root",
    "format_version",
    "source",
    "num_rows",
    "dropped_rows",
    "label_column",
    "path_column",
    "label_sha256",
    "fingerprint",
}


def _codes(n: int, seed: int = 0) -> np.ndarray:
    """Class indices into CLASSES, long-tailed, every class present."""
    codes = np.random.default_rng(seed).choice(len(CLASSES), size=n, p=SHARES)
    codes[: len(CLASSES)] = np.arange(len(CLASSES))
    return codes


def _label_array(codes: np.ndarray, kind: str) -> pa.Array:
    """The labels as text, as integers (class 0 is the integer 10, ...) or dictionary-encoded text."""
    if kind == "int":
        return pa.array((codes + 10).tolist(), type=pa.int64())
    text = pa.array([CLASSES[c] for c in codes.tolist()])
    return text.dictionary_encode() if kind == "dict" else text


def _table(codes: np.ndarray, kind: str = "str", coarse: np.ndarray | None = None) -> pa.Table:
    columns = {
        "path": pa.array([f"{NOWHERE}/{i:06d}.jpg" for i in range(len(codes))]),
        "label": _label_array(codes, kind),
    }
    if coarse is not None:
        columns["coarse"] = pa.array(["small" if c else "big" for c in coarse.tolist()])
    return pa.table(columns)


def _write(path, table: pa.Table) -> str:
    path = str(path)
    if path.endswith(".parquet"):
        pq.write_table(table, path, row_group_size=7)  # several row groups, each its own dictionary
    else:
        pf.write_feather(table, path, chunksize=7)
    return path


def _sha(class_per_row: list[int]) -> str:
    """label_sha256 as the documentation defines it, computed here independently."""
    return hashlib.sha256(np.asarray(class_per_row, dtype="<i4").tobytes()).hexdigest()


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(tables, "BATCH_ROWS", 5)  # many record batches


@pytest.mark.parametrize("kind", ["str", "int", "dict"])
@pytest.mark.parametrize("ext", [".parquet", ".feather"])
def test_every_format_names_rows_and_verifies(tmp_path, capsys, small_batches, ext, kind):
    codes = _codes(60)
    table_path = _write(tmp_path / f"t{ext}", _table(codes, kind))
    expected_sha = _sha(codes.tolist())  # classes sorted: by name, integers ascending (10 < 11 < ...)
    for fmt in (".pt", ".json", ".csv", ".npy"):
        out = str(tmp_path / f"w{fmt}")
        assert main(["export", table_path, "-o", out]) == 0
        assert main(["verify", out, table_path]) == (1 if fmt == ".npy" else 0)
        said = capsys.readouterr().out
        if fmt != ".npy":
            assert f"matches {table_path}" in said and "no image file was read" in said
    record = torch.load(str(tmp_path / "w.pt"), weights_only=True)
    assert set(record) == PT_KEYS  # no "samples": no path is listed
    assert record["source"] == ("parquet" if ext == ".parquet" else "arrow")
    assert (record["num_rows"], record["dropped_rows"]) == (60, 0)
    assert (record["label_column"], record["path_column"]) == ("label", "path")
    assert record["label_sha256"] == expected_sha
    assert record["targets"].tolist() == codes.tolist()
    assert record["format_version"] == 2
    js = json.loads((tmp_path / "w.json").read_text())
    assert {k: js[k] for k in ("source", "num_rows", "dropped_rows", "label_column", "path_column")} == {
        "source": record["source"],
        "num_rows": 60,
        "dropped_rows": 0,
        "label_column": "label",
        "path_column": "path",
    }
    assert js["label_sha256"] == expected_sha and js["num_samples"] == 60 and "samples" not in js
    with open(tmp_path / "w.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["row", "class", "class_index", "weight", "fingerprint"]
    assert [int(r[0]) for r in rows[1:]] == list(range(60))
    assert [int(r[2]) for r in rows[1:]] == codes.tolist()
    assert rows[-1][4].startswith("format_version=2 sha256=") and not any(r[4] for r in rows[1:-1])
    assert np.load(tmp_path / "w.npy").shape == (60,)


def _tampered(tmp_path, codes: np.ndarray, coarse: np.ndarray) -> dict[str, tuple[str, list[str]]]:
    """Tables that differ from ``_table(codes, coarse=coarse)``: name -> (table, extra CLI args)."""
    n = len(codes)
    changed = codes.copy()
    changed[17] = (changed[17] + 1) % len(CLASSES)  # one label, the classes the same
    dropped = np.delete(codes, 30)
    order = np.arange(n)[::-1]  # the same rows and counts, in reverse order
    out = {}
    for name, new_codes, new_coarse in (
        ("changed", changed, coarse),
        ("dropped", dropped, np.delete(coarse, 30)),
        ("reordered", codes[order], coarse[order]),
    ):
        out[name] = (_write(tmp_path / f"{name}.parquet", _table(new_codes, coarse=new_coarse)), [])
    out["other column"] = (_write(tmp_path / "t.parquet", _table(codes, coarse=coarse)), ["--label-column", "coarse"])
    return out


@pytest.mark.parametrize("fmt", [".pt", ".json", ".csv"])
def test_a_changed_table_is_refused(tmp_path, capsys, small_batches, fmt):
    codes = _codes(60, seed=1)
    coarse = (codes == 0).astype(np.int64)  # "big" for class 0: another labelling of the same rows
    table_path = _write(tmp_path / "t.parquet", _table(codes, coarse=coarse))
    out = str(tmp_path / f"w{fmt}")
    assert main(["export", table_path, "-o", out]) == 0
    assert main(["verify", out, table_path]) == 0
    capsys.readouterr()
    expected = {
        "changed": {".pt": "row 17 is class", ".json": "class counts too", ".csv": "row 17 is class"},
        "dropped": {".pt": "rows were added or removed", ".json": "rows were added or removed", ".csv": "rows"},
        "reordered": {".pt": "is class", ".json": "labels are on other rows", ".csv": "is class"},
        "other column": {".pt": "column 'label'", ".json": "column 'label'", ".csv": "classes"},
    }
    for name, (other, args) in _tampered(tmp_path, codes, coarse).items():
        assert main(["verify", out, other, *args]) == 2, name
        err = capsys.readouterr().err
        assert "does not match" in err and expected[name][fmt] in err, (name, err)
        with pytest.raises(WeightsFileError, match="does not match"):
            load_weights(out, open_dataset(other, **({"label_column": "coarse"} if args else {})))


def test_the_dropped_row_is_named(tmp_path, capsys):
    codes = _codes(40, seed=2)
    table_path = _write(tmp_path / "t.parquet", _table(codes))
    out = str(tmp_path / "w.pt")
    assert main(["export", table_path, "-o", out]) == 0
    other = _write(tmp_path / "short.parquet", _table(codes[:-1]))
    assert main(["verify", out, other]) == 2
    err = capsys.readouterr().err
    assert "the file covers 40 rows, the table has 39 rows" in err


def _refuse_images(monkeypatch) -> list[str]:
    """Make every stat or open of a path into NOWHERE fail the test, and reading the path column too."""
    touched: list[str] = []

    def guard(real):
        def call(p, *a, **k):
            if not isinstance(p, int) and NOWHERE in os.fspath(p):
                touched.append(os.fspath(p))
                raise AssertionError(f"an image was touched: {p}")
            return real(p, *a, **k)

        return call

    for module, name in ((os, "stat"), (os, "lstat"), (os, "open"), (builtins, "open"), (io, "open")):
        monkeypatch.setattr(module, name, guard(getattr(module, name)))
    monkeypatch.setattr(os.path, "exists", guard(os.path.exists))
    monkeypatch.setattr(os.path, "isfile", guard(os.path.isfile))

    def no_paths(self):
        touched.append("the path column")
        raise AssertionError("the path column was read")

    monkeypatch.setattr(tables.TableIndex, "_load_paths", no_paths)
    return touched


def test_inspect_export_verify_and_load_never_touch_an_image(tmp_path, monkeypatch, capsys):
    codes = _codes(50, seed=3)
    table_path = _write(tmp_path / "t.feather", _table(codes))
    touched = _refuse_images(monkeypatch)
    assert main(["inspect", table_path]) == 0
    for fmt in (".pt", ".json", ".csv", ".npy"):
        out = str(tmp_path / f"w{fmt}")
        assert main(["export", table_path, "-o", out]) == 0
        assert main(["verify", out, table_path]) == (1 if fmt == ".npy" else 0)
        if fmt != ".npy":
            assert len(load_weights(out, table_path)) == 50
            sampler = load_sampler(out, open_dataset(table_path), num_samples=10, seed=0)
            assert len(list(sampler)) == 10
    capsys.readouterr()
    assert touched == []


@pytest.mark.parametrize("fmt", [".pt", ".json", ".csv"])
def test_load_sampler_draws_the_weighted_law(tmp_path, fmt):
    codes = _codes(400, seed=4)
    table_path = _write(tmp_path / "t.parquet", _table(codes))
    index = open_dataset(table_path)
    class_w = np.array([1.0, 3.0, 0.5, 8.0])
    out = export_weights(str(tmp_path / f"w{fmt}"), index, class_w, "custom")
    counts = np.bincount(codes, minlength=len(CLASSES))
    law = counts * class_w / (counts * class_w).sum()
    draws = 40_000  # a share's standard deviation is at most 0.0025: the tolerance is 6 of them
    sampler = load_sampler(out, table_path, num_samples=draws, generator=torch.Generator().manual_seed(0))
    drawn = np.fromiter(iter(sampler), dtype=np.int64)
    shares = np.bincount(codes[drawn], minlength=len(CLASSES)) / draws
    w = torch.from_numpy(class_w[codes])
    reference = torch.multinomial(w, draws, replacement=True, generator=torch.Generator().manual_seed(0)).numpy()
    reference_shares = np.bincount(codes[reference], minlength=len(CLASSES)) / draws
    assert np.abs(shares - law).max() < 0.015
    assert np.abs(reference_shares - law).max() < 0.015
    assert np.abs(shares - reference_shares).max() < 0.02
    per_sample = load_weights(out, index).numpy()
    assert np.allclose(per_sample / per_sample[0], class_w[codes] / class_w[codes[0]])


def test_rows_left_out_by_drop_null(tmp_path, capsys):
    codes = _codes(30, seed=5)
    labels = [CLASSES[c] for c in codes.tolist()]
    nulls = [3, 4, 21]
    for i in nulls:
        labels[i] = None
    paths = [f"{NOWHERE}/{i}.jpg" for i in range(30)]
    table_path = _write(tmp_path / "t.parquet", pa.table({"path": paths, "label": labels}))
    for fmt in (".pt", ".json", ".csv"):
        out = str(tmp_path / f"w{fmt}")
        assert main(["export", table_path, "--drop-null", "-o", out]) == 0
        assert main(["verify", out, table_path, "--drop-null"]) == 0
        assert "(3 without a label left out)" in capsys.readouterr().out or fmt == ".csv"
        assert len(load_weights(out, table_path)) == 27  # a path: opened as exported, nulls left out
    record = torch.load(str(tmp_path / "w.pt"), weights_only=True)
    per_row = [-1 if i in nulls else int(c) for i, c in enumerate(codes.tolist())]
    assert (record["num_rows"], record["dropped_rows"], record["label_sha256"]) == (30, 3, _sha(per_row))
    with open(tmp_path / "w.csv", newline="") as fh:
        assert [int(r[0]) for r in list(csv.reader(fh))[1:]] == [i for i in range(30) if i not in nulls]
    # the same labels in the same order on the rows kept, but row 5 is left out instead of row 4
    moved = list(labels)
    moved[4], moved[5] = moved[5], None
    other = _write(tmp_path / "moved.parquet", pa.table({"path": paths, "label": moved}))
    assert np.array_equal(open_dataset(other, drop_null=True).targets, open_dataset(table_path, drop_null=True).targets)
    for fmt, why in (
        (".pt", "the rows left out without a label are other rows"),
        (".json", "the labels are on other rows"),
        (".csv", "the file's sample 3 is table row 5, the dataset's is row 4"),
    ):
        assert main(["verify", str(tmp_path / f"w{fmt}"), other, "--drop-null"]) == 2
        assert why in capsys.readouterr().err
    assert label_sha256(open_dataset(table_path, drop_null=True).targets, np.array(nulls)) == _sha(per_row)


def test_the_label_column_is_recorded_and_used(tmp_path, capsys):
    codes = _codes(40, seed=6)
    table_path = _write(tmp_path / "t.parquet", _table(codes, coarse=(codes == 0).astype(np.int64)))
    out = str(tmp_path / "w.pt")
    assert main(["export", table_path, "--label-column", "coarse", "-o", out]) == 0
    assert main(["verify", out, table_path, "--label-column", "coarse"]) == 0
    assert main(["verify", out, table_path]) == 2  # the default column, 'label', is another column
    assert "the file's labels come from column 'coarse', the dataset's from 'label'" in capsys.readouterr().err
    w = load_weights(out, table_path)  # a path: read with the file's column
    assert len(w) == 40 and len(set(w.tolist())) == 2


def _hf_folder(root, labels: list[int]) -> str:
    root.mkdir()
    table = pa.table({"image": pa.array([{"bytes": b"x", "path": None}] * len(labels)), "label": labels})
    with pa.ipc.new_stream(str(root / "data-00000-of-00001.arrow"), table.schema) as writer:
        writer.write_table(table, max_chunksize=4)
    (root / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}))
    features = {"image": {"_type": "Image"}, "label": {"names": ["zebra", "ant", "cat"], "_type": "ClassLabel"}}
    (root / "dataset_info.json").write_text(json.dumps({"features": features}))
    return str(root)


def test_hugging_face_folder(tmp_path, capsys):
    labels = [0, 1, 2, 1, 1, 0, 2, 2, 2, 1, 0]
    folder = _hf_folder(tmp_path / "ds", labels)
    out = str(tmp_path / "w.pt")
    assert main(["export", folder, "-o", out]) == 0
    assert main(["verify", out, folder]) == 0
    record = torch.load(out, weights_only=True)
    assert (record["source"], record["label_column"], record["path_column"]) == ("hf", "label", None)
    assert record["classes"] == ["zebra", "ant", "cat"] and record["label_sha256"] == _sha(labels)
    changed = list(labels)
    changed[5] = 1
    assert main(["verify", out, _hf_folder(tmp_path / "other", changed)]) == 2
    assert "row 5 is class 'zebra' in the file, 'ant' in the table" in capsys.readouterr().err


def _shard(path, samples: list[tuple[str, str]]) -> str:
    with tarfile.open(path, "w") as tar:
        for key, label in samples:
            for name, data in ((f"{key}.jpg", b"not read"), (f"{key}.cls", label.encode())):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return str(path)


def test_webdataset_shards(tmp_path, capsys):
    (tmp_path / "shards").mkdir()
    samples = [(f"s{i}", ["dog", "cat", "emu"][i % 3 if i < 6 else 0]) for i in range(9)]
    _shard(tmp_path / "shards" / "000000.tar", samples[:5])
    _shard(tmp_path / "shards" / "000001.tar", samples[5:])
    pattern = str(tmp_path / "shards" / "{000000..000001}.tar")
    out = str(tmp_path / "w.json")
    assert main(["export", pattern, "-o", out]) == 0
    assert main(["verify", out, pattern]) == 0
    record = json.loads(open(out).read())
    classes = sorted({lab for _, lab in samples})
    assert (record["source"], record["label_column"], record["num_rows"]) == ("webdataset", None, 9)
    assert record["label_sha256"] == _sha([classes.index(lab) for _, lab in samples])
    _shard(tmp_path / "shards" / "000001.tar", [(k, "cat") for k, _ in samples[5:]])  # relabelled
    assert main(["verify", out, pattern]) == 2
    assert "does not match" in capsys.readouterr().err


def test_table_files_and_path_files_meet(tmp_path, capsys):
    """A file that names rows by position does not belong to a manifest of files; a manifest's file,
    which lists paths, is still checked path by path against a table of the same rows."""
    codes = _codes(20, seed=7)
    table = _table(codes)
    table_path = _write(tmp_path / "t.parquet", table)
    (tmp_path / NOWHERE).mkdir()  # a manifest's files must exist
    for p in table.column("path").to_pylist():
        (tmp_path / p).write_bytes(b"")
    manifest = tmp_path / "m.csv"
    with open(manifest, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label"])
        writer.writerows(zip(table.column("path").to_pylist(), table.column("label").to_pylist(), strict=True))
    from_table, from_manifest = str(tmp_path / "t.pt"), str(tmp_path / "m.pt")
    assert main(["export", table_path, "-o", from_table]) == 0
    assert main(["export", "--manifest", str(manifest), "-o", from_manifest]) == 0
    assert "samples" in torch.load(from_manifest, weights_only=True)  # a manifest's file lists its paths, as before
    assert "source" not in read_weights_file(from_manifest)
    assert main(["verify", from_table, "--manifest", str(manifest)]) == 2
    assert "names its rows by position; the dataset is a manifest of files" in capsys.readouterr().err
    assert main(["verify", from_manifest, table_path]) == 0


def test_an_edited_identity_is_refused(tmp_path):
    table_path = _write(tmp_path / "t.parquet", _table(_codes(20, seed=8)))
    out = tmp_path / "w.json"
    assert main(["export", table_path, "-o", str(out)]) == 0
    record = json.loads(out.read_text())
    record["label_sha256"] = "0" * 64
    out.write_text(json.dumps(record))
    with pytest.raises(WeightsFileError, match="modified after export"):
        read_weights_file(str(out))


@pytest.mark.parametrize("fmt", [".pt", ".json", ".csv"])
def test_flipped_or_cut_table_files_are_refused_or_harmless(tmp_path, fmt):
    """Every corrupted table file is read identically or refused with WeightsFileError, never read
    as other rows, labels or weights."""
    codes = _codes(30, seed=9)
    index = open_dataset(_write(tmp_path / "t.parquet", _table(codes)))
    source = export_weights(str(tmp_path / f"w{fmt}"), index, [1.0, 2.0, 3.0, 4.0], "custom")
    with open(source, "rb") as fh:
        data = fh.read()
    info = read_weights_file(source)

    def same(a: dict, b: dict) -> bool:
        return set(a) == set(b) and all(
            np.array_equal(a[k], b[k]) if isinstance(a[k], np.ndarray) else a[k] == b[k] for k in a
        )

    def read(mutant: bytes) -> dict | None:
        path = tmp_path / f"m{fmt}"
        path.write_bytes(mutant)
        try:
            return read_weights_file(str(path))
        except WeightsFileError:
            return None

    rng = np.random.default_rng(1234)
    for _ in range(120):
        mutant = bytearray(data)
        for pos in rng.integers(0, len(data), size=int(rng.integers(1, 4))):
            mutant[pos] ^= 1 << int(rng.integers(0, 8))
        got = read(bytes(mutant))
        assert got is None or same(got, info)
    for cut in range(0, len(data), max(1, len(data) // 40)):
        got = read(data[:cut])
        assert got is None or (data[cut:] == b"\n" and same(got, info)), cut
