"""Per-image weights files of COCO / path,labels data: every format round-trips the weights exactly
in the file's image order, carries the image ids and files, is fingerprinted, and
verify_image_weights refuses another file's images (the CLI and load_weights hooks:
test_annotation_weights_hooks.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from balance_gui.core.annotation_weights import export_image_weights, read_image_weights_file, verify_image_weights
from balance_gui.core.annotations import read_coco
from balance_gui.core.errors import WeightsFileError
from balance_gui.core.repeat_factors import repeat_factors

# image ids listed out of order; category ids non-contiguous
COCO = {
    "images": [{"id": i, "file_name": f"img/{i}.jpg"} for i in (40, 7, 19, 3, 25)],
    "annotations": [
        {"id": 1, "image_id": 40, "category_id": 9},
        {"id": 2, "image_id": 40, "category_id": 9},
        {"id": 3, "image_id": 7, "category_id": 2},
        {"id": 4, "image_id": 19, "category_id": 9},
        {"id": 5, "image_id": 3, "category_id": 2},
        {"id": 6, "image_id": 3, "category_id": 5},
    ],
    "categories": [{"id": 9, "name": "=cmd"}, {"id": 2, "name": "a"}, {"id": 5, "name": "b"}],
}


@pytest.fixture
def coco(tmp_path):
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(COCO))
    return path


@pytest.mark.parametrize("ext", [".pt", ".csv", ".json", ".npy"])
def test_rfs_weights_round_trip_in_file_order(tmp_path, coco, ext):
    out = tmp_path / f"w{ext}"
    index = read_coco(coco)
    export_image_weights(out, index, repeat_factors(index, 0.5), "rfs:0.5")
    # r(I) = max over the image's classes of max(1, sqrt(T / f_c)), f_c = images with c / 5, 1 without labels
    f = {"=cmd": 2 / 5, "a": 2 / 5, "b": 1 / 5}
    r = {c: max(1.0, (0.5 / f[c]) ** 0.5) for c in f}
    want = [r["=cmd"], r["a"], r["=cmd"], max(r["a"], r["b"]), 1.0]  # images 40, 7, 19, 3, 25
    got = verify_image_weights(out, index)["sample_weights"]
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, repeat_factors(index, 0.5))
    rec = read_image_weights_file(out)
    if ext != ".npy":
        assert rec["image_ids"] == [40, 7, 19, 3, 25]
        assert rec["files"] == ["img/40.jpg", "img/7.jpg", "img/19.jpg", "img/3.jpg", "img/25.jpg"]
        assert verify_image_weights(out, index)["identified"]
    else:
        assert not verify_image_weights(out, index)["identified"]  # a .npy: only its length is checked


def test_csv_names_the_file_and_image_id(tmp_path, coco):
    out = tmp_path / "w.csv"
    export_image_weights(out, read_coco(coco), np.arange(5) / 3, "inverse")
    lines = out.read_text().splitlines()
    assert lines[0] == "file,image_id,weight,fingerprint"
    assert lines[1] == f"img/40.jpg,40,{0.0!r},"
    assert lines[2] == f"img/7.jpg,7,{1 / 3!r},"
    assert lines[-1].startswith(",,,kind=image_weights format_version=1 sha256=")


@pytest.mark.parametrize("ext", [".pt", ".csv", ".json"])
def test_edited_file_is_refused(tmp_path, coco, ext):
    out = tmp_path / f"w{ext}"
    export_image_weights(out, read_coco(coco), [1.0, 2.0, 3.0, 4.0, 5.0], "sqrt")
    if ext == ".pt":
        import torch

        data = torch.load(out, weights_only=True)
        data["weights"][2] = 9.0
        torch.save(data, out)
    else:
        text = out.read_text()
        out.write_text(text.replace("3.0", "9.0", 1))
    with pytest.raises(WeightsFileError, match="fingerprint"):
        read_image_weights_file(out)


@pytest.mark.parametrize("ext", [".pt", ".csv", ".json"])
def test_other_images_are_refused(tmp_path, coco, ext):
    out = tmp_path / f"w{ext}"
    export_image_weights(out, read_coco(coco), np.ones(5), "none")
    other = dict(COCO, images=[dict(im, id=im["id"] + (1 if k == 3 else 0)) for k, im in enumerate(COCO["images"])])
    other["annotations"] = [dict(a, image_id=4 if a["image_id"] == 3 else a["image_id"]) for a in COCO["annotations"]]
    path = tmp_path / "other.json"
    path.write_text(json.dumps(other))
    with pytest.raises(WeightsFileError, match="image 3 has id 3 in the weights file, 4 in the annotations"):
        verify_image_weights(out, read_coco(path))
    renamed = dict(COCO, images=[dict(im, file_name=im["file_name"].replace("19", "x")) for im in COCO["images"]])
    path.write_text(json.dumps(renamed))
    with pytest.raises(WeightsFileError, match="image 2 is 'img/19.jpg' in the weights file"):
        verify_image_weights(out, read_coco(path))
    shorter = dict(COCO, images=COCO["images"][:4], annotations=COCO["annotations"][:6])
    path.write_text(json.dumps(shorter))
    with pytest.raises(WeightsFileError, match="holds 5 image weights, but .* lists 4 images"):
        verify_image_weights(out, read_coco(path))


def test_sniffing_leaves_a_foreign_pt_to_its_own_reader(tmp_path):
    bad = tmp_path / "evil.pt"
    bad.write_bytes(b"not a torch file at all")
    assert read_image_weights_file(bad, sniff=True) is None  # weightsfile's reader gives its own message
    with pytest.raises(WeightsFileError, match="not a readable .pt weights file"):
        read_image_weights_file(bad)
