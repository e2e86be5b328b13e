"""Issue 13: the scan, weights inputs, weights files, simulation and export against hostile input.

Each test fails on the code before the fix: a scan that never ends, an OverflowError or a bare
MemoryError (exit 3), a file accepted that should be refused, an input overwritten, a temp file
left behind.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest
import torch
from torchvision.datasets import ImageFolder

from balance_gui.cli import main
from balance_gui.core import dataset as dataset_mod
from balance_gui.core.dataset import scan_image_folder, scan_manifest
from balance_gui.core.errors import BalanceError, DatasetError, SettingsError, WeightsError, WeightsFileError
from balance_gui.core.simulate import chi_square_test
from balance_gui.core.weights import class_weights, parse_scheme
from balance_gui.core.weightsfile import export_weights, load_weights, read_weights_file
from balance_gui.core.weightsfile_formats.json_file import record_fingerprint as _json_fingerprint
from balance_gui.core.weightsfile_formats.pt_file import record_fingerprint as _fingerprint

from .conftest import make_tree


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- scans end: symlinks reaching one folder by many paths


def _dag(tmp_path, levels, links=2):
    """A dataset whose class ``c`` reaches ``L0 .. L{levels-1}`` through ``links`` symlinks per level,
    no cycle: 2**levels paths to the image in the last level. The levels live outside the root."""
    root = make_tree(tmp_path / "data", {"c": ["top.jpg"], "d": ["y.jpg"]})
    outside = tmp_path / "levels"
    prev = root / "c"
    for i in range(levels):
        level = outside / f"L{i}"
        level.mkdir(parents=True)
        for j in range(links):
            os.symlink(level, prev / f"l{j}")
        prev = level
    (prev / "x.jpg").write_bytes(b"")
    return root


def _scan_within(root, seconds):
    result: dict = {}
    cancel = threading.Event()

    def work():
        try:
            result["index"] = scan_image_folder(root, cancel=cancel)
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            result["error"] = e

    worker = threading.Thread(target=work, daemon=True)
    start = time.perf_counter()
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        cancel.set()
        worker.join(60)
        pytest.fail(f"the scan did not end within {seconds} s")
    if "error" in result:
        raise result["error"]
    return result["index"], time.perf_counter() - start


def test_symlinks_reaching_one_folder_by_2_pow_16_paths_end_fast_and_report_the_skip(tmp_path):
    root = _dag(tmp_path, levels=16)  # ImageFolder would list x.jpg 65,536 times
    index, took = _scan_within(root, 30)
    assert took < 10
    assert index.classes == ("c", "d")
    assert index.counts.tolist() == [2, 1]  # top.jpg, and x.jpg once: each real folder listed once
    paths = index.relative_paths()
    assert paths[:2] == ["c/top.jpg", "c/l0/l0/l0/l0/l0/l0/l0/l0/l0/l0/l0/l0/l0/l0/l0/l0/x.jpg"]
    # one skipped path per level: the second link to the level already listed
    assert len(index.repeated_folders) == 16
    assert "c/l1" in index.repeated_folders
    text = " ".join(index.warnings())
    assert "16 path(s) lead to a folder already listed in its class and were not descended" in text
    assert "ImageFolder would walk every path" in text


def test_a_few_paths_to_one_folder_keep_imagefolder_parity(tmp_path):
    root = _dag(tmp_path, levels=5)  # 32 paths: ImageFolder lists x.jpg 32 times, and so does the scan
    index = scan_image_folder(root)
    reference = ImageFolder(str(root))
    assert index.samples == reference.samples and len(index) == 34
    assert index.repeated_folders == ()


def test_past_the_path_limit_each_real_folder_is_listed_once(tmp_path, monkeypatch):
    root = _dag(tmp_path, levels=5)
    monkeypatch.setattr(dataset_mod, "PATH_LIMIT", 10)
    monkeypatch.setattr(dataset_mod, "PATHS_PER_FOLDER", 1)
    index = scan_image_folder(root)
    assert index.counts.tolist() == [2, 1]
    assert index.relative_paths()[1] == "c/l0/l0/l0/l0/l0/x.jpg"  # the first path in name order
    assert len(index.repeated_folders) == 5


def test_a_cycle_inside_a_dag_is_still_a_loop(tmp_path):
    root = _dag(tmp_path, levels=3)
    os.symlink(tmp_path / "levels" / "L0", tmp_path / "levels" / "L2" / "back")  # L2/back -> L0: a cycle
    index = scan_image_folder(root)
    assert index.symlink_loops and all(p.endswith("back") for p in index.symlink_loops)
    assert index.counts.tolist() == [1 + 8, 1]


# ---------------------------------------------------------------- one file under two labels


def test_folder_scan_reports_a_file_under_two_classes_through_a_symlinked_folder(tmp_path):
    root = make_tree(tmp_path / "data", {"cat": ["a.jpg"], "dog": ["b.jpg"]})
    os.symlink(root / "cat", root / "dog" / "cats")  # every cat is a dog too
    index = scan_image_folder(root)
    assert index.samples == ImageFolder(str(root)).samples  # still torchvision's list
    assert index.shared_files == (("dog/cats/a.jpg", "cat/a.jpg"),)
    assert any(
        "1 file(s) are listed under two classes" in w and "'dog/cats/a.jpg' is 'cat/a.jpg'" in w
        for w in index.warnings()
    )


def test_folder_scan_reports_a_hard_link_and_a_file_symlink_under_two_classes(tmp_path):
    root = make_tree(tmp_path / "data", {"cat": ["a.jpg", "b.jpg"], "dog": ["c.jpg"]})
    os.link(root / "cat" / "a.jpg", root / "dog" / "hard.jpg")
    os.symlink(root / "cat" / "b.jpg", root / "dog" / "soft.jpg")
    index = scan_image_folder(root)
    assert set(index.shared_files) == {("dog/hard.jpg", "cat/a.jpg"), ("dog/soft.jpg", "cat/b.jpg")}
    clean = scan_image_folder(make_tree(tmp_path / "clean", {"a": 3, "b": 2}))
    assert clean.shared_files == () and clean.warnings() == []


def test_manifest_refuses_one_file_under_two_labels_through_a_symlinked_folder(tmp_path):
    make_tree(tmp_path, {"img": ["1.jpg", "2.jpg"]})
    os.symlink(tmp_path / "img", tmp_path / "alias")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\nimg/1.jpg,cat\nimg/2.jpg,cat\nalias/1.jpg,dog\n")
    with pytest.raises(DatasetError, match=r"'img/1.jpg' \(line 2, 'cat'\) and 'alias/1.jpg' \(line 4, 'dog'\)"):
        scan_manifest(manifest)


def test_manifest_refuses_a_hard_link_under_two_labels_and_counts_it_once_under_one(tmp_path):
    make_tree(tmp_path, {"img": ["1.jpg", "2.jpg"]})
    os.link(tmp_path / "img" / "1.jpg", tmp_path / "img" / "copy.jpg")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\nimg/1.jpg,cat\nimg/copy.jpg,dog\n")
    with pytest.raises(DatasetError, match="are the same file"):
        scan_manifest(manifest)
    manifest.write_text("path,label\nimg/1.jpg,cat\nimg/2.jpg,dog\nimg/copy.jpg,cat\n")
    index = scan_manifest(manifest)
    assert index.relative_paths() == ["img/1.jpg", "img/2.jpg"] and index.duplicate_rows == ((4, 2),)


# ---------------------------------------------------------------- names that print alike


def test_manifest_label_with_a_bom_is_refused_naming_line_and_character(tmp_path):
    make_tree(tmp_path, {"img": ["1.jpg", "2.jpg"]})
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\nimg/1.jpg,cat\nimg/2.jpg,\ufeffcat\n", encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        scan_manifest(manifest)
    message = str(info.value)
    assert "line 3" in message and "U+FEFF" in message and "'\\ufeffcat'" in message
    assert "\ufeff" not in message  # the message shows it, not prints it invisibly


def test_manifest_labels_in_two_unicode_forms_are_refused(tmp_path):
    make_tree(tmp_path, {"img": ["1.jpg", "2.jpg"]})
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\nimg/1.jpg,caf\u00e9\nimg/2.jpg,cafe\u0301\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="differ only in their Unicode form"):
        scan_manifest(manifest)


def test_class_folders_that_print_alike_are_warned(tmp_path):
    root = make_tree(tmp_path / "data", {"cat": 1, "\ufeffcat": 1})
    index = scan_image_folder(root)
    assert index.num_classes == 2  # torchvision's classes, both
    assert any("'\\ufeffcat' holds invisible character(s) (U+FEFF at position 0)" in w for w in index.warnings())


# ---------------------------------------------------------------- errors quote a bounded excerpt


def test_a_huge_manifest_row_gives_a_short_error(tmp_path, capsys):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\n" + "a," * 2_000_000 + "\n")
    with pytest.raises(DatasetError) as info:
        scan_manifest(manifest)
    assert len(str(info.value)) < 500 and "got ['a', 'a', 'a'] and 1,999,998 more fields" in str(info.value)
    manifest.write_text("path," + "x" * 100_000 + "\n")
    code, _, err = run(capsys, "inspect", "--manifest", manifest)
    assert code == 2 and len(err) < 1000 and "more characters" in err


def test_the_cli_clips_any_long_message(capsys, monkeypatch, small_tree):
    import balance_gui.cli as cli

    def boom(args):
        raise DatasetError("x" * 1_000_000)

    monkeypatch.setattr(cli, "load_dataset", boom)
    code, _, err = run(capsys, "inspect", small_tree)
    assert code == 2 and len(err) < 3000 and "998,000 more characters" in err


# ---------------------------------------------------------------- custom weights


def test_custom_weight_of_400_digits_is_a_clear_error(tmp_path, small_tree, capsys):
    custom = tmp_path / "w.json"
    custom.write_text('{"ant": 1' + "0" * 400 + ', "bee": 1, "cat": 1}')
    with pytest.raises(WeightsError, match="class 'ant' has weight 1000.*too large for a float64"):
        parse_scheme(f"custom:{custom}")
    code, _, err = run(capsys, "inspect", small_tree, "--scheme", f"custom:{custom}")
    assert code == 2 and "Traceback" not in err and len(err) < 600


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"ant": 1, "ant": 2, "bee": 1}', "the key 'ant' is given twice"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"ant": -Infinity, "bee": 1}', "class 'ant' has weight -inf"),
        ('{"classes": ["a", "a"], "class_weights": [1, 2]}', "names a class twice"),
    ],
)
def test_bad_custom_weights_files_are_refused(tmp_path, text, message):
    custom = tmp_path / "w.json"
    custom.write_text(text)
    with pytest.raises(WeightsError, match=message):
        parse_scheme(f"custom:{custom}")


@pytest.mark.parametrize("scheme", ["rfs:1e308", "rfs:1.7976931348623157e308", "power:1e308", "power:-1e308"])
def test_extreme_scheme_parameters_give_no_runtime_warning(scheme):
    counts = np.array([1, 10, 100, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning is a failure
        w = class_weights(counts, scheme)
    assert np.isfinite(w).all() and w[3] == 0 and (w > 0).any()


def test_rfs_with_a_huge_threshold_is_the_law_of_rfs():
    counts = np.array([1, 10, 100])
    w = class_weights(counts, "rfs:1e308")
    np.testing.assert_allclose(w / w[0], np.sqrt(counts[0] / counts), rtol=1e-12)  # sqrt(T / f_c), all above 1


def test_exported_json_with_exclusions_keeps_them_excluded_as_custom_weights(tmp_path, small_tree, capsys):
    index = scan_image_folder(small_tree)
    mask = np.zeros(len(index), dtype=bool)
    mask[[3, 41]] = True
    usable = np.bincount(index.targets[~mask], minlength=3)
    path = tmp_path / "usable.json"
    export_weights(path, index, class_weights(usable, "inverse"), "inverse", excluded=mask)
    scheme = parse_scheme(f"custom:{path}")
    with pytest.raises(WeightsError, match="2 samples excluded .* run with --usable"):
        class_weights(index.counts, scheme, index.classes)  # all samples: the excluded ones weighted again
    np.testing.assert_allclose(class_weights(usable, scheme, index.classes), class_weights(usable, "inverse"))
    code, _, err = run(capsys, "inspect", small_tree, "--scheme", f"custom:{path}")
    assert code == 2 and "--usable" in err


def test_custom_weights_from_an_edited_export_are_refused(tmp_path, small_tree):
    index = scan_image_folder(small_tree)
    path = tmp_path / "w.json"
    export_weights(path, index, class_weights(index.counts, "inverse"), "inverse")
    record = json.loads(path.read_text())
    record["class_weights"][0] = 1000.0
    path.write_text(json.dumps(record))
    with pytest.raises(WeightsFileError, match="modified after export"):
        parse_scheme(f"custom:{path}")


# ---------------------------------------------------------------- sampler inputs


def test_float_targets_too_large_are_reported_as_given():
    from balance_gui.core.sampler import BalancedSampler

    with pytest.raises(WeightsError, match=r"targets\[1\] = 1e\+20 is out of range"):
        BalancedSampler(targets=[0.0, 1e20], class_weights=[1.0, 1.0])
    with pytest.raises(WeightsError, match=r"targets\[1\] = 18446744073709551615 is out of range"):
        BalancedSampler(targets=np.array([0, 2**64 - 1], dtype=np.uint64), class_weights=[1.0, 1.0])
    with pytest.raises(WeightsError, match=r"targets\[0\] = -3 is a negative class index"):
        BalancedSampler(targets=[-3.0, 1.0], class_weights=[1.0, 1.0])
    with pytest.raises(WeightsError, match=r"targets\[1\] = 0.5 is not an integer"):
        BalancedSampler(targets=[0.0, 0.5], class_weights=[1.0, 1.0])
    assert BalancedSampler(targets=[0.0, 1.0], class_weights=[1.0, 1.0]).targets is not None


def test_numbers_beyond_float64_are_a_clear_error_wherever_they_come_in():
    from balance_gui.core.sampler import BalancedSampler
    from balance_gui.core.simulate import simulate
    from balance_gui.core.weights import validate_class_weights

    huge = 10**400
    cases = [
        (lambda: BalancedSampler([huge, 1]), r"weights\[0\] = 1000.* too large for a float64"),
        (lambda: BalancedSampler(np.array([1, huge], dtype=object)), r"weights\[1\] = 1000.* too large"),
        (lambda: BalancedSampler(targets=[0, 1], class_weights=[1, huge]), r"class_weights\[1\] = 1000"),
        (lambda: validate_class_weights([huge, 1], ["a", "b"]), "class 'a' has weight 1000.* too large"),
        (lambda: class_weights([huge, 1], "inverse"), "class #0 has count 1000.* too large"),
        (lambda: simulate([0, 1], sample_weights=[huge, 1]), r"sample_weights\[0\] = 1000"),
        (lambda: simulate([0, 10**30], [1.0, 1.0]), r"targets\[1\] = 10{30} is not a class index"),
        (lambda: simulate(np.array([0, 2**64 - 1], dtype=np.uint64), [1.0, 1.0]), "18446744073709551615"),
    ]
    for make, message in cases:
        with pytest.raises(BalanceError, match=message):
            make()


@pytest.mark.parametrize("which", ["weights", "class_weights", "targets"])
def test_sparse_tensors_are_a_balance_error(which):
    from balance_gui.core.sampler import BalancedSampler

    kw = {
        "weights": dict(weights=torch.tensor([1.0, 2.0]).to_sparse()),
        "class_weights": dict(targets=[0, 1], class_weights=torch.tensor([1.0, 2.0]).to_sparse()),
        "targets": dict(targets=torch.tensor([0, 1]).to_sparse(), class_weights=[1.0, 2.0]),
    }[which]
    with pytest.raises(WeightsError, match=f"{which} is a torch.sparse_coo tensor; pass a dense one"):
        list(BalancedSampler(**kw, num_samples=4))


def test_a_generator_on_the_meta_device_is_a_balance_error():
    from balance_gui.core.sampler import BalancedSampler

    class MetaGenerator(torch.Generator):  # torch refuses to make one; a subclass reports the device
        @property
        def device(self):
            return torch.device("meta")

    with pytest.raises(SettingsError, match="generator is on the meta device"):
        list(BalancedSampler([1.0, 2.0], generator=MetaGenerator()))


def test_num_samples_is_bounded_before_anything_is_allocated(monkeypatch):
    from balance_gui.core import sampler_inputs
    from balance_gui.core.sampler import BalancedSampler, DistributedBalancedSampler

    for k in (2**63, 2**48 + 1):
        with pytest.raises(SettingsError, match="more draws than an epoch may ask for"):
            BalancedSampler([1.0, 2.0], num_samples=k)
    lazy = BalancedSampler([1.0, 2.0], num_samples=2**48, seed=0)  # chunk by chunk: fine
    assert len(lazy) == 2**48 and next(iter(lazy)) in (0, 1)
    monkeypatch.setattr(sampler_inputs, "memory_bytes", lambda: 24 * 1000)  # a machine that holds 1,000 draws
    assert BalancedSampler([1.0, 2.0], num_samples=1000, mode="stratified").num_samples == 1000
    with pytest.raises(SettingsError, match="too many for an epoch drawn whole"):
        BalancedSampler([1.0, 2.0], num_samples=1001, mode="stratified")
    with pytest.raises(SettingsError, match="too many for an epoch drawn whole"):
        DistributedBalancedSampler([1.0, 2.0], num_replicas=2, rank=0, num_samples=1001, mode="stratified")
    assert BalancedSampler([1.0, 2.0], num_samples=5000, mode="weighted").num_samples == 5000


# ---------------------------------------------------------------- simulate: bounded, streamed


def test_simulate_stratified_streams_an_epoch_of_2_pow_40_draws():
    from balance_gui.core.simulate import simulate

    t = np.repeat(np.arange(3), [5, 3, 2])
    steps = simulate(t, [1.0, 1.0, 1.0], num_samples=2**40, mode="stratified", seed=0)
    first = next(steps)  # the old code allocated 8 TB for the epoch here (exit 3)
    assert first.draws_done == 2**20 and first.total_draws == 2**40
    assert first.class_counts.sum() == 2**20
    steps.close()


def test_simulate_bounds_every_size():
    from balance_gui.core.simulate import simulate

    t = np.repeat(np.arange(2), [3, 2])
    with pytest.raises(SettingsError, match="more draws than an epoch may ask for"):
        simulate(t, [1.0, 1.0], num_samples=2**48 + 1, mode="stratified")
    with pytest.raises(SettingsError, match="a simulation draws at most 2\\*\\*48"):
        simulate(t, [1.0, 1.0], num_samples=2**47, epochs=3)
    with pytest.raises(SettingsError, match="more draws than an epoch may ask for"):
        simulate(t, [1.0, 1.0], num_samples=2**63)


def test_cli_simulate_stratified_with_a_huge_epoch_is_refused_or_streamed(capsys, small_tree):
    code, _, err = run(capsys, "simulate", small_tree, "--mode", "stratified", "--num-samples", 2**49)
    assert code == 2 and "--num-samples must be a whole number from 1 to 281,474,976,710,656" in err


def test_streamed_stratified_epoch_holds_the_samplers_draws(monkeypatch):
    import balance_gui.core.sampler as smod
    from balance_gui.core.sampler import BalancedSampler
    from balance_gui.core.simulate import simulate

    monkeypatch.setattr(smod, "CHUNK_SIZE", 16)
    t = np.repeat(np.arange(3), [7, 4, 2])
    cw = [1.0, 2.0, 5.0]
    steps = list(simulate(t, cw, num_samples=100, epochs=2, mode="stratified", seed=3))
    assert [s.draws_done for s in steps if s.epoch == 0] == [16, 32, 48, 64, 80, 96, 100]
    s = BalancedSampler(
        targets=t, class_weights=cw, num_samples=100, mode="stratified", generator=torch.Generator().manual_seed(3)
    )
    total = np.zeros(3, dtype=np.int64)
    for e in range(2):
        d = np.array(list(s))
        total += np.bincount(t[d], minlength=3)
        last = [st for st in steps if st.epoch == e][-1]
        np.testing.assert_array_equal(last.class_counts, total)  # the same epochs, whole
        np.testing.assert_array_equal(last.image_uses, np.bincount(d, minlength=t.size))


def _hypergeometric_pmf(total, good, drawn):
    from math import comb

    return np.array([comb(good, x) * comb(total - good, drawn - x) / comb(total, drawn) for x in range(drawn + 1)])


@pytest.mark.parametrize("large_total_path", [False, True])
def test_streamed_stratified_prefix_has_the_law_of_a_shuffled_epoch(monkeypatch, large_total_path):
    """The class counts of a chunk of a uniformly shuffled epoch are hypergeometric; the stream's
    must be too (for numpy's draw, and for the distinct-positions draw used above 1e9 draws)."""
    import balance_gui.core.simulate as sim
    from balance_gui.core.draws import StratifiedDraw, Where

    if large_total_path:
        monkeypatch.setattr(sim, "_NUMPY_HYPERGEOMETRIC_LIMIT", 0)
    groups = torch.tensor([0] * 4 + [1] * 2 + [2] * 2)
    draw = StratifiedDraw(groups, torch.tensor([4.0, 4.0, 4.0], dtype=torch.float64), Where(torch.device("cpu")))
    # 30 draws: exactly 10 per class; the first 8 of a shuffle hold Hypergeometric(30, 10, 8) of class 0
    runs = 4000
    first = np.zeros(9, dtype=np.int64)
    for key in range(runs):
        chunks = list(sim.stratified_chunks(draw, (key, 0), 30, 8))
        assert [c.numel() for c in chunks] == [8, 8, 8, 6]
        epoch = torch.cat(chunks).numpy()
        assert np.bincount(groups.numpy()[epoch], minlength=3).tolist() == [10, 10, 10]
        first[int((groups.numpy()[chunks[0].numpy()] == 0).sum())] += 1
    expected = runs * _hypergeometric_pmf(30, 10, 8)
    keep = expected >= 5
    observed = np.append(first[keep], first[~keep].sum())
    expect = np.append(expected[keep], expected[~keep].sum())
    assert chi_square_test(observed, expect / expect.sum())[1] > 1e-4


def test_distinct_integers_are_a_uniform_subset():
    from balance_gui.core.simulate import _distinct_integers

    rng = np.random.default_rng(0)
    hits = np.zeros(20, dtype=np.int64)
    for _ in range(3000):
        got = _distinct_integers(rng, 20, 7)
        assert got.size == 7 and np.unique(got).size == 7 and got.min() >= 0 and got.max() < 20
        hits[got] += 1
    assert chi_square_test(hits, np.full(20, 1 / 20))[1] > 1e-4


# ---------------------------------------------------------------- weights files


@pytest.fixture
def exported(small_tree, tmp_path):
    index = scan_image_folder(small_tree)
    w = class_weights(index.counts, "sqrt")
    out = {ext: tmp_path / f"weights{ext}" for ext in (".pt", ".csv", ".json")}
    for path in out.values():
        export_weights(path, index, w, "sqrt")
    return index, w, out


def test_json_weights_file_with_a_duplicated_key_is_refused(exported, small_tree):
    _, _, files = exported
    path = files[".json"]
    text = path.read_text()
    # json keeps the last "scheme", so the fingerprint still matches: another reader may keep the first
    path.write_text(text.replace("{", '{\n  "scheme": "something else",', 1))
    with pytest.raises(WeightsFileError, match="the key 'scheme' is given twice"):
        load_weights(path, str(small_tree))


def test_json_weights_file_that_excludes_every_sample_is_refused(exported, small_tree):
    _, _, files = exported
    path = files[".json"]
    record = json.loads(path.read_text())
    record["format_version"] = 3
    record["usable_counts"] = [0] * len(record["counts"])
    record["excluded"] = list(record["counts"])
    record["fingerprint"] = _json_fingerprint(record)
    path.write_text(json.dumps(record))
    with pytest.raises(WeightsFileError, match="leaves out every sample"):
        load_weights(path, str(small_tree))


def test_pt_with_a_key_outside_the_fingerprint_is_refused(exported, small_tree):
    _, _, files = exported
    path = files[".pt"]
    record = torch.load(path, weights_only=True)
    record["weights_for_real"] = torch.ones(3)  # a key the fingerprint does not cover
    record["fingerprint"] = _fingerprint(record)
    torch.save(record, path)
    with pytest.raises(
        WeightsFileError, match="holds key\\(s\\) a balance-gui weights record has not: 'weights_for_real'"
    ):
        load_weights(path, str(small_tree))


@pytest.mark.parametrize(
    "classes",
    [["=cmd|calc", "ok"], ["+1", "-1", "@x", "\tx", "\rx"], ["'=already", "''+twice", "'plain", "plain"]],
)
def test_csv_cells_a_spreadsheet_would_run_are_quoted_and_round_trip(tmp_path, classes):
    root = make_tree(tmp_path / "data", {c: ["=x.jpg", "y.jpg"] for c in classes})
    index = scan_image_folder(root)
    path = tmp_path / "w.csv"
    export_weights(path, index, class_weights(index.counts, "inverse"), "inverse")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    for row in rows[1:]:
        for cell in row[:2]:
            assert cell[:1] not in "=+-@\t\r", cell  # no cell starts a formula
    assert rows[-1][4].startswith("format_version=4 ")
    assert load_weights(path, index).tolist() == load_weights(path, ImageFolder(str(root))).tolist()
    info = read_weights_file(path)
    assert info["samples"] == index.relative_paths()
    assert sorted(set(info["classes_seen"].values())) == sorted(classes)


def test_csv_without_formula_cells_stays_version_2(exported):
    _, _, files = exported
    with open(files[".csv"], newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[-1][4].startswith("format_version=2 ")


# ---------------------------------------------------------------- export never replaces its own input


def test_export_refuses_to_write_over_its_manifest(tmp_path, capsys):
    make_tree(tmp_path, {"img": ["1.jpg", "2.jpg"]})
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\nimg/1.jpg,cat\nimg/2.jpg,dog\n")
    before = manifest.read_bytes()
    code, _, err = run(capsys, "export", "--manifest", manifest, "-o", manifest)
    assert code == 2 and "is the manifest" in err and manifest.read_bytes() == before
    os.link(manifest, tmp_path / "hard.csv")
    os.symlink(manifest, tmp_path / "soft.csv")
    for other in ("hard.csv", "soft.csv"):
        code, _, err = run(capsys, "export", manifest, "-o", tmp_path / other)
        assert code == 2 and "is the manifest" in err and manifest.read_bytes() == before, other
    with pytest.raises(WeightsFileError, match="it is the manifest this dataset was read from"):
        index = scan_manifest(manifest)
        export_weights(tmp_path / "hard.csv", index, [1.0, 1.0], "none")
    assert manifest.read_bytes() == before
    code, _, _ = run(capsys, "export", "--manifest", manifest, "-o", tmp_path / "w.csv")
    assert code == 0


def test_export_refuses_to_write_over_its_custom_weights(tmp_path, small_tree, capsys):
    custom = tmp_path / "w.json"
    custom.write_text('{"ant": 1, "bee": 2, "cat": 3}')
    code, _, err = run(capsys, "export", small_tree, "--scheme", f"custom:{custom}", "-o", custom)
    assert code == 2 and "the custom weights file" in err
    assert json.loads(custom.read_text()) == {"ant": 1, "bee": 2, "cat": 3}


@pytest.mark.parametrize("signame", ["SIGHUP", "SIGQUIT", "SIGUSR1", "SIGTERM"])
def test_ending_signals_during_export_remove_the_temp_file(tmp_path, signame):
    signum = getattr(signal, signame)
    code = (
        "import os, resource, sys, time\n"
        "resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGQUIT would dump core\n"
        "from balance_gui.core.atomic import atomic_write\n"
        "def slow(fh):\n"
        "    fh.write(b'x' * 1000)\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
        "atomic_write(sys.argv[1], slow)\n"
    )
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(out / "w.pt")], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    assert proc.stdout is not None and proc.stdout.readline() == "writing\n"
    assert len(os.listdir(out)) == 1  # the temp file exists now
    proc.send_signal(signum)
    assert proc.wait(timeout=60) == -signum  # still dies of the signal, as asked
    assert os.listdir(out) == []


def test_signal_handlers_are_restored_after_a_write(tmp_path):
    from balance_gui.core.atomic import atomic_write

    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)}
    atomic_write(tmp_path / "x.bin", lambda fh: fh.write(b"x"))
    assert {s: signal.getsignal(s) for s in before} == before
