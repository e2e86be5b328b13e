"""COCO/LVIS instances JSON and multi-label CSV manifests read into a MultiLabelIndex."""

from __future__ import annotations

import json
import os
import threading

import numpy as np
import pytest

from balance_gui.core import annotations as ann
from balance_gui.core.annotations import (
    is_multilabel_manifest,
    open_annotations,
    read_coco,
    read_multilabel_manifest,
)
from balance_gui.core.errors import BalanceError, Cancelled, DatasetError, DatasetNotFoundError

from .annotation_data import coco_dict, independent_counts, write_coco


def small() -> dict:
    return {
        "info": {"year": 2024},
        "images": [
            {"id": 30, "file_name": "a.jpg"},
            {"id": 10, "file_name": "sub/b.jpg"},
            {"id": 20, "file_name": "c.jpg"},  # no annotations
        ],
        "annotations": [
            {"id": 1, "image_id": 30, "category_id": 7, "bbox": [0, 0, 1, 1], "iscrowd": 0},
            {"id": 2, "image_id": 30, "category_id": 7, "bbox": [0, 0, 1, 1], "iscrowd": 0},
            {"id": 3, "image_id": 30, "category_id": 2, "bbox": [0, 0, 1, 1], "iscrowd": 1},
            {"id": 4, "image_id": 10, "category_id": 2, "segmentation": {"counts": "abc", "size": [2, 2]}},
        ],
        "categories": [{"id": 7, "name": "dog"}, {"id": 2, "name": "cat"}, {"id": 5, "name": "emu"}],
    }


def write(tmp_path, data, name="instances.json"):
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return p


def test_classes_by_ascending_category_id_images_in_file_order(tmp_path):
    idx = read_coco(write(tmp_path, small()))
    assert idx.classes == ("cat", "emu", "dog")  # ids 2, 5, 7
    assert idx.category_ids.tolist() == [2, 5, 7]
    assert idx.image_ids.tolist() == [30, 10, 20]
    assert idx.relative_paths() == ["a.jpg", "sub/b.jpg", "c.jpg"]
    assert idx.path(1) == os.path.join(str(tmp_path), "sub/b.jpg")
    assert idx.counts.tolist() == [2, 0, 1]  # images with the class
    assert idx.instances.tolist() == [2, 0, 2]  # annotations, the crowd one included
    assert idx.labels(0) == [0, 2] and idx.labels(1) == [0] and idx.labels(2) == []
    assert idx.pair_count.tolist() == [1, 2, 1]
    assert idx.crowd == 1 and len(idx) == 3 and idx.num_annotations == 4
    assert idx.unlabeled_images == 1 and idx.empty_classes == ("emu",)
    text = " ".join(idx.warnings())
    assert "1 crowd annotation(s) (iscrowd=1) count as instances" in text and "'emu'" in text


def test_skip_crowd_drops_crowd_annotations(tmp_path):
    idx = read_coco(write(tmp_path, small()), skip_crowd=True)
    assert idx.instances.tolist() == [1, 0, 2] and idx.counts.tolist() == [1, 0, 1]
    assert idx.labels(0) == [2] and idx.crowd == 1
    assert "were skipped" in " ".join(idx.warnings())


