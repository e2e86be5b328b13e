"""Multi-label runs in the window (issue 16): the dataset plots keep their own scale, the class table
shows the run's sampled images and instances per class, and the toolbar opens annotation files."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from balance_gui.core.annotations import read_coco
from balance_gui.core.image_sampling import simulate_image_level
from balance_gui.core.weights import Scheme
from balance_gui.gui.class_table import COL, MULTI_LABEL_ONLY, SORT_ROLE

from .conftest import open_and_wait
from .test_annotations_gui import coco_file  # noqa: F401 - the fixture
from .test_run import run_to_end, set_params

pytestmark = pytest.mark.timeout(120)


def _y_range(plot):
    vb = plot.getViewBox()
    vb.updateAutoRange()  # what the next paint does: the range the user sees
    return vb.viewRange()[1]


def test_dataset_plots_keep_their_scale_under_many_draws_per_epoch(qtbot, window, coco_file):  # noqa: F811
    assert open_and_wait(qtbot, window, coco_file) == "ok"
    assert window.set_scheme(Scheme("inverse"))
    set_params(window, num_samples=1_000_000, epochs=1)
    plots = window.multilabel_plots
    index = read_coco(coco_file)
    expected = window.session.image_figures
    assert expected.draws == 1_000_000 and expected.images.max() > 1000 * max(index.counts)
    for plot, series, counts in (
        (plots.images_plot, plots.images, index.counts),
        (plots.instances_plot, plots.instances, index.instances),
    ):
        low, high = _y_range(plot)
        assert series.expected is None  # no marks on the dataset's own plot
        assert low <= 0 and max(counts) <= high < 2 * max(counts)  # the bars fill the plot
    # the expected figures are marked on the per-epoch plots, whose range covers them
    np.testing.assert_allclose(plots.expected_marks_by_class(), expected.images)
    assert _y_range(plots.sampled_images_plot)[1] >= expected.images.max()
    assert _y_range(plots.sampled_instances_plot)[1] >= expected.instances.max()


def test_class_table_shows_the_runs_sampled_images_and_instances(qtbot, window, coco_file):  # noqa: F811
    assert open_and_wait(qtbot, window, coco_file) == "ok"
    model, table = window.table_model, window.table
    for key in MULTI_LABEL_ONLY:
        assert not table.isColumnHidden(COL[key]), key
    assert model.column_values("sampled_images") is None  # blank until a run
    assert model.data(model.index(0, COL["sampled_instances"])) == ""
    assert window.set_scheme(Scheme("rfs", 0.5))
    set_params(window, num_samples=8, epochs=40, seed=3)
    run = run_to_end(qtbot, window)
    direct = simulate_image_level(read_coco(coco_file), "rfs:0.5", epochs=40, seed=3)
    np.testing.assert_array_equal(model.column_values("sampled_images"), direct.sampled.images)
    np.testing.assert_array_equal(model.column_values("sampled_instances"), direct.sampled.instances)
    np.testing.assert_allclose(model.column_values("expected_images"), run.expected.images)
    np.testing.assert_allclose(model.column_values("expected_instances"), run.expected.instances)
    row = model.row_of_class(0)
    assert model.data(model.index(row, COL["sampled_instances"])) == f"{direct.sampled.instances[0]:,.1f}"
    assert model.data(model.index(row, COL["sampled_images"]), SORT_ROLE) == direct.sampled.images[0]
    # sorted by sampled instances, most first
    table.sortByColumn(COL["sampled_instances"], Qt.SortOrder.DescendingOrder)
    shown = [model.class_at_row(r) for r in range(model.rowCount())]
    assert list(direct.sampled.instances[shown]) == sorted(direct.sampled.instances, reverse=True)
    # a cleared run (a new dataset, new settings) blanks them
    window.session.clear_step()
    assert model.column_values("sampled_images") is None


def test_toolbar_opens_files_as_the_file_menu_does(window):
    file_menu = window.menuBar().actions()[0].menu()
    for action, text in ((window.open_action, "Open Folder"), (window.open_manifest_action, "Open File")):
        assert action in window.toolbar.actions() and action in file_menu.actions()
        assert action.iconText() == text
    assert "COCO" in window.open_manifest_action.toolTip()
