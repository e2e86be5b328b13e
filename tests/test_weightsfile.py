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
from balance_gui.core.expected import expected_shares
from balance_gui.core.weights import class_weights
from balance_gui.core.weightsfile import export_weights, load_weights
from balance_gui.core.weightsfile_formats.base import FORMAT_VERSION, READ_VERSION
from balance_gui.core.weightsfile_formats.pt_file import record_fingerprint as _fingerprint

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
    assert list(record) == [*PT_KEYS, "fingerprint"]
    reference = ImageFolder(str(small_tree))
    expected = torch.tensor([w[t] for t in reference.targets], dtype=torch.float64)
    assert record["weights"].dtype == torch.float64 and torch.equal(record["weights"], expected)
    assert record["targets"].dtype == torch.int64 and record["targets"].tolist() == reference.targets
    assert record["class_weights"].dtype == torch.float64 and record["class_weights"].tolist() == w.tolist()
    assert record["classes"] == reference.classes and record["class_to_idx"] == reference.class_to_idx
    assert record["samples"] == [os.path.relpath(p, small_tree) for p, _ in reference.samples]
    assert (
        record["scheme"] == "sqrt" and record["root"] == str(small_tree) and record["format_version"] == FORMAT_VERSION
    )
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
    assert rows[0] == ["path", "class", "class_index", "weight", "fingerprint"]
    assert rows[1] == ["ant/img_000.jpg", "ant", "0", repr(float(w[0])), ""]
    assert len(rows) == 1 + len(index)
    assert rows[-1][4].startswith(f"format_version={FORMAT_VERSION} sha256=") and all(r[4] == "" for r in rows[1:-1])
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
    record["fingerprint"] = _fingerprint(record)  # a consistent file, just not this dataset's order
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
    with pytest.raises(WeightsFileError, match="No space left on device; the old file is unchanged"):
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

    monkeypatch.setattr(atomic.os, "open", denied)
    with pytest.raises(WeightsFileError, match="Permission denied; nothing was written"):
        export_weights(tmp_path / "w.csv", index, w, "sqrt")
    assert not (tmp_path / "w.csv").exists()


def test_exported_file_survives_a_copy_of_the_dataset(exported, small_tree, tmp_path):
    _, w, files = exported
    copy = tmp_path / "copy"
    shutil.copytree(small_tree, copy)
    assert load_weights(files[".pt"], str(copy)).shape == (52,)


# ------------------------------------------------------------ hardening (issue 10)


def _rewrite_csv(path, edit):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    edit(rows)
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)


def _signed_csv(path, rows):
    """A hand-made .csv weights file with a correct fingerprint."""
    from balance_gui.core.weightsfile_formats.csv_file import rows_fingerprint as _csv_fingerprint

    trailer = f"format_version={FORMAT_VERSION} sha256={_csv_fingerprint(FORMAT_VERSION, rows)}"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([["path", "class", "class_index", "weight", "fingerprint"]])
        csv.writer(fh).writerows([*(list(r) + [""] for r in rows[:-1]), list(rows[-1]) + [trailer]])
    return path


def test_csv_with_a_huge_class_index_is_refused_without_allocating(tmp_path):
    # These two lines used to allocate range(99999999999) and get the process killed.
    path = tmp_path / "huge.csv"
    path.write_text("path,class,class_index,weight\na/1.jpg,a,99999999999,1\n")
    with pytest.raises(WeightsFileError, match="no fingerprint"):
        load_weights(path)
    # Consistent but with one class at a huge index: read without allocating per index.
    _signed_csv(path, [("a/1.jpg", "a", "99999999999", "1.0")])
    assert load_weights(path).tolist() == [1.0]
    _signed_csv(path, [("a/1.jpg", "a", str(2**64), "1.0")])
    with pytest.raises(WeightsFileError, match="class_index must be a whole number >= 0"):
        load_weights(path)


def test_csv_negative_class_index_says_what_is_wrong(tmp_path):
    path = _signed_csv(tmp_path / "neg.csv", [("a/0.jpg", "a", "0", "1.0"), ("a/1.jpg", "a", "-1", "1.0")])
    with pytest.raises(WeightsFileError, match="line 3: class_index must be a whole number >= 0, got -1"):
        load_weights(path)


