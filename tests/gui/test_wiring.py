"""The gallery and the image check inside the main window: the check fills the Problems tab and the
Usable column, "Weights on usable images" gives the core's usable weights, a class's selection shows
its thumbnails, the most-drawn order follows the run's per-image draws, and reopening resets it all."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from balance_gui.core.errors import SettingsError
from balance_gui.core.expected import class_figures
from balance_gui.core.images import check_images, usable_weights
from balance_gui.core.weights import class_weights
from balance_gui.gui.class_table import COL
from balance_gui.gui.gallery import SAMPLE_ROLE, SORT_MOST_DRAWN
from balance_gui.gui.session import RunState

from ..conftest import make_tree
from ..test_images import image_bytes, write
from .conftest import open_and_wait
from .test_run import run_to_end, set_params

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    """The check's cache goes to the user cache dir: keep it out of the user's real one."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def health_tree(tmp_path):
    """ant: 6 real images, one a text file named .jpg and one a copy of ant/a0; bee: 3 real images,
    one a copy of ant/a1 (a label conflict: both copies excluded); cat: 2 real images. Usable: ant 3, bee 2, cat 2."""
    root = tmp_path / "health"
    for i in range(4):
        write(root, f"ant/a{i}.png", image_bytes(100 + i))
    write(root, "ant/b_copy.png", image_bytes(100))  # copy of ant/a0.png
    write(root, "ant/c_broken.jpg", b"this is not a JPEG")
    write(root, "bee/b0.jpg", image_bytes(200, "JPEG"))
    write(root, "bee/b1.png", image_bytes(201))
    write(root, "bee/z_copy.png", image_bytes(101))  # copy of ant/a1.png: in another class
    write(root, "cat/c0.png", image_bytes(300))
    write(root, "cat/c1.png", image_bytes(301))
    return root


def run_check(qtbot, window) -> str:
    with qtbot.waitSignal(window.checkEnded, timeout=30_000) as blocker:
        window.check_action.trigger()
    return blocker.args[0]


def samples_of(index, class_idx):
    return np.flatnonzero(np.asarray(index.targets) == class_idx)


def test_check_action_fills_the_problems_tab_and_the_usable_column(qtbot, window, health_tree):
    assert open_and_wait(qtbot, window, health_tree) == "ok"
    assert window.table.isColumnHidden(COL["usable"])  # no check yet: no column
    assert window.table_model.column_values("usable") is None
    assert not window.usable_check.isEnabled()
    assert window.check_action.isEnabled()
    assert window.check_action in window.toolbar.actions()

    assert run_check(qtbot, window) == "ok"
    assert not window.checking and not window.check_progress.isVisible()
    expected = check_images(window.index, cache_path=None)
    np.testing.assert_array_equal(expected.usable_counts, [3, 2, 2])
    # the problems tab lists each problem (a duplicate group on one row), in sample order, and is brought forward
    model = window.problems.model
    rows = [(model.index(r, 0).data(), model.index(r, 1).data()) for r in range(model.rowCount())]
    assert rows == [("duplicate", "ant/a0.png"), ("label conflict", "ant/a1.png"), ("corrupt", "ant/c_broken.jpg")]
    assert model.index(1, 2).data() == "ant, bee"
    assert window.tabs.currentWidget() is window.problems
    assert "1 corrupt, 2 duplicate copies" in window.problems.summary.text()
    # the class table gains the Usable column
    assert not window.table.isColumnHidden(COL["usable"])
    np.testing.assert_array_equal(window.table_model.column_values("usable"), [3, 2, 2])
    np.testing.assert_array_equal(window.table_model.column_values("count"), [6, 3, 2])
    assert window.table_model.index(window.table_model.row_of_class(0), COL["usable"]).data() == "3"
    assert window.usable_check.isEnabled() and not window.usable_check.isChecked()
    assert "corrupt" in window.status_label.text()


