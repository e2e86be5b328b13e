"""load_sampler and the "Use in Training" code for annotation files (COCO .json, path,labels .csv).

A file exported per image (``export ANNOT.json -o w.pt --scheme S``) loads against the annotation
file or its MultiLabelIndex, checked by image ids and files: ``mode="repeat"`` (``rfs:T`` files)
gives a RepeatFactorSampler, the weighted mode a BalancedSampler on the image weights.  The
generated code, run in a subprocess, draws exactly what the app's image-level run
(``core.image_sampling.simulate_image_level``) draws with the same seed.
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
from balance_gui.cli import main
from balance_gui.core.annotation_weights import export_image_weights
from balance_gui.core.annotations import open_annotations
from balance_gui.core.errors import SettingsError, WeightsFileError
from balance_gui.core.image_sampling import simulate_image_level
from balance_gui.core.repeat_factor_sampler import RepeatFactorSampler
from balance_gui.core.repeat_factors import scheme_image_weights
from balance_gui.core.training import load_sampler
from balance_gui.core.training_code import training_snippet

SEED = 7
RFS = "rfs:0.3"
N_IMAGES = 24
CLASSES = ["bird", "boat", "car", "dog", "person"]


def _png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _labels(i: int) -> list[int]:
    """A long tail: person in most images, bird in two; image 5 has no label."""
    if i == 5:
        return []
    out = [4] if i % 4 else [2]
    if i % 3 == 0:
        out.append(3)
    if i in (2, 17):
        out.append(0)
    if i % 7 == 1:
        out.append(1)
    return sorted(set(out))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A COCO file (image ids listed out of order, category ids non-contiguous) and a path,labels
    manifest of the same images and classes, the images beside them."""
    base = tmp_path_factory.mktemp("annotations")
    (base / "images").mkdir()
    ids = np.random.default_rng(3).permutation(np.arange(100, 100 + N_IMAGES))
    images, annotations, rows = [], [], []
    for i, image_id in enumerate(ids.tolist()):
        name = f"images/im_{image_id}.png"
        (base / name).write_bytes(_png(image_id))
        images.append({"id": image_id, "file_name": name, "width": 6, "height": 6})
        for c in _labels(i):
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": 10 * c + 3})
        rows.append(f"{name},{';'.join(CLASSES[c] for c in _labels(i))}")
    categories = [{"id": 10 * c + 3, "name": n} for c, n in enumerate(CLASSES)][::-1]
    coco = base / "instances.json"
    coco.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    manifest = base / "labels.csv"
    manifest.write_text("path,labels\n" + "\n".join(rows) + "\n")
    return {"coco": str(coco), "multilabel": str(manifest), "base": str(base)}


def export(tmp_path, files: dict[str, str], source: str, scheme: str, ext: str = ".pt") -> tuple[str, object]:
    index = open_annotations(files[source])
    out = str(tmp_path / f"{source}-{scheme.replace(':', '_')}{ext}")
    export_image_weights(out, index, scheme_image_weights(index, scheme), scheme)
    return out, index


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
    sampler, loader, dataset = ns["sampler"], ns["loader"], ns["dataset"]
    assert isinstance(loader, DataLoader)
    assert (loader.batch_sampler is sampler) if job["batch"] else (loader.sampler is sampler)
    epochs = [[b if isinstance(b, int) else list(b) for b in sampler] for _ in range(2)]
    first = epochs[0][0] if isinstance(epochs[0][0], int) else epochs[0][0][0]
    image, target = dataset[first]
    assert isinstance(image, torch.Tensor) and image.shape == (3, 224, 224)
    out.append({"type": type(sampler).__name__, "epochs": epochs, "first": first, "target": target.tolist()})