def test_pt_without_its_fingerprint_is_refused(exported, tmp_path):
    _, _, files = exported
    record = torch.load(files[".pt"], weights_only=True)
    record["weights"][5] = 123.0
    record.pop("fingerprint")
    torch.save(record, tmp_path / "edited.pt")
    with pytest.raises(WeightsFileError, match="has no fingerprint"):
        load_weights(tmp_path / "edited.pt")


@pytest.mark.parametrize("ext", [".csv", ".json"])
def test_edited_csv_and_json_weights_are_refused(exported, tmp_path, ext):
    _, _, files = exported
    path = files[ext]
    if ext == ".csv":
        _rewrite_csv(path, lambda rows: rows[3].__setitem__(3, "9.5"))
    else:
        record = json.loads(path.read_text())
        record["class_weights"][0] = 9.5
        path.write_text(json.dumps(record))
    with pytest.raises(WeightsFileError, match="modified after export"):
        load_weights(path)


@pytest.mark.parametrize("ext", [".csv", ".json"])
def test_csv_and_json_without_a_fingerprint_are_refused(exported, ext):
    _, _, files = exported
    path = files[ext]
    if ext == ".csv":
        _rewrite_csv(path, lambda rows: rows.__setitem__(slice(None), [r[:4] for r in rows]))
    else:
        record = json.loads(path.read_text())
        del record["fingerprint"]
        path.write_text(json.dumps(record))
    with pytest.raises(WeightsFileError, match="has no fingerprint"):
        load_weights(path)


def test_csv_cut_at_a_row_end_is_refused_without_a_dataset(exported, tmp_path):
    _, _, files = exported
    lines = files[".csv"].read_bytes().splitlines(keepends=True)
    cut = tmp_path / "cut.csv"
    cut.write_bytes(b"".join(lines[:-5]))
    with pytest.raises(WeightsFileError, match="fingerprint on the last row is missing"):
        load_weights(cut)


@pytest.mark.parametrize("ext", [".pt", ".csv", ".json"])
def test_newer_format_version_is_refused(exported, tmp_path, ext):
    _, _, files = exported
    path = files[ext]
    if ext == ".pt":
        record = torch.load(path, weights_only=True)
        record["format_version"] = READ_VERSION + 1
        record["fingerprint"] = _fingerprint(record)
        torch.save(record, path)
    elif ext == ".json":
        from balance_gui.core.weightsfile_formats.json_file import record_fingerprint as _json_fingerprint

        record = json.loads(path.read_text())
        record["format_version"] = READ_VERSION + 1
        record["fingerprint"] = _json_fingerprint(record)
        path.write_text(json.dumps(record))
    else:
        _rewrite_csv(path, lambda rows: rows[-1].__setitem__(4, rows[-1][4].replace("=2 ", f"={READ_VERSION + 1} ")))
    with pytest.raises(WeightsFileError, match=f"format_version {READ_VERSION + 1}, newer than this balance-gui"):
        load_weights(path)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("counts", [5.7, 10, 2], "'counts' must be a list of whole numbers"),
        ("counts", [True, 10, 2], "'counts' must be a list of whole numbers"),
        ("classes", "abc", "'classes' must be a list of class names"),
        ("class_weights", ["1", 1, 1], "'class_weights' must be a list of numbers"),
    ],
)
def test_json_with_wrong_types_is_refused(exported, field, value, message):
    from balance_gui.core.weightsfile_formats.json_file import record_fingerprint as _json_fingerprint

    _, _, files = exported
    record = json.loads(files[".json"].read_text())
    record[field] = value
    record["fingerprint"] = _json_fingerprint(record)  # well-formed otherwise: only the type is wrong
    files[".json"].write_text(json.dumps(record))
    with pytest.raises(WeightsFileError, match=message):
        load_weights(files[".json"])


