"""Weights files of detection and multi-label data: one weight per IMAGE (float64), in the order of
the annotation file's ``images`` list (a ``path,labels`` manifest: its rows), with the image ids
(COCO) and the file names, fingerprinted like every weights file.

* ``.pt``: a dict ``kind="image_weights"``, ``format_version``, ``weights`` (float64 tensor),
  ``image_ids`` (int64 tensor, COCO; absent for a manifest), ``files``, ``classes``, ``scheme``,
  ``annotations`` (the annotation file's name), ``root``, ``fingerprint``;
* ``.json``: the same fields as JSON (weights written by ``repr``: float64 read back exactly);
* ``.csv``: header ``file,image_id,weight,fingerprint``, one row per image (``image_id`` empty for
  a manifest), then a trailer row whose last field is ``kind=image_weights format_version=1
  sha256=...`` over every row; a field that a spreadsheet would read as a formula is quoted with
  ``'`` as the single-label CSV does;
* ``.npy``: the float64 weights alone (only its length can be checked).

The fingerprint is sha256 over every field but itself (weights as ``float.hex``), so an edited
file is refused on load. :func:`verify_image_weights` checks the file against an index: the
number of images, the image ids, and the file names, and says what differs.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np

from .annotations import MultiLabelIndex, is_multilabel_manifest, open_annotations
from .errors import WeightsFileError
from .weightsfile_formats import ImageExport, format_of
from .weightsfile_formats.base import IMAGE_WEIGHTS_KIND, IMAGE_WEIGHTS_VERSION
from .weightsfile_formats.csv_file import IMAGE_HEADER as CSV_HEADER

KIND = IMAGE_WEIGHTS_KIND
VERSION = IMAGE_WEIGHTS_VERSION


def _fingerprint(record: dict[str, Any]) -> str:
    rest = {k: v for k, v in record.items() if k != "fingerprint"}
    rest["weights"] = [float(w).hex() for w in rest["weights"]]
    if rest.get("image_ids") is not None:
        rest["image_ids"] = [int(i) for i in rest["image_ids"]]
    text = json.dumps(rest, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def export_image_weights(path: str | os.PathLike[str], index: MultiLabelIndex, weights: Any, scheme: Any) -> str:
    """Write per-image ``weights`` (file order of ``index``) to ``path``; the extension picks the format."""
    fmt = format_of(path)
    w = np.array(weights, dtype=np.float64).ravel()
    if w.shape != (len(index),):
        raise WeightsFileError(f"{len(w)} weights for the {len(index)} images of {index.file}")
    if not np.all(np.isfinite(w) & (w >= 0)):
        raise WeightsFileError("image weights must be finite and >= 0")
    if index.file and os.path.exists(path) and os.path.samefile(path, index.file):
        raise WeightsFileError(f"cannot write {os.fspath(path)}: it is the annotation file the weights are for")
    files = index.relative_paths()
    ids = None if index.image_ids is None else [int(i) for i in index.image_ids]
    record: dict[str, Any] = {
        "kind": KIND,
        "format_version": VERSION,
        "scheme": str(scheme),
        "annotations": os.path.basename(index.file),
        "root": os.path.abspath(index.root),
        "classes": list(index.classes),
        "files": files,
        "image_ids": ids,
        "weights": w.tolist(),
    }
    record["fingerprint"] = _fingerprint(record)
    fmt.write_image(path, ImageExport(record=record, weights=w))
    return os.fspath(path)


def _bad(path: str, why: str) -> WeightsFileError:
    return WeightsFileError(f"{path}: {why}")


def read_image_weights_file(path: str | os.PathLike[str], *, sniff: bool = False) -> dict[str, Any] | None:
    """The file's record (``weights`` as a float64 array), or None when it is not an image-weights
    file (a class-level weights file of a single-label dataset). A ``.npy`` is read as bare weights
    (``files`` None). Raises WeightsFileError for an edited or unreadable image-weights file; with
    ``sniff``, a .pt or .json that cannot be parsed at all is None too (its own reader says why)."""
    fmt = format_of(path)
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise WeightsFileError(f"weights file not found: {p}")
    try:
        rec = fmt.read_image(p)
    except WeightsFileError:
        # A .csv names itself by its header before anything can fail; a file that cannot be parsed
        # at all may be a single-label dataset's, whose own reader says why.
        if sniff and fmt.identified and fmt.extension != ".csv":
            return None
        raise
    if rec is None:
        return None
    if rec.pop("bare", False):  # the weights alone: nothing to check them against
        rec["format"] = fmt.extension
        return rec
    if not rec.pop("checked", False):  # a reader that checked the fingerprint itself says so
        if rec.get("format_version") != VERSION:
            raise _bad(p, f"format version {rec.get('format_version')!r} is not one this version reads ({VERSION})")
        try:
            expected = _fingerprint(rec)
        except (KeyError, TypeError, ValueError) as e:
            raise _bad(p, f"a field is missing or malformed ({e})") from e
        if rec.get("fingerprint") != expected:
            raise _bad(p, "fingerprint mismatch: the file was edited after export")
    w = np.asarray(rec["weights"], dtype=np.float64)
    if w.ndim != 1 or not np.all(np.isfinite(w) & (w >= 0)):
        raise _bad(p, "weights must be finite and >= 0")
    if rec.get("files") is not None and len(rec["files"]) != w.size:
        raise _bad(p, f"{len(rec['files'])} files for {w.size} weights")
    rec["weights"] = w
    rec["format"] = fmt.extension
    return rec


def _first_difference(a: list[Any], b: list[Any]) -> int:
    return next(i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)


def verify_image_weights(path: str | os.PathLike[str], index: MultiLabelIndex) -> dict[str, Any]:
    """Read ``path`` and check it belongs to ``index``: as many weights as images, the same image
    ids (COCO) and the same files, in the same order. Returns the record with ``sample_weights``."""
    p = os.fspath(path)
    rec = read_image_weights_file(p)
    if rec is None:
        raise WeightsFileError(
            f"{p} holds class-level weights of a single-label dataset, not per-image weights of {index.file}"
        )
    w = rec["weights"]
    if w.size != len(index):
        raise WeightsFileError(f"{p} holds {w.size:,} image weights, but {index.file} lists {len(index):,} images")
    ids = rec.get("image_ids")
    bare = rec.get("files") is None  # a .npy: the weights alone
    if not bare and (index.image_ids is not None or ids is not None):
        mine = None if index.image_ids is None else [int(i) for i in index.image_ids]
        if ids is None or mine is None:
            raise WeightsFileError(f"{p}: one of the file and {index.file} has image ids and the other has none")
        if list(ids) != mine:
            i = _first_difference(list(ids), mine)
            raise WeightsFileError(
                f"{p} does not match {index.file}: image {i} has id {ids[i]} in the weights file, {mine[i]} in the "
                "annotations (another file, or its images reordered)"
            )
    files = rec.get("files")
    if files is not None and list(files) != index.relative_paths():
        i = _first_difference(list(files), index.relative_paths())
        raise WeightsFileError(
            f"{p} does not match {index.file}: image {i} is {files[i]!r} in the weights file, "
            f"{index.relative_path(i)!r} in the annotations"
        )
    rec["sample_weights"] = w
    rec["identified"] = files is not None
    return rec


def annotation_index(dataset: Any) -> MultiLabelIndex | None:
    """``dataset`` as a multi-label index: itself, or the COCO ``.json`` / ``path,labels`` ``.csv``
    file it names, opened; None for any other dataset (a folder, a single-label manifest)."""
    if isinstance(dataset, MultiLabelIndex):
        return dataset
    if isinstance(dataset, (str, os.PathLike)):
        p = os.fspath(dataset)
        low = p.lower()
        if os.path.isfile(p) and (low.endswith(".json") or (low.endswith(".csv") and is_multilabel_manifest(p))):
            return open_annotations(p)
    return None


def image_weights_hook(path: str | os.PathLike[str], dataset: Any) -> dict[str, Any] | None:
    """For ``weightsfile.load_weights`` / ``verify_weights_file``: when ``dataset`` is an annotation
    file (or its index), or ``path`` an image-weights file, the checked record; else None (the
    single-label path goes on)."""
    index = annotation_index(dataset)
    if index is not None:
        return verify_image_weights(path, index)
    if dataset is None and format_of(path).identified:
        return read_image_weights_file(path, sniff=True)
    return None


__all__ = [
    "CSV_HEADER",
    "KIND",
    "annotation_index",
    "export_image_weights",
    "image_weights_hook",
    "read_image_weights_file",
    "verify_image_weights",
]
