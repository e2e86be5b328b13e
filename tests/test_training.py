"""load_sampler and the "Use in Training" code: the sampler the app runs, built in one place.

The app's run reads its weights with ``core.training.run_weights`` and draws through
``core.simulate.simulate``, which builds its sampler with ``build_sampler``; ``load_sampler`` reads
the exported file back into the same weights and the same builder. These tests check that the
generated code, run in a subprocess, draws exactly what the app drew, in every mode, with and
without "Weights on usable images", in both batch forms, for a folder and a manifest.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import balance_gui
from balance_gui.core.dataset import open_dataset
from balance_gui.core.errors import SettingsError, WeightsError, WeightsFileError
from balance_gui.core.expected import fit_test
from balance_gui.core.images import check_images
from balance_gui.core.simulate import simulate
from balance_gui.core.training import build_sampler, class_groups, file_weights, load_sampler, run_weights
from balance_gui.core.training_code import training_snippet
from balance_gui.core.weights import class_weights
from balance_gui.core.weightsfile import export_weights

MODES = ("weighted", "class_aware", "stratified")
SEED = 7


def _png(seed: int) -> bytes:
    """A small PNG of its own content (so no two files are duplicates)."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    """A folder with broken files and a copy, an empty class in the middle and one at the end, and a
    manifest of the same files in a scattered order. "cat" keeps one usable file, its first: its
    last file is corrupt."""
    base = tmp_path_factory.mktemp("training")
    root = base / "d"
    files: dict[str, list[bytes]] = {
        "ant": [_png(i) for i in range(6)],
        "bee": [],
        "cat": [_png(100), _png(101)[:40], _png(102)[:40], _png(103)[:30]],
        "dog": [_png(200), _png(201), _png(202)],
        "zzz": [],
    }
    files["ant"].append(files["ant"][0])  # an exact copy: one of the two is left out
    rows = []
    for cls, blobs in files.items():
        (root / cls).mkdir(parents=True)
        for i, blob in enumerate(blobs):
            (root / cls / f"{cls}_{i}.png").write_bytes(blob)
            rows.append((f"d/{cls}/{cls}_{i}.png", cls))
    order = np.random.default_rng(1).permutation(len(rows))
    manifest = base / "manifest.csv"
    manifest.write_text("path,label\n" + "".join(f"{rows[i][0]},{rows[i][1]}\n" for i in order))
    out = {"base": base}
    for source, path in (("folder", root), ("manifest", manifest)):
        index = open_dataset(path)
        check = check_images(index, workers=1, cache_path=None)
        out[source] = {"path": str(path), "index": index, "check": check}
    return out


def app_weights(entry: dict, usable: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The session's class weights and excluded files: on the usable counts when ``usable``."""
    index, check = entry["index"], entry["check"]
    if usable:
        return class_weights(check.usable_counts, "inverse", index.classes), ~check.usable_mask
    return class_weights(index.counts, "inverse", index.classes), None


def app_sampler(targets: np.ndarray, kw: dict, **settings) -> torch.utils.data.Sampler:
    """The sampler the app's run builds (``simulate`` hands its weights to ``build_sampler`` so)."""
    t = torch.from_numpy(np.array(targets, dtype=np.int64))
    form = (
        {"targets": t, "class_weights": kw["class_weights"]}
        if "class_weights" in kw
        else {"weights": kw["sample_weights"], "labels": t}
    )
    return build_sampler(**form, **settings)


def app_run_uses(targets: np.ndarray, kw: dict, epochs: int, **settings) -> list[np.ndarray]:
    """The app's run (``simulate``, as the GUI's worker calls it): per epoch, each sample's uses."""
    steps = list(
        simulate(targets, kw.get("class_weights"), sample_weights=kw.get("sample_weights"), epochs=epochs, **settings)
    )
    return [[s for s in steps if s.epoch == e][-1].image_uses for e in range(epochs)]