def test_npy_header_must_match_the_file_size(tmp_path):
    path = tmp_path / "w.npy"
    np.save(path, np.ones(4))
    data = path.read_bytes()
    path.write_bytes(data.replace(b"(4,)", b"(9,)"))  # same header length, more values than the file holds
    with pytest.raises(WeightsFileError, match="announces 9 values"):
        load_weights(path)


def test_npy_disk_full_says_so_plainly(tmp_path):
    """A partial write (file-size limit) must give errno's words, not numpy's 'N requested and M written'."""
    code = (
        "import resource, signal, sys\n"
        "import numpy as np\n"
        "from balance_gui.core.dataset import _make_index\n"
        "from balance_gui.core.weightsfile import export_weights\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "n = 200_000\n"
        "index = _make_index('/x', ['a'], np.zeros(n, dtype=np.int64), [f'a/{i}.jpg' for i in range(n)])\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))\n"
        "try:\n"
        "    export_weights(sys.argv[1], index, [1.0], 'none')\n"
        "except Exception as e:\n"
        "    print(e)\n"
    )
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "w.npy")], capture_output=True, text=True, timeout=120
    )
    assert "File too large; nothing was written" in out.stdout, out.stdout + out.stderr
    assert "requested" not in out.stdout
    assert os.listdir(tmp_path) == []


def test_new_files_honour_the_umask(exported, tmp_path):
    index, w, _ = exported
    old = os.umask(0o077)
    try:
        export_weights(tmp_path / "private.pt", index, w, "sqrt")
    finally:
        os.umask(old)
    assert (tmp_path / "private.pt").stat().st_mode & 0o777 == 0o600
    old = os.umask(0o002)
    try:
        export_weights(tmp_path / "shared.csv", index, w, "sqrt")
    finally:
        os.umask(old)
    assert (tmp_path / "shared.csv").stat().st_mode & 0o777 == 0o664


def test_export_to_a_symlink_writes_through_to_its_target(exported, tmp_path, small_tree):
    index, w, _ = exported
    target = tmp_path / "real" / "w.pt"
    target.parent.mkdir()
    target.write_bytes(b"old")
    link = tmp_path / "link.pt"
    os.symlink(target, link)
    export_weights(link, index, w, "sqrt")
    assert os.path.islink(link) and os.path.realpath(link) == str(target)
    assert load_weights(target, str(small_tree)).shape == (52,)
    assert sorted(os.listdir(target.parent)) == ["w.pt"]  # the temp file lived beside the target


