"""The ``inspect`` and ``simulate`` reports of a detection or multi-label file (COCO/LVIS
instances JSON, or a ``path,labels`` CSV manifest: ``annotations.MultiLabelIndex``).

The ``inspect`` table has, per class: images carrying it (``count``), its annotations
(``instances``), its weight (the class repeat factor under ``rfs:T``), and the expected images
and instances per epoch under image-level sampling: a repeat-factor epoch for ``rfs:T``
(``sum_i r_i [c in i]``, ``sum_i r_i n_ic``), else ``k`` draws with replacement by image weight,
the max of the image's class weights. Below it, the classes found together most often. The
``simulate`` table sets the sampled images and instances per epoch beside the expected ones.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from ..annotation_check import usable_counts, usable_image_weights
from ..errors import SettingsError
from ..names import escape_name
from ..repeat_factors import (
    DEFAULT_REDUCTION,
    class_repeat_factors,
    cooccurrence,
    expected_repeat_factor_epoch,
    expected_with_replacement,
    scheme_image_weights,
)
from ..weights import class_weights, parse_scheme
from .text import text_table

if TYPE_CHECKING:
    from ..annotations import MultiLabelIndex
    from ..image_sampling import ImageLevelRun

TOP_PAIRS = 10  # pairs of classes listed as found together most often


def annotation_report(
    index: MultiLabelIndex, scheme_text: str, draws: int | None = None, usable: np.ndarray | None = None
) -> dict[str, Any]:
    """Everything ``inspect`` shows for an annotation file, JSON-ready (names escaped). With
    ``usable`` (one bool per image, from the image check) the weights and expected figures are those
    of the usable images: their class counts, and weight 0 for the others."""
    scheme = parse_scheme(scheme_text)
    if usable is not None:
        class_w_usable, w_img = usable_image_weights(index, scheme, usable)
    else:
        w_img = scheme_image_weights(index, scheme, DEFAULT_REDUCTION)
    if scheme.name == "rfs":
        assert scheme.param is not None
        class_w = class_repeat_factors(index.counts, len(index), scheme.param)
        if draws is not None:
            raise SettingsError("--draws does not apply to rfs:T: a repeat-factor epoch has sum(r) images")
        fig = expected_repeat_factor_epoch(index, w_img)
        how = "repeat-factor epoch (each image r_i times on average)"
    else:
        class_w = class_weights(index.counts, scheme, index.classes)
        fig = expected_with_replacement(index, w_img, len(index) if draws is None else draws)
        how = f"{int(fig.draws):,} draws with replacement, image weight = {DEFAULT_REDUCTION} of its class weights"
    if usable is not None:
        class_w = class_w_usable
        counts_usable = usable_counts(index, usable)
    co = cooccurrence(index)
    ids = index.category_ids
    return {
        "file": escape_name(os.path.abspath(index.file)),
        "image_root": escape_name(index.root),
        "source": "coco" if index.source == "coco" else "multilabel-manifest",
        "scheme": str(scheme),
        "epoch": how,
        "draws": float(fig.draws),
        "dataset": {
            "images": len(index),
            "annotations": index.num_annotations,
            "classes": index.num_classes,
            "empty_classes": len(index.empty_classes),
            "unlabeled_images": index.unlabeled_images,
            "crowd_annotations": index.crowd,
            "crowd_counted": not index.skip_crowd,
            "max_labels_per_image": int(index.labels_per_image.max(initial=0)),
            **({} if usable is None else {"usable_images": int(np.count_nonzero(usable))}),
        },
        "classes": [
            {
                "index": c,
                "name": escape_name(name),
                **({"category_id": int(ids[c])} if ids is not None else {}),
                "count": int(index.counts[c]),
                "instances": int(index.instances[c]),
                **({} if usable is None else {"usable": int(counts_usable[c])}),
                "weight": float(class_w[c]),
                "expected_images": float(fig.images[c]),
                "expected_instances": float(fig.instances[c]),
            }
            for c, name in enumerate(index.classes)
        ],
        "top_pairs": [
            {"a": escape_name(str(a)), "b": escape_name(str(b)), "images": n}
            for a, b, n in co.top_pairs(TOP_PAIRS, index.classes)
        ],
        "warnings": [escape_name(w) for w in index.warnings()],
    }


def format_annotation_report(report: dict[str, Any]) -> str:
    """``annotation_report`` as the text ``inspect`` prints for an annotation file."""
    coco = report["source"] == "coco"
    usable = "usable_images" in report["dataset"]
    header = ("idx", *(("cat.id",) if coco else ()), "class", "images", "instances", *(("usable",) if usable else ()))
    header += ("weight", "exp.images", "exp.instances")
    rows = [
        (
            str(c["index"]),
            *((str(c["category_id"]),) if coco else ()),
            c["name"],
            f"{c['count']:,}",
            f"{c['instances']:,}",
            *((f"{c['usable']:,}",) if usable else ()),
            f"{c['weight']:.6g}",
            f"{c['expected_images']:,.1f}",
            f"{c['expected_instances']:,.1f}",
        )
        for c in report["classes"]
    ]
    d = report["dataset"]
    crowd = "counted as instances" if d["crowd_counted"] else "skipped"
    out = [
        f"annotations: {report['file']} ({report['source']}; images under {report['image_root']})",
        f"scheme: {report['scheme']}   epoch: {report['epoch']}, {report['draws']:,.1f} images",
        "",
        *text_table(header, rows, left=(2 if coco else 1,)),
        "",
        f"images: {d['images']:,}   annotations: {d['annotations']:,}   classes: {d['classes']:,}   "
        f"empty classes: {d['empty_classes']}   unlabelled images: {d['unlabeled_images']:,}",
        f"crowd annotations: {d['crowd_annotations']:,} ({crowd})   most labels on one image: "
        f"{d['max_labels_per_image']}",
    ]
    if report["top_pairs"]:
        out.append(
            "classes found together most often (images): "
            + ", ".join(f"{p['a']} + {p['b']} ({p['images']:,})" for p in report["top_pairs"])
        )
    if usable:
        out.append(
            f"usable images: {d['usable_images']:,} of {d['images']:,}; the others (corrupt, missing or duplicate "
            "copies) get weight 0, and the class weights are those of the usable images"
        )
    out += [f"warning: {w}" for w in report["warnings"]]
    return "\n".join(out)


def image_level_report(index: MultiLabelIndex, run: ImageLevelRun) -> dict[str, Any]:
    """``simulate --json`` for an annotation file: expected and sampled figures per class, per epoch."""
    return {
        "file": escape_name(os.path.abspath(index.file)),
        "scheme": run.scheme,
        "sampler": run.sampler,
        "epochs": run.epochs,
        "images_per_epoch": {"expected": run.expected.draws, "sampled": run.sampled.draws},
        "classes": [
            {
                "index": c,
                "name": escape_name(name),
                "count": int(index.counts[c]),
                "instances": int(index.instances[c]),
                "expected_images": float(run.expected.images[c]),
                "sampled_images": float(run.sampled.images[c]),
                "expected_instances": float(run.expected.instances[c]),
                "sampled_instances": float(run.sampled.instances[c]),
            }
            for c, name in enumerate(index.classes)
        ],
        "images_never_drawn": int((run.image_uses == 0).sum()),
    }


def format_image_level_report(report: dict[str, Any]) -> str:
    """``image_level_report`` as the text ``simulate`` prints for an annotation file."""
    header = ("idx", "class", "images", "instances", "exp.images", "sampled", "exp.instances", "sampled")
    rows = [
        (
            str(c["index"]),
            c["name"],
            f"{c['count']:,}",
            f"{c['instances']:,}",
            f"{c['expected_images']:,.1f}",
            f"{c['sampled_images']:,.1f}",
            f"{c['expected_instances']:,.1f}",
            f"{c['sampled_instances']:,.1f}",
        )
        for c in report["classes"]
    ]
    per = report["images_per_epoch"]
    return "\n".join(
        [
            f"annotations: {report['file']}   scheme: {report['scheme']}   sampler: {report['sampler']}",
            f"per epoch (mean of {report['epochs']}): images drawn {per['sampled']:,.1f}, "
            f"expected {per['expected']:,.1f}",
            "",
            *text_table(header, rows, left=(1,)),
            "",
            f"images never drawn: {report['images_never_drawn']:,}",
        ]
    )


__all__ = [
    "TOP_PAIRS",
    "annotation_report",
    "format_annotation_report",
    "format_image_level_report",
    "image_level_report",
]
