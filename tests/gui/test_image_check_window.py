"""A copy kept in the real window's Problems tab reaches the session and every view of the counts:
the class table's Usable column, the summary's N, the dataset plot, the weights, and the gallery's
marks; refused mid-run, the panel goes back to what the session holds."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from balance_gui.core.weights import class_weights
from balance_gui.gui.class_table import COL
from balance_gui.gui.gallery import BADGE_EXCLUDED, BADGE_ROLE
from balance_gui.gui.session import RunState

from .conftest import open_and_wait
from .test_wiring import health_tree, run_check  # noqa: F401  (the fixture)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def conflict_row(panel) -> int:
    model = panel.model
    return next(r for r in range(model.rowCount()) if model.index(r, 0).data() == "label conflict")


def test_a_kept_copy_reaches_every_view(qtbot, window, health_tree):  # noqa: F811
    """health_tree: ant/a1.png and bee/z_copy.png are one picture (a label conflict)."""
    assert open_and_wait(qtbot, window, health_tree) == "ok"
    assert run_check(qtbot, window) == "ok"
    window.usable_check.setChecked(True)
    s = window.session
    np.testing.assert_array_equal(s.counts, [3, 2, 2])
    panel = window.problems
    row = conflict_row(panel)
    assert panel.model.index(row, 3).data() == "none"

    panel.select_row(row, copy=1)  # bee/z_copy.png: its bee label is the right one
    assert panel.model.path(panel.list.currentIndex()) == "bee/z_copy.png"
    qtbot.mouseClick(panel.keep_button, Qt.MouseButton.LeftButton)
    np.testing.assert_array_equal(s.counts, [3, 3, 2])
    np.testing.assert_allclose(s.class_weights, class_weights([3, 3, 2], "inverse"))
    np.testing.assert_array_equal(window.table_model.column_values("usable"), [3, 3, 2])
    assert window.table_model.index(window.table_model.row_of_class(1), COL["usable"]).data() == "3"
    assert window.summary.values["num_samples"].text() == "8 usable of 11"
    np.testing.assert_array_equal(window.histogram.raw_heights_by_class(), [3, 3, 2])
    assert panel.model.index(row, 3).data() == "1 of 2 (your choice)"  # the row stays, marked
    assert panel.list.currentIndex().row() == 1  # and the selection with it

    window.select_class(1)  # bee in the gallery: the kept copy has no badge now
    gallery = window.gallery
    names = {gallery.model.path(r).rsplit("/", 1)[-1]: r for r in range(gallery.model.rowCount())}
    assert gallery.model.index(names["z_copy.png"]).data(BADGE_ROLE) is None
    window.select_class(0)
    names = {gallery.model.path(r).rsplit("/", 1)[-1]: r for r in range(gallery.model.rowCount())}
    assert gallery.model.index(names["a1.png"]).data(BADGE_ROLE) == BADGE_EXCLUDED


def test_a_choice_refused_mid_run_leaves_the_panel_as_the_session_is(qtbot, window, health_tree):  # noqa: F811
    assert open_and_wait(qtbot, window, health_tree) == "ok"
    assert run_check(qtbot, window) == "ok"
    s = window.session
    before = s.check
    panel = window.problems
    row = conflict_row(panel)
    s.set_state(RunState.RUNNING)  # as a run does
    try:
        panel.select_row(row, copy=0)
        panel.keep_selected()
        assert s.check is before
        assert "stop the run" in window.status_label.text()
        assert panel.model.index(row, 3).data() == "none"  # the panel shows what the session holds
        np.testing.assert_array_equal(panel.result.usable_mask, before.usable_mask)
    finally:
        s.set_state(RunState.IDLE)