def test_sigterm_during_export_removes_the_temp_file(tmp_path):
    import signal
    import subprocess
    import sys

    code = (
        "import os, sys, time\n"
        "from balance_gui.core.atomic import atomic_write\n"
        "def slow(fh):\n"
        "    fh.write(b'x' * 1000)\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
        "atomic_write(sys.argv[1], slow)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "w.pt")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "writing\n"
    assert len(os.listdir(tmp_path)) == 1  # the temp file exists now
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == -signal.SIGTERM  # still dies of SIGTERM, as asked
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- excluded samples (corrupt files, duplicate copies)

# In small_tree's ImageFolder order: ant 0-39, bee 40-49, cat 50-51.
EXCLUDED = [3, 17, 41, 51]


@pytest.fixture
def exported_excluding(small_tree, tmp_path):
    index = scan_image_folder(small_tree)
    mask = np.zeros(len(index), dtype=bool)
    mask[EXCLUDED] = True
    usable = np.bincount(index.targets[~mask], minlength=3)
    w = class_weights(usable, "inverse")
    out = {ext: tmp_path / f"usable{ext}" for ext in (".pt", ".csv", ".json", ".npy")}
    for path in out.values():
        export_weights(path, index, w, "inverse", excluded=mask)
    return index, mask, usable, w, out


def test_excluded_samples_have_weight_zero_in_every_per_sample_format(exported_excluding, small_tree):
    index, mask, _, w, files = exported_excluding
    reference = ImageFolder(str(small_tree))  # the order load_weights keeps
    expected = np.array([0.0 if m else w[t] for m, t in zip(mask, reference.targets, strict=True)])
    assert np.flatnonzero(expected == 0).tolist() == EXCLUDED
    for ext in (".pt", ".csv", ".npy"):
        assert load_weights(files[ext]).numpy().tolist() == pytest.approx(expected.tolist()), ext
        assert load_weights(files[ext], reference).numpy().tolist() == pytest.approx(expected.tolist()), ext
    with open(files[".csv"], newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["path", "class", "class_index", "weight", "fingerprint"]
    assert [r[0] for r in rows[1:] if float(r[3]) == 0] == [index.relative_paths()[i] for i in EXCLUDED]
    assert rows[-1][4].startswith("format_version=2 ")  # a .csv's layout is unchanged: weight 0 marks them


def test_pt_lists_excluded_indices_before_its_fingerprint(exported_excluding):
    _, _, _, _, files = exported_excluding
    record = torch.load(files[".pt"], weights_only=True)
    assert list(record) == [*PT_KEYS, "excluded", "fingerprint"]
    assert record["excluded"].dtype == torch.int64 and record["excluded"].tolist() == EXCLUDED
    assert record["format_version"] == 3
    assert record["fingerprint"] == _fingerprint(record)
    # The fingerprint covers the new key: one index fewer is an edit.
    record["excluded"] = torch.tensor(EXCLUDED[:-1])
    assert record["fingerprint"] != _fingerprint(record)


def test_json_records_usable_and_excluded_counts(exported_excluding):
    index, _, usable, w, files = exported_excluding
    record = json.loads(files[".json"].read_text())
    assert record["format_version"] == 3
    assert record["counts"] == [40, 10, 2] and record["usable_counts"] == usable.tolist() == [38, 9, 1]
    assert record["excluded"] == [2, 1, 1]
    assert record["expected_shares"] == pytest.approx(expected_shares(usable, w).tolist())
    assert load_weights(files[".json"]).tolist() == pytest.approx(w.tolist())
    # A .json names no files: per-sample weights from it would draw the excluded samples again.
    with pytest.raises(WeightsFileError, match="excludes 4 samples .* a .json names no files"):
        load_weights(files[".json"], index)


def test_a_file_without_exclusions_is_the_version_2_file(small_tree, tmp_path):
    index = scan_image_folder(small_tree)
    w = class_weights(index.counts, "inverse")
    for ext in (".pt", ".json"):
        export_weights(tmp_path / f"none{ext}", index, w, "inverse")
        export_weights(tmp_path / f"empty{ext}", index, w, "inverse", excluded=np.zeros(len(index), dtype=bool))
        assert (tmp_path / f"none{ext}").read_bytes() == (tmp_path / f"empty{ext}").read_bytes()
    record = torch.load(tmp_path / "empty.pt", weights_only=True)
    assert list(record) == [*PT_KEYS, "fingerprint"] and record["format_version"] == FORMAT_VERSION == 2
    assert "usable_counts" not in json.loads((tmp_path / "empty.json").read_text())


@pytest.mark.parametrize(
    "excluded, message",
    [
        (np.zeros(52, dtype=np.int64), "bool array with one entry per sample"),
        (np.zeros(51, dtype=bool), r"one entry per sample \(52\)"),
        (np.ones(52, dtype=bool), "leaves out every sample"),
    ],
)
def test_bad_exclusion_masks_are_settings_errors(small_tree, tmp_path, excluded, message):
    from balance_gui.core.errors import SettingsError

    index = scan_image_folder(small_tree)
    with pytest.raises(SettingsError, match=message):
        export_weights(tmp_path / "w.pt", index, [1.0, 1.0, 1.0], "none", excluded=excluded)
    assert not (tmp_path / "w.pt").exists()


def test_class_weights_only_on_excluded_samples_are_refused(small_tree, tmp_path):
    from balance_gui.core.errors import WeightsError

    index = scan_image_folder(small_tree)
    mask = index.targets == 2  # every cat excluded, and only cat weighted
    with pytest.raises(WeightsError, match="nothing could ever be drawn"):
        export_weights(tmp_path / "w.pt", index, [0.0, 0.0, 1.0], "custom", excluded=mask)


def _resigned_pt(path, edit):
    record = torch.load(path, weights_only=True)
    edit(record)
    record["fingerprint"] = _fingerprint(record)
    torch.save(record, path)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda r: r.__setitem__("excluded", torch.tensor([3, 17, 41, 52])), "outside the 52 samples"),
        (lambda r: r.__setitem__("excluded", torch.tensor([-1, 3, 17, 41])), "outside the 52 samples"),
        (lambda r: r.__setitem__("excluded", torch.tensor([17, 3, 41, 51])), "sorted sample indices without repeats"),
        (lambda r: r.__setitem__("excluded", torch.tensor([3, 3, 41, 51])), "sorted sample indices without repeats"),
        (lambda r: r.__setitem__("excluded", torch.tensor([3, 17, 41, 50])), "sample 50 is excluded but has weight"),
        (lambda r: r.__setitem__("excluded", torch.tensor([3.0, 17.0])), "1-D int64 tensor"),
        (lambda r: r.__setitem__("excluded", torch.tensor([[3, 17]])), "1-D int64 tensor"),
        (lambda r: r.__setitem__("excluded", torch.zeros(0, dtype=torch.int64)), "present but empty"),
        (lambda r: r.__setitem__("excluded", [3, 17, 41, 51]), "1-D int64 tensor"),
        (lambda r: r.__setitem__("format_version", 2), "format_version 2 but the file lists excluded samples"),
        (lambda r: r.pop("excluded"), "format_version 3 but the file lists no excluded samples"),
    ],
)
def test_tampered_pt_exclusions_are_refused(exported_excluding, edit, message):
    path = exported_excluding[4][".pt"]
    _resigned_pt(path, edit)
    with pytest.raises(WeightsFileError, match=message):
        load_weights(path)


