"""A table's class counts are summed batch by batch while it is read (issue 17).

One np.bincount over a whole 100M-row targets column holds the GIL for ~0.4 s (numpy never
releases it there): the scan runs in a worker thread, and the GUI thread waited that long behind
it. The counts must still be those of the targets, for text labels and for a ClassLabel's indices.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from balance_gui.core import tables
from balance_gui.core.tables import BATCH_ROWS, index_from_parts, part_of, read_table

ROWS = 2 * BATCH_ROWS + 1234  # three batches


@pytest.fixture
def biggest_bincount(monkeypatch):
    """The longest array np.bincount is handed while the test runs."""
    seen = [0]
    real = np.bincount

    def spy(x, *args, **kwargs):
        seen[0] = max(seen[0], len(x))
        return real(x, *args, **kwargs)

    monkeypatch.setattr(tables.np, "bincount", spy)
    return seen


def _labels() -> np.ndarray:
    rng = np.random.default_rng(7)
    p = 1.0 / np.arange(1, 31) ** 1.2
    return rng.choice(30, size=ROWS, p=p / p.sum())


def test_text_labels_are_counted_per_batch(tmp_path, biggest_bincount):
    labels = _labels()
    labels[labels == 29] = 28  # a class no row uses keeps no count: classes are the labels seen
    path = tmp_path / "t.parquet"
    table = pa.table({"path": [f"{i}.jpg" for i in range(ROWS)], "label": [f"c{v:02d}" for v in labels]})
    pq.write_table(table, path, row_group_size=BATCH_ROWS)
    index = read_table(path)
    assert biggest_bincount[0] <= BATCH_ROWS
    assert index.classes == tuple(f"c{v:02d}" for v in range(29))
    assert np.array_equal(index.counts, np.bincount(index.targets, minlength=29))
    assert np.array_equal(index.counts, np.bincount(labels, minlength=29)[:29])
    assert index.counts.dtype == np.int64 and not index.counts.flags.writeable


def test_class_label_indices_are_counted_per_batch(tmp_path, biggest_bincount):
    labels = _labels()
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"label": pa.array(labels, pa.int64())}), path, row_group_size=BATCH_ROWS)
    names = [f"name{k}" for k in range(40)]  # ten names no row uses: counted 0
    index = index_from_parts(
        [part_of(str(path))],
        source=str(path),
        root=str(tmp_path),
        label_column="label",
        path_column=None,
        class_names=names,
    )
    assert biggest_bincount[0] <= BATCH_ROWS
    assert index.classes == tuple(names)
    assert np.array_equal(index.counts, np.bincount(labels, minlength=40))
    assert index.counts.dtype == np.int64
