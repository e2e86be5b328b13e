"""Samplers built straight from a dataset's labels (``from_dataset``), never reading its items."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, Subset
from torchvision.datasets import ImageFolder

from balance_gui import (
    BalancedBatchSampler,
    BalancedSampler,
    DistributedBalancedSampler,
    DistributedPKBatchSampler,
    PKBatchSampler,
    read_labels,
)
from balance_gui.core.dataset import scan_image_folder
from balance_gui.core.errors import DatasetError, SettingsError, WeightsError
from balance_gui.core.weights import class_weights
from balance_gui.core.weightsfile import export_weights, read_weights_file

from .conftest import make_tree

TARGETS = [0] * 12 + [1] * 5 + [2] * 3


class Unreadable(Dataset):
    """A dataset whose items must never be read (each would be an image load)."""

    def __init__(self, n: int = len(TARGETS), **attrs: Any) -> None:
        self.n = n
        self.__dict__.update(attrs)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Any:
        raise AssertionError("an item was read")


class FakeClassLabel:
    """What ``datasets.ClassLabel`` offers: names and str2int."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)

    def str2int(self, name: str) -> int:
        return self.names.index(name)


FakeClassLabel.__name__ = "ClassLabel"


class FakeHFDataset:
    """A Hugging Face ``datasets.Dataset`` as duck typing sees it (not a torch Dataset)."""

    def __init__(self, columns: dict[str, list[Any]], features: dict[str, Any]) -> None:
        self._columns = columns
        self.features = features
        self.column_names = list(columns)

    def __len__(self) -> int:
        return len(next(iter(self._columns.values())))

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self._columns[key]
        raise AssertionError("a row was read")


def _same_draws(a: BalancedSampler, b: BalancedSampler) -> bool:
    return list(a) == list(b)


def test_targets_attribute_gives_the_class_weights_of_the_scheme():
    ds = Unreadable(targets=TARGETS, classes=["a", "b", "c"])
    s = BalancedSampler.from_dataset(ds, scheme="sqrt", num_samples=50, seed=3)
    assert s.targets is not None and s.targets.tolist() == TARGETS
    assert s.class_weights is not None
    np.testing.assert_array_equal(s.class_weights.numpy(), class_weights([12, 5, 3], "sqrt"))
    ref = BalancedSampler(
        targets=TARGETS, class_weights=class_weights([12, 5, 3], "sqrt").tolist(), num_samples=50, seed=3
    )
    assert _same_draws(s, ref)


def test_tensor_targets_as_mnist_and_default_scheme_is_inverse():
    ds = Unreadable(targets=torch.tensor(TARGETS))
    s = BalancedSampler.from_dataset(ds, seed=0)
    assert s.class_weights is not None
    np.testing.assert_allclose(s.class_weights.numpy(), [20 / 12, 20 / 5, 20 / 3])
    assert len(s) == len(TARGETS)


def test_imagefolder_samples_are_read_without_opening_an_image(tmp_path):
    root = make_tree(tmp_path / "data", {"ant": 6, "bee": 2, "cat": 3})  # empty files: unreadable as images
    folder = ImageFolder(str(root))
    labels = read_labels(folder)
    assert labels.classes == ("ant", "bee", "cat") and labels.counts.tolist() == [6, 2, 3]
    # the samples/imgs pairs when there is no targets attribute
    for attr in ("samples", "imgs"):
        ds = Unreadable(len(folder), **{attr: folder.samples, "classes": folder.classes})
        got = read_labels(ds)
        assert got.targets.tolist() == folder.targets and got.source == f"dataset.{attr}"
    s = BalancedBatchSampler.from_dataset(folder, scheme="inverse", batch_size=4, seed=1)
    assert isinstance(s, BalancedBatchSampler) and all(len(b) <= 4 for b in s)


def test_hugging_face_class_label_column_duck_typed():
    names = ["cat", "dog", "eel"]
    ds = FakeHFDataset(
        {"image": [None] * len(TARGETS), "label": list(TARGETS)},
        {"image": object(), "label": FakeClassLabel(names)},
    )
    labels = read_labels(ds)
    assert labels.classes == tuple(names) and labels.targets.tolist() == TARGETS and labels.source == "column 'label'"
    s = BalancedSampler.from_dataset(ds, num_samples=30, seed=2)
    assert s.targets is not None and s.targets.tolist() == TARGETS