print(json.dumps(out))
"""

CASES = [  # (scheme, mode, batch_size)
    (RFS, "repeat", None),
    (RFS, "weighted", None),  # mmdetection's form: weighted by the repeat factors
    ("inverse", "weighted", None),
    ("inverse", "weighted", 8),
]
K = 40  # draws per epoch in the weighted mode


def app_epochs(index: object, scheme: str, mode: str, batch: int | None) -> tuple[str, list[list]]:
    """What the app's core draws for these settings, epoch by epoch."""
    w = scheme_image_weights(index, scheme)
    if mode == "repeat":  # the app's run of an rfs:T scheme: RepeatFactorSampler(w, seed=S)
        s: torch.utils.data.Sampler = RepeatFactorSampler(w, seed=SEED)
    elif batch:
        s = balance_gui.BalancedBatchSampler(w, num_samples=K, batch_size=batch, seed=SEED)
    else:
        s = balance_gui.BalancedSampler(w, num_samples=K, seed=SEED)
    return type(s).__name__, [[b if isinstance(b, int) else list(b) for b in s] for _ in range(2)]


def test_generated_code_draws_what_the_app_drew_for_annotation_files(files, tmp_path):
    jobs, expect = [], []
    for source in ("coco", "multilabel"):
        for scheme, mode, batch in CASES:
            path, index = export(tmp_path, files, source, scheme)
            code = training_snippet(path, files[source], source, num_samples=K, batch_size=batch, seed=SEED, mode=mode)
            assert "load_sampler(" in code and "open_annotations(" in code
            jobs.append({"code": code, "batch": bool(batch and mode != "repeat")})
            kind, epochs = app_epochs(index, scheme, mode, batch)
            # the app's image-level run (the GUI's, `balance-gui simulate`'s): rfs:T runs repeat-factor epochs
            app_run = mode == "repeat" or not scheme.startswith("rfs")
            k = None if mode == "repeat" else K
            run = simulate_image_level(index, scheme, epochs=2, num_samples=k, seed=SEED) if app_run else None
            expect.append({"name": (source, scheme, mode, batch), "kind": kind, "epochs": epochs, "run": run})
            expect[-1]["index"] = index
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
    assert len(results) == len(expect) == 8
    for got, exp in zip(results, expect, strict=True):
        name, index = exp["name"], exp["index"]
        assert got["type"] == exp["kind"], name
        assert got["epochs"] == exp["epochs"], name  # the very indices, batch for batch
        flat = [i for e in got["epochs"] for b in e for i in ([b] if isinstance(b, int) else b)]
        if exp["run"] is not None:  # the app's run drew these very images
            np.testing.assert_array_equal(np.bincount(flat, minlength=len(index)), exp["run"].image_uses, str(name))
        want = np.zeros(len(CLASSES))
        want[index.labels(got["first"])] = 1.0
        assert got["target"] == want.tolist(), name  # item i is image i of the file, with its classes


# ------------------------------------------------------------------ load_sampler


@pytest.mark.parametrize("ext", [".pt", ".csv", ".json", ".npy"])
@pytest.mark.parametrize("source", ["coco", "multilabel"])
def test_each_format_loads_against_the_file_or_its_index(files, tmp_path, ext, source):
    path, index = export(tmp_path, files, source, RFS, ext)
    w = scheme_image_weights(index, RFS)
    for dataset in (files[source], index):
        s = load_sampler(path, dataset, mode="repeat", seed=3)
        ref = RepeatFactorSampler(w, seed=3)
        assert type(s) is RepeatFactorSampler and torch.equal(s.repeat_factors, ref.repeat_factors)
        assert [list(s) for _ in range(3)] == [list(ref) for _ in range(3)]
        weighted = load_sampler(path, dataset, seed=3)  # mmdetection's form: one draw per image, by r
        assert type(weighted) is balance_gui.BalancedSampler and len(weighted) == N_IMAGES
        assert list(weighted) == list(balance_gui.BalancedSampler(w, seed=3))
    gen = load_sampler(path, index, mode="repeat", generator=torch.Generator().manual_seed(4))
    assert list(gen) == list(RepeatFactorSampler(w, generator=torch.Generator().manual_seed(4)))


def test_repeat_epochs_have_the_repeat_factor_law(files, tmp_path):
    path, index = export(tmp_path, files, "coco", RFS)
    r = scheme_image_weights(index, RFS)
    assert len(np.unique(r)) > 2 and np.any(r % 1 > 0)  # the test needs fractional factors
    s = load_sampler(path, index, mode="repeat", seed=0)
    counts = np.stack([np.bincount(list(s), minlength=N_IMAGES) for _ in range(300)])
    assert np.all((counts == np.floor(r)) | (counts == np.floor(r) + 1))
    np.testing.assert_allclose(counts.mean(0), r, atol=0.15)


