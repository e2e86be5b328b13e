"""A Hugging Face ``datasets.Dataset`` loaded in Python (issue 17): its labels come from its Arrow table
(``features[col].names`` order for a ClassLabel), after any ``select``/``filter``/``shuffle``, without
reading a row through ``datasets`` (no row becomes a Python object); samplers and ``load_sampler`` take it."""

from __future__ import annotations

import datasets
import numpy as np
import pytest

from balance_gui import BalancedSampler, load_sampler, read_labels
from balance_gui.cli import main
from balance_gui.core.errors import DatasetError, WeightsError, WeightsFileError

NAMES = ["zebra", "ant", "mole", "yak"]  # not sorted: the ClassLabel's order is the classes' order; yak is empty


def _dataset(n: int = 500, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, size=n, p=[0.6, 0.3, 0.1])
    features = datasets.Features({"label": datasets.ClassLabel(names=NAMES), "name": datasets.Value("string")})
    ds = datasets.Dataset.from_dict({"label": labels, "name": [NAMES[k] for k in labels]}, features=features)
    return ds, labels


@pytest.fixture
def no_rows(monkeypatch):
    """Reading a row or a column through ``datasets`` (Python objects per row) fails the test."""

    def refuse(self, key):
        raise AssertionError(f"dataset[{key!r}] was read")

    monkeypatch.setattr(datasets.Dataset, "__getitem__", refuse)
    monkeypatch.setattr(datasets.Dataset, "__iter__", lambda self: refuse(self, "iter"))


def test_class_label_order_and_empty_classes_are_kept(no_rows):
    ds, labels = _dataset()
    got = read_labels(ds)
    assert got.classes == tuple(NAMES)
    assert got.targets.tolist() == labels.tolist()
    assert got.counts.tolist() == [*np.bincount(labels, minlength=3).tolist(), 0]
    assert got.source == "column 'label'"


@pytest.mark.parametrize(
    "view",
    [
        lambda ds: ds.select(range(len(ds) - 1, -1, -3)),
        lambda ds: ds.shuffle(seed=3),
        lambda ds: ds.filter(lambda row: row["label"] != 0),
        lambda ds: ds.select([5, 5, 7]),  # a row twice
    ],
    ids=["select", "shuffle", "filter", "repeat"],
)
def test_a_selection_of_rows_gives_its_own_labels(view):
    ds, _ = _dataset()
    part = view(ds)
    expected = np.array(part["label"])  # the reference, read row by row through datasets
    got = read_labels(part)
    assert got.targets.tolist() == expected.tolist() and got.classes == tuple(NAMES)


def test_text_labels_are_numbered_by_sorted_name(no_rows):
    ds, labels = _dataset()
    got = read_labels(ds, label_column="name")
    present = sorted({NAMES[k] for k in labels})
    assert got.classes == tuple(present)
    assert [got.classes[t] for t in got.targets] == [NAMES[k] for k in labels]


def test_unlabelled_and_null_rows_are_refused():
    features = datasets.Features({"label": datasets.ClassLabel(names=["a", "b"])})
    ds = datasets.Dataset.from_dict({"label": [0, -1, 1]}, features=features)
    with pytest.raises(WeightsError, match="Hugging Face marks unlabelled samples -1"):
        read_labels(ds)
    nulls = datasets.Dataset.from_dict({"y": [1, None, 2]}, features=datasets.Features({"y": datasets.Value("int64")}))
    with pytest.raises(DatasetError, match="1 row.*no label.*row 1"):
        read_labels(nulls, label_column="y")


def test_samplers_and_load_sampler_take_the_dataset(tmp_path, capsys, no_rows):
    ds, labels = _dataset()
    sampler = BalancedSampler.from_dataset(ds, scheme="inverse", num_samples=3000, seed=0)
    counts = np.bincount(labels[np.array(list(sampler))], minlength=3)
    assert counts.min() > 800  # inverse weights: the three classes about equally drawn
    folder = str(tmp_path / "hf")
    ds.save_to_disk(folder)
    for ext in ("json", "pt"):
        assert main(["export", folder, "-o", str(tmp_path / f"w.{ext}")]) == 0
        loaded = datasets.load_from_disk(folder)
        drawn = np.array(list(load_sampler(tmp_path / f"w.{ext}", loaded, seed=1)))
        assert len(drawn) == len(ds) and set(labels[drawn]) == {0, 1, 2}
    renamed = ds.cast_column("label", datasets.ClassLabel(names=["a", "b", "c", "d"]))
    with pytest.raises(WeightsFileError):
        load_sampler(tmp_path / "w.json", renamed)


def test_load_sampler_reads_the_label_column_once(tmp_path, monkeypatch):
    """The labels give both the targets and the class names the file is checked against: at 100M
    rows a second read is a second pass over the column."""
    from balance_gui.core import hf_source

    ds, _ = _dataset()
    folder = str(tmp_path / "hf")
    ds.save_to_disk(folder)
    assert main(["export", folder, "-o", str(tmp_path / "w.pt")]) == 0
    loaded = datasets.load_from_disk(folder)
    reads = []
    real = hf_source.arrow_labels
    monkeypatch.setattr(hf_source, "arrow_labels", lambda *a, **k: reads.append(a[1:]) or real(*a, **k))
    assert len(list(load_sampler(tmp_path / "w.pt", loaded, seed=1))) == len(ds)
    assert reads == [("label",)]
