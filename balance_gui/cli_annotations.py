"""``balance-gui inspect`` on detection and multi-label files: COCO/LVIS instances JSON, or a
``path,labels`` CSV manifest.

The table has, per class: images carrying it (``count``), its annotations (``instances``), its
weight (the class repeat factor under ``rfs:T``), and the expected images and instances per epoch
under image-level sampling: a repeat-factor epoch for ``rfs:T`` (``sum_i r_i [c in i]``,
``sum_i r_i n_ic``), else ``k`` draws with replacement by image weight, the max of the image's
class weights.  Below it, the classes found together most often.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import numpy as np

from .core.annotation_check import as_check_index, usable_counts, usable_image_weights
from .core.annotations import AnnotationProgress, MultiLabelIndex, is_multilabel_manifest, open_annotations
from .core.errors import SettingsError
from .core.image_sampling import ImageLevelRun
from .core.names import escape_name
from .core.repeat_factors import (
    DEFAULT_REDUCTION,
    class_repeat_factors,
    cooccurrence,
    expected_repeat_factor_epoch,
    expected_with_replacement,
    scheme_image_weights,
)
from .core.weights import class_weights, parse_scheme

TOP_PAIRS = 10


def is_annotation_file(path: str) -> bool:
    """A ``.json`` file (read as COCO instances) or a ``.csv`` with the ``path,labels`` header."""
    if not os.path.isfile(path):
        return False
    low = path.lower()
    return low.endswith(".json") or (low.endswith(".csv") and is_multilabel_manifest(path))


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
    from .cli import _table

    coco = report["source"] == "coco"
    usable = "usable_images" in report["dataset"]
    header = ("idx", *(("cat.id",) if coco else ()), "class", "images", "instances", *(("usable",) if usable else ()))
    header += ("weight", "exp.images")
    header += ("exp.instances",)
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
        *_table(header, rows, left=(2 if coco else 1,)),
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


def load_annotations(path: str, image_root: str | None = None, skip_crowd: bool = False) -> MultiLabelIndex:
    from .cli import _progress_bar

    coco = path.lower().endswith(".json")
    if not coco and (image_root is not None or skip_crowd):
        raise SettingsError("--image-root and --skip-crowd apply to COCO .json files, not to a CSV manifest")
    options: dict[str, Any] = {"image_root": image_root, "skip_crowd": skip_crowd} if coco else {}

    with _progress_bar("reading", "B", unit_scale=True) as bar:

        def progress(p: AnnotationProgress) -> None:
            bar.total = p.bytes_total
            bar.set_postfix_str(f"{p.annotations:,} annotations", refresh=False)
            bar.update(p.bytes_read - bar.n)

        return open_annotations(path, progress=progress, **options)


def cmd_inspect_annotations(args: argparse.Namespace) -> int:
    from .cli import _say

    index = load_annotations(args.root, getattr(args, "image_root", None), getattr(args, "skip_crowd", False))
    usable = None
    if args.usable:  # the image check on the file's images: corrupt, missing and duplicate files get weight 0
        from .cli import run_check

        usable = run_check(as_check_index(index), args.workers).usable_mask
    report = annotation_report(index, args.scheme, args.draws, usable)
    _say(json.dumps(report, indent=2) if args.json else format_annotation_report(report))
    return 0


def cmd_export_annotations(args: argparse.Namespace) -> int:
    """``export ANNOT.json -o FILE --scheme S``: one weight per image, in the file's order."""
    from .cli import _say
    from .core.annotation_weights import export_image_weights

    if os.path.exists(args.output) and os.path.samefile(args.output, args.root):
        raise SettingsError(f"--output {args.output} is the annotation file itself: choose another output file")
    index = load_annotations(args.root, getattr(args, "image_root", None), getattr(args, "skip_crowd", False))
    scheme = parse_scheme(args.scheme)
    if args.usable:  # corrupt, missing and duplicate files get weight 0; class weights on the usable images
        from .cli import run_check

        usable = run_check(as_check_index(index), args.workers).usable_mask
        weights = usable_image_weights(index, scheme, usable)[1]
    else:
        weights = scheme_image_weights(index, scheme, DEFAULT_REDUCTION)
    export_image_weights(args.output, index, weights, scheme)
    how = "repeat factor" if scheme.name == "rfs" else f"{DEFAULT_REDUCTION} of its classes' weights"
    _say(
        f"wrote {escape_name(args.output)}: {len(index):,} image weights ({index.num_classes} classes), scheme "
        f"{scheme}, image weight = {how}",
        sys.stderr,
    )
    return 0


def cmd_verify_annotations(args: argparse.Namespace) -> int:
    """``verify FILE ANNOT.json``: 0 when the per-image weights belong to the file, 2 when not, 1 for
    a ``.npy`` (only its length can be checked)."""
    from .cli import _say
    from .core.annotation_weights import verify_image_weights

    index = load_annotations(args.root, getattr(args, "image_root", None), getattr(args, "skip_crowd", False))
    info = verify_image_weights(args.file, index)
    shown, root = escape_name(args.file), escape_name(index.file)
    drawable = int((info["sample_weights"] > 0).sum())
    if not info["identified"]:
        _say(
            f"{shown}: only its length could be checked: {len(index):,} weights for the {len(index):,} images of "
            f"{root}; a .npy holds no image ids or file names (export .pt, .csv or .json for that)"
        )
        return 1
    ids = "same image ids and " if index.image_ids is not None else ""
    _say(f"{shown} matches {root}: {len(index):,} images, {ids}same files, same order; {drawable:,} can be drawn")
    return 0


def simulation_report(index: MultiLabelIndex, run: ImageLevelRun) -> dict[str, Any]:
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


def format_simulation_report(report: dict[str, Any]) -> str:
    from .cli import _table

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
            *_table(header, rows, left=(1,)),
            "",
            f"images never drawn: {report['images_never_drawn']:,}",
        ]
    )


def cmd_simulate_annotations(args: argparse.Namespace) -> int:
    from .cli import _say
    from .core.image_sampling import simulate_image_level  # imports torch

    if args.mode != "weighted" or args.batch_size is not None:
        raise SettingsError("annotation files are simulated image by image: --mode and --batch-size do not apply")
    index = load_annotations(args.root)
    run = simulate_image_level(
        index,
        args.scheme,
        epochs=args.epochs,
        num_samples=args.num_samples,
        replacement=not args.no_replacement,
        seed=args.seed,
        device=args.device,
    )
    report = simulation_report(index, run)
    _say(json.dumps(report, indent=2) if args.json else format_simulation_report(report))
    return 0


__all__ = [
    "annotation_report",
    "cmd_export_annotations",
    "cmd_inspect_annotations",
    "cmd_verify_annotations",
    "cmd_simulate_annotations",
    "format_annotation_report",
    "is_annotation_file",
]