def test_image_root_and_missing_files_are_reported_not_raised(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.jpg").write_bytes(b"x")
    idx = read_coco(write(tmp_path, small()), image_root=tmp_path / "imgs")
    assert idx.root == str(tmp_path / "imgs")
    assert idx.missing_files() == [1, 2]


def test_lvis_images_take_their_path_from_coco_url(tmp_path):
    data = small()
    for im in data["images"]:
        del im["file_name"]
        im["coco_url"] = f"http://images.cocodataset.org/train2017/{im['id']:012d}.jpg"
    idx = read_coco(write(tmp_path, data))
    assert idx.relative_path(0) == "train2017/000000000030.jpg"


@pytest.mark.parametrize("read_size", [7, 64, 1 << 22])
def test_generated_long_tail_matches_an_independent_count(tmp_path, monkeypatch, read_size):
    # tiny read sizes cut values (numbers, strings, objects) at every possible place
    monkeypatch.setattr(ann, "_READ", read_size)
    data = coco_dict(60, 400, 25, seed=3, polygon_points=3)
    p = tmp_path / "gen.json"
    write_coco(p, data, indent=1 if read_size == 7 else None)
    ref = independent_counts(data)
    idx = read_coco(p)
    assert list(idx.classes) == ref["classes"]
    assert idx.counts.tolist() == ref["counts"] and idx.instances.tolist() == ref["instances"]
    assert idx.category_ids.tolist() == ref["cat_ids"]
    for i, per in enumerate(ref["per_image"]):
        cls = [ref["cat_ids"].index(c) for c in sorted(per)]
        assert idx.labels(i) == cls
        lo, hi = idx.pair_starts[i], idx.pair_starts[i + 1]
        assert idx.pair_count[lo:hi].tolist() == [per[c] for c in sorted(per)]
    skip = read_coco(p, skip_crowd=True)
    assert skip.instances.tolist() == independent_counts(data, skip_crowd=True)["instances"]


def test_progress_and_cancel(tmp_path, monkeypatch):
    monkeypatch.setattr(ann, "_READ", 256)
    p = tmp_path / "gen.json"
    write_coco(p, coco_dict(30, 200, 10, seed=1))
    seen = []
    read_coco(p, progress=seen.append)
    assert len(seen) > 3 and seen[-1].annotations == 200 and seen[-1].images == 30
    assert [s.bytes_read for s in seen] == sorted(s.bytes_read for s in seen)
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        read_coco(p, cancel=stop)


def bad(tmp_path, mutate):
    data = small()
    mutate(data)
    return write(tmp_path, data)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["annotations"][0].update(image_id=99), "annotation id 1 points at image id 99"),
        (lambda d: d["annotations"][1].update(category_id=3), "annotation id 2 points at category id 3"),
        (lambda d: d["images"].append({"id": 10, "file_name": "x.jpg"}), "image id 10 is listed twice"),
        (lambda d: d["categories"].append({"id": 7, "name": "x"}), "category id 7 is listed twice"),
        (lambda d: d["annotations"][3].update(id=1), "annotation id 1 is listed twice"),
        (lambda d: d["images"][1].update(id="10"), "images[1] has a non-integer id '10'"),
        (lambda d: d["images"][1].update(id=1.5), "images[1] has a non-integer id 1.5"),
        (lambda d: d["categories"][0].update(id=True), "categories[0] has a non-integer id True"),
        (lambda d: d["annotations"][2].update(image_id="30"), "annotations[2] has a non-integer image_id '30'"),
        (lambda d: d["annotations"][2].pop("category_id"), "annotations[2] has no 'category_id'"),
        (lambda d: d.pop("annotations"), "not a COCO instances file (no 'annotations' list"),
        (lambda d: d.update(images={}), "'images' is not a list"),
        (lambda d: d["images"][0].pop("file_name"), "images[0] (id 30) has no 'file_name'"),
        (lambda d: d["categories"][1].update(name="dog"), "category name 'dog' is used by ids 2 and 7"),
        (lambda d: d["annotations"].append(5), "annotations[4] is not a JSON object"),
    ],
)
def test_bad_coco_gets_one_clear_line(tmp_path, mutate, message):
    with pytest.raises(DatasetError) as e:
        read_coco(bad(tmp_path, mutate))
    assert message in str(e.value) and "\n" not in str(e.value)
    assert isinstance(e.value, BalanceError)


@pytest.mark.parametrize(
    "text, message",
    [
        ("[1, 2]", "the top level is not a JSON object"),
        ('{"images": [{"id": 1, "file_name": "a"}], "categories": [}', "not valid JSON"),
        ('{"images": [], "annotations": [], "categories": []} x', "text after the top-level object"),
        ('{"images": [{"id": 1, "file_name": "a"}], "annotations": [', "found the end of the file"),
        ('{"images": [], "annotations": [], "categories": [], "images": []}', "appears twice"),
        ("", "the file is empty"),
    ],
)
def test_not_coco_json(tmp_path, text, message):
    p = tmp_path / "x.json"
    p.write_text(text)
    with pytest.raises(DatasetError, match="x.json") as e:
        read_coco(p)
    assert message in str(e.value)


