"""The GUI is consistent after every action (issue 15): "Weights on usable images" reaches every view
and the exported file's staleness, opening another dataset resets every view, the scheme hint is the
scheme's own, impossible settings are not offered, and numbers are legible."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox

from balance_gui.core.expected import class_figures
from balance_gui.gui.class_table import COL
from balance_gui.gui.numbers import percent

from ..conftest import make_tree
from .conftest import open_and_wait
from .test_run import set_params
from .test_wiring import cache_in_tmp, health_tree, run_check  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(120)


# ---------------------------------------------------------------- 1. weights on usable images everywhere


def test_usable_images_reach_every_view(qtbot, window, health_tree):  # noqa: F811
    """health_tree: 11 files, 7 usable (ant 3 of 6, bee 2 of 3, cat 2 of 2)."""
    assert open_and_wait(qtbot, window, health_tree) == "ok"
    assert run_check(qtbot, window) == "ok"
    assert window.sampler.num_samples.value() == 11
    assert window.summary.values["num_samples"].text() == "11"
    np.testing.assert_array_equal(window.histogram.raw_heights_by_class(), [6, 3, 2])

    window.usable_check.setChecked(True)
    s = window.session
    assert window.summary.values["num_samples"].text() == "7 usable of 11"
    np.testing.assert_array_equal(window.histogram.raw_heights_by_class(), [3, 2, 2])
    assert "usable" in window.histogram.raw_title
    assert window.sampler.num_samples.value() == 7 and s.settings.num_samples == 7  # N usable, not N files
    uses = class_figures([3, 2, 2], s.class_weights, 7).expected_uses_per_image
    np.testing.assert_allclose(window.table_model.column_values("expected_uses"), uses)
    assert "7 of 11 images" in window.status_label.text()

    window.usable_check.setChecked(False)
    assert window.summary.values["num_samples"].text() == "11"
    assert "usable" not in window.histogram.raw_title
    assert window.sampler.num_samples.value() == 11
    np.testing.assert_array_equal(window.histogram.raw_heights_by_class(), [6, 3, 2])


def test_empty_class_count_follows_the_usable_counts(qtbot, window, tmp_path):
    """A class whose only file is corrupt is empty once the weights are on usable images."""
    from ..test_images import image_bytes, write

    root = tmp_path / "emptied"
    write(root, "a/a0.png", image_bytes(1))
    write(root, "a/a1.png", image_bytes(2))
    write(root, "b/broken.jpg", b"not a jpeg")
    assert open_and_wait(qtbot, window, root) == "ok"
    assert run_check(qtbot, window) == "ok"
    assert window.summary.values["empty_classes"].text() == "0"
    window.usable_check.setChecked(True)
    assert window.summary.values["empty_classes"].text() == "1"


def test_toggling_usable_marks_the_exported_file_out_of_date(qtbot, window, health_tree, tmp_path):  # noqa: F811
    """Scheme 'none': the class weights do not change with the usable counts, only the excluded files."""
    assert open_and_wait(qtbot, window, health_tree) == "ok"
    assert run_check(qtbot, window) == "ok"
    assert window.set_scheme(window.scheme_picker.scheme().__class__("none"))
    with qtbot.waitSignal(window.weightsExported, timeout=30_000):
        window.export_weights_to(str(tmp_path / "w.pt"))
    assert not window.session.export_stale
    window.usable_check.setChecked(True)
    assert window.session.export_stale
    assert "out of date" in window._stale_text() and "w.pt" in window.status_label.text()
    window.usable_check.setChecked(False)
    assert not window.session.export_stale


# ---------------------------------------------------------------- 2. opening another dataset resets every view


def test_opening_another_dataset_resets_every_view(qtbot, window, tmp_path):
    big = make_tree(tmp_path / "big", {f"c{i:03d}": 1 + (i % 7) ** 3 for i in range(400)})
    small = make_tree(tmp_path / "small", {f"k{i}": 2 + i for i in range(12)})
    assert open_and_wait(qtbot, window, big) == "ok"
    # more than 300 classes spanning two decades: sorted, log scale, and the menu says so
    assert window.histogram.sort_check.isChecked() and window.histogram.log
    assert window.sort_action.isChecked() and window.log_action.isChecked()
    window.coverage.plot.getViewBox().setXRange(100, 150, padding=0)
    window.search.setText("c39")
    window.find_class("c399")
    assert window.histogram.raw.highlight.isVisible()

    assert open_and_wait(qtbot, window, small) == "ok"
    assert not window.histogram.sort_check.isChecked() and not window.histogram.log
    assert not window.sort_action.isChecked() and not window.log_action.isChecked()
    lo, hi = window.coverage.plot.getViewBox().viewRange()[0]
    assert lo < 0 and 11 <= hi < 13
    assert window.search.text() == ""
    assert window.histogram.selected is None and not window.histogram.raw.highlight.isVisible()


@pytest.mark.parametrize("answer", [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Open])
def test_opening_asks_before_discarding_a_running_job(qtbot, window, tmp_path, monkeypatch, answer):
    first = make_tree(tmp_path / "first", {"a": 5, "b": 3})
    second = make_tree(tmp_path / "second", {"x": 2, "y": 2, "z": 2})
    assert open_and_wait(qtbot, window, first) == "ok"
    asked = []

    def question(parent, title, text, *args):
        asked.append(text)
        return answer

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    set_params(window, num_samples=2_000_000_000)
    window.start_run()
    assert window.running
    if answer == QMessageBox.StandardButton.Cancel:
        window.open_path(str(second))
        assert asked and "sampler run" in asked[0]
        assert window.running and not window.scanning and window.index.classes == ("a", "b")
        # the window fixture's shutdown stops the run
    else:
        assert open_and_wait(qtbot, window, second) == "ok"
        assert asked and window.index.classes == ("x", "y", "z")
        qtbot.waitUntil(lambda: not window.running, timeout=30_000)  # the old run was cancelled


# ---------------------------------------------------------------- 3. the scheme hint


def test_scheme_hint_is_the_schemes_own_and_says_when_weights_do_nothing(qtbot, window, small_tree):
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    from balance_gui.core.weights import Scheme

    window.set_scheme(Scheme("sqrt"))
    hint = window.scheme_picker.hint.text()
    s = window.session
    c = int(np.argmax(s.counts))
    assert f"sqrt weight {s.class_weights[c]:.4g}" in hint and percent(s.figures.expected_shares[c]) in hint
    assert "inverse weight" not in hint
    window.set_scheme(Scheme("power", 0.3))
    assert "power:0.3 weight" in window.scheme_picker.hint.text()
    # without replacement, drawing all N images: every image once, whatever the weights
    set_params(window, num_samples=len(window.index), replacement=False)
    assert "no effect" in window.scheme_picker.hint.text()
    set_params(window, num_samples=len(window.index) - 1, replacement=False)
    assert "no effect" not in window.scheme_picker.hint.text()


# ---------------------------------------------------------------- 4. impossible settings are not offered


def test_settings_that_cannot_work_are_not_offered(qtbot, window):
    p = window.sampler
    set_params(window, num_samples=10, mode="weighted", replacement=False)
    for mode in ("class_aware", "stratified"):
        assert not p.offered(p.mode, mode)
        assert "replacement" in p.mode.itemData(p.mode.findData(mode), 3)  # its tooltip says why
    p.replacement.setChecked(True)
    assert p.offered(p.mode, "class_aware") and p.offered(p.mode, "stratified")
    p.mode.setCurrentIndex(p.mode.findData("stratified"))
    assert not p.replacement.isEnabled() and "with replacement" in p.replacement.toolTip()
    assert not p.offered(p.implementation, "torch") and "only draws by weight" in p.implementation.toolTip()
    p.mode.setCurrentIndex(p.mode.findData("weighted"))
    p.implementation.setCurrentIndex(p.implementation.findData("torch"))
    assert p.replacement.isEnabled()
    assert not p.offered(p.mode, "class_aware") and "WeightedRandomSampler" in p.mode.toolTip()


def test_every_sampler_control_has_a_tooltip(window):
    p = window.sampler
    for w in (p.num_samples, p.epochs, p.replacement, p.batch_size, p.seed, p.device, p.mode, p.implementation):
        assert w.toolTip(), w.objectName()
    for b in (p.start_button, p.pause_button, p.stop_button, p.progress):
        assert b.toolTip(), b.objectName()


# ---------------------------------------------------------------- 5. legible everywhere


def test_small_shares_keep_their_digits(qtbot, window, tmp_path):
    assert percent(4e-6) == "0.0004%" and percent(0.5) == "50.00%" and percent(0) == "0%"
    root = make_tree(tmp_path / "tiny", {"huge": 2500, "one": 1})
    assert open_and_wait(qtbot, window, root) == "ok"
    row = window.table_model.row_of_class(1)
    assert window.table_model.index(row, COL["share"]).data() == percent(1 / 2501) == "0.04%"
    assert "images: 1 (0.04%)" in window.histogram.hover_text(1, sampled=False)


def test_help_scrolls_on_a_1280x800_screen(qtbot, window):
    window.resize(1280, 800)
    box = window.show_help()
    try:
        assert box.height() <= 800 and box.width() <= 1280
        assert box.browser.verticalScrollBar().maximum() > 0 or box.browser.document().size().height() < 700
        assert "TV distance" in box.text()
    finally:
        box.close()


def test_first_and_last_class_names_are_on_the_axis(qtbot, window, tmp_path):
    root = make_tree(tmp_path / "names", {f"class_{i:04d}": 3 for i in range(1237)})
    assert open_and_wait(qtbot, window, root) == "ok"
    axis = window.histogram.raw_plot.getAxis("bottom")
    lo, hi = window.histogram.raw_plot.getViewBox().viewRange()[0]
    ticks = axis.tickValues(lo, hi, 600)[0][1]
    assert ticks[0] == 0.0 and ticks[-1] == 1236.0
    stride = axis.tickValues(lo, hi, 600)[0][0]
    assert min(np.diff(ticks)) >= stride  # no name overlaps the first or the last
    assert window.summary.values["num_classes"].text() == "1,237"


def test_first_and_last_class_names_are_drawn_inside_the_axis_without_overlaps(qtbot, window, tmp_path):
    # tickValues named the ends, but pyqtgraph hid any name that overflowed the axis: the first and
    # last (centred on the axis' ends) were never drawn, and the names next to them were dropped.
    from PySide6.QtGui import QImage, QPainter

    root = make_tree(tmp_path / "names", {f"class_{i:04d}": 3 for i in range(1237)})
    assert open_and_wait(qtbot, window, root) == "ok"
    window.resize(1280, 800)
    qtbot.wait(50)
    for plot in (window.histogram.raw_plot, window.histogram.sampled_plot):
        axis = plot.getAxis("bottom")
        image = QImage(10, 10, QImage.Format.Format_ARGB32)
        painter = QPainter(image)
        try:
            _, _, texts = axis.generateDrawSpecs(painter)
        finally:
            painter.end()
        names = [text for _rect, _flags, text in texts]
        assert names[0] == axis.names[0] and names[-1] == axis.names[-1]
        bounds = axis.mapRectFromParent(axis.geometry())
        rects = [rect for rect, _flags, _text in texts]
        assert all(bounds.left() - 0.5 <= r.left() and r.right() <= bounds.right() + 0.5 for r in rects)
        assert not any(a.intersects(b) for a, b in zip(rects, rects[1:], strict=False))
