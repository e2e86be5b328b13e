"""The gallery over a big table (issue 17): a class's samples and first page of paths are found
in a worker, the paths read from the row groups holding them, never the whole path column."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from balance_gui.core import tables
from balance_gui.core.tables import PathLoader, TableIndex, read_table
from balance_gui.gui import gallery
from balance_gui.gui.gallery import PAGE, GalleryPanel

ROWS = 3000


@pytest.fixture
def table_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TableIndex:
    """A 3-class Parquet table in row groups of 500, whose whole-path-column read raises."""
    labels = [f"c{(i * 7) % 3}" for i in range(ROWS)]
    table = pa.table({"path": [f"img/{i:05d}.jpg" for i in range(ROWS)], "label": labels})
    path = str(tmp_path / "t.parquet")
    pq.write_table(table, path, row_group_size=500)
    index = read_table(path)

    def no_full_read(self: PathLoader) -> Any:
        raise AssertionError("the whole path column was read")

    monkeypatch.setattr(PathLoader, "load", no_full_read)
    return index


@pytest.fixture
def panel(qtbot: Any) -> Any:
    p = GalleryPanel(open_file=None, threads=1)
    qtbot.addWidget(p)
    p.resize(500, 400)
    p.show()
    yield p
    assert p.shutdown(timeout_s=30)


def expected_paths(index: TableIndex, c: int) -> list[str]:
    return [f"{index.root}/img/{i:05d}.jpg" for i in np.flatnonzero(np.asarray(index.targets) == c)]


@pytest.mark.parametrize("in_worker", [True, False])
def test_a_class_of_a_table_fills_without_reading_the_whole_path_column(
    qtbot: Any, panel: Any, table_index: TableIndex, in_worker: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if in_worker:
        panel.sync_samples = 0  # as a table of more than a million rows
    with qtbot.waitSignal(panel.filled, timeout=10_000):
        panel.set_class(table_index, 1)
        if in_worker:
            assert "loading" in panel.caption.text() and panel.model.rowCount() == 0
    want = expected_paths(table_index, 1)
    assert panel.model.rowCount() == len(want) > PAGE
    assert panel.caption.text() == f"c1: {len(want):,} images"
    if in_worker:  # the rows the view asks for as it lays out (the first page, the last) read nothing more
        with monkeypatch.context() as m:
            m.setattr(tables, "_read_chunk", lambda *a: pytest.fail("a path read on the GUI thread"))
            rows = [0, PAGE - 1, len(want) - 1]
            assert [panel.model.path(r) for r in rows] == [want[r] for r in rows]
    rows = [0, 1, PAGE - 1, PAGE, len(want) - 1]  # the worker's page, and rows past it
    assert [panel.model.path(r) for r in rows] == [want[r] for r in rows]


def test_the_last_of_two_quick_clicks_is_shown(
    qtbot: Any, panel: Any, table_index: TableIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = gallery.class_page
    threads: list[int] = []

    def slow_first(index: Any, c: int, *args: Any) -> Any:
        threads.append(threading.get_ident())
        if c == 0:
            time.sleep(0.5)  # the older click's result arrives last
        return real(index, c, *args)

    monkeypatch.setattr(gallery, "class_page", slow_first)
    panel.sync_samples = 0
    with qtbot.waitSignal(panel.filled, timeout=10_000):
        panel.set_class(table_index, 0)
        panel.set_class(table_index, 2)
    qtbot.waitUntil(lambda: panel._runner.alive == 0, timeout=10_000)  # the older one has ended too
    qtbot.wait(50)
    want = expected_paths(table_index, 2)
    assert panel.class_index == 2
    assert panel.caption.text() == f"c2: {len(want):,} images"
    assert panel.model.rowCount() == len(want)
    assert [panel.model.path(r) for r in (0, len(want) - 1)] == [want[0], want[-1]]
    assert len(threads) == 2 and threading.get_ident() not in threads  # both ran off the GUI thread
