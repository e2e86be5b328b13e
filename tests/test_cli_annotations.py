"""``balance-gui inspect`` on a COCO instances JSON and on a path,labels CSV manifest."""

from __future__ import annotations

import json

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
    code, _, err = run(capsys, "inspect", str(p), "--usable")
    assert code == 2 and "--usable" in err


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