def test_the_cli_export_loads_as_a_repeat_factor_sampler(files, tmp_path, capsys):
    out = tmp_path / "w.pt"
    assert main(["export", files["coco"], "-o", str(out), "--scheme", RFS]) == 0
    data = torch.load(out, weights_only=True)
    index = open_annotations(files["coco"])
    assert data["weights"].dtype == torch.float64 and data["image_ids"].tolist() == index.image_ids.tolist()
    assert main(["verify", str(out), files["coco"]]) == 0
    s = balance_gui.load_sampler(out, files["coco"], mode="repeat", seed=1)
    assert isinstance(s, RepeatFactorSampler)
    assert list(s) == list(RepeatFactorSampler(scheme_image_weights(index, RFS), seed=1))


@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")
def test_a_coco_file_away_from_its_images_gets_its_image_root(files, tmp_path):
    away = tmp_path / "annotations" / "instances.json"
    away.parent.mkdir()
    away.write_text(open(files["coco"]).read())
    index = open_annotations(away, image_root=files["base"])
    path = str(tmp_path / "w.pt")
    export_image_weights(path, index, scheme_image_weights(index, RFS), RFS)
    code = training_snippet(path, str(away), "coco", seed=2, mode="repeat", image_root=files["base"])
    assert f"image_root={files['base']!r}" in code
    beside = training_snippet(path, files["coco"], "coco", seed=2, mode="repeat", image_root=files["base"])
    assert "image_root" not in beside  # the default: the images beside the file
    ns: dict = {}
    exec(compile(code, "<snippet>", "exec"), ns)
    assert list(ns["sampler"]) == list(RepeatFactorSampler(scheme_image_weights(index, RFS), seed=2))
    image, target = ns["dataset"][3]
    assert image.shape == (3, 224, 224) and target.nonzero().flatten().tolist() == index.labels(3)


def test_wrong_files_modes_and_settings_are_refused(files, tmp_path):
    path, index = export(tmp_path, files, "coco", RFS)
    inverse, _ = export(tmp_path, files, "coco", "inverse", ".json")
    with pytest.raises(WeightsFileError, match="has image ids and the other has none"):
        load_sampler(path, files["multilabel"], mode="repeat")  # the manifest has no image ids
    reordered = tmp_path / "reordered.json"
    coco = json.loads(open(files["coco"]).read())
    coco["images"] = coco["images"][::-1]
    reordered.write_text(json.dumps(coco))
    with pytest.raises(WeightsFileError, match=r"does not match .*reordered\.json: image 0 has id"):
        load_sampler(path, reordered, mode="repeat")
    with pytest.raises(SettingsError, match=r"holds inverse weights, not repeat factors: mode='repeat' needs"):
        load_sampler(inverse, index, mode="repeat")
    with pytest.raises(SettingsError, match=r"multi-label: .* not 'class_aware'"):
        load_sampler(path, index, mode="class_aware")
    with pytest.raises(SettingsError, match=r"num_samples, batch_size do not apply"):
        load_sampler(path, index, mode="repeat", num_samples=10, batch_size=4)
    with pytest.raises(SettingsError, match="replacement=False does not apply"):
        load_sampler(path, index, mode="repeat", replacement=False)
    with pytest.raises(SettingsError, match="not both"):
        load_sampler(path, index, mode="repeat", seed=1, generator=torch.Generator())


def test_repeat_mode_on_a_single_label_dataset_says_what_it_needs(tmp_path):
    root = tmp_path / "folder"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        (root / c / "x.png").write_bytes(_png(ord(c)))
    idx = balance_gui.open_dataset(root)
    balance_gui.export_weights(tmp_path / "w.pt", idx, [1.0, 2.0], "inverse")
    with pytest.raises(SettingsError, match=r"mode='repeat' draws repeat-factor epochs from the per-image weights"):
        load_sampler(tmp_path / "w.pt", idx, mode="repeat")