def test_pt_exclusions_edited_without_resigning_are_refused(exported_excluding):
    path = exported_excluding[4][".pt"]
    record = torch.load(path, weights_only=True)
    record["excluded"] = torch.tensor(EXCLUDED[:-1])
    torch.save(record, path)
    with pytest.raises(WeightsFileError, match="modified after export"):
        load_weights(path)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda r: r.__setitem__("usable_counts", [38, 9, 2]), "usable_counts \\+ excluded must equal counts"),
        (lambda r: r.__setitem__("excluded", [2, 1]), "both be lists of whole numbers"),
        (lambda r: r.__setitem__("excluded", [2, 1, -1]), "both be lists of whole numbers"),
        (lambda r: r.__setitem__("excluded", [2, 1, True]), "both be lists of whole numbers"),
        (lambda r: r.pop("usable_counts"), "both be lists of whole numbers"),
        (lambda r: r.update(usable_counts=[40, 10, 2], excluded=[0, 0, 0]), "excludes nothing"),
        (lambda r: r.__setitem__("format_version", 2), "format_version 2 but the file lists excluded samples"),
        (lambda r: [r.pop("usable_counts"), r.pop("excluded")], "format_version 3 but the file lists no excluded"),
    ],
)
def test_tampered_json_exclusions_are_refused(exported_excluding, edit, message):
    from balance_gui.core.weightsfile_formats.json_file import record_fingerprint as _json_fingerprint

    path = exported_excluding[4][".json"]
    record = json.loads(path.read_text())
    edit(record)
    record["fingerprint"] = _json_fingerprint(record)
    path.write_text(json.dumps(record))
    with pytest.raises(WeightsFileError, match=message):
        load_weights(path)
    record["fingerprint"] = "0" * 64
    path.write_text(json.dumps(record))
    with pytest.raises(WeightsFileError):
        load_weights(path)


def test_a_version_2_reader_refuses_a_file_with_exclusions(exported_excluding, monkeypatch):
    """What an older balance-gui does with the new files: refuse to upgrade, never misread."""
    from balance_gui.core.weightsfile_formats import base

    monkeypatch.setattr(base, "READ_VERSION", 2)
    for ext in (".pt", ".json"):
        with pytest.raises(WeightsFileError, match="format_version 3, newer than this balance-gui reads"):
            load_weights(exported_excluding[4][ext])
    assert load_weights(exported_excluding[4][".csv"])[EXCLUDED].tolist() == [0.0] * len(EXCLUDED)
