"""The window tells the truth in every mode: one session model, the mode's figures, no stale state."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from balance_gui.cli import main as cli_main
from balance_gui.core.errors import WeightsError
from balance_gui.core.expected import class_figures, distinct_cycled
from balance_gui.core.sampler import BalancedBatchSampler
from balance_gui.core.weights import Scheme, class_weights
from balance_gui.gui.class_table import COL
from balance_gui.gui.session import RunState

from ..conftest import make_tree
from .conftest import open_and_wait
from .test_run import run_to_end, set_params

pytestmark = pytest.mark.timeout(120)


def table_column(window, key):
    return np.asarray(window.table_model.column_values(key), dtype=np.float64)


def test_without_replacement_table_plot_and_stats_use_the_race_law(qtbot, window, tmp_path):
    root = make_tree(tmp_path / "d", {"big": 99, "one": 1})
    assert open_and_wait(qtbot, window, root) == "ok"
    set_params(window, num_samples=50, epochs=40, replacement=False, seed=3)
    figs = class_figures([99, 1], class_weights([99, 1], "inverse"), 50, replacement=False)
    np.testing.assert_allclose(table_column(window, "expected_uses"), figs.expected_uses_per_image, rtol=1e-12)
    np.testing.assert_allclose(table_column(window, "expected_share"), figs.expected_shares, rtol=1e-12)
    np.testing.assert_allclose(table_column(window, "expected_distinct"), figs.expected_distinct, rtol=1e-12)
    assert table_column(window, "expected_uses")[1] <= 1.0  # a 1-image class is drawn at most once (was 25)
    step = run_to_end(qtbot, window)
    np.testing.assert_allclose(step.expected_shares, figs.expected_shares, rtol=1e-9)
    _, marks = window.histogram.sampled.marks.getData()
    np.testing.assert_allclose(marks[0::2], figs.expected_shares * 2000, rtol=1e-9)
    # a correct sampler is not flagged (the with-replacement law gave p = 0 here)
    assert step.p_value > 1e-3
    assert "without replacement" in window.histogram.figures_label.text()


def test_class_aware_distinct_in_the_table(qtbot, window, small_tree):
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    set_params(window, num_samples=30, mode="class_aware")
    counts = np.array([40, 10, 2])
    w = class_weights(counts, "inverse")
    p = counts * w / (counts * w).sum()
    np.testing.assert_allclose(table_column(window, "expected_distinct"), distinct_cycled(counts, p, 30), rtol=1e-12)


def test_one_image_one_draw_is_always_seen(qtbot, window, tmp_path):
    root = make_tree(tmp_path / "solo", {"only": 1})
    assert open_and_wait(qtbot, window, root) == "ok"
    set_params(window, num_samples=1)
    assert table_column(window, "expected_distinct")[0] == 1.0  # the approximation said 0.63


def test_reopening_resets_every_run_view(qtbot, window, small_tree, tmp_path):
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    set_params(window, num_samples=5000)
    run_to_end(qtbot, window)
    assert window.histogram.figures_label.text() and window.table_model.column_values("observed_distinct") is not None
    other = make_tree(tmp_path / "other", {"x": 4, "y": 6})
    assert open_and_wait(qtbot, window, other) == "ok"
    assert window.last_step is None
    assert window.histogram.figures_label.text() == ""
    assert window.sampler.progress.value() == 0 and window.sampler.progress.format() == "idle"
    assert window.table_model.column_values("observed_distinct") is None
    assert window.table_model.data(window.table_model.index(0, COL["observed_distinct"])) == ""
    assert window.coverage.seen is None or not np.any(window.coverage.seen)
    np.testing.assert_array_equal(window.histogram.sampled_heights_by_class(), [0, 0])


def test_scheme_change_keeps_the_users_sort_and_no_indicator_means_class_order(qtbot, window, small_tree):
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    model, header = window.table_model, window.table.horizontalHeader()
    assert header.sortIndicatorSection() in (-1, len(COL)) or model._sort is None
    assert [model.class_at_row(r) for r in range(3)] == [0, 1, 2]  # no sort: class-index order
    window.table.sortByColumn(COL["count"], Qt.SortOrder.AscendingOrder)
    assert [model.class_at_row(r) for r in range(3)] == [2, 1, 0]
    assert window.set_scheme(Scheme("sqrt"))
    assert [model.class_at_row(r) for r in range(3)] == [2, 1, 0]
    assert header.sortIndicatorSection() == COL["count"]
    model.sort(-1)
    assert [model.class_at_row(r) for r in range(3)] == [0, 1, 2]


def test_mid_run_edits_are_refused(qtbot, window, small_tree):
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    set_params(window, num_samples=2_000_000_000)
    before = window.class_w.copy()
    qtbot.mouseClick(window.sampler.start_button, Qt.MouseButton.LeftButton)
    assert window.running and window.session.state is RunState.RUNNING
    assert not window.scheme_picker.isEnabled()
    weight_cell = window.table_model.index(0, COL["weight"])
    assert not window.table_model.flags(weight_cell) & Qt.ItemFlag.ItemIsEditable
    assert not window.set_scheme(Scheme("sqrt"))
    assert "stop the run" in window.scheme_picker.error.text()
    window._weight_edited(0, 5.0)
    assert "stop the run" in (window.last_error or "")
    np.testing.assert_array_equal(window.class_w, before)
    assert window.scheme.name == "inverse"
    with qtbot.waitSignal(window.runEnded, timeout=30_000):
        window.stop_run()
    assert window.scheme_picker.isEnabled() and window.set_scheme(Scheme("sqrt"))


def _arrays_in(obj, depth=2, seen=None):
    """Every numpy array reachable from ``obj``'s attributes (and their attributes, to ``depth``)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth < 0:
        return
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        yield obj
        return
    if isinstance(obj, dict):
        values = list(obj.values())
    elif isinstance(obj, (list, tuple, set)):
        values = list(obj)
    else:
        values = list(getattr(obj, "__dict__", {}).values())
    for v in values:
        yield from _arrays_in(v, depth - 1, seen)


