"""The sampler run in the window: live plots equal the core's counts; pause, stop, close mid-run."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import Qt

from balance_gui.core.weights import Scheme, class_weights

from .conftest import active_threads, open_and_wait

pytestmark = pytest.mark.timeout(120)


def core_final_step(index, scheme, **params):
    """The same run straight through the core, for comparison."""
    from balance_gui.core.simulate import simulate

    steps = list(simulate(index.targets, class_weights(index.counts, scheme), **params))
    return steps[-1] if steps else None


def set_params(
    window, num_samples, epochs=1, seed=0, replacement=True, batch_size=0, mode="weighted", implementation="balanced"
):
    s = window.sampler
    s.num_samples.setValue(num_samples)
    s.epochs.setValue(epochs)
    s.seed.setValue(seed)
    s.replacement.setChecked(replacement)
    s.batch_size.setValue(batch_size)
    s.mode.setCurrentIndex(s.mode.findData(mode))
    s.implementation.setCurrentIndex(s.implementation.findData(implementation))


def run_to_end(qtbot, window, timeout_ms=60_000):
    with qtbot.waitSignal(window.runFinished, timeout=timeout_ms) as blocker:
        qtbot.mouseClick(window.sampler.start_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def plot_items(window):
    hist = window.histogram
    return [id(i) for plot in (hist.raw_plot, hist.sampled_plot, window.coverage.plot) for i in plot.items]


def test_run_to_completion_plots_the_sampler_counts(qtbot, window, small_tree):
    items_before = plot_items(window)
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    set_params(window, num_samples=20_000, epochs=3, seed=7)
    assert window.sampler.start_button.isEnabled()
    step = run_to_end(qtbot, window)
    assert step.draws_done == step.total_draws == 60_000
    assert step.class_counts.sum() == 60_000
    hist = window.histogram
    # the plotted bars are the sampler's counts, in the one long-lived item
    np.testing.assert_array_equal(np.asarray(hist.sampled_bars.opts["height"]), step.class_counts)
    np.testing.assert_array_equal(hist.sampled_heights_by_class(), step.class_counts)
    np.testing.assert_array_equal(hist.raw_heights_by_class(), [40, 10, 2])
    # expected marks: each class's expected share of the draws done
    _, marks = hist.sampled.marks.getData()
    np.testing.assert_allclose(marks[0::2], step.expected_shares * 60_000)
    np.testing.assert_allclose(step.expected_shares, [1 / 3] * 3)
    # the same run through the core directly gives the same counts: the GUI passed every setting
    direct = core_final_step(window.index, "inverse", num_samples=20_000, epochs=3, seed=7)
    np.testing.assert_array_equal(direct.class_counts, step.class_counts)
    # table and coverage show the current epoch's distinct images
    np.testing.assert_array_equal(window.table_model.column_values("observed_distinct"), step.distinct_seen)
    np.testing.assert_allclose(window.coverage.fractions(), step.distinct_seen / np.array([40, 10, 2]))
    np.testing.assert_allclose(
        np.asarray(window.coverage.bars.opts["height"]), step.distinct_seen / np.array([40, 10, 2])
    )
    assert "Epoch 3 of 3" in window.coverage.summary.text()
    # running figures
    text = hist.figures_label.text()
    assert "60,000 / 60,000" in text and "p-value" in text and "TV distance" in text
    assert f"{step.tv_distance:.4f}" in text
    assert window.sampler.progress.value() == 1000
    assert "Run finished" in window.status_label.text()
    assert window.sampler.start_button.isEnabled() and not window.sampler.stop_button.isEnabled()
    # sorting and log scale re-use the same items and keep the mapping to classes
    bars = hist.sampled_bars
    hist.set_sorted(True)
    assert hist.sampled_bars is bars
    np.testing.assert_array_equal(hist.sampled_heights_by_class(), step.class_counts)
    np.testing.assert_array_equal(np.asarray(hist.raw_bars.opts["height"]), [40, 10, 2])
    hist.set_log(True)
    np.testing.assert_allclose(
        np.asarray(bars.opts["height"])[np.argsort(hist.order)], np.log10(step.class_counts) - np.log10(0.5)
    )
    hist.set_log(False)
    hist.set_sorted(False)
    # hover on the sampled plot reports the draws
    assert f"drawn: {int(step.class_counts[0]):,}" in hist.hover_text(0, sampled=True)
    # no plot item was created or dropped: bars were updated in place throughout
    assert plot_items(window) == items_before


@pytest.mark.parametrize(
    "params",
    [
        dict(mode="class_aware"),
        dict(implementation="torch"),
        dict(batch_size=16),
        dict(replacement=False, num_samples=40),
    ],
    ids=["class_aware", "torch", "batched", "no_replacement"],
)
def test_run_settings_reach_the_core(qtbot, window, small_tree, params):
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    params = {"num_samples": 5_000, **params}
    set_params(window, seed=3, **params)
    step = run_to_end(qtbot, window)
    direct = core_final_step(
        window.index,
        "inverse",
        seed=3,
        batch_size=params.get("batch_size") or None,
        **{k: v for k, v in params.items() if k != "batch_size"},
    )
    np.testing.assert_array_equal(step.class_counts, direct.class_counts)
    np.testing.assert_array_equal(window.histogram.sampled_heights_by_class(), step.class_counts)
    if params.get("replacement") is False:
        assert step.distinct_seen.sum() == 40  # each image at most once
    assert window.last_error is None


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(replacement=False, num_samples=100), "exceeds"),
        (dict(mode="class_aware", implementation="torch", num_samples=100), "class-aware"),
    ],
)
def test_invalid_run_is_a_message(qtbot, window, small_tree, params, message):
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    set_params(window, **params)
    with qtbot.waitSignal(window.runEnded, timeout=60_000) as blocker:
        qtbot.mouseClick(window.sampler.start_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["failed"]
    assert message in window.last_error and "Traceback" not in window.last_error
    assert not window.running and window.sampler.start_button.isEnabled()


def test_pause_resume_stop(qtbot, window, small_tree):
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    set_params(window, num_samples=2_000_000_000)  # far more than the test will wait for
    qtbot.mouseClick(window.sampler.start_button, Qt.MouseButton.LeftButton)
    assert window.running and window.sampler.pause_button.isEnabled()
    qtbot.waitUntil(lambda: window.last_step is not None, timeout=30_000)
    qtbot.mouseClick(window.sampler.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.sampler.pause_button.text() == "Resume", timeout=30_000)
    # steps yielded before the pause arrived before the "paused" signal; the timer draws the last one
    qtbot.waitUntil(lambda: window._pending_step is None, timeout=5_000)
    paused_at = window.last_step.draws_done
    with qtbot.assertNotEmitted(window.session.stepChanged, wait=400):
        pass  # nothing is drawn while paused
    assert window.last_step.draws_done == paused_at
    qtbot.mouseClick(window.sampler.pause_button, Qt.MouseButton.LeftButton)  # resume
    qtbot.waitUntil(lambda: window.last_step.draws_done > paused_at, timeout=30_000)
    with qtbot.waitSignal(window.runEnded, timeout=30_000) as blocker:
        qtbot.mouseClick(window.sampler.stop_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["stopped"]
    step = window.last_step
    assert step.draws_done < step.total_draws
    np.testing.assert_array_equal(window.histogram.sampled_heights_by_class(), step.class_counts)
    assert "stopped" in window.status_label.text()
    assert not window.running and window.sampler.start_button.isEnabled()
    qtbot.waitUntil(lambda: active_threads() == 0, timeout=5_000)


def test_close_mid_run_leaves_no_threads(qtbot, settings, small_tree):
    from balance_gui.gui.main_window import MainWindow

    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.show()
    assert open_and_wait(qtbot, w, small_tree) == "ok"
    set_params(w, num_samples=2_000_000_000)
    w.start_run()
    qtbot.waitUntil(lambda: w.last_step is not None, timeout=30_000)
    t0 = time.perf_counter()
    w.close()
    assert time.perf_counter() - t0 < 10
    assert w.pending_workers == 0
    assert active_threads() == 0


def test_new_scheme_clears_finished_run(qtbot, window, small_tree):
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    set_params(window, num_samples=1_000)
    run_to_end(qtbot, window)
    assert window.histogram.sampled_heights_by_class().sum() == 1_000
    window.scheme_picker.set_scheme(Scheme("none"), emit=True)
    assert window.histogram.sampled_heights_by_class().sum() == 0
    _, marks = window.histogram.sampled.marks.getData()
    np.testing.assert_allclose(marks[0::2], np.array([40, 10, 2]) / 52 * 1_000)  # the planned run
    assert window.table_model.column_values("observed_distinct") is None
    assert window.coverage.fractions().sum() == 0


def test_opening_a_dataset_mid_run_stops_the_run(qtbot, window, small_tree, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from ..conftest import make_tree

    other = make_tree(tmp_path / "other", {"x": 5, "y": 3, "z": 1, "w": 1})
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    set_params(window, num_samples=2_000_000_000)
    window.start_run()
    qtbot.waitUntil(lambda: window.last_step is not None, timeout=30_000)
    asked = []  # the window asks before it discards the run: the user answers Open
    monkeypatch.setattr(
        QMessageBox, "question", staticmethod(lambda *a: asked.append(a) or QMessageBox.StandardButton.Open)
    )
    assert open_and_wait(qtbot, window, other) == "ok"
    assert len(asked) == 1
    assert not window.running
    qtbot.waitUntil(lambda: active_threads() == 0, timeout=10_000)
    # the old run's job was cut off: a step it had queued never reaches the session
    with qtbot.assertNotEmitted(window.session.stepChanged, wait=100):
        pass
    assert window.last_step is None
    assert window.histogram.sampled_heights_by_class().tolist() == [0, 0, 0, 0]
    np.testing.assert_array_equal(window.histogram.raw_heights_by_class(), [1, 5, 3, 1])  # w, x, y, z
    assert window.sampler.start_button.isEnabled()
    assert window.last_error is None
