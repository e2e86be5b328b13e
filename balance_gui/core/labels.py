"""Class labels read straight from a dataset, and the samplers' ``from_dataset`` classmethod.

:func:`read_labels` looks, in this order, at:

1. ``labels_fn(dataset)`` or the column ``label_column=``, when given;
2. a ``torch.utils.data.Subset``: the labels of the dataset it wraps, at its indices;
3. ``dataset.targets`` (torchvision's ImageFolder, CIFAR, MNIST, ...);
4. ``dataset.samples`` or ``dataset.imgs``: ``(path, class_index)`` pairs (ImageFolder, DatasetFolder);
5. a Hugging Face ``datasets.Dataset``: its one ``ClassLabel`` column in ``dataset.features``
   (duck-typed: the ``datasets`` package is not needed here).

It never reads an item of the dataset (no image is opened).  Labels that are strings are numbered
by their sorted names, as ImageFolder numbers its folders.

Example:
    >>> from balance_gui.core.labels import read_labels
    >>> class Folder:  # what torchvision's ImageFolder holds
    ...     classes = ["cat", "dog"]
    ...     targets = [0, 0, 0, 1]
    ...     def __len__(self): return 4
    >>> labels = read_labels(Folder())
    >>> labels.classes, labels.counts.tolist(), labels.source
    (('cat', 'dog'), [3, 1], 'dataset.targets')
    >>> from balance_gui import BalancedSampler
    >>> s = BalancedSampler.from_dataset(Folder(), scheme="inverse", num_samples=8, seed=0)
    >>> s.class_weights.tolist()
    [1.3333333333333333, 4.0]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Self, cast, runtime_checkable

import numpy as np

from .errors import DatasetError, SettingsError, WeightsError

if TYPE_CHECKING:
    from .dataset import DatasetIndex
    from .weights import Scheme

__all__ = ["Labels", "read_labels", "FromDataset", "FolderDataset", "as_dataset_index"]


@dataclass(frozen=True)
class Labels:
    """The labels of a dataset: ``targets`` (int64 class index per sample), ``classes`` (a name per
    class index), ``counts`` (samples per class) and ``source`` (where they were read)."""

    targets: np.ndarray
    classes: tuple[str, ...]
    counts: np.ndarray
    source: str


@runtime_checkable
class FolderDataset(Protocol):
    """What torchvision's ``ImageFolder`` / ``DatasetFolder`` hold (read by :func:`as_dataset_index`)."""

    root: Any
    classes: list[str]
    class_to_idx: dict[str, int]
    samples: list[tuple[str, int]]


def _hf_class_label_columns(dataset: object) -> list[str]:
    features = getattr(dataset, "features", None)
    if not isinstance(features, Mapping):
        return []
    return [
        name
        for name, f in features.items()
        if type(f).__name__ == "ClassLabel" or (hasattr(f, "names") and hasattr(f, "str2int"))
    ]


def _column(dataset: Any, column: str) -> Any:
    names = getattr(dataset, "column_names", None)
    if names is not None and column not in names:
        raise SettingsError(f"label_column={column!r} is not a column of the dataset (columns: {list(names)})")
    try:
        return dataset[column]
    except (KeyError, TypeError, IndexError) as e:
        raise SettingsError(f"label_column={column!r}: the dataset cannot return that column ({e})") from None


def _hf_names(dataset: object, column: str) -> Sequence[str] | None:
    features = getattr(dataset, "features", None)
    if isinstance(features, Mapping) and column in features:
        names = getattr(features[column], "names", None)
        if names is not None:
            return [str(n) for n in names]
    return None


def _as_array(raw: Any, source: str) -> np.ndarray:
    if hasattr(raw, "detach") and hasattr(raw, "cpu"):  # a torch tensor
        return np.asarray(raw.detach().cpu().numpy())
    try:
        a = np.asarray(raw if isinstance(raw, (np.ndarray, list, tuple)) else list(raw))
    except (TypeError, ValueError) as e:
        raise WeightsError(f"{source} is not a 1-D sequence of class labels: {e}") from None
    return a


def _encode(raw: Any, source: str, names: Sequence[str] | None, expected_len: int | None) -> Labels:
    a = _as_array(raw, source)
    if a.ndim != 1:
        raise WeightsError(f"{source} must be 1-D (one label per sample), but has shape {a.shape}")
    if expected_len is not None and a.shape[0] != expected_len:
        raise WeightsError(f"{source} has {a.shape[0]} labels but the dataset has {expected_len} samples")
    if a.size == 0:
        raise WeightsError(f"{source} is empty: the dataset has no labelled samples")
    if a.dtype.kind in "USO" and a.size and isinstance(a[0], (str, bytes, np.str_, np.bytes_)):
        uniq, targets = np.unique(a.astype(str), return_inverse=True)
        classes = tuple(str(u) for u in uniq)
        targets = targets.astype(np.int64).reshape(-1)
    else:
        if a.dtype.kind == "b":
            a = a.astype(np.int64)
        if a.dtype.kind == "f":
            bad = np.flatnonzero(~np.isfinite(a) | (a != np.round(a)))
            if bad.size:
                i = int(bad[0])
                raise WeightsError(f"{source}[{i}] = {a[i]!r} is not an integer class label")
        elif a.dtype.kind not in "iu":
            raise WeightsError(f"{source} must hold integer class indices or class names, got dtype {a.dtype}")
        targets = a.astype(np.int64)
        lo = int(targets.min())
        if lo < 0:
            i = int(np.flatnonzero(targets < 0)[0])
            raise WeightsError(
                f"{source}[{i}] = {int(targets[i])} is a negative class index (Hugging Face marks unlabelled "
                "samples -1): filter the unlabelled samples out first"
            )
        top = int(targets.max())
        if names is not None and len(names) > top:
            classes = tuple(str(n) for n in names)
        else:
            classes = tuple(str(i) for i in range(top + 1))
    counts = np.bincount(targets, minlength=len(classes)).astype(np.int64)
    return Labels(targets, classes, counts, source)


