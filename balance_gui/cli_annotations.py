"""The subcommands on detection and multi-label files: COCO/LVIS instances JSON, or a
``path,labels`` CSV manifest. Their reports (what ``inspect`` and ``simulate`` print, text or
JSON) are built in ``core.reports.annotation_files``; ``verify``'s line in ``core.reports.verify``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .core.annotation_check import as_check_index, usable_image_weights
from .core.annotations import AnnotationProgress, MultiLabelIndex, is_multilabel_manifest, open_annotations
from .core.errors import SettingsError
from .core.names import escape_name
from .core.repeat_factors import DEFAULT_REDUCTION, scheme_image_weights
from .core.reports.annotation_files import (
    annotation_report,
    format_annotation_report,
    format_image_level_report,
    image_level_report,
)
from .core.reports.verify import image_weights_verify_summary
from .core.weights import parse_scheme

# A step costs a pass over the images and their classes: a few a second keep the bar alive cheaply.
PROGRESS_INTERVAL_S = 0.2


def is_annotation_file(path: str) -> bool:
    """A ``.json`` file (read as COCO instances) or a ``.csv`` with the ``path,labels`` header."""
    if not os.path.isfile(path):
        return False
    low = path.lower()
    return low.endswith(".json") or (low.endswith(".csv") and is_multilabel_manifest(path))


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
    identified, summary = image_weights_verify_summary(args.file, verify_image_weights(args.file, index), index)
    _say(summary)
    return 0 if identified else 1


def cmd_simulate_annotations(args: argparse.Namespace) -> int:
    """``simulate ANNOT.json``: the image-level run, with a progress bar in epochs on stderr (a Ctrl-C
    ends it: ``main`` exits 130)."""
    from .cli import _progress_bar, _say
    from .core.image_sampling import image_level_steps  # imports torch

    if args.mode != "weighted" or args.batch_size is not None:
        raise SettingsError("annotation files are simulated image by image: --mode and --batch-size do not apply")
    index = load_annotations(args.root)
    steps = image_level_steps(
        index,
        args.scheme,
        epochs=args.epochs,
        num_samples=args.num_samples,
        replacement=not args.no_replacement,
        seed=args.seed,
        device=args.device,
        interval_s=PROGRESS_INTERVAL_S,
    )
    run = None
    with _progress_bar("sampling", " epoch") as bar:
        bar.total = args.epochs
        for run in steps:
            bar.update(run.epochs_done - bar.n)
    assert run is not None  # image_level_steps always yields its last step
    report = image_level_report(index, run)
    _say(json.dumps(report, indent=2) if args.json else format_image_level_report(report))
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
