"""The image check (``core.images.check_images``) on detection and multi-label data.

``check_images`` takes a ``DatasetIndex``; a COCO or ``path,labels`` file's images are handed to it
as a one-class index of the same files in the same order (``as_check_index``), so corrupt, missing
and unreadable files and exact duplicates are found per file, as for any dataset. The check's
per-class statistics then describe that single class, not the file's classes: use the usable mask
(``CheckResult.usable_mask``, one bool per image in file order) with :func:`usable_image_weights`.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from .annotations import MultiLabelIndex
from .dataset import DatasetIndex
from .repeat_factors import DEFAULT_REDUCTION, class_repeat_factors, image_weights
from .weights import Scheme, class_weights, parse_scheme

CHECK_CLASS = "images"


def as_check_index(index: MultiLabelIndex) -> DatasetIndex:
    """The index's image files, in file order, as a one-class DatasetIndex for ``check_images``."""
    n = len(index)
    targets = np.zeros(n, dtype=np.int64)
    counts = np.array([n], dtype=np.int64)
    for a in (targets, counts):
        a.setflags(write=False)
    return DatasetIndex(
        root=index.root,
        classes=(CHECK_CLASS,),
        class_to_idx=MappingProxyType({CHECK_CLASS: 0}),
        targets=targets,
        counts=counts,
        _paths_blob=index._paths_blob,
        _path_starts=index._path_starts,
        source="manifest",
        source_file=index.file,
    )


def usable_counts(index: MultiLabelIndex, usable: np.ndarray) -> np.ndarray:
    """Per class: the usable images that carry it."""
    mask = np.asarray(usable, dtype=bool)
    if mask.shape != (len(index),):
        raise ValueError(f"usable must hold one bool per image ({len(index)}), got shape {mask.shape}")
    return np.bincount(index.pair_class, weights=mask[index.pair_image], minlength=index.num_classes).astype(np.int64)


def usable_image_weights(
    index: MultiLabelIndex, scheme: str | Scheme, usable: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Class weights and per-image weights computed on the usable images only: the class counts
    (and for ``rfs:T`` the number of images N in ``f_c``) are the usable ones, and an unusable image
    gets weight 0. Returns ``(class_weights, image_weights)``."""
    s = parse_scheme(scheme)
    mask = np.asarray(usable, dtype=bool)
    counts = usable_counts(index, mask)
    if s.name == "rfs":
        assert s.param is not None
        class_w = class_repeat_factors(counts, max(int(mask.sum()), 1), s.param)
        w = image_weights(index, class_w, "max", empty_weight=1.0)
    else:
        class_w = class_weights(counts, s, index.classes)
        w = image_weights(index, class_w, DEFAULT_REDUCTION)
    w[~mask] = 0.0
    return class_w, w


__all__ = ["as_check_index", "usable_counts", "usable_image_weights"]