def flat(epoch: list) -> list[int]:
    return [int(i) for b in epoch for i in b] if epoch and isinstance(epoch[0], list) else [int(i) for i in epoch]


# ------------------------------------------------------------------ the generated code, in a subprocess

RUNNER = r"""
import json, sys
import torch
from torch.utils.data import DataLoader

jobs = json.load(open(sys.argv[1]))
out = []
for job in jobs:
    ns = {}
    exec(compile(job["code"], "<snippet>", "exec"), ns)
    sampler, loader = ns["sampler"], ns["loader"]
    assert isinstance(loader, DataLoader)
    assert (loader.batch_sampler is sampler) if job["batch"] else (loader.sampler is sampler)
    epochs = [[b if isinstance(b, int) else list(b) for b in sampler] for _ in range(2)]
    loaded = 0
    if job["load"]:  # every drawn file opens: no excluded (corrupt) one is drawn
        drawn = sorted({i for e in epochs for b in e for i in ([b] if isinstance(b, int) else b)})
        for i in drawn:
            image, target = ns["dataset"][i]
            assert isinstance(image, torch.Tensor) and image.shape == (3, 224, 224)
            loaded += 1
    out.append({"epochs": epochs, "loaded": loaded, "classes": list(ns["dataset"].classes)})
print(json.dumps(out))
"""


