"""TableIndex.paths_of: the paths of a few rows read from the row groups / record batches that
hold them, equal to the whole path column's read, without reading that column."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from balance_gui.core import tables
from balance_gui.core.errors import DatasetError
from balance_gui.core.tables import PathLoader, read_table

ROWS = 5000


def _table() -> pa.Table:
    labels = [None if i % 7 == 3 else f"c{i % 3}" for i in range(ROWS)]  # some null labels, dropped
    return pa.table({"path": [f"d{i % 11}/img_{i}.jpg" for i in range(ROWS)], "label": labels})


def _write(folder: Path, kind: str) -> str:
    if kind == "parquet":
        path = os.path.join(folder, "t.parquet")
        pq.write_table(_table(), path, row_group_size=700)
        assert pq.ParquetFile(path).metadata.num_row_groups > 5
    else:
        path = os.path.join(folder, "t.feather")
        feather.write_feather(_table(), path, chunksize=600, compression="uncompressed")
        assert pa.ipc.open_file(pa.memory_map(path)).num_record_batches > 5
    return path


@pytest.mark.parametrize("kind", ["parquet", "feather"])
def test_paths_of_random_rows_equal_the_full_read_and_read_fewer_rows(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, kind)
    full = read_table(path, drop_null=True).relative_paths()  # the whole column, a separate index
    index = read_table(path, drop_null=True)
    assert index.dropped_rows > 0 and len(full) == len(index)

    read_rows: list[int] = []
    real = tables._read_chunk

    def counting(part: Any, chunk: int, column: str) -> pa.Array:
        col = real(part, chunk, column)
        read_rows.append(len(col))
        return col

    def no_full_read(self: PathLoader) -> Any:
        raise AssertionError("the whole path column was read")

    monkeypatch.setattr(tables, "_read_chunk", counting)
    monkeypatch.setattr(PathLoader, "load", no_full_read)
    rng = np.random.default_rng(7)
    samples = np.concatenate([rng.integers(0, len(index), 4), [0, len(index) - 1]])  # 6 chunks at most
    assert index.paths_of(samples) == [full[i] for i in samples]
    assert [index.relative_path(int(i)) for i in samples[:5]] == [full[i] for i in samples[:5]]
    assert 0 < sum(read_rows) < ROWS


def test_paths_of_parquet_reads_only_the_row_groups_holding_the_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, "parquet")
    full = read_table(path, drop_null=True).relative_paths()
    index = read_table(path, drop_null=True)
    groups: list[int] = []
    real = pq.ParquetFile.read_row_group

    def counting(self: pq.ParquetFile, i: int, *args: Any, **kwargs: Any) -> pa.Table:
        groups.append(i)
        return real(self, i, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", counting)
    assert index.paths_of([1, 2, 650]) == [full[1], full[2], full[650]]
    assert full[650] == "d10/img_758.jpg"  # 108 rows of the first 758 have no label: the second row group
    assert sorted(groups) == [0, 1]


def test_paths_of_a_changed_table_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "feather")
    index = read_table(path, drop_null=True)
    feather.write_feather(_table().slice(0, 100), path)
    with pytest.raises(DatasetError, match="changed since it was opened"):
        index.paths_of([0])


def test_paths_of_after_the_full_read_and_out_of_range(tmp_path: Path) -> None:
    path = _write(tmp_path, "parquet")
    index = read_table(path, drop_null=True)
    with pytest.raises(IndexError):
        index.paths_of([ROWS])
    everything = index.relative_paths()
    assert index.paths_of([3, -1]) == [everything[3], everything[-1]]
