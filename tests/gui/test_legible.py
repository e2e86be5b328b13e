"""Legible at any class count: 10,000 classes, compact ticks, tail count, search, linked selection, export."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from PySide6.QtCore import QPointF

from balance_gui.core.dataset import DatasetIndex
from balance_gui.gui.histogram import LARGE_CLASSES, compact_number, step_heights
from balance_gui.gui.summary import tail_text

from .conftest import open_and_wait
from .test_run import run_to_end, set_params

pytestmark = pytest.mark.timeout(120)


def make_index(counts, names=None) -> DatasetIndex:
    """A DatasetIndex built in memory (no 10,000 folders on disk): class c holds counts[c] images."""
    counts = np.asarray(counts, dtype=np.int64)
    names = tuple(names or (f"class_{i:05d}" for i in range(len(counts))))
    targets = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    paths = [f"{names[c]}/{i}.jpg".encode() + b"\0" for c in range(len(counts)) for i in range(counts[c])]
    starts = np.concatenate([[0], np.cumsum([len(p) for p in paths])]).astype(np.int64)
    targets.setflags(write=False)
    counts.setflags(write=False)
    return DatasetIndex(
        root="/data/long-tail",
        classes=names,
        class_to_idx={n: i for i, n in enumerate(names)},
        targets=targets,
        counts=counts,
        _paths_blob=b"".join(paths),
        _path_starts=starts,
    )


def long_tail(num_classes=10_000, head=2_000):
    ranks = np.arange(1, num_classes + 1)
    return np.maximum(1, np.round(head / ranks**0.9)).astype(np.int64)


def test_compact_numbers():
    assert [compact_number(v) for v in (2_000_000, 1_500, 999, 0, 0.25, 3e9)] == [
        "2M",
        "1.5k",
        "999",
        "0",
        "0.25",
        "3G",
    ]


def test_tail_text():
    assert tail_text([100, 50, 3, 2, 0]) == "2 classes with fewer than 5 images"
    assert tail_text([100, 50, 8]) == "1 class with fewer than 10 images"
    assert tail_text([2, 3]) == "2 classes with fewer than 5 images"  # every class is tail
    assert tail_text([500, 900]) == "0 classes with fewer than 100 images"


def test_ten_thousand_classes_head_and_tail_stay_visible(qtbot, window):
    counts = long_tail()
    window.set_dataset(make_index(counts))
    hist = window.histogram
    assert len(hist.classes) == 10_000 > LARGE_CLASSES
    # rank/frequency on a log scale: the 2,000-image head and the 1-image tail on one screen
    assert hist.sort_check.isChecked() and hist.log_check.isChecked()
    assert int(hist.order[0]) == 0 and counts[hist.order[-1]] == 1
    # more classes than pixels: bins, whose faint max reaches the head's 2,000 and the tail's 1
    window.resize(1200, 800)
    qtbot.waitUntil(lambda: hist.raw.bin > 1)
    _, maxima = step_heights(hist.raw.maxima)
    assert maxima[0] == pytest.approx(np.log10(2000)) and maxima[-1] == pytest.approx(0.0)
    assert "classes with fewer than" in window.summary.values["tail"].text()
    # the y axes are compact, and each plot has its own
    left = hist.raw_plot.getAxis("left")
    left.setLogMode(False)
    assert left.tickStrings([0, 1_000_000, 2_000_000], 1, 1_000_000) == ["0", "1M", "2M"]
    left.setLogMode(hist.log)
    assert hist.raw_plot.getAxis("left") is not hist.sampled_plot.getAxis("left")


def test_search_and_linked_selection(qtbot, window, small_tree):
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    window.search.setText("be")
    window.search.textEdited.emit("be")
    assert window.histogram.selected == 1
    rows = window.table.selectionModel().selectedRows()
    assert [window.table_model.class_at_row(r.row()) for r in rows] == [1]
    assert window.histogram.raw.highlight.isVisible() and window.histogram.raw.highlight.value() == 1
    assert window.find_class("zzz") is None and "No class name contains" in window.status_label.text()
    # a row selected in the table marks its bars
    window.table.selectRow(window.table_model.row_of_class(2))
    assert window.histogram.selected == 2 and window.histogram.sampled.highlight.value() == 2
    # a click on a bar selects its row
    window.resize(1200, 800)
    qtbot.waitUntil(lambda: window.histogram.raw_plot.getViewBox().width() > 100)
    vb = window.histogram.raw_plot.getViewBox()
    scene_pos = vb.mapViewToScene(QPointF(0.0, 1.0))
    assert window.histogram.class_at(scene_pos) == 0
    with qtbot.waitSignal(window.histogram.classClicked) as blocker:
        window.histogram.classClicked.emit(window.histogram.class_at(scene_pos))
    assert blocker.args == [0]
    rows = window.table.selectionModel().selectedRows()
    assert [window.table_model.class_at_row(r.row()) for r in rows] == [0]


def test_window_shrinks_to_1024x700_after_a_run(qtbot, window, tmp_path):
    from ..conftest import make_tree

    root = make_tree(tmp_path / "d", {"a_very_long_class_name_that_would_clip_a_narrow_panel_" * 2: 3, "b": 5})
    assert open_and_wait(qtbot, window, root) == "ok"
    set_params(window, num_samples=500)
    run_to_end(qtbot, window)
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.width() == 1024 and window.height() == 700)
    hint = window.minimumSizeHint()
    assert hint.width() <= 1024 and hint.height() <= 700
    # the stats line wraps rather than widening the window, and the left panel's controls fit
    # beside its scroll bar (it scrolls vertically, never clips sideways)
    assert window.histogram.figures_label.wordWrap()
    panel = window.left_panel
    assert panel.viewport().width() >= panel.widget().minimumSizeHint().width()


def test_exported_svg_has_title_legend_stats_and_renders_without_qt(qtbot, window, small_tree, tmp_path):
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    set_params(window, num_samples=3_000)
    run_to_end(qtbot, window)
    target = tmp_path / "plots.svg"
    with qtbot.waitSignal(window.plotsExported, timeout=20_000):
        window.export_plots_to(str(target))
    text = target.read_text()
    assert "scheme inverse" in text and "Red marks" in text and "TV distance" in text
    assert "vector-effect" not in text
    assert window.histogram.title_item.text == ""  # the caption is for the export only
    if shutil.which("rsvg-convert"):
        png = tmp_path / "plots.png"
        done = subprocess.run(["rsvg-convert", "-o", str(png), str(target)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        from PySide6.QtGui import QImage

        image = QImage(str(png))
        assert image.width() > 200 and image.height() > 100
        # the bars are drawn: some pixels carry the bar colour
        colours = {
            image.pixelColor(x, y).name() for x in range(0, image.width(), 4) for y in range(0, image.height(), 4)
        }
        assert len(colours) > 3


def test_help_lists_shortcuts_and_the_figures(qtbot, window):
    box = window.show_help()
    for word in ("chi", "TV distance", "Coverage", "Exp. sampled share", "Exp. uses", "Exp. distinct", "Ctrl+F"):
        assert word in box.text()
    box.close()
    assert window.find_action.shortcut().toString() == "Ctrl+F"


def test_class_names_turn_vertical_when_that_shows_more(qtbot):
    from balance_gui.gui.histogram import ClassAxis

    axis = ClassAxis()
    axis.set_names([f"a_long_class_name_{i}" for i in range(30)])
    ticks = axis.tickValues(-0.5, 29.5, 600)  # 20 px per class: flat names would need ~90 px each
    assert axis.rotated and ticks[0][1] == [float(i) for i in range(30)]
    ticks = axis.tickValues(-0.5, 2.5, 600)  # 200 px per class: they fit flat
    assert not axis.rotated and ticks[0][1] == [0.0, 1.0, 2.0]