def read_labels(
    dataset: Any,
    *,
    labels_fn: Callable[[Any], Any] | None = None,
    label_column: str | None = None,
) -> Labels:
    """The class labels of ``dataset``, without reading its items (see the module docstring)."""
    if labels_fn is not None and label_column is not None:
        raise SettingsError("give labels_fn= or label_column=, not both")
    try:
        n: int | None = len(dataset)
    except TypeError:
        n = None
    names = getattr(dataset, "classes", None)
    if labels_fn is not None:
        if not callable(labels_fn):
            raise SettingsError(f"labels_fn must be a function dataset -> labels, got {labels_fn!r}")
        return _encode(labels_fn(dataset), "labels_fn(dataset)", names, n)
    from .hf_source import arrow_labels  # a datasets.Dataset: its Arrow table, never its rows as Python

    if label_column is not None:
        if (fast := arrow_labels(dataset, label_column)) is not None:
            return fast
        hf = _hf_names(dataset, label_column)
        return _encode(_column(dataset, label_column), f"column {label_column!r}", hf or names, n)
    from torch.utils.data import Subset

    if isinstance(dataset, Subset):
        inner = read_labels(dataset.dataset)
        idx = np.asarray(dataset.indices, dtype=np.int64)
        targets = inner.targets[idx]
        counts = np.bincount(targets, minlength=len(inner.classes)).astype(np.int64)
        return Labels(targets, inner.classes, counts, f"Subset of {inner.source}")
    raw_targets = getattr(dataset, "targets", None)
    if raw_targets is not None:
        return _encode(raw_targets, "dataset.targets", names, n)
    for attr in ("samples", "imgs"):
        pairs = getattr(dataset, attr, None)
        if pairs is not None:
            try:
                raw = [pair[1] for pair in pairs]
            except (TypeError, IndexError, KeyError):
                raise WeightsError(f"dataset.{attr} must hold (path, class_index) pairs") from None
            return _encode(raw, f"dataset.{attr}", names, n)
    columns = _hf_class_label_columns(dataset)
    if len(columns) == 1:
        (col,) = columns
        if (fast := arrow_labels(dataset, col)) is not None:
            return fast
        return _encode(_column(dataset, col), f"column {col!r}", _hf_names(dataset, col), n)
    if len(columns) > 1:
        raise SettingsError(f"the dataset has several ClassLabel columns {columns}; pick one with label_column=")
    raise DatasetError(
        f"cannot find the labels of {type(dataset).__name__}: it has no 'targets', 'samples' or 'imgs' "
        "attribute and no Hugging Face ClassLabel feature; pass label_column='name' or "
        "labels_fn=lambda ds: [...] (one class label per sample)"
    )


class FromDataset:
    """Mixin: the ``from_dataset`` classmethod of the samplers."""

    @classmethod
    def from_dataset(
        cls,
        dataset: Any,
        scheme: str | Scheme = "inverse",
        *,
        labels_fn: Callable[[Any], Any] | None = None,
        label_column: str | None = None,
        **kwargs: Any,
    ) -> Self:
        """A sampler over ``dataset``'s samples, its classes weighted by ``scheme``.

        The labels are read as :func:`~balance_gui.core.labels.read_labels` does (``targets``,
        ``samples``/``imgs``, a Hugging Face ClassLabel column, ``label_column=`` or
        ``labels_fn=``), no item of the dataset is loaded.  ``scheme`` is one of
        :func:`~balance_gui.core.weights.parse_scheme`'s (``"inverse"``, ``"sqrt"``,
        ``"power:0.5"``, ...); the other keyword arguments go to the sampler (``num_samples``,
        ``seed``, ``batch_size``, ``classes_per_batch``, ...).
        """
        for key in ("weights", "targets", "class_weights"):
            if key in kwargs:
                raise SettingsError(
                    f"from_dataset reads the targets from the dataset and the class weights from scheme=; "
                    f"do not pass {key}="
                )
        import torch

        from .weights import class_weights

        labels = read_labels(dataset, labels_fn=labels_fn, label_column=label_column)
        cw = class_weights(labels.counts, scheme, classes=labels.classes)
        make = cast(Any, cls)
        return cast(Self, make(targets=torch.from_numpy(labels.targets), class_weights=torch.from_numpy(cw), **kwargs))


def as_dataset_index(dataset: DatasetIndex | FolderDataset) -> DatasetIndex:
    """``dataset`` as a :class:`~balance_gui.core.dataset.DatasetIndex`: itself, or one built from a
    torchvision ``ImageFolder``/``DatasetFolder`` (its root, classes and samples, in its order)."""
    from .dataset import DatasetIndex, _make_index

    if isinstance(dataset, DatasetIndex):
        return dataset
    if not isinstance(dataset, FolderDataset):
        raise SettingsError(
            f"expected a DatasetIndex or a torchvision ImageFolder (root, classes, class_to_idx, samples), "
            f"got {type(dataset).__name__}"
        )
    root = os.fspath(dataset.root)
    classes = list(dataset.classes)
    if [dataset.class_to_idx.get(c) for c in classes] != list(range(len(classes))):
        raise SettingsError("the ImageFolder's class_to_idx does not number its classes 0..C-1 in order")
    paths, targets = [], []
    for path, target in dataset.samples:
        paths.append(os.path.relpath(path, root))
        targets.append(int(target))
    return _make_index(root, classes, targets, paths)
