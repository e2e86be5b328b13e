"""Weights files: every format round-trips, proves which dataset it belongs to, and fails safely."""

from __future__ import annotations

import csv
import json
import os
import pickle
import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import WeightedRandomSampler
from torchvision.datasets import ImageFolder

from balance_gui.core.dataset import scan_image_folder
from balance_gui.core.errors import WeightsFileError
from balance_gui.core.weights import class_weights, expected_shares
from balance_gui.core.weightsfile import export_weights, load_weights

from .conftest import make_tree

PT_KEYS = [
    "weights",
    "targets",
    "class_weights",
    "classes",
    "class_to_idx",
    "samples",
    "scheme",
    "root",
    "format_version",
]


@pytest.fixture
def exported(small_tree, tmp_path):
    index = scan_image_folder(small_tree)
    w = class_weights(index.counts, "sqrt")
    out = {}
    for ext in (".pt", ".csv", ".json", ".npy"):
        out[ext] = tmp_path / f"weights{ext}"
        export_weights(out[ext], index, w, "sqrt")
    return index, w, out


def test_pt_holds_the_contract_keys_and_loads_with_weights_only(exported, small_tree):
    index, w, files = exported
    record = torch.load(files[".pt"], weights_only=True)
    assert list(record)[: len(PT_KEYS)] == PT_KEYS
    reference = ImageFolder(str(small_tree))
    expected = torch.tensor([w[t] for t in reference.targets], dtype=torch.float64)
    assert record["weights"].dtype == torch.float64 and torch.equal(record["weights"], expected)
    assert record["targets"].dtype == torch.int64 and record["targets"].tolist() == reference.targets
    assert record["class_weights"].dtype == torch.float64 and record["class_weights"].tolist() == w.tolist()
    assert record["classes"] == reference.classes and record["class_to_idx"] == reference.class_to_idx
    assert record["samples"] == [os.path.relpath(p, small_tree) for p, _ in reference.samples]
    assert record["scheme"] == "sqrt" and record["root"] == str(small_tree) and record["format_version"] == 1
    # dropped straight into training code, as the issue promises
    sampler = WeightedRandomSampler(torch.load(files[".pt"], weights_only=True)["weights"], 10)
    assert len(list(sampler)) == 10


def test_every_format_reads_back(exported, small_tree):
    index, w, files = exported
    per_sample = torch.from_numpy(w[index.targets])
    for ext in (".pt", ".csv", ".npy"):
        assert torch.equal(load_weights(files[ext]), per_sample), ext
        assert torch.equal(load_weights(files[ext], ImageFolder(str(small_tree))), per_sample), ext
        assert torch.equal(load_weights(files[ext], str(small_tree)), per_sample), ext
    assert torch.equal(load_weights(files[".json"]), torch.from_numpy(w))
    assert torch.equal(load_weights(files[".json"], index), per_sample)
    assert np.load(files[".npy"], allow_pickle=False).dtype == np.float64