def test_weights_on_usable_images_are_the_cores_usable_weights(qtbot, window, health_tree):
    assert open_and_wait(qtbot, window, health_tree) == "ok"
    assert run_check(qtbot, window) == "ok"
    s = window.session
    plain = class_weights([6, 3, 2], "inverse")
    np.testing.assert_allclose(s.class_weights, plain)
    assert s.export_kwargs().keys() == {"class_w"}

    window.usable_check.setChecked(True)  # through the widget, as a user does
    assert s.use_usable
    class_w, per_sample = usable_weights(s.check, "inverse")
    np.testing.assert_allclose(s.class_weights, class_w)
    assert not np.allclose(class_w, plain)
    figures = class_figures(s.check.usable_counts, class_w, s.settings.num_samples)
    np.testing.assert_allclose(s.figures.expected_shares, figures.expected_shares)
    np.testing.assert_allclose(s.figures.expected_distinct, figures.expected_distinct)
    np.testing.assert_allclose(window.table_model.column_values("weight"), class_w)
    np.testing.assert_allclose(window.table_model.column_values("expected_uses"), figures.expected_uses_per_image)
    # the run and the export see the same exclusions: corrupt files and duplicate copies weigh 0
    np.testing.assert_allclose(s.run_weights()["sample_weights"], per_sample)
    kwargs = s.export_kwargs()
    np.testing.assert_allclose(kwargs["class_w"], class_w)
    np.testing.assert_array_equal(kwargs["excluded"], ~s.check.usable_mask)
    assert kwargs["excluded"].sum() == 4

    set_params(window, num_samples=4000, seed=3)
    step = run_to_end(qtbot, window)
    assert step.image_uses[kwargs["excluded"]].sum() == 0  # never drawn
    assert step.image_uses[~kwargs["excluded"]].min() > 0

    window.usable_check.setChecked(False)
    np.testing.assert_allclose(s.class_weights, plain)
    assert s.export_kwargs().keys() == {"class_w"}
    assert s.step is None  # the run belonged to the other weights


@pytest.mark.parametrize("ext", [".pt", ".csv", ".json", ".npy"])
def test_exporting_usable_weights_writes_the_exclusions(qtbot, window, health_tree, tmp_path, ext):
    """The window's export with "Weights on usable images" writes what the core writes: the usable
    class weights, weight 0 for every corrupt file and duplicate copy, and (.pt) which samples it excludes."""
    import torch

    from balance_gui.core.weightsfile import export_weights, read_weights_file

    assert open_and_wait(qtbot, window, health_tree) == "ok"
    assert run_check(qtbot, window) == "ok"
    window.usable_check.setChecked(True)
    s = window.session
    path = tmp_path / f"usable{ext}"
    with qtbot.waitSignal(window.weightsExported, timeout=30_000):
        window.export_weights_to(str(path))
    class_w, per_sample = usable_weights(s.check, "inverse")
    record = read_weights_file(str(path))
    assert record["num_excluded"] == (0 if ext == ".npy" else 4)  # a .npy holds weights only: no record
    if ext != ".json":
        np.testing.assert_array_equal(np.asarray(record["weights"]), per_sample)
    if ext == ".pt":
        saved = torch.load(path, weights_only=True)
        assert saved["excluded"].tolist() == np.flatnonzero(~s.check.usable_mask).tolist()
    # byte for byte what the core writes from the same check
    core = tmp_path / f"core{ext}"
    export_weights(str(core), s.index, class_w, "inverse", excluded=~s.check.usable_mask)
    if ext != ".pt":  # a .pt zip records its own file name
        assert core.read_bytes() == path.read_bytes()


