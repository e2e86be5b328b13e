"""Real images: a long-tailed detection set composed from the demo dataset's shape images.

Each composite is a 2 x 2 canvas of 32 px tiles taken from resources/demo (every demo image used
at most once, so the classes keep the demo's long tail), one box per tile; a few canvases stay
empty.  The COCO file is read back and its counts, repeat factors and expected-vs-sampled instance
figures are checked against a computation made here from the composition record alone.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from balance_gui.core.annotations import read_coco
from balance_gui.core.repeat_factor_sampler import RepeatFactorSampler
from balance_gui.core.repeat_factors import expected_repeat_factor_epoch, repeat_factors, sampled_per_class

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo"
TILE = 32
THRESHOLD = 0.15


@pytest.fixture(scope="module")
def composed(tmp_path_factory):
    out = tmp_path_factory.mktemp("composed")
    (out / "images").mkdir()
    rng = np.random.default_rng(0)
    shapes = sorted(p.name for p in DEMO.iterdir() if p.is_dir())
    pool = [(s, f) for s in shapes for f in sorted((DEMO / s).glob("*.jpg"))[:60]]  # tail kept, head capped
    order = rng.permutation(len(pool))
    cat_id = {s: 100 - 7 * k for k, s in enumerate(shapes)}  # non-contiguous, descending with the name
    images, annotations, record = [], [], []
    at = 0
    image_id = 5000
    while at < len(order):
        m = 0 if rng.random() < 0.08 else int(rng.integers(1, 5))
        tiles = [pool[j] for j in order[at : at + m]]
        at += m
        canvas = Image.new("RGB", (2 * TILE, 2 * TILE), (0, 0, 0))
        anns = []
        for slot, (shape, f) in enumerate(tiles):
            x, y = (slot % 2) * TILE, (slot // 2) * TILE
            with Image.open(f) as src:
                canvas.paste(src.convert("RGB").resize((TILE, TILE)), (x, y))
            anns.append((shape, [x, y, TILE, TILE], f))
        name = f"images/c{image_id}.png"
        canvas.save(out / name)
        images.append({"id": image_id, "file_name": name, "width": 2 * TILE, "height": 2 * TILE})
        for shape, box, _ in anns:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": cat_id[shape],
                    "bbox": box,
                    "area": TILE * TILE,
                    "iscrowd": 0,
                }
            )
        record.append(anns)
        image_id -= 3  # ids descend: the file's order is not the id order
    coco = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": cat_id[s], "name": s} for s in shapes],
    }
    (out / "shapes.json").write_text(json.dumps(coco))
    return out, shapes, cat_id, record


def test_counts_and_boxes_match_the_composition(composed):
    out, shapes, cat_id, record = composed
    idx = read_coco(out / "shapes.json")
    assert idx.missing_files() == []
    by_id = sorted(shapes, key=lambda s: cat_id[s])  # classes by ascending category id
    assert list(idx.classes) == by_id
    inst = Counter(shape for anns in record for shape, _, _ in anns)
    imgs = Counter(shape for anns in record for shape in {a[0] for a in anns})
    assert idx.instances.tolist() == [inst[s] for s in by_id]
    assert idx.counts.tolist() == [imgs[s] for s in by_id]
    assert max(inst.values()) / min(inst.values()) >= 5  # long-tailed, as the demo set
    # the pixels inside a box are the tile the record names
    for i in (0, len(record) // 2, len(record) - 1):
        anns = record[i]
        with Image.open(idx.path(i)) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.int16)
        for shape, (x, y, w, h), f in anns:
            with Image.open(f) as src:
                ref = np.asarray(src.convert("RGB").resize((TILE, TILE)), dtype=np.int16)
            assert np.abs(arr[y : y + h, x : x + w] - ref).max() == 0
            assert idx.class_to_idx[shape] in idx.labels(i)


def test_repeat_factors_and_sampled_instances_against_an_independent_computation(composed):
    out, shapes, cat_id, record = composed
    idx = read_coco(out / "shapes.json")
    by_id = sorted(shapes, key=lambda s: cat_id[s])
    n = len(record)
    freq = Counter(shape for anns in record for shape in {a[0] for a in anns})
    r_class = {s: max(1.0, math.sqrt(THRESHOLD / (freq[s] / n))) for s in freq}
    r_ref = [max((r_class[a[0]] for a in anns), default=1.0) for anns in record]
    r = repeat_factors(idx, THRESHOLD)
    np.testing.assert_allclose(r, r_ref, rtol=1e-12)
    assert r.max() > 1.5 and r.min() == 1.0

    # expected instances per epoch: sum_i r_i n_ic, from the record
    exp_ref = np.zeros(len(by_id))
    var_ref = np.zeros(len(by_id))
    for anns, ri in zip(record, r_ref, strict=True):
        frac = ri - math.floor(ri)
        for s, k in Counter(a[0] for a in anns).items():
            c = by_id.index(s)
            exp_ref[c] += ri * k
            var_ref[c] += frac * (1 - frac) * k * k  # stochastic rounding: one Bernoulli per image
    exp = expected_repeat_factor_epoch(idx, r)
    np.testing.assert_allclose(exp.instances, exp_ref, rtol=1e-12)

    epochs = 400
    s = RepeatFactorSampler(r, seed=2024)
    drawn = np.concatenate([np.fromiter(s, dtype=np.int64) for _ in range(epochs)])
    got = sampled_per_class(idx, drawn)
    # the sampler's instances, counted independently from the record
    hits = np.bincount(drawn, minlength=n)
    manual = np.zeros(len(by_id))
    for i, anns in enumerate(record):
        for s_name, _, _ in anns:
            manual[by_id.index(s_name)] += hits[i]
    np.testing.assert_array_equal(got.instances, manual)
    z = (manual / epochs - exp_ref) / np.sqrt(np.maximum(var_ref, 1e-12) / epochs)
    assert np.abs(z[var_ref > 0]).max() < 4.5
    # rare classes gain instances per epoch against plain shuffling
    rare = int(np.argmin([freq[s] for s in by_id]))
    assert manual[rare] / epochs > 1.3 * idx.instances[rare]