def test_csv_and_json_layout(exported):
    index, w, files = exported
    with open(files[".csv"], newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["path", "class", "class_index", "weight"]
    assert rows[1] == ["ant/img_000.jpg", "ant", "0", repr(float(w[0]))]
    assert len(rows) == 1 + len(index)
    record = json.loads(files[".json"].read_text())
    assert record["classes"] == ["ant", "bee", "cat"] and record["counts"] == [40, 10, 2]
    assert record["class_weights"] == w.tolist() and record["scheme"] == "sqrt"
    np.testing.assert_allclose(record["expected_shares"], expected_shares(index.counts, w))


def test_odd_names_survive_every_format(odd_tree, tmp_path):
    index = scan_image_folder(odd_tree)
    w = class_weights(index.counts, "inverse")
    for ext in (".pt", ".csv"):
        export_weights(tmp_path / f"w{ext}", index, w, "inverse")
        assert load_weights(tmp_path / f"w{ext}", str(odd_tree)).shape == (len(index),)


@pytest.mark.parametrize(
    "change, message",
    [
        ("remove", "1 file(s) missing from the dataset: 'bee/img_003.jpg'"),
        ("add", "1 extra file(s) in the dataset, not in the weights file: 'bee/new.jpg'"),
        ("rename_class", "classes renamed: 'cat' -> 'cats'"),
        ("new_class", "classes only in the dataset: 'dog'"),
    ],
)
def test_mismatch_says_what_differs(exported, small_tree, change, message):
    _, _, files = exported
    if change == "remove":
        os.remove(small_tree / "bee" / "img_003.jpg")
    elif change == "add":
        (small_tree / "bee" / "new.jpg").write_bytes(b"")
    elif change == "rename_class":
        os.rename(small_tree / "cat", small_tree / "cats")
    else:
        make_tree(small_tree, {"dog": 1})
    for ext in (".pt", ".csv"):
        with pytest.raises(WeightsFileError) as info:
            load_weights(files[ext], str(small_tree))
        assert message in str(info.value), ext
        assert "does not match the dataset" in str(info.value)
    with pytest.raises(WeightsFileError, match="does not match"):
        load_weights(files[".json"], str(small_tree))
    if change in ("remove", "add"):
        with pytest.raises(WeightsFileError, match="weights but the dataset has"):
            load_weights(files[".npy"], str(small_tree))


def test_reordered_samples_are_caught(exported, small_tree, tmp_path):
    _, _, files = exported
    record = torch.load(files[".pt"], weights_only=True)
    record["samples"][0], record["samples"][1] = record["samples"][1], record["samples"][0]
    record.pop("fingerprint")
    torch.save(record, tmp_path / "reordered.pt")
    with pytest.raises(WeightsFileError, match="files reordered: sample 0 is 'ant/img_001.jpg' in the file"):
        load_weights(tmp_path / "reordered.pt", str(small_tree))


def test_tampered_pt_is_caught(exported, tmp_path):
    _, _, files = exported
    record = torch.load(files[".pt"], weights_only=True)
    record["weights"][5] = 123.0
    torch.save(record, tmp_path / "tampered.pt")
    with pytest.raises(WeightsFileError, match="modified after export"):
        load_weights(tmp_path / "tampered.pt")


@pytest.mark.parametrize(
    "bad, message", [(-1.0, "has weight -1.0"), (float("nan"), "has weight nan"), (float("inf"), "has weight inf")]
)
def test_invalid_weights_in_a_file_are_refused(tmp_path, bad, message):
    w = np.ones(4)
    w[2] = bad
    np.save(tmp_path / "w.npy", w)
    with pytest.raises(WeightsFileError, match=f"sample 2 {message}"):
        load_weights(tmp_path / "w.npy")
    np.save(tmp_path / "z.npy", np.zeros(3))
    with pytest.raises(WeightsFileError, match="all weights are zero"):
        load_weights(tmp_path / "z.npy")


def test_truncated_files_give_a_clear_error(exported, tmp_path):
    _, _, files = exported
    for ext, path in files.items():
        data = path.read_bytes()
        cut = tmp_path / f"cut{ext}"
        cut.write_bytes(data[: len(data) // 2])
        with pytest.raises(WeightsFileError) as info:
            load_weights(cut)
        assert str(cut) in str(info.value), ext


def test_malicious_pickle_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"weights": Evil()}, tmp_path / "evil.pt", pickle_module=pickle)
    with pytest.raises(WeightsFileError, match="cannot be loaded safely"):
        load_weights(tmp_path / "evil.pt")
    assert not marker.exists()
    np.save(tmp_path / "evil.npy", np.array([Evil()], dtype=object), allow_pickle=True)
    with pytest.raises(WeightsFileError):
        load_weights(tmp_path / "evil.npy")
    assert not marker.exists()


def test_failed_write_leaves_no_partial_file_and_keeps_the_old_one(exported, tmp_path, monkeypatch):
    index, w, files = exported
    before = files[".pt"].read_bytes()
    import balance_gui.core.atomic as atomic

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(WeightsFileError, match="No space left on device; nothing was written"):
        export_weights(files[".pt"], index, class_weights(index.counts, "inverse"), "inverse")
    assert files[".pt"].read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_full_disk_gives_a_clear_error(exported, tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    index, w, _ = exported
    link = tmp_path / "full.pt"
    os.symlink("/dev/full", link)
    with pytest.raises(WeightsFileError, match="No space left on device"):
        export_weights(link, index, w, "sqrt")
    assert os.path.islink(link) and os.path.realpath(link) == "/dev/full"


def test_missing_folder_and_unknown_extension(exported, tmp_path):
    index, w, _ = exported
    with pytest.raises(WeightsFileError, match="does not exist"):
        export_weights(tmp_path / "nope" / "w.pt", index, w, "sqrt")
    with pytest.raises(WeightsFileError, match="unknown weights file type '.txt'"):
        export_weights(tmp_path / "w.txt", index, w, "sqrt")
    assert not (tmp_path / "w.txt").exists()
    with pytest.raises(WeightsFileError, match="not found"):
        load_weights(tmp_path / "absent.pt")


def test_read_only_folder_gives_a_clear_error(exported, tmp_path, monkeypatch):
    index, w, _ = exported
    import balance_gui.core.atomic as atomic

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", denied)
    with pytest.raises(WeightsFileError, match="Permission denied; nothing was written"):
        export_weights(tmp_path / "w.csv", index, w, "sqrt")
    assert not (tmp_path / "w.csv").exists()


def test_exported_file_survives_a_copy_of_the_dataset(exported, small_tree, tmp_path):
    _, w, files = exported
    copy = tmp_path / "copy"
    shutil.copytree(small_tree, copy)
    assert load_weights(files[".pt"], str(copy)).shape == (52,)