def test_a_run_started_when_the_check_ends_runs(qtbot, window, health_tree):
    """checkEnded comes once the check's job is over: a listener that starts a run right then (as a
    script or a "check, then sample" macro does) gets the run, not a "wait for the check" refusal."""
    assert open_and_wait(qtbot, window, health_tree) == "ok"
    busy_at_end = []

    def start_at_once(outcome):
        busy_at_end.append(window.checking)
        window.start_run()

    window.checkEnded.connect(start_at_once)
    with qtbot.waitSignal(window.runEnded, timeout=30_000) as blocker:
        window.check_action.trigger()
    assert busy_at_end == [False]
    assert blocker.args == ["finished"]


def test_usable_switch_and_check_are_refused_mid_run(qtbot, window, health_tree):
    assert open_and_wait(qtbot, window, health_tree) == "ok"
    assert run_check(qtbot, window) == "ok"
    set_params(window, num_samples=2_000_000, epochs=50)
    window.start_run()
    assert window.session.state is not RunState.IDLE
    try:
        assert not window.usable_check.isEnabled()
        assert not window.check_action.isEnabled()
        with pytest.raises(SettingsError, match="stop the run"):
            window.session.set_use_usable(True)
        with pytest.raises(SettingsError, match="stop the run"):
            window.session.set_check(None)
        assert not window.session.use_usable and window.session.check is not None
    finally:
        with qtbot.waitSignal(window.runEnded, timeout=30_000):
            window.stop_run()
    assert window.usable_check.isEnabled() and window.check_action.isEnabled()


def test_selecting_a_class_shows_its_gallery(qtbot, window, health_tree):
    assert open_and_wait(qtbot, window, health_tree) == "ok"
    index = window.index
    model = window.gallery.model
    window.tabs.setCurrentWidget(window.gallery)
    window.select_class(1)  # a table row (linked to the bars)
    assert window.gallery.class_index == 1
    assert "bee: 3 images" in window.gallery.caption.text()
    assert [model.path(r) for r in range(model.rowCount())] == [index.path(int(i)) for i in samples_of(index, 1)]
    window.histogram.classClicked.emit(2)  # a bar
    assert window.gallery.class_index == 2
    assert [model.path(r) for r in range(model.rowCount())] == [index.path(int(i)) for i in samples_of(index, 2)]
    qtbot.waitUntil(lambda: model.cached() == 2, timeout=10_000)  # the two thumbnails decode


def test_most_drawn_order_follows_the_runs_per_image_draws(qtbot, window, tmp_path):
    root = make_tree(tmp_path / "data", {"ant": 40, "bee": 10, "cat": 2})
    assert open_and_wait(qtbot, window, root) == "ok"
    panel, model = window.gallery, window.gallery.model
    window.select_class(0)
    most_drawn = panel.sort.model().item(1)
    assert not most_drawn.isEnabled()  # no run yet
    set_params(window, num_samples=500, seed=11)
    step = run_to_end(qtbot, window)
    assert most_drawn.isEnabled()
    panel.sort.setCurrentText(SORT_MOST_DRAWN)
    ant = samples_of(window.index, 0)
    shown = np.array([model.index(r).data(SAMPLE_ROLE) for r in range(model.rowCount())])
    assert sorted(shown) == list(ant)
    draws = step.image_uses[shown]
    assert (np.diff(draws) <= 0).all() and draws[0] > draws[-1]  # most drawn first, and not all equal
    for r in (0, len(shown) - 1):
        label = model.index(r).data(Qt.ItemDataRole.DisplayRole)
        assert label.endswith(f"\N{MULTIPLICATION SIGN}{int(step.image_uses[shown[r]])}")
    tip = model.index(0).data(Qt.ItemDataRole.ToolTipRole)
    assert f"drawn {int(step.image_uses[shown[0]]):,} times in the run's last epoch" in tip
    # another class keeps the run's counts
    window.select_class(1)
    bee = np.array([model.index(r).data(SAMPLE_ROLE) for r in range(model.rowCount())])
    np.testing.assert_array_equal(step.image_uses[bee], np.sort(step.image_uses[samples_of(window.index, 1)])[::-1])
    # a new scheme drops the run, and with it the most-drawn order
    window.set_scheme(window.scheme.__class__("none"))
    assert not most_drawn.isEnabled()
    assert panel.sort.currentText() != SORT_MOST_DRAWN


