"""Truthful plots at 10,000 classes: with more classes in view than pixels, each bar is a bin's
MEAN (so an exact sampler's bars sit on the expected line), a faint fill behind reaches the bin's
max (so the head class stays visible), and zooming in shows the real per-class bars."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF

from balance_gui.gui.histogram import LOG_FLOOR, step_heights

from .test_legible import long_tail, make_index

pytestmark = pytest.mark.timeout(120)

CLASSES = 10_000
PER_CLASS = 100  # expected draws per class: uniform shares over 1,000,000 draws


def bin_reduce(values: np.ndarray, size: int, how) -> np.ndarray:
    """``how`` ("mean", "max" or "min") over consecutive bins of ``size`` values, the last one shorter."""
    starts = np.arange(0, len(values), size)
    values = values.astype(np.float64)
    if how == "mean":
        return np.add.reduceat(values, starts) / np.diff(np.append(starts, len(values)))
    return {"max": np.maximum, "min": np.minimum}[how].reduceat(values, starts)


@pytest.fixture
def noisy(qtbot, window):
    """The 10,000-class long tail (head 2,000 images, sorted by count) and a run's noisy draws
    around a constant expectation of 100 per class, in a window wide enough to lay the plots out."""
    window.resize(1200, 800)
    hist = window.histogram
    qtbot.waitUntil(lambda: hist.raw_plot.getViewBox().width() > 100)
    window.set_dataset(make_index(long_tail(CLASSES)))
    shares = np.full(CLASSES, 1.0 / CLASSES)
    draws = np.random.default_rng(8).multinomial(CLASSES * PER_CLASS, shares)
    hist.set_sampled(draws, shares, CLASSES * PER_CLASS)
    hist.set_log(False)
    qtbot.waitUntil(lambda: hist.sampled.bin > 1 and hist.raw.bin > 1)
    return hist, draws


def test_bins_show_the_mean_and_sit_on_the_expected_line(qtbot, noisy):
    hist, draws = noisy
    series = hist.sampled
    b = series.bin
    pixels = series.plot.getViewBox().width()
    assert b == int(np.ceil(CLASSES / pixels))  # ceil(classes in view / pixels)
    shown = draws[hist.order]
    edges, heights = step_heights(series.means)
    assert len(series.bars.opts["height"]) == 0  # no per-class bars under the bins
    np.testing.assert_allclose(edges, np.append(np.arange(0, CLASSES, b), CLASSES) - 0.5)
    np.testing.assert_allclose(heights, bin_reduce(shown, b, "mean"))  # the means...
    maxima = bin_reduce(shown, b, "max")
    assert np.all(maxima > heights) and maxima.mean() > 1.1 * PER_CLASS  # ...not the old max envelope
    # the visual level is the expected line: marks binned the same way, at 100 per class
    _, marks = series.marks.getData()
    assert len(marks) == 2 * len(heights)
    np.testing.assert_allclose(marks, PER_CLASS)
    assert heights.mean() == pytest.approx(PER_CLASS, rel=0.01)
    # the faint fill behind reaches each bin's max, from the axis
    np.testing.assert_allclose(step_heights(series.maxima)[1], maxima)
    assert series.means.getData()[1][0] == series.maxima.getData()[1][-1] == 0.0  # filled from the axis


def test_log_scale_bins_are_the_log_of_the_mean(qtbot, noisy):
    hist, draws = noisy
    hist.set_log(True)
    series = hist.sampled
    _, top = step_heights(series.means)
    assert series.means.getData()[1][0] == LOG_FLOOR  # filled from the log axis's floor
    np.testing.assert_allclose(top, np.log10(bin_reduce(draws[hist.order], series.bin, "mean")))
    _, marks = series.marks.getData()
    np.testing.assert_allclose(marks, np.log10(PER_CLASS))
    assert abs(top.mean() - np.log10(PER_CLASS)) < 0.005  # on the line, not below it (a mean of logs would be)


def test_head_class_of_the_long_tail_stays_visible(qtbot, noisy):
    hist, _ = noisy
    hist.set_log(True)
    raw = hist.raw
    assert raw.bin > 1 and int(hist.order[0]) == 0
    # the first bin holds the 2,000-image head: its mean is far lower, its max reaches 2,000
    edges, means = step_heights(raw.means)
    _, maxima = step_heights(raw.maxima)
    assert maxima[0] == pytest.approx(np.log10(2000)) and means[0] < maxima[0] - 0.3
    assert edges[0] == -0.5
    # and it is painted: the head's column, just under 2,000, carries the bars' colour
    vb = hist.raw_plot.getViewBox()
    vb.setYRange(LOG_FLOOR, np.log10(2000) * 1.05, padding=0)
    image = hist.graphics.grab().toImage()
    ratio = image.width() / hist.graphics.width()
    point = hist.graphics.mapFromScene(vb.mapViewToScene(QPointF(0.0, np.log10(2000) * 0.97)))
    colour = image.pixelColor(int(point.x() * ratio), int(point.y() * ratio))
    assert colour.name() != "#ffffff" and colour.blue() > colour.red()


def test_zooming_to_50_classes_shows_the_exact_bars(qtbot, noisy):
    hist, draws = noisy
    for plot in (hist.raw_plot, hist.sampled_plot):
        plot.getViewBox().setXRange(-0.5, 49.5, padding=0)
    qtbot.waitUntil(lambda: hist.sampled.bin == 1 and hist.raw.bin == 1)  # the throttled re-binning
    shown = draws[hist.order]
    bars = hist.sampled.bars.opts
    np.testing.assert_array_equal(np.asarray(bars["x"])[:50], np.arange(50))
    np.testing.assert_array_equal(np.asarray(bars["height"])[:50], shown[:50])
    np.testing.assert_array_equal(np.asarray(hist.raw.bars.opts["height"])[:50], hist.counts[hist.order][:50])
    assert len(step_heights(hist.sampled.means)[1]) == len(step_heights(hist.sampled.maxima)[1]) == 0
    _, marks = hist.sampled.marks.getData()
    np.testing.assert_allclose(marks[:100], PER_CLASS)
    hist.reset_zoom()
    qtbot.waitUntil(lambda: hist.sampled.bin > 1)  # and zooming out bins again


def test_hover_and_selection_name_real_classes_when_binned(qtbot, noisy):
    hist, draws = noisy
    assert hist.sampled.bin > 1
    x = 5_000
    c = int(hist.order[x])
    vb = hist.sampled_plot.getViewBox()
    scene_pos = vb.mapViewToScene(QPointF(float(x), 1.0))
    assert hist.class_at(scene_pos) == c
    assert f"class_{c:05d}" in hist.text_at(scene_pos) and f"drawn: {draws[c]:,}" in hist.text_at(scene_pos)
    hist.select_class(c)
    assert hist.position_of(c) == x and hist.sampled.highlight.value() == x


@pytest.mark.parametrize("ext", [".png", ".svg"])
def test_export_draws_the_bins_the_screen_shows(qtbot, noisy, tmp_path, ext):
    """The exported picture's solid level is the bins' mean: solid green just under the expected
    line in (nearly) every column, never well above it (where the old max envelope was)."""
    import shutil
    import subprocess

    from PySide6.QtGui import QColor, QImage

    from balance_gui.gui.export_dialogs import export_plot
    from balance_gui.gui.histogram import SAMPLED_BRUSH

    hist, _ = noisy
    path = tmp_path / f"plots{ext}"
    export_plot(hist.graphics, str(path))
    if ext == ".svg":
        if not shutil.which("rsvg-convert"):
            pytest.skip("rsvg-convert is not installed")
        png = tmp_path / "plots.png"
        subprocess.run(["rsvg-convert", "-o", str(png), str(path)], check=True)
        path = png
    image = QImage(str(path))
    area = hist.graphics.ci.sceneBoundingRect()
    scale = image.width() / area.width()
    vb = hist.sampled_plot.getViewBox()
    solid = QColor(*SAMPLED_BRUSH)

    def is_solid(x: float, y: float) -> bool:
        p = (vb.mapViewToScene(QPointF(x, y)) - area.topLeft()) * scale
        c = image.pixelColor(int(p.x()), int(p.y()))
        return abs(c.red() - solid.red()) + abs(c.green() - solid.green()) + abs(c.blue() - solid.blue()) < 40

    xs = np.linspace(100, CLASSES - 100, 150)
    below = np.mean([is_solid(x, 0.85 * PER_CLASS) for x in xs])
    above = np.mean([is_solid(x, 1.15 * PER_CLASS) for x in xs])
    assert below > 0.95 and above < 0.05, (below, above)
