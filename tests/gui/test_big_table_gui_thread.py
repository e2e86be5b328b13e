"""A big label table on the GUI thread (issue 17): after the scan, everything the window shows is
computed from the per-class counts, never from the per-sample targets.

At 100M rows one pass over the targets (a bincount, a mask, a per-sample weight) takes 0.1-1 s,
and on the GUI thread that is a frozen window. These tests hand the window an index whose targets
refuse to be read: any view or session call that reduced them on the GUI thread again would fail
here, whatever the machine's speed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from balance_gui.core.tables import TableIndex, read_table


class PerSampleRead(AssertionError):
    pass


class UntouchableTargets:
    """Stands for a 100M-row targets array: its length and dtype may be read, its values may not."""

    def __init__(self, n: int, dtype: Any) -> None:
        self.shape = (n,)
        self.size = n
        self.ndim = 1
        self.dtype = np.dtype(dtype)

    def __len__(self) -> int:
        return self.shape[0]

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise PerSampleRead("the GUI thread read the per-sample targets")

    __array__ = __getitem__ = __iter__ = __array_function__ = __array_ufunc__ = _refuse  # type: ignore[assignment]
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse  # type: ignore[assignment]
    __hash__ = None  # type: ignore[assignment]


@pytest.fixture
def table_index(tmp_path) -> TableIndex:
    rng = np.random.default_rng(0)
    p = 1.0 / np.arange(1, 41) ** 1.1
    labels = rng.choice(40, size=5_000, p=p / p.sum())
    names = [f"class_{c:02d}" for c in labels]
    path = tmp_path / "labels.parquet"
    pq.write_table(pa.table({"path": [f"img/{i}.jpg" for i in range(len(names))], "label": names}), path)
    index = read_table(path)
    return dataclasses.replace(index, targets=UntouchableTargets(len(index), index.targets.dtype))


def test_opening_a_table_shows_every_view_from_the_counts(qtbot, window, table_index):
    window.set_dataset(table_index)
    qtbot.wait(50)  # queued redraws: the tables and plots painted
    s = window.session
    assert s.index is table_index
    assert s.figures is not None and s.figures.draws == len(table_index)
    assert np.array_equal(s.figures.counts, table_index.counts)
    assert window.table_model.rowCount() == table_index.num_classes
    assert f"{len(table_index):,}" in window.summary.values["num_samples"].text()


@pytest.mark.parametrize("scheme", ["sqrt", "power:0.5", "effective:0.99", "none"])
def test_scheme_and_settings_edits_stay_per_class(qtbot, window, table_index, scheme):
    from balance_gui.core.weights import parse_scheme

    window.set_dataset(table_index)
    assert window.set_scheme(parse_scheme(scheme))
    window.sampler.num_samples.setValue(1_000)
    window.sampler.replacement.setChecked(False)
    qtbot.wait(50)
    s = window.session
    assert s.settings.num_samples == 1_000 and not s.settings.replacement
    assert s.figures is not None and s.figures.draws == 1_000 and not s.figures.replacement
    assert str(s.scheme) == scheme
    assert s.class_weights is not None and s.class_weights.shape == (table_index.num_classes,)