def test_hugging_face_two_class_label_columns_need_label_column():
    ds = FakeHFDataset(
        {"coarse": [0, 1] * 10, "fine": list(TARGETS)},
        {"coarse": FakeClassLabel(["x", "y"]), "fine": FakeClassLabel(["a", "b", "c"])},
    )
    with pytest.raises(SettingsError, match="label_column"):
        read_labels(ds)
    assert read_labels(ds, label_column="fine").targets.tolist() == TARGETS
    with pytest.raises(SettingsError, match="label_column='nope'"):
        read_labels(ds, label_column="nope")


def test_real_hugging_face_dataset_when_installed():
    import datasets

    names = ["cat", "dog", "eel"]
    ds = datasets.Dataset.from_dict(
        {"x": list(range(len(TARGETS))), "label": TARGETS},
        features=datasets.Features({"x": datasets.Value("int64"), "label": datasets.ClassLabel(names=names)}),
    )
    labels = read_labels(ds)
    assert labels.classes == tuple(names) and labels.targets.tolist() == TARGETS


def test_string_labels_from_labels_fn_are_numbered_by_sorted_name():
    words = ["dog", "cat", "dog", "eel", "cat", "dog"]
    ds = Unreadable()
    labels = read_labels(ds, labels_fn=lambda d: words + ["dog"] * (len(TARGETS) - len(words)))
    assert labels.classes == ("cat", "dog", "eel")
    assert labels.targets[:6].tolist() == [1, 0, 1, 2, 0, 1]


def test_subset_reads_the_wrapped_labels_at_its_indices():
    base = Unreadable(targets=TARGETS, classes=["a", "b", "c"])
    sub = Subset(base, [0, 12, 13, 17, 19])
    labels = read_labels(sub)
    assert labels.targets.tolist() == [0, 1, 1, 2, 2] and labels.counts.tolist() == [1, 2, 2]


def test_every_sampler_has_from_dataset_and_returns_its_own_class():
    ds = Unreadable(targets=TARGETS)
    assert type(BalancedSampler.from_dataset(ds, seed=0)) is BalancedSampler
    assert type(BalancedBatchSampler.from_dataset(ds, batch_size=2, seed=0)) is BalancedBatchSampler
    d = DistributedBalancedSampler.from_dataset(ds, num_replicas=2, rank=1, seed=0)
    assert type(d) is DistributedBalancedSampler and len(d) == 10
    pk = PKBatchSampler.from_dataset(ds, classes_per_batch=2, samples_per_class=2, seed=0)
    assert type(pk) is PKBatchSampler and all(len(b) == 4 for b in pk)
    dpk = DistributedPKBatchSampler.from_dataset(ds, classes_per_batch=2, samples_per_class=2, num_replicas=2, rank=0)
    assert type(dpk) is DistributedPKBatchSampler


def test_pk_from_dataset_uses_the_scheme_for_class_shares():
    ds = Unreadable(targets=TARGETS)
    pk = PKBatchSampler.from_dataset(ds, scheme="none", classes_per_batch=1, samples_per_class=1, seed=0)
    np.testing.assert_allclose(pk.shares.numpy(), [12 / 20, 5 / 20, 3 / 20])


def test_from_dataset_errors_name_what_to_do():
    with pytest.raises(DatasetError, match="labels_fn=") as e:
        read_labels(Unreadable())
    assert "label_column=" in str(e.value)
    with pytest.raises(WeightsError, match=r"labels_fn\(dataset\) has 3 labels but the dataset has 20"):
        read_labels(Unreadable(), labels_fn=lambda d: [0, 1, 0])
    with pytest.raises(WeightsError, match="-1 is a negative class index"):
        read_labels(Unreadable(targets=[-1] + TARGETS[1:]))
    with pytest.raises(SettingsError, match="do not pass targets="):
        BalancedSampler.from_dataset(Unreadable(targets=TARGETS), targets=TARGETS)
    with pytest.raises(SettingsError, match="not both"):
        read_labels(Unreadable(), labels_fn=len, label_column="label")


def test_export_weights_accepts_an_imagefolder(tmp_path):
    root = make_tree(tmp_path / "data", {"ant": 6, "bee": 2, "cat": 3})
    w = class_weights([6, 2, 3], "inverse")
    from_folder = export_weights(tmp_path / "a.pt", ImageFolder(str(root)), w, "inverse")
    from_index = export_weights(tmp_path / "b.pt", scan_image_folder(root), w, "inverse")
    a, b = read_weights_file(from_folder), read_weights_file(from_index)
    assert set(a) == set(b)
    for key in a:
        if isinstance(a[key], np.ndarray):
            np.testing.assert_array_equal(a[key], b[key])
        elif key not in ("path", "fingerprint"):
            assert a[key] == b[key], key
