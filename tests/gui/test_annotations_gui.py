"""The window on multi-label data: a COCO instances JSON (real images composed from the demo shapes)
and a path,labels manifest open; the table, plots, co-occurrence map, run and gallery show the
core's figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from balance_gui.core.annotations import read_coco
from balance_gui.core.image_sampling import simulate_image_level
from balance_gui.core.repeat_factors import cooccurrence, expected_repeat_factor_epoch, repeat_factors
from balance_gui.core.weights import Scheme
from balance_gui.gui.class_table import COL

from .conftest import open_and_wait

pytestmark = pytest.mark.timeout(120)

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"
TILE = 24
# (category id, name); ids non-contiguous and listed unsorted, as COCO files have them
CATEGORIES = [(30, "triangle"), (7, "circle"), (12, "square")]
# per image: the category ids of its boxes (one tile each)
LAYOUT = [[7, 7, 12], [7], [7, 30], [12], [7, 12], [], [7], [30, 7, 7, 7]]


@pytest.fixture
def coco_file(tmp_path):
    """A small COCO file whose images are real PNGs composed from the demo's shape images."""
    tiles = {name: sorted((DEMO / name).glob("*.jpg")) for _, name in CATEGORIES if (DEMO / name).is_dir()}
    demo_shapes = sorted(p for p in DEMO.iterdir() if p.is_dir())
    name_of = {cid: name for cid, name in CATEGORIES}
    (tmp_path / "images").mkdir()
    images, annotations = [], []
    for i, cats in enumerate(LAYOUT):
        canvas = Image.new("RGB", (2 * TILE, 2 * TILE), (0, 0, 0))
        for slot, cid in enumerate(cats):
            folder = tiles.get(name_of[cid]) or sorted(demo_shapes[slot % len(demo_shapes)].glob("*.jpg"))
            with Image.open(folder[i % len(folder)]) as src:
                canvas.paste(src.convert("RGB").resize((TILE, TILE)), ((slot % 2) * TILE, (slot // 2) * TILE))
            annotations.append(
                {"id": len(annotations) + 1, "image_id": 100 + i, "category_id": cid, "bbox": [0, 0, TILE, TILE]}
            )
        canvas.save(tmp_path / "images" / f"img{i}.png")
        images.append({"id": 100 + i, "file_name": f"images/img{i}.png", "width": 2 * TILE, "height": 2 * TILE})
    path = tmp_path / "instances.json"
    path.write_text(
        json.dumps(
            {
                "images": images[::-1],
                "annotations": annotations,
                "categories": [{"id": c, "name": n} for c, n in CATEGORIES],
            }
        )
    )
    return path


def test_coco_file_opens_with_images_instances_and_expected_figures(qtbot, window, coco_file):
    assert open_and_wait(qtbot, window, coco_file) == "ok"
    index = read_coco(coco_file)
    s = window.session
    assert s.multilabel and s.figures is None
    assert window.index.classes == ("circle", "square", "triangle")  # by ascending category id 7, 12, 30
    model = window.table_model
    np.testing.assert_array_equal(model.column_values("count"), [6, 3, 2])  # images carrying the class
    np.testing.assert_array_equal(model.column_values("instances"), [9, 3, 2])  # its boxes
    assert not window.table.isColumnHidden(COL["instances"])
    assert window.table.isColumnHidden(COL["expected_share"])
    assert window.summary.values["num_samples"].text() == "8 (14 annotations)"  # N: the file's images
    assert window.multilabel_plots.isVisibleTo(window) and not window.histogram.isVisibleTo(window)
    # rfs:T: the expected figures are the core's repeat-factor epoch on the core's repeat factors
    assert window.set_scheme(Scheme("rfs", 0.5))
    exp = expected_repeat_factor_epoch(index, repeat_factors(index, 0.5))
    np.testing.assert_allclose(model.column_values("expected_images"), exp.images, rtol=1e-12)
    np.testing.assert_allclose(model.column_values("expected_instances"), exp.instances, rtol=1e-12)
    np.testing.assert_allclose(window.multilabel_plots.expected_marks_by_class(), exp.images, rtol=1e-12)
    np.testing.assert_allclose(s.image_weights, repeat_factors(index, 0.5), rtol=1e-12)
    # the co-occurrence tab holds the core's matrix (largest class first)
    co = window.cooccurrence
    np.testing.assert_array_equal(co.matrix, cooccurrence(index).dense()[np.ix_(co.shown, co.shown)])
    assert co.matrix[0, 1] == 2 and "circle + square: 2 images together" in co.cell_text(0, 1)


def test_run_plots_sampled_images_and_instances_against_expected(qtbot, window, coco_file):
    assert open_and_wait(qtbot, window, coco_file) == "ok"
    assert window.set_scheme(Scheme("rfs", 0.5))
    window.sampler.epochs.setValue(40)
    window.sampler.seed.setValue(3)
    with qtbot.waitSignal(window.runFinished, timeout=60_000) as blocker:
        qtbot.mouseClick(window.sampler.start_button, Qt.MouseButton.LeftButton)
    run = blocker.args[0]
    direct = simulate_image_level(read_coco(coco_file), "rfs:0.5", epochs=40, seed=3)
    np.testing.assert_allclose(run.sampled.images, direct.sampled.images)
    images, instances = window.multilabel_plots.sampled_heights_by_class()
    np.testing.assert_allclose(images, direct.sampled.images)
    np.testing.assert_allclose(instances, direct.sampled.instances)
    np.testing.assert_allclose(
        window.multilabel_plots.sampled_images.expected[np.argsort(window.multilabel_plots.order)],
        direct.expected.images,
    )


def test_gallery_shows_a_class_with_the_other_labels(qtbot, window, coco_file):
    assert open_and_wait(qtbot, window, coco_file) == "ok"
    index = window.index
    square = index.classes.index("square")
    window.select_class(square)
    model = window.gallery.model
    assert model.rowCount() == 3
    rows = {model.data(model.index(r, 0), Qt.ItemDataRole.ToolTipRole) for r in range(model.rowCount())}
    # file order of the JSON (images listed in reverse): img4 (circle, square), img3, img0 (circle, square)
    paths = [Path(model.path(r)).name for r in range(model.rowCount())]
    assert paths == ["img4.png", "img3.png", "img0.png"]
    assert sum("labels: circle, square" in t for t in rows) == 2
    assert sum("labels: square" in t and "circle" not in t for t in rows) == 1


def test_multilabel_manifest_opens(qtbot, window, tmp_path):
    for name in ("a.png", "b.png", "c.png"):
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    manifest = tmp_path / "labels.csv"
    manifest.write_text("path,labels\na.png,dog;cat\nb.png,dog\nc.png,\n")
    assert open_and_wait(qtbot, window, manifest) == "ok"
    assert window.session.multilabel
    np.testing.assert_array_equal(window.table_model.column_values("count"), [1, 2])  # cat, dog
    assert window.check_action.isEnabled()  # the image check takes multi-label data too (issue 16)


def test_export_writes_the_sessions_image_weights(qtbot, window, coco_file, tmp_path):
    from balance_gui.core.annotation_weights import verify_image_weights

    assert open_and_wait(qtbot, window, coco_file) == "ok"
    assert window.set_scheme(Scheme("rfs", 0.5))
    out = tmp_path / "w.csv"
    with qtbot.waitSignal(window.weightsExported, timeout=30_000):
        window.export_weights_to(str(out))
    got = verify_image_weights(out, read_coco(coco_file))["sample_weights"]
    np.testing.assert_array_equal(got, repeat_factors(read_coco(coco_file), 0.5))
    np.testing.assert_array_equal(got, window.session.image_weights)


# ------------------------------------------------------------------ Use in Training on multi-label data

TRAINING_RUNNER = r"""
import json, sys
out = []
for path, epochs in json.load(open(sys.argv[1])):
    ns = {}
    exec(compile(open(path).read(), "<snippet>", "exec"), ns)
    drawn = [list(ns["sampler"]) for _ in range(epochs)]
    first = drawn[0][0]
    image, target = ns["dataset"][first]
    out.append({"type": type(ns["sampler"]).__name__, "drawn": drawn, "first": first,
                "shape": list(image.shape), "target": target.tolist()})
print(json.dumps(out))
"""


def _run_and_take_training_code(qtbot, window, tmp_path, name, scheme, **params):
    """Run the window with ``params``, export its weights, and keep its Use in Training lines."""
    from .test_run import run_to_end, set_params

    assert window.set_scheme(scheme)
    set_params(window, **params)
    run = run_to_end(qtbot, window)
    out = tmp_path / f"{name}.pt"
    with qtbot.waitSignal(window.weightsExported, timeout=30_000):
        window.export_weights_to(str(out))
    dialog = window.show_training_dialog()
    qtbot.addWidget(dialog)
    assert not dialog.warning.isVisible()
    code = dialog.text.toPlainText()
    assert "open_annotations(" in code and "load_sampler(" in code
    script = tmp_path / f"{name}.py"
    script.write_text(code)
    dialog.close()
    return str(script), run


@pytest.mark.timeout(240)
def test_use_in_training_on_coco_and_path_labels_draws_what_the_run_drew(qtbot, window, coco_file, tmp_path):
    import os
    import subprocess
    import sys

    from balance_gui.core.annotations import open_annotations

    jobs, runs = [], []
    assert open_and_wait(qtbot, window, coco_file) == "ok"
    for name, scheme, params in (
        ("coco-rfs", Scheme("rfs", 0.5), {"num_samples": 8, "epochs": 3, "seed": 4}),
        ("coco-inverse", Scheme("inverse"), {"num_samples": 5, "epochs": 2, "seed": 9, "replacement": False}),
    ):
        script, run = _run_and_take_training_code(qtbot, window, tmp_path, name, scheme, **params)
        jobs.append((script, params["epochs"]))
        runs.append((name, run, open_annotations(coco_file)))
    manifest = coco_file.parent / "labels.csv"
    manifest.write_text(
        "path,labels\n"
        + "".join(f"images/img{i}.png,{';'.join(sorted(set(map(str, c))))}\n" for i, c in enumerate(LAYOUT))
    )
    assert open_and_wait(qtbot, window, manifest) == "ok"
    script, run = _run_and_take_training_code(
        qtbot, window, tmp_path, "manifest-sqrt", Scheme("sqrt"), num_samples=30, epochs=2, seed=1
    )
    jobs.append((script, 2))
    runs.append(("manifest-sqrt", run, open_annotations(manifest)))
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    (tmp_path / "runner.py").write_text(TRAINING_RUNNER)
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    done = subprocess.run(
        [sys.executable, str(tmp_path / "runner.py"), str(tmp_path / "jobs.json")],
        capture_output=True,
        text=True,
        env=env,
        timeout=200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    assert [r["type"] for r in results] == ["RepeatFactorSampler", "BalancedSampler", "BalancedSampler"]
    for got, (name, run, index) in zip(results, runs, strict=True):
        flat = [i for epoch in got["drawn"] for i in epoch]
        # the very images the app's image-level run drew, each as often, over the same epochs
        np.testing.assert_array_equal(np.bincount(flat, minlength=len(index)), run.image_uses, name)
        want = np.zeros(index.num_classes)
        want[index.labels(got["first"])] = 1.0
        assert got["target"] == want.tolist() and got["shape"] == [3, 224, 224], name
    assert all(len(set(epoch)) == len(epoch) == 5 for epoch in results[1]["drawn"])  # without replacement


# ------------------------------------------------------------------ the live image-level run


def test_live_run_pauses_and_a_stop_leaves_the_partial_figures_shown(qtbot, window, coco_file):
    from balance_gui.core.image_sampling import image_level_steps

    from .conftest import active_threads
    from .test_run import set_params

    assert open_and_wait(qtbot, window, coco_file) == "ok"
    assert window.set_scheme(Scheme("inverse"))
    k = 2_000_000_000  # far more than the test waits for: 2,000 chunks an epoch
    set_params(window, num_samples=k, epochs=3, seed=6)
    shown = []
    window.session.stepChanged.connect(lambda st: shown.append(st) if st is not None else None)
    qtbot.mouseClick(window.sampler.start_button, Qt.MouseButton.LeftButton)
    assert window.running and window.sampler.pause_button.isEnabled()
    qtbot.waitUntil(lambda: window.last_step is not None, timeout=30_000)
    first = window.last_step
    assert 0 < first.epochs_done < 1 and not first.done  # a step within the first epoch, plotted live
    qtbot.mouseClick(window.sampler.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.sampler.pause_button.text() == "Resume", timeout=30_000)
    qtbot.waitUntil(lambda: window._pending_step is None, timeout=5_000)
    paused_at = window.last_step.epochs_done
    with qtbot.assertNotEmitted(window.session.stepChanged, wait=400):
        pass  # nothing is drawn while paused
    qtbot.mouseClick(window.sampler.pause_button, Qt.MouseButton.LeftButton)  # resume
    qtbot.waitUntil(lambda: window.last_step.epochs_done > paused_at, timeout=30_000)
    with qtbot.waitSignal(window.runEnded, timeout=30_000) as blocker:
        qtbot.mouseClick(window.sampler.stop_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["stopped"]
    step = window.last_step
    assert not step.done and step.image_uses.sum() == round(step.epochs_done * k)
    # the plots keep the partial figures: the means per epoch drawn so far
    images, instances = window.multilabel_plots.sampled_heights_by_class()
    np.testing.assert_array_equal(images, step.sampled.images)
    np.testing.assert_array_equal(instances, step.sampled.instances)
    assert "so far" in window.multilabel_plots.figures_label.text()
    assert "stopped after" in window.status_label.text()
    assert not window.running and window.sampler.start_button.isEnabled()
    qtbot.waitUntil(lambda: active_threads() == 0, timeout=5_000)
    # each step shown is the core's own step at that point of the same seeded run
    epochs_done = [st.epochs_done for st in shown]
    assert epochs_done == sorted(epochs_done) and len(shown) >= 2
    core = image_level_steps(read_coco(coco_file), "inverse", epochs=3, num_samples=k, seed=6)
    want = {st.epochs_done: st for st in (shown[0], step)}
    for st in core:
        if st.epochs_done in want:
            np.testing.assert_array_equal(st.image_uses, want.pop(st.epochs_done).image_uses)
        if not want:
            break
    core.close()
    assert not want


def test_streamed_run_in_the_window_ends_in_the_one_shot_figures(qtbot, window, coco_file, monkeypatch):
    from balance_gui.gui import workers

    from .test_run import run_to_end, set_params

    monkeypatch.setattr(workers, "STEP_INTERVAL_S", 0.0)  # the core hands over a step per chunk
    assert open_and_wait(qtbot, window, coco_file) == "ok"
    assert window.set_scheme(Scheme("sqrt"))
    set_params(window, num_samples=2_500_000, epochs=2, seed=11)
    run = run_to_end(qtbot, window)
    one_shot = simulate_image_level(read_coco(coco_file), "sqrt", epochs=2, num_samples=2_500_000, seed=11)
    assert run.done and run.epochs_done == 2
    np.testing.assert_array_equal(run.image_uses, one_shot.image_uses)
    np.testing.assert_array_equal(run.sampled.images, one_shot.sampled.images)
    np.testing.assert_array_equal(run.sampled.instances, one_shot.sampled.instances)
    images, instances = window.multilabel_plots.sampled_heights_by_class()
    np.testing.assert_array_equal(images, one_shot.sampled.images)
    np.testing.assert_array_equal(instances, one_shot.sampled.instances)
    assert "never drawn" in window.multilabel_plots.figures_label.text()
    assert "so far" not in window.multilabel_plots.figures_label.text()
