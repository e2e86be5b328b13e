"""Inputs a sampler cannot use, caught before they are read, each with what to do instead.

``to_tensor`` calls :func:`refuse_unusable` on every non-tensor input: a dataset passed where
weights or targets belong (numpy would read every item of it, images included, then fail with a
shape message), a dict of class weights, strings, or another sampler.  The checks are O(1): the
type of the object, the first element of a list, the dtype of an array.

Another sampler in the place of the weights is what Lightning hands a batch sampler when it
re-creates it to shard it for DDP: ``type(batch_sampler)(sampler, batch_size=..., drop_last=...)``.
That error is a ``TypeError`` too, worded so that Lightning recognises it and shows its own hint
(build the batch sampler in a ``*_dataloader`` hook, or ``Trainer(use_distributed_sampler=False)``),
with this one as its cause.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .errors import SettingsError, WeightsError

__all__ = ["SamplerInPlaceOfWeightsError", "refuse_unusable"]

_FROM_DATASET = (
    "to read its labels use the sampler's from_dataset classmethod, "
    "e.g. BalancedSampler.from_dataset(dataset, scheme='inverse')"
)


class SamplerInPlaceOfWeightsError(SettingsError, TypeError):
    """A sampler was passed where weights or targets belong (a ``TypeError`` too, for Lightning)."""


def _looks_like_dataset(x: object) -> bool:
    from torch.utils.data import Dataset

    if isinstance(x, Dataset):
        return True
    # a Hugging Face datasets.Dataset (not a torch Dataset), a torchvision-like folder dataset
    if hasattr(x, "features") and hasattr(x, "column_names"):
        return True
    return hasattr(x, "__getitem__") and (hasattr(x, "samples") or hasattr(x, "imgs"))


def _first(x: object) -> object:
    """The first element of a list, tuple or 1-D+ array (None when empty or not one of those)."""
    if isinstance(x, (list, tuple)):
        return x[0] if x else None
    if isinstance(x, np.ndarray) and x.size:
        v = x.flat[0]
        return v.item() if isinstance(v, np.generic) else v  # 'cat', not np.str_('cat')
    return None


def refuse_unusable(x: object, name: str) -> None:
    """Raise a clear error naming ``name`` when ``x`` is not numbers a sampler can read."""
    from torch.utils.data import Sampler

    what = "class weights" if name == "class_weights" else "class indices" if name == "targets" else name
    if isinstance(x, Sampler):
        raise SamplerInPlaceOfWeightsError(
            f"missing 1 required argument: {name}. A {type(x).__name__} was passed where the {what} go; "
            "a sampler makes its own draws and cannot take another sampler's (Lightning does this when it "
            "re-creates a batch sampler to shard it for DDP). Under DDP give the DataLoader "
            "sampler=DistributedBalancedSampler(...), or a distributed batch sampler "
            "(DistributedPKBatchSampler) with Trainer(use_distributed_sampler=False)"
        )
    if isinstance(x, (str, bytes)):
        raise WeightsError(f"{name} is a string ({x[:40]!r}); pass a 1-D sequence of numbers")
    if isinstance(x, Mapping):
        keys = list(x)[:3]
        if name == "class_weights":
            raise WeightsError(
                f"class_weights is a dict (keys {keys}...); pass a sequence with one weight per class index, "
                "class_weights[c] for class c: e.g. [d[c] for c in range(num_classes)] when the keys are the "
                "class indices, or [d[name] for name in dataset.classes]"
            )
        raise WeightsError(f"{name} is a dict (keys {keys}...); pass a 1-D sequence with one value per sample")
    if _looks_like_dataset(x):
        raise WeightsError(f"{name} is a dataset ({type(x).__name__}), not a sequence of {what}; {_FROM_DATASET}")
    first = _first(x)
    is_text = isinstance(first, (str, bytes, np.str_, np.bytes_)) or (
        isinstance(x, np.ndarray) and x.dtype.kind in "SU"
    )
    if is_text:
        if name == "targets":
            raise WeightsError(
                f"targets holds strings (first: {first!r}); targets must be integer class indices. Map the "
                "names first, e.g. classes = sorted(set(labels)); targets = [classes.index(s) for s in labels], "
                "or let from_dataset read the labels of a dataset (it numbers string labels that way): "
                "BalancedSampler.from_dataset(dataset, scheme='inverse')"
            )
        raise WeightsError(f"{name} holds strings (first: {first!r}); {name} must be numbers")
