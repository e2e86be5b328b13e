"""``balance-gui inspect`` on a COCO instances JSON and on a path,labels CSV manifest."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from balance_gui.cli import main
from balance_gui.core.annotations import read_coco
from balance_gui.core.repeat_factors import expected_repeat_factor_epoch, repeat_factors

from .annotation_data import coco_dict, write_coco


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_coco_json_prints_images_and_instances_per_class(capsys, tmp_path):
    data = coco_dict(80, 400, 12, seed=2, polygon_points=2)
    p = tmp_path / "instances.json"
    write_coco(p, data)
    code, out, err = run(capsys, "inspect", str(p), "--scheme", "rfs:0.1")
    assert code == 0, err
    idx = read_coco(p)
    lines = out.splitlines()
    first = next(line for line in lines if line.split()[:1] == ["0"])
    cid, name, images, instances = first.split()[1:5]
    assert (int(cid), name) == (int(idx.category_ids[0]), idx.classes[0])
    assert int(images) == idx.counts[0] and int(instances) == idx.instances[0]
    assert f"images: {len(idx):,}   annotations: {idx.num_annotations:,}" in out
    assert "classes found together most often" in out and "count as instances" in out

    code, out, _ = run(capsys, "inspect", str(p), "--scheme", "rfs:0.1", "--json")
    report = json.loads(out)
    exp = expected_repeat_factor_epoch(idx, repeat_factors(idx, 0.1))
    assert [c["count"] for c in report["classes"]] == idx.counts.tolist()
    assert [c["instances"] for c in report["classes"]] == idx.instances.tolist()
    np.testing.assert_allclose([c["expected_instances"] for c in report["classes"]], exp.instances)
    assert report["draws"] == exp.draws and report["dataset"]["crowd_annotations"] == idx.crowd


def test_inspect_multilabel_manifest_and_single_label_still_works(capsys, tmp_path):
    for f in ("a.png", "b.png", "c.png"):
        (tmp_path / f).write_bytes(b"x")
    m = tmp_path / "multi.csv"
    m.write_text("path,labels\na.png,dog;cat\nb.png,cat\nc.png,\n")
    code, out, err = run(capsys, "inspect", str(m), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["source"] == "multilabel-manifest"
    assert [(c["name"], c["count"]) for c in report["classes"]] == [("cat", 2), ("dog", 1)]
    assert report["top_pairs"] == [{"a": "cat", "b": "dog", "images": 1}]
    single = tmp_path / "single.csv"
    single.write_text("path,label\na.png,dog\nb.png,cat\n")
    code, out, _ = run(capsys, "inspect", str(single), "--json")
    assert code == 0 and json.loads(out)["source"] == "manifest"


def test_bad_annotation_file_is_one_line_and_exit_2(capsys, tmp_path):
    p = tmp_path / "bad.json"
    data = coco_dict(5, 10, 3, seed=0, polygon_points=0)
    data["annotations"][4]["image_id"] = 10**9
    write_coco(p, data)
    code, out, err = run(capsys, "inspect", str(p))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "balance-gui inspect: error:" in err
    assert f"points at image id {10**9}, which the 'images' list lacks" in err


def test_inspect_usable_runs_the_image_check_on_the_files_images(capsys, tmp_path, monkeypatch):
    """--usable: corrupt, missing and duplicate files get weight 0; class weights are on the usable images."""
    from PIL import Image

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))  # never the user's real cache
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255), (9, 9, 9)]):
        Image.new("RGB", (16, 16), colour).save(tmp_path / f"ok{i}.png")
    (tmp_path / "copy.png").write_bytes((tmp_path / "ok0.png").read_bytes())  # a duplicate of ok0
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    files = ["ok0.png", "ok1.png", "ok2.png", "ok3.png", "copy.png", "broken.png", "gone.png"]
    labels = [[1], [1, 2], [2], [], [1], [2], [1]]  # category ids per image
    data = {
        "images": [{"id": i + 1, "file_name": f} for i, f in enumerate(files)],
        "annotations": [
            {"id": 10 * i + k, "image_id": i + 1, "category_id": c}
            for i, cs in enumerate(labels)
            for k, c in enumerate(cs)
        ],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
    }
    p = tmp_path / "instances.json"
    p.write_text(json.dumps(data))
    code, out, err = run(capsys, "inspect", str(p), "--usable", "--workers", "1", "--scheme", "rfs:2", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["dataset"]["usable_images"] == 4  # copy.png (ok0's duplicate), broken.png and gone.png out
    assert [c["count"] for c in report["classes"]] == [4, 3]
    assert [c["usable"] for c in report["classes"]] == [2, 2]  # a: ok0, ok1; b: ok1, ok2
    # r_c = max(1, sqrt(T / f_c)) with f_c among the 4 usable images: a 2/4, b 2/4 -> 2.0 each
    # (on all 7 images a would get sqrt(2 / (4/7)) = 1.87)
    assert [c["weight"] for c in report["classes"]] == [2.0, 2.0]
    # the epoch: ok0, ok1, ok2 twice each (r = 2), ok3 once (no labels), the rest never
    assert [c["expected_images"] for c in report["classes"]] == [4.0, 4.0]
    code, out, err = run(capsys, "inspect", str(p), "--usable", "--workers", "1")
    assert code == 0, err
    assert "usable images: 4 of 7" in out


def test_image_root_and_skip_crowd_options(capsys, tmp_path):
    data = coco_dict(20, 120, 5, seed=4, crowd_share=0.3, polygon_points=0)
    p = tmp_path / "instances.json"
    write_coco(p, data)
    (tmp_path / "imgs").mkdir()
    code, out, err = run(capsys, "inspect", str(p), "--json", "--skip-crowd", "--image-root", str(tmp_path / "imgs"))
    assert code == 0, err
    report = json.loads(out)
    skipped = read_coco(p, skip_crowd=True)
    assert [c["instances"] for c in report["classes"]] == skipped.instances.tolist()
    assert report["dataset"]["crowd_counted"] is False and report["image_root"] == str(tmp_path / "imgs")
    assert skipped.instances.sum() < read_coco(p).instances.sum()
    m = tmp_path / "m.csv"
    m.write_text("path,labels\nimgs,dog\n")
    code, _, err = run(capsys, "inspect", str(m), "--skip-crowd")
    assert code == 2 and "apply to COCO .json files" in err


def test_simulate_reports_expected_and_sampled_per_class(capsys, tmp_path):
    data = coco_dict(60, 300, 8, seed=5, polygon_points=0)
    p = tmp_path / "instances.json"
    write_coco(p, data)
    code, out, err = run(capsys, "simulate", str(p), "--scheme", "rfs:0.2", "--epochs", "50", "--json")
    assert code == 0, err
    report = json.loads(out)
    idx = read_coco(p)
    r = repeat_factors(idx, 0.2)
    exp = expected_repeat_factor_epoch(idx, r)
    assert report["sampler"] == "repeat_factor" and report["epochs"] == 50
    np.testing.assert_allclose([c["expected_instances"] for c in report["classes"]], exp.instances)
    sampled = np.array([c["sampled_instances"] for c in report["classes"]])
    np.testing.assert_allclose(sampled, exp.instances, rtol=0.15)
    assert report["images_per_epoch"]["expected"] == pytest.approx(r.sum())
    code, out, err = run(capsys, "simulate", str(p), "--epochs", "3", "--num-samples", "40")
    assert code == 0, err
    assert "sampler: with_replacement" in out and "exp.instances" in out
    code, _, err = run(capsys, "simulate", str(p), "--mode", "stratified")
    assert code == 2 and "--mode and --batch-size do not apply" in err


def test_simulate_shows_epochs_on_a_progress_bar_and_prints_the_one_shot_figures(capsys, tmp_path, monkeypatch):
    import tqdm

    import balance_gui.cli as cli
    import balance_gui.cli_annotations as cli_annotations
    from balance_gui.core.image_sampling import simulate_image_level
    from balance_gui.core.reports.annotation_files import image_level_report

    data = coco_dict(60, 300, 8, seed=5, polygon_points=0)
    p = tmp_path / "instances.json"
    write_coco(p, data)
    bars: list[tqdm.tqdm] = []

    def bar_at_once(desc, unit, unit_scale=False):  # the CLI's bar waits 0.5 s before it shows
        bars.append(tqdm.tqdm(desc=desc, unit=unit, file=sys.stderr, leave=True, mininterval=0))
        return bars[-1]

    monkeypatch.setattr(cli, "_progress_bar", bar_at_once)
    monkeypatch.setattr(cli_annotations, "PROGRESS_INTERVAL_S", 0.0)  # a step after every epoch
    argv = ("simulate", str(p), "--scheme", "sqrt", "--epochs", "7", "--num-samples", "40", "--seed", "3", "--json")
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    sampling = bars[-1]
    assert sampling.desc == "sampling" and sampling.total == 7 and sampling.n == 7
    assert "sampling" in err and "7/7" in err and " epoch" in err
    one_shot = simulate_image_level(read_coco(p), "sqrt", epochs=7, num_samples=40, seed=3)
    assert json.loads(out) == json.loads(json.dumps(image_level_report(read_coco(p), one_shot)))


def test_simulate_interrupted_exits_130_without_a_report(capsys, tmp_path, monkeypatch):
    import balance_gui.core.image_sampling as image_sampling

    p = tmp_path / "instances.json"
    write_coco(p, coco_dict(30, 100, 5, seed=1, polygon_points=0))
    real = image_sampling.image_level_steps

    def ctrl_c_after_one_step(*args, **kwargs):
        steps = real(*args, **{**kwargs, "interval_s": 0.0})
        yield next(steps)
        raise KeyboardInterrupt

    monkeypatch.setattr(image_sampling, "image_level_steps", ctrl_c_after_one_step)
    code, out, err = run(capsys, "simulate", str(p), "--epochs", "5")
    assert code == 130 and out == ""
    assert "balance-gui simulate: interrupted" in err


@pytest.mark.slow
def test_ctrl_c_ends_simulate_of_an_annotation_file_with_130(tmp_path):
    """A Ctrl-C (SIGINT to the process group, as a terminal sends it) once the bar shows epochs
    drawn: exit 130, 'interrupted', no report."""
    import os
    import re
    import signal
    import time

    from . import hostile_helpers as hh

    p = tmp_path / "instances.json"
    write_coco(p, coco_dict(500, 1500, 20, seed=1, polygon_points=0))
    argv = ["simulate", str(p), "--epochs", "10000000", "--num-samples", "10000"]
    proc, err, reader = hh.start_cli(argv)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            done = re.findall(rb"sampling: .*?\| *([\d.]+)/10000000 \[", bytes(err))
            if done and float(done[-1]) > 0:
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"the bar never showed an epoch: {bytes(err)[-2000:]!r}")
        os.killpg(proc.pid, signal.SIGINT)
        out = proc.stdout.read()
        proc.wait(60)
        reader.join(10)
        assert proc.returncode == 130, bytes(err)[-2000:]
        assert b"balance-gui simulate: interrupted" in err and out == b""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