def test_invalid_json_early_in_a_big_file_fails_without_reading_it_all(tmp_path, monkeypatch):
    monkeypatch.setattr(ann, "_READ", 1024)
    p = tmp_path / "x.json"
    p.write_text('{"images": [{"id": 1, "file_name": "a" "b"}]' + " " * 200_000 + "}")
    reads = []
    real = ann._Stream._more

    def counting(self, at_least=0):
        reads.append(1)
        return real(self, at_least)

    monkeypatch.setattr(ann._Stream, "_more", counting)
    with pytest.raises(DatasetError, match="not valid JSON"):
        read_coco(p)
    assert len(reads) <= 2


def test_empty_images_list_and_missing_file(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="'images' list is empty"):
        read_coco(write(tmp_path, {"images": [], "annotations": [], "categories": [{"id": 1, "name": "a"}]}))
    with pytest.raises(DatasetNotFoundError, match="annotation file not found"):
        read_coco(tmp_path / "nope.json")


# ------------------------------------------------------------------------ multi-label CSV


def manifest(tmp_path, text, files=("a.png", "b.png", "c.png")):
    for f in files:
        (tmp_path / f).write_bytes(b"x")
    p = tmp_path / "m.csv"
    p.write_text(text)
    return p


def test_multilabel_manifest(tmp_path):
    p = manifest(tmp_path, "path,labels\na.png,dog;cat\nb.png,cat; cat\nc.png,\na.png,cat;dog\n")
    assert is_multilabel_manifest(p)
    idx = read_multilabel_manifest(p)
    assert idx.classes == ("cat", "dog") and idx.source == "manifest"
    assert idx.counts.tolist() == [2, 1] and idx.instances.tolist() == [2, 1]  # a label twice counts once
    assert [idx.labels(i) for i in range(3)] == [[0, 1], [0], []]
    assert idx.duplicate_rows == ((5, 2),) and "line 5 repeats line 2" in " ".join(idx.warnings())
    assert open_annotations(p).counts.tolist() == [2, 1]


@pytest.mark.parametrize(
    "text, message",
    [
        ("path,label\na.png,dog\n", "header 'path,labels'"),
        ("path,labels\na.png,dog,cat\n", "line 2: expected 'path,labels'"),
        ("path,labels\na.png,dog\na.png,cat\n", "'a.png' has other labels on line 2 and line 3"),
        ("path,labels\nzzz.png,dog\n", "1 listed file(s) do not exist, e.g. 'zzz.png'"),
        ("path,labels\n", "lists no files"),
    ],
)
def test_bad_multilabel_manifest(tmp_path, text, message):
    with pytest.raises(DatasetError) as e:
        read_multilabel_manifest(manifest(tmp_path, text))
    assert message in str(e.value)


def test_open_annotations_refuses_other_files(tmp_path):
    with pytest.raises(DatasetError, match="not an annotation file"):
        open_annotations(tmp_path / "x.txt")


def test_index_arrays_are_compact_and_read_only(tmp_path):
    idx = read_coco(write(tmp_path, small()))
    assert idx.ann_image.dtype == np.int32 and idx.ann_class.dtype == np.int32
    with pytest.raises(ValueError):
        idx.counts[0] = 5


def test_deep_nesting_is_a_dataset_error(tmp_path):
    p = tmp_path / "deep.json"
    p.write_text('{"info": ' + "[" * 100_000 + "]" * 100_000 + ', "images": []}')
    with pytest.raises(DatasetError, match="nested too deeply"):
        read_coco(p)


def test_mangled_files_raise_only_balance_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(ann, "_READ", 97)
    good = json.dumps(coco_dict(6, 20, 4, seed=9, polygon_points=1))
    rng = np.random.default_rng(0)
    p = tmp_path / "m.json"
    outcomes = set()
    for trial in range(300):
        text = list(good)
        kind = trial % 3
        if kind == 0:  # cut short
            text = text[: int(rng.integers(0, len(text)))]
        elif kind == 1:  # a few characters replaced
            for at in rng.integers(0, len(text), 3):
                text[at] = str(rng.choice(list('{}[],:"0a- ')))
        else:  # a span deleted
            a = int(rng.integers(0, len(text)))
            del text[a : a + int(rng.integers(1, 40))]
        p.write_text("".join(text))
        try:
            idx = read_coco(p)
            outcomes.add("ok")
            assert idx.counts.sum() <= idx.num_annotations
        except BalanceError as e:
            outcomes.add("error")
            assert "\n" not in str(e)
    assert outcomes == {"ok", "error"}