def test_reopening_resets_the_check_and_the_gallery(qtbot, window, health_tree, tmp_path):
    assert open_and_wait(qtbot, window, health_tree) == "ok"
    assert run_check(qtbot, window) == "ok"
    window.usable_check.setChecked(True)
    window.select_class(0)
    assert window.gallery.model.rowCount() == 6
    other = make_tree(tmp_path / "other", {"x": 3, "y": 5})
    assert open_and_wait(qtbot, window, other) == "ok"
    s = window.session
    assert s.check is None and not s.use_usable and s.excluded is None
    assert not window.usable_check.isChecked() and not window.usable_check.isEnabled()
    assert window.table.isColumnHidden(COL["usable"])
    assert window.table_model.column_values("usable") is None
    assert window.problems.model.rowCount() == 0
    assert window.problems.summary.text() == "No check run yet"
    assert window.gallery.model.rowCount() == 0 and window.gallery.class_index == -1
    np.testing.assert_allclose(s.class_weights, class_weights([3, 5], "inverse"))


def test_check_shows_progress_blocks_runs_and_cancels(qtbot, window, health_tree, monkeypatch):
    import threading

    from balance_gui.core import images

    real = images._inspect_chunk
    gate, chunks = threading.Event(), []

    def held(paths):  # the first chunk passes; the next waits until the test has pressed Cancel
        if chunks:
            gate.wait(20)
        chunks.append(len(paths))
        return real(paths)

    monkeypatch.setattr(images, "_inspect_chunk", held)
    assert open_and_wait(qtbot, window, health_tree) == "ok"
    with qtbot.waitSignal(window.checkEnded, timeout=30_000) as blocker:
        window.check_action.trigger()
        assert window.checking
        assert window.check_progress.isVisible() and window.cancel_check_button.isVisible()
        assert not window.start_action.isEnabled()  # its result can change the weights: runs wait
        window.start_run()
        assert window.session.state is RunState.IDLE
        qtbot.waitUntil(lambda: window.check_progress.value() > 0, timeout=10_000)  # the first chunk is reported
        qtbot.mouseClick(window.cancel_check_button, Qt.MouseButton.LeftButton)
        gate.set()
    assert blocker.args == ["cancelled"]
    assert window.session.check is None
    assert window.problems.model.rowCount() == 0
    assert window.table.isColumnHidden(COL["usable"])
    assert not window.check_progress.isVisible() and not window.cancel_check_button.isVisible()
    assert window.start_action.isEnabled()
    assert "cancelled" in window.status_label.text()


def test_a_progress_poll_between_a_checks_outcome_and_its_end_keeps_the_outcome(qtbot, window, health_tree):
    """The shared progress widget's timer may fire between the check's outcome callback and its
    finished callback (two queued calls): the status line must keep the outcome, not go back to
    'Checking images: 11 of 11' (seen once in five GUI-suite runs with a core busy)."""
    from types import SimpleNamespace

    from balance_gui.core.errors import Cancelled
    from balance_gui.core.images import CheckProgress

    assert open_and_wait(qtbot, window, health_tree) == "ok"
    task = window.check_task
    task._job = SimpleNamespace(latest=CheckProgress(files_done=11, files_total=11, from_cache=0, elapsed_s=0.1))
    window.task_progress.track(task)
    window.task_progress.refresh()
    assert window.status_label.text().startswith("Checking images: 11 of 11")  # polled while going
    task._failed(Cancelled("image check cancelled"))
    window.task_progress.refresh()  # the timer's tick before _finished
    assert window.status_label.text() == "Image check cancelled"
    task._done(check_images(window.session.index, workers=1, cache_path=None))
    window.task_progress.refresh()
    assert window.status_label.text().startswith("Image check:")
