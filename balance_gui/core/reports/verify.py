"""What ``verify`` says of a weights file and a dataset: what was found the same (classes, counts,
files or table rows), how many samples can be drawn, or that only the length could be checked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..names import escape_name, quoted
from .text import excluded_note

if TYPE_CHECKING:
    from ..annotations import MultiLabelIndex
    from ..dataset import DatasetIndex


def table_match_note(info: dict[str, Any], index: DatasetIndex) -> str | None:
    """What ``verify`` found the same in a table-like source's weights file (``core.table_identity``),
    or None for a file that lists paths or only counts."""
    identity = info.get("table")
    classes = f"{index.num_classes} class{'' if index.num_classes == 1 else 'es'}"
    unread = "no image file was read"
    if identity is not None:
        column = identity["label_column"]
        where = f"column {quoted(column)}, " if column is not None else ""
        dropped = identity["dropped_rows"]
        left_out = f" ({dropped:,} without a label left out)" if dropped else ""
        return (
            f"the same {identity['num_rows']:,} rows{left_out} with the same label in each "
            f"({where}label_sha256 {identity['label_sha256'][:12]}...), {classes}; {unread}"
        )
    if "rows" in info:
        return f"the same {len(info['rows']):,} rows by number with the same class in each, {classes}; {unread}"
    return None


def verify_summary(file: str, info: dict[str, Any], index: DatasetIndex) -> tuple[bool, str]:
    """Whether the weights file ``file`` could be shown to belong to ``index`` (``info`` is what
    ``weightsfile.verify_weights_file`` found; it raises when the file does not belong), and the
    line that says what matched. A ``.npy`` holds no names: only its length was checked."""
    from ..weightsfile_formats import WEIGHTS_FORMATS, listed, weights_format

    fmt = weights_format(info["format"])

    if info["sample_weights"] is None:  # a .json that excludes samples: drawable per class
        drawable = int(info["usable_counts"][info["class_weights"] > 0].sum())
    else:
        drawable = int((info["sample_weights"] > 0).sum())
    shown, root = escape_name(file), escape_name(index.root)
    if not fmt.identified:
        named = listed(f for f in WEIGHTS_FORMATS if f.identified and f.per_sample)
        return False, (
            f"{shown}: only its length could be checked: {len(index):,} weights for the {len(index):,} samples "
            f"of {root}; a {info['format']} file holds no class or file names, so it cannot show that it "
            f"belongs to this dataset (export {named} for that)"
        )
    if not fmt.per_sample:
        what = f"the same {index.num_classes} classes with the same counts (a {fmt.extension} holds no file names)"
    else:
        what = f"{len(index):,} samples in {index.num_classes} classes, same order"
    if (table_note := table_match_note(info, index)) is not None:  # rows by position, labels by hash
        root, what = escape_name(index.source_file or index.root), table_note
    excluded = info["num_excluded"]
    note = f"; {excluded_note(excluded)}" if excluded else ""
    return True, f"{shown} matches {root}: {what}; {drawable:,} can be drawn{note}"


def image_weights_verify_summary(file: str, info: dict[str, Any], index: MultiLabelIndex) -> tuple[bool, str]:
    """``verify_summary`` for per-image weights of an annotation file (``info`` from
    ``annotation_weights.verify_image_weights``)."""
    from ..weightsfile_formats import WEIGHTS_FORMATS, listed

    shown, root = escape_name(file), escape_name(index.file)
    drawable = int((info["sample_weights"] > 0).sum())
    if not info["identified"]:
        identified = listed(f for f in WEIGHTS_FORMATS if f.identified)
        return False, (
            f"{shown}: only its length could be checked: {len(index):,} weights for the {len(index):,} images of "
            f"{root}; a {info['format']} holds no image ids or file names (export {identified} for that)"
        )
    ids = "same image ids and " if index.image_ids is not None else ""
    what = f"{len(index):,} images, {ids}same files, same order"
    return True, f"{shown} matches {root}: {what}; {drawable:,} can be drawn"


__all__ = ["image_weights_verify_summary", "table_match_note", "verify_summary"]
