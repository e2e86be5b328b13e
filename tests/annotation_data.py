"""Generated COCO/LVIS-style instances files for the tests and the benchmark.

``make_coco`` writes a long-tailed instances JSON: category ids non-contiguous and listed in a
shuffled order, images listed in a shuffled id order, some images without annotations, a few crowd
annotations, and polygons and boxes on every annotation (the bulk of a real file).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np


def coco_dict(
    num_images: int,
    num_annotations: int,
    num_categories: int,
    *,
    seed: int = 0,
    empty_share: float = 0.05,
    crowd_share: float = 0.01,
    polygon_points: int = 8,
) -> dict[str, Any]:
    """A COCO instances dict with a Zipf-like class law and per-image clustering of classes."""
    rng = np.random.default_rng(seed)
    cat_ids = np.sort(rng.choice(np.arange(1, 4 * num_categories + 1), num_categories, replace=False))
    p = 1.0 / np.arange(1, num_categories + 1) ** 1.1
    p /= p.sum()
    image_ids = rng.permutation(np.arange(1, 2 * num_images + 1))[:num_images]
    labeled = np.flatnonzero(rng.random(num_images) >= empty_share)
    if labeled.size == 0:
        labeled = np.arange(num_images)
    ann_img = labeled[rng.integers(0, labeled.size, num_annotations)]
    ann_cls = rng.choice(num_categories, num_annotations, p=p)
    crowd = rng.random(num_annotations) < crowd_share
    boxes = np.round(rng.random((num_annotations, 4)) * 300, 2)
    images = [
        {"id": int(i), "file_name": f"img_{int(i):07d}.jpg", "width": 640, "height": 480} for i in image_ids.tolist()
    ]
    annotations = []
    for j in range(num_annotations):
        x, y, w, h = boxes[j].tolist()
        poly = np.round(rng.random(polygon_points * 2) * 300, 2).tolist() if polygon_points else []
        annotations.append(
            {
                "id": j + 1,
                "image_id": int(image_ids[ann_img[j]]),
                "category_id": int(cat_ids[ann_cls[j]]),
                "bbox": [x, y, w, h],
                "area": round(w * h, 2),
                "segmentation": [poly],
                "iscrowd": int(crowd[j]),
            }
        )
    categories = [{"id": int(c), "name": f"cat{int(c)}", "supercategory": "thing"} for c in cat_ids]
    order = rng.permutation(num_categories)  # listed unsorted
    return {
        "info": {"description": "generated"},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [categories[i] for i in order],
    }


def write_coco(path: str | os.PathLike[str], data: dict[str, Any], indent: int | None = None) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(data, indent=indent))  # dumps: the C encoder (dump streams in Python)


def independent_counts(data: dict[str, Any], skip_crowd: bool = False) -> dict[str, Any]:
    """Per-class image counts and instances, in plain Python (the reference for the reader)."""
    cats = sorted(c["id"] for c in data["categories"])
    names = {c["id"]: c["name"] for c in data["categories"]}
    per_image: dict[int, dict[int, int]] = {im["id"]: {} for im in data["images"]}
    for a in data["annotations"]:
        if skip_crowd and a.get("iscrowd", 0):
            continue
        d = per_image[a["image_id"]]
        d[a["category_id"]] = d.get(a["category_id"], 0) + 1
    return {
        "classes": [names[c] for c in cats],
        "counts": [sum(1 for d in per_image.values() if c in d) for c in cats],
        "instances": [sum(d.get(c, 0) for d in per_image.values()) for c in cats],
        "per_image": [per_image[im["id"]] for im in data["images"]],
        "cat_ids": cats,
    }


if __name__ == "__main__":  # python tests/annotation_data.py OUT.json IMAGES ANNOTATIONS CATEGORIES
    import sys

    out, n_img, n_ann, n_cat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    write_coco(out, coco_dict(n_img, n_ann, n_cat))