def test_views_hold_no_copy_of_the_weights(qtbot, window, small_tree):
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    window._weight_edited(0, 3.14159)
    window._weight_edited(1, 2.71828)
    w = window.session.class_weights
    np.testing.assert_allclose(w, [3.14159, 2.71828, w[2]])
    views = [
        window.table_model,
        window.table,
        window.histogram,
        window.histogram.raw,
        window.histogram.sampled,
        window.coverage,
        window.scheme_picker,
        window.summary,
        window.sampler,
    ]
    for view in views:
        for a in _arrays_in(view):
            if a.size and a.dtype.kind == "f" and np.isin([3.14159, 2.71828], a).all():
                assert np.shares_memory(a, w), f"{type(view).__name__} keeps a copy of the weights"
    assert window.scheme_picker.scheme().custom is None  # the picker does not keep custom weights either
    # the table reads through: a new weight shows with no call to the table
    window.session.set_class_weight(2, 7.5)
    assert window.table_model.data(window.table_model.index(2, COL["weight"])) == "7.5"
    with pytest.raises(ValueError, match="read-only"):
        window.session.class_weights[0] = 1.0


SNIPPET_RUNNER = """
import json, sys
snippet = open(sys.argv[1]).read()
namespace = {}
exec(compile(snippet, "<snippet>", "exec"), namespace)
print(json.dumps({
    "classes": namespace["dataset"].classes,
    "n": len(namespace["dataset"]),
    "batches": [list(map(int, b)) for b in namespace["sampler"]],
}))
"""


@pytest.mark.timeout(180)
def test_training_snippet_runs_for_real_on_a_dataset_with_an_empty_class(qtbot, window, tmp_path):
    root = make_tree(tmp_path / "d", {"ant": 6, "bee": 0, "cat": 3})
    assert open_and_wait(qtbot, window, root) == "ok"
    set_params(window, num_samples=24, seed=7, batch_size=4, mode="class_aware")
    path = str(tmp_path / "w.pt")
    with qtbot.waitSignal(window.weightsExported, timeout=60_000):
        window.export_weights_to(path)
    dialog = window.show_training_dialog()
    qtbot.addWidget(dialog)
    snippet = dialog.text.toPlainText()
    assert not dialog.warning.isVisible()
    assert "allow_empty=True" in snippet and "manual_seed(7)" in snippet and "mode='class_aware'" in snippet
    script = tmp_path / "snippet.py"
    script.write_text(snippet)
    runner = tmp_path / "run_snippet.py"
    runner.write_text(SNIPPET_RUNNER)
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    done = subprocess.run([sys.executable, str(runner), str(script)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["classes"] == ["ant", "bee", "cat"] and out["n"] == 9
    index = window.index
    expect = BalancedBatchSampler(
        targets=index.targets,
        class_weights=class_weights(index.counts, "inverse"),
        num_samples=24,
        mode="class_aware",
        batch_size=4,
        generator=torch.Generator().manual_seed(7),
    )
    assert out["batches"] == [list(map(int, b)) for b in expect]  # the app's settings, the same draws
    # after a scheme change the dialog warns that the file is stale
    assert window.set_scheme(Scheme("sqrt"))
    assert dialog.warning.isVisible() and "scheme inverse" in dialog.warning.text()
    dialog.close()


def test_error_boundary_user_errors_in_one_line_bugs_with_traceback(qtbot, window):
    try:
        raise WeightsError("class 'a' has weight -1.0")
    except WeightsError as e:
        window.report_exception("Bad", e)
    user_box = window.findChild(QMessageBox, "error_box")
    assert user_box.text() == "class 'a' has weight -1.0" and user_box.detailedText() == ""
    user_box.close()
    try:
        raise KeyError("internal")
    except KeyError as e:
        window.report_exception("Oops", e)
    boxes = [b for b in window.findChildren(QMessageBox, "error_box") if b.detailedText()]
    assert boxes and "Traceback" in boxes[0].detailedText() and "KeyError" in boxes[0].detailedText()
    assert "bug" in boxes[0].text()
    for b in window.findChildren(QMessageBox):
        b.close()


def test_bad_gui_path_exits_2(capsys, tmp_path):
    assert cli_main([str(tmp_path / "missing")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "f.txt").write_text("x")
    assert cli_main([str(tmp_path / "f.txt")]) == 2


def test_help_and_about_show_the_version(qtbot, window):
    from balance_gui import __version__

    box = window.show_help()
    assert "TV distance" in box.text() and "Exp. distinct" in box.text() and "F5" in box.text()
    box.close()
    about = window.show_about()
    assert __version__ and f"balance-gui {__version__}" in about.text()
    about.close()
