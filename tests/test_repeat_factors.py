"""Image-level repeat factors and weights, and the per-class figures they give."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest
import torch

from balance_gui.core.annotations import read_coco
from balance_gui.core.errors import SettingsError, WeightsError
from balance_gui.core.repeat_factors import (
    class_repeat_factors,
    cooccurrence,
    expected_repeat_factor_epoch,
    expected_with_replacement,
    expected_without_replacement,
    image_weights,
    repeat_factors,
    sampled_per_class,
    scheme_image_weights,
)
from balance_gui.core.weights import class_weights

from .annotation_data import coco_dict, write_coco


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    data = coco_dict(300, 1500, 40, seed=11, empty_share=0.1, polygon_points=0)
    p = tmp_path_factory.mktemp("rf") / "gen.json"
    write_coco(p, data)
    return data, read_coco(p)


def d2_repeat_factors(dataset_dicts, repeat_thresh):
    """detectron2's RepeatFactorTrainingSampler.repeat_factors_from_category_frequency, as its
    documentation states it (LVIS paper, appendix B.2)."""
    category_freq = defaultdict(int)
    for d in dataset_dicts:
        for cat_id in {a["category_id"] for a in d["annotations"]}:
            category_freq[cat_id] += 1
    num_images = len(dataset_dicts)
    category_rep = {c: max(1.0, math.sqrt(repeat_thresh / (v / num_images))) for c, v in category_freq.items()}
    return [max({category_rep[a["category_id"]] for a in d["annotations"]}, default=1.0) for d in dataset_dicts]


def dataset_dicts(data):
    by_image = defaultdict(list)
    for a in data["annotations"]:
        by_image[a["image_id"]].append(a)
    return [{"annotations": by_image[im["id"]]} for im in data["images"]]


@pytest.mark.parametrize("t", [0.05, 0.1, 0.3])
def test_repeat_factors_equal_detectron2s_formula(gen, t):
    data, idx = gen
    r = repeat_factors(idx, t)
    np.testing.assert_allclose(r, d2_repeat_factors(dataset_dicts(data), t), rtol=1e-12)
    assert r[idx.labels_per_image == 0].tolist() == [1.0] * idx.unlabeled_images  # no labels: 1.0
    assert r.max() > 1.0 and scheme_image_weights(idx, f"rfs:{t}").tolist() == r.tolist()


def test_frequency_counts_unlabelled_images_in_the_denominator():
    r = class_repeat_factors([1, 4, 0], num_images=16, threshold=0.25)
    assert r.tolist() == [2.0, 1.0, 0.0]  # f = 1/16 -> sqrt(4) ; f = 1/4 -> 1 ; empty -> 0
    assert class_repeat_factors([1], 16, 0.25, sqrt=False).tolist() == [4.0]
    with pytest.raises(SettingsError, match="threshold"):
        class_repeat_factors([1], 4, 0.0)


def test_image_weights_max_mean_sum(gen):
    data, idx = gen
    cw = class_weights(idx.counts, "inverse")
    live_min = cw[idx.counts > 0].min()
    for how, f in (("max", max), ("mean", lambda v: sum(v) / len(v)), ("sum", sum)):
        w = image_weights(idx, cw, how)
        ref = [f([cw[c] for c in idx.labels(i)]) if idx.labels(i) else live_min for i in range(len(idx))]
        np.testing.assert_allclose(w, ref, rtol=1e-12)
    assert image_weights(idx, cw, empty_weight=0.0)[idx.labels_per_image == 0].sum() == 0.0
    np.testing.assert_allclose(
        scheme_image_weights(idx, "sqrt", "mean"), image_weights(idx, class_weights(idx.counts, "sqrt"), "mean")
    )
    with pytest.raises(SettingsError, match="reduce must be one of"):
        image_weights(idx, cw, "median")
    with pytest.raises(SettingsError, match="rfs:T takes the max"):
        scheme_image_weights(idx, "rfs:0.01", "sum")
    with pytest.raises(WeightsError, match="expected 40 class weights"):
        image_weights(idx, cw[:3])


def test_expected_with_replacement_against_torch_multinomial(gen):
    _, idx = gen
    w = scheme_image_weights(idx, "inverse")
    k, reps = 2000, 100
    exp = expected_with_replacement(idx, w, k)
    # the closed form, by loops
    ref_img = np.zeros(idx.num_classes)
    ref_ins = np.zeros(idx.num_classes)
    for i in range(len(idx)):
        for c in idx.labels(i):
            ref_img[c] += k * w[i] / w.sum()
    for i, c in zip(idx.ann_image, idx.ann_class, strict=True):
        ref_ins[c] += k * w[i] / w.sum()
    np.testing.assert_allclose(exp.images, ref_img, rtol=1e-10)
    np.testing.assert_allclose(exp.instances, ref_ins, rtol=1e-10)
    g = torch.Generator().manual_seed(0)
    drawn = torch.multinomial(torch.as_tensor(w), k * reps, replacement=True, generator=g).numpy()
    got = sampled_per_class(idx, drawn)
    assert got.draws == k * reps
    mean_ins = got.instances / reps
    # instances of a class per epoch: a sum of k i.i.d. terms; its variance from the same law
    on = idx.pair_image
    var = np.zeros(idx.num_classes)
    p = w / w.sum()
    for c in range(idx.num_classes):
        x = np.zeros(len(idx))
        sel = idx.pair_class == c
        x[on[sel]] = idx.pair_count[sel]
        var[c] = k * (p @ x**2 - (p @ x) ** 2)
    z = (mean_ins - exp.instances) / np.sqrt(np.maximum(var, 1e-12) / reps)
    assert np.abs(z).max() < 4.5, np.abs(z).max()


def test_expected_without_replacement_against_torch_multinomial():
    data = {
        "images": [{"id": i, "file_name": f"{i}.jpg"} for i in range(8)],
        "annotations": [
            {"id": j, "image_id": i, "category_id": c}
            for j, (i, c) in enumerate([(0, 1), (0, 1), (1, 1), (2, 2), (3, 2), (3, 3), (4, 3), (5, 1), (6, 3)])
        ],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}],
    }
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = f"{d}/x.json"
        with open(p, "w") as fh:
            json.dump(data, fh)
        idx = read_coco(p)
    w = np.array([1.0, 2.0, 2.0, 5.0, 1.0, 1.0, 3.0, 0.5])
    k, reps = 4, 40_000
    exp = expected_without_replacement(idx, w, k)
    g = torch.Generator().manual_seed(1)
    tw = torch.as_tensor(w).expand(reps, -1).contiguous()
    drawn = torch.multinomial(tw, k, replacement=False, generator=g).numpy()
    got = sampled_per_class(idx, drawn)
    np.testing.assert_allclose(got.images / reps, exp.images, atol=0.02)
    np.testing.assert_allclose(got.instances / reps, exp.instances, atol=0.03)
    assert exp.images.sum() < k * 1.5  # not the with-replacement figure


def test_repeat_factor_epoch_figures(gen):
    _, idx = gen
    r = repeat_factors(idx, 0.05)
    e = expected_repeat_factor_epoch(idx, r)
    assert e.draws == pytest.approx(r.sum())
    ref = np.zeros(idx.num_classes)
    for i, c in zip(idx.ann_image, idx.ann_class, strict=True):
        ref[c] += r[i]
    np.testing.assert_allclose(e.instances, ref, rtol=1e-12)
    # rare classes gain: their images share rises against the unweighted epoch
    plain = expected_repeat_factor_epoch(idx, np.ones(len(idx)))
    np.testing.assert_array_equal(plain.images, idx.counts)
    rare = int(np.argmin(np.where(idx.counts > 0, idx.counts, 10**9)))
    assert e.images[rare] / e.draws > plain.images[rare] / plain.draws


def test_cooccurrence_against_a_dense_count(gen):
    _, idx = gen
    co = cooccurrence(idx)
    dense = np.zeros((idx.num_classes, idx.num_classes), dtype=np.int64)
    for i in range(len(idx)):
        labels = idx.labels(i)
        for a in labels:
            for b in labels:
                dense[a, b] += 1
    np.testing.assert_array_equal(co.dense(), dense)
    assert np.all(co.a < co.b)
    top = co.top_pairs(3, idx.classes)
    off = np.triu(dense, 1)
    assert top[0][2] == off.max() and [t[2] for t in top] == sorted((t[2] for t in top), reverse=True)
    c = int(np.argmax(idx.counts))
    np.testing.assert_allclose(co.share_with(c), np.where(np.arange(idx.num_classes) == c, 0, dense[c]) / dense[c, c])


def test_cooccurrence_submatrix_is_the_dense_matrix_of_the_chosen_classes(gen):
    co = cooccurrence(gen[1])
    pick = np.array([5, 0, 11, 2])
    np.testing.assert_array_equal(co.submatrix(pick), co.dense()[np.ix_(pick, pick)])
    with pytest.raises(SettingsError, match="distinct indices"):
        co.submatrix([1, 1])