def test_generated_code_draws_what_the_app_drew_in_every_setting(data, tmp_path):
    jobs, expect = [], []
    n_draws = 40
    for source in ("folder", "manifest"):
        entry = data[source]
        index = entry["index"]
        targets = np.asarray(index.targets)
        for usable in (False, True):
            cw, excluded = app_weights(entry, usable)
            wpath = tmp_path / f"{source}-{usable}.pt"
            export_weights(wpath, index, cw, "inverse", excluded=excluded)
            kw = run_weights(targets, cw, excluded)
            for mode in MODES:
                for batch in (None, 8):
                    settings = dict(num_samples=n_draws, mode=mode, batch_size=batch)
                    code = training_snippet(str(wpath), entry["path"], source, seed=SEED, **settings)
                    jobs.append({"code": code, "batch": bool(batch), "load": usable})
                    ref = app_sampler(
                        targets,
                        kw,
                        generator=torch.Generator().manual_seed(SEED),
                        batch_sampler=bool(batch),
                        **settings,
                    )
                    expect.append(
                        {
                            "name": f"{source}, usable={usable}, {mode}, batch_size={batch}",
                            "epochs": [[b if isinstance(b, int) else list(b) for b in ref] for _ in range(2)],
                            "uses": app_run_uses(targets, kw, 2, seed=SEED, **settings),
                            "excluded": excluded,
                            "batch": batch,
                            "index": index,
                            "usable": usable,
                        }
                    )
    assert "dataset = ..." not in jobs[-1]["code"] and "load_sampler(" in jobs[-1]["code"]
    job_file = tmp_path / "jobs.json"
    job_file.write_text(json.dumps(jobs))
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER)
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    done = subprocess.run(
        [sys.executable, str(runner), str(job_file)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    assert len(results) == len(expect) == 24
    for got, exp in zip(results, expect, strict=True):
        name, index = exp["name"], exp["index"]
        assert got["classes"] == list(index.classes), name
        assert got["epochs"] == exp["epochs"], name  # the very indices of the app's sampler, batch for batch
        for e in range(2):
            drawn = flat(got["epochs"][e])
            assert len(drawn) == 40, name
            if exp["batch"]:
                assert [len(b) for b in got["epochs"][e]] == [8] * 5, name
            # what the app's run drew: the same uses of every sample
            np.testing.assert_array_equal(np.bincount(drawn, minlength=len(index)), exp["uses"][e], err_msg=name)
            classes = [index.classes[index.targets[i]] for i in drawn]
            assert "cat" in classes, name  # cat keeps its share: with weights on usable images, its one usable file
            if exp["usable"]:
                assert not exp["excluded"][drawn].any(), name  # never an excluded file
                cat_files = {index.relative_path(i) for i in drawn if index.classes[index.targets[i]] == "cat"}
                assert cat_files == {os.path.join("d", "cat", "cat_0.png")} or cat_files == {"cat/cat_0.png"}, name
        if exp["usable"]:
            assert got["loaded"] > 0, name


# ------------------------------------------------------------------ load_sampler


def _epochs(sampler: torch.utils.data.Sampler, n: int = 2) -> list[list]:
    return [list(sampler) for _ in range(n)]


@pytest.mark.parametrize("fmt", [".pt", ".csv", ".json", ".npy"])
@pytest.mark.parametrize("mode", MODES)
def test_each_format_and_mode_loads_the_apps_sampler(data, tmp_path, fmt, mode):
    entry = data["folder"]
    index = entry["index"]
    targets = np.asarray(index.targets)
    for usable in (False, True) if fmt != ".json" else (False,):
        cw, excluded = app_weights(entry, usable)
        path = tmp_path / f"w{usable}{fmt}"
        export_weights(path, index, cw, "inverse", excluded=excluded)
        s = load_sampler(path, index, mode=mode, num_samples=60, seed=5)
        kw = run_weights(targets, cw, excluded)
        ref = app_sampler(targets, kw, num_samples=60, mode=mode, seed=5)
        assert type(s) is balance_gui.BalancedSampler
        assert _epochs(s) == _epochs(ref), (fmt, mode, usable)
        if usable:
            drawn = np.concatenate([np.asarray(e) for e in _epochs(s)])
            assert not excluded[drawn].any()
        b = load_sampler(path, index, mode=mode, num_samples=60, batch_size=7, seed=5)
        assert type(b) is balance_gui.BalancedBatchSampler and len(b) == 9
        fresh = app_sampler(targets, kw, num_samples=60, mode=mode, seed=5)
        assert [i for batch in b for i in batch] == list(fresh)


def test_json_with_exclusions_is_refused_naming_the_formats_that_work(data, tmp_path):
    entry = data["folder"]
    cw, excluded = app_weights(entry, True)
    path = tmp_path / "w.json"
    export_weights(path, entry["index"], cw, "inverse", excluded=excluded)
    with pytest.raises(WeightsFileError, match=r"excludes 4 samples .* export \.pt, \.csv or \.npy"):
        load_sampler(path, entry["index"], mode="class_aware")


def test_every_dataset_form_gives_the_same_sampler(data, tmp_path):
    from torchvision import datasets

    entry = data["folder"]
    index = entry["index"]
    cw, excluded = app_weights(entry, True)
    path = tmp_path / "w.pt"
    export_weights(path, index, cw, "inverse", excluded=excluded)

    class Labelled:  # a dataset with labels only (no file names): checked by its targets
        def __init__(self, targets, classes=None):
            self.targets = list(targets)
            if classes is not None:
                self.classes = classes

        def __len__(self):
            return len(self.targets)

    folder = datasets.ImageFolder(entry["path"], allow_empty=True)
    forms = [index, entry["path"], folder, Labelled(index.targets, list(index.classes)), Labelled(index.targets)]
    draws = [_epochs(load_sampler(path, d, mode="stratified", num_samples=30, seed=1)) for d in forms]
    assert all(d == draws[0] for d in draws)
    # a labelled dataset whose labels differ from the file's is refused, naming the first difference
    other = np.array(index.targets)
    other[[0, -1]] = other[[-1, 0]]
    with pytest.raises(WeightsFileError, match=r"does not match the dataset: sample 0 has class index 0 in the file"):
        load_sampler(path, Labelled(other))


def test_a_file_for_another_dataset_is_refused_with_what_differs(data, tmp_path):
    entry = data["folder"]
    index = entry["index"]
    cw, _ = app_weights(entry, False)
    pt, npy, js = tmp_path / "w.pt", tmp_path / "w.npy", tmp_path / "w.json"
    for p in (pt, npy, js):
        export_weights(p, index, cw, "inverse")
    other_root = tmp_path / "other"
    for cls in ("ant", "cat", "dog"):
        (other_root / cls).mkdir(parents=True)
        (other_root / cls / "x.png").write_bytes(_png(5))
    other = open_dataset(other_root)
    with pytest.raises(WeightsFileError, match=r"w\.pt does not match the dataset: classes only in the file: 'bee'"):
        load_sampler(pt, other)
    with pytest.raises(WeightsFileError, match=r"the file holds 14 weights but the dataset has 3 samples"):
        load_sampler(npy, other)
    with pytest.raises(WeightsFileError, match=r"w\.json does not match the dataset"):
        load_sampler(js, other)
    with pytest.raises(WeightsFileError, match="weights file not found"):
        load_sampler(tmp_path / "missing.pt", index)
    with pytest.raises(SettingsError, match="class_aware mode draws with replacement"):
        load_sampler(pt, index, mode="class_aware", replacement=False)
    with pytest.raises(SettingsError, match="mode must be one of"):
        load_sampler(pt, index, mode="balanced")


def test_a_class_whose_last_file_is_excluded_keeps_its_share(data, tmp_path):
    """The old training code set each class's weight from its last file (``scatter_``): cat's last
    file is corrupt, so cat got weight 0 there. Here cat's one usable file carries cat's share."""
    entry = data["folder"]
    index, check = entry["index"], entry["check"]
    cw, excluded = app_weights(entry, True)
    path = tmp_path / "w.csv"
    export_weights(path, index, cw, "inverse", excluded=excluded)
    usable = check.usable_counts
    shares = usable * cw / (usable * cw).sum()
    cat = index.classes.index("cat")
    assert usable[cat] == 1 and shares[cat] > 0.3
    k = 30_000
    for mode in ("weighted", "class_aware"):
        drawn = np.asarray(list(load_sampler(path, index, mode=mode, num_samples=k, seed=11)))
        assert not excluded[drawn].any()
        counts = np.bincount(np.asarray(index.targets)[drawn], minlength=index.num_classes)
        fit = fit_test(counts, shares)
        assert fit.p_value > 1e-3, (mode, counts, shares)
        assert set(drawn[np.asarray(index.targets)[drawn] == cat].tolist()) == {
            int(np.flatnonzero(index.targets == cat)[0])
        }
    drawn = np.asarray(list(load_sampler(path, index, mode="stratified", num_samples=k, seed=11)))
    counts = np.bincount(np.asarray(index.targets)[drawn], minlength=index.num_classes)
    assert np.all(np.abs(counts - k * shares) < 1)  # stratified: floor or ceil of k * p_c


def test_class_aware_cycles_through_the_usable_images_of_each_class():
    """Within an epoch each class's usable images are used evenly (a cycle of permutations), and a
    class is not merged with another of the same weight."""
    t = np.repeat([0, 1, 2], [5, 5, 4])
    cw = np.array([1.0, 1.0, 2.0])
    excluded = np.zeros(t.size, dtype=bool)
    excluded[[1, 3, 12]] = True
    kw = run_weights(t, cw, excluded)
    assert set(kw) == {"sample_weights"}
    s = app_sampler(t, kw, num_samples=600, mode="class_aware", seed=2)
    drawn = np.asarray(list(s))
    uses = np.bincount(drawn, minlength=t.size)
    assert not uses[excluded].any()
    for c in range(3):
        u = uses[(t == c) & ~excluded]
        assert u.max() - u.min() <= 1  # every usable image of the class, evenly
    # the app's run draws these very samples
    (run,) = app_run_uses(t, kw, 1, num_samples=600, mode="class_aware", seed=2)
    s2 = app_sampler(t, kw, num_samples=600, mode="class_aware", generator=torch.Generator().manual_seed(2))
    np.testing.assert_array_equal(run, np.bincount(np.asarray(list(s2)), minlength=t.size))


def test_class_groups_keep_every_samples_probability():
    """Per-sample weights that differ inside a class: each (class, weight) is a group drawn by its
    mass, so sample i is drawn with probability w_i / sum(w) (the closed form), in class-aware mode."""
    t = np.array([0, 0, 0, 0, 1, 1, 1, 2])
    w = np.array([1.0, 3.0, 3.0, 0.0, 2.0, 2.0, 0.0, 5.0])
    groups, gw = class_groups(t, w)
    assert groups.tolist() == [0, 3, 3, 4, 1, 1, 4, 2] and gw.tolist() == [1.0, 2.0, 5.0, 3.0, 0.0]
    back = file_weights(w, t, 3)  # not one weight per class: the file's weights as they are
    assert set(back) == {"sample_weights"} and np.array_equal(back["sample_weights"], w)
    k = 40_000
    drawn = np.asarray(list(build_sampler(w, num_samples=k, labels=t, mode="class_aware", seed=4)))
    fit = fit_test(np.bincount(drawn, minlength=t.size), w / w.sum())
    assert fit.p_value > 1e-3 and not np.isin(drawn, [3, 6]).any()


def test_run_weights_reads_the_app_and_the_file_alike():
    t = np.array([0, 0, 1, 1, 1, 3])
    cw = np.array([2.0, 1.0, 7.0, 4.0])  # class 2 is empty
    assert run_weights(t, cw)["class_weights"].tolist() == [2.0, 1.0, 0.0, 4.0]
    none = np.zeros(6, dtype=bool)
    assert set(run_weights(t, cw, none)) == {"class_weights"}  # nothing excluded: the class form
    whole = np.array([False, False, False, False, False, True])  # all of class 3: a class never drawn
    assert run_weights(t, cw, whole)["class_weights"].tolist() == [2.0, 1.0, 0.0, 0.0]
    part = np.array([True, False, False, False, False, False])
    assert run_weights(t, cw, part)["sample_weights"].tolist() == [0.0, 2.0, 1.0, 1.0, 1.0, 4.0]
    for mask in (None, none, whole, part):
        kw = run_weights(t, cw, mask)
        w = kw["sample_weights"] if "sample_weights" in kw else kw["class_weights"][t]
        back = file_weights(w, t, 4)
        assert back.keys() == kw.keys()
        for key in kw:
            np.testing.assert_array_equal(back[key], kw[key])
    with pytest.raises(SettingsError, match="excluded must be a bool array with one entry per sample"):
        run_weights(t, cw, np.zeros(5, dtype=bool))
    with pytest.raises(WeightsError, match=r"weights\[1\] is NaN"):
        class_groups(t, [1.0, float("nan"), 1.0, 1.0, 1.0, 1.0])


def test_load_sampler_is_exported_lazily():
    assert "load_sampler" in balance_gui.__all__
    assert balance_gui.load_sampler is load_sampler


@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")
def test_manifest_snippet_builds_a_real_dataset(data, tmp_path):
    entry = data["manifest"]
    code = training_snippet(str(tmp_path / "w.pt"), entry["path"], "manifest", num_samples=10, seed=3)
    assert "dataset = ..." not in code and "open_dataset(" in code and "class ManifestDataset(Dataset)" in code
    cw, excluded = app_weights(entry, True)
    export_weights(tmp_path / "w.pt", entry["index"], cw, "inverse", excluded=excluded)
    ns: dict = {}
    exec(compile(code, "<snippet>", "exec"), ns)
    assert len(ns["dataset"]) == len(entry["index"]) and ns["dataset"].classes == ["ant", "cat", "dog"]
    image, target = ns["dataset"][int(np.flatnonzero(~excluded)[0])]
    assert image.shape == (3, 224, 224) and isinstance(target, int)
