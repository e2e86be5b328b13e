"""Issue 15's structure of the window: the first screen imports only what it shows (the plots,
superqt and torch come after its first frame), views built late show the session as it is, the
tasks share one progress widget; and the GUI items of issues 16/17: the image check on COCO data,
the Ray check engine in the settings, drops of tables and COCO files, the sampler panel's controls
for image-level runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QUrl

from balance_gui.core.images import check_images
from balance_gui.core.weights import Scheme
from balance_gui.gui.class_table import COL

from .conftest import open_and_wait
from .test_annotations_gui import coco_file  # noqa: F401  (the fixture)

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    """The check's cache goes to the user cache dir: keep it out of the user's real one."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


# ---------------------------------------------------------------- the first screen


def test_first_screen_needs_no_pyqtgraph_superqt_or_torch():
    """Building the window imports neither pyqtgraph nor superqt nor torch (nor the image check's
    modules, nor importlib.metadata for the version); after its first frame the
    plots and the scheme picker are built (and the device probe starts loading torch in a worker)."""
    code = """
import sys
from PySide6.QtWidgets import QApplication
app = QApplication([])
from balance_gui.gui.main_window import MainWindow
w = MainWindow(probe_devices=False)
heavy = [m for m in ("pyqtgraph", "superqt", "torch", "balance_gui.core.images", "importlib.metadata")
         if m in sys.modules]
print("BEFORE", heavy)
got = []
w.firstFrameShown.connect(lambda: got.append(1))
w.show()
from PySide6.QtCore import QTimer
QTimer.singleShot(10_000, app.quit)
w.firstFrameShown.connect(app.quit)
app.exec()
print("FRAME", bool(got), "pyqtgraph" in sys.modules, type(w.histogram).__name__)
w.shutdown()
"""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=90)
    assert "BEFORE []" in out.stdout, out.stdout + out.stderr
    assert "FRAME True True HistogramView" in out.stdout, out.stdout + out.stderr


def test_views_built_late_show_the_open_dataset(qtbot, window, small_tree):
    """A tab first shown after the dataset opened shows it, and follows later changes itself."""
    assert not window.tabs.is_built("Coverage")
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    window.tabs.setCurrentIndex(1)  # Coverage: built now
    assert window.tabs.is_built("Coverage") and window.tabs.currentWidget() is window.coverage
    np.testing.assert_array_equal(window.coverage.counts, [40, 10, 2])
    np.testing.assert_array_equal(window.coverage.order, window.histogram.order)
    window.sort_action.trigger()  # the coverage follows the dataset plot's order
    np.testing.assert_array_equal(window.coverage.order, window.histogram.order)


def test_tasks_share_one_progress_widget(qtbot, window, small_tree):
    assert window.scan_progress is window.check_progress
    assert window.cancel_button is window.cancel_check_button
    assert not window.task_progress.isVisible()
    with qtbot.waitSignal(window.scanEnded, timeout=20_000):
        window.open_path(str(small_tree))
        assert window.task_progress.isVisible() and window.task_progress.shown is window.scan_task
    assert not window.task_progress.isVisible() and window.task_progress.shown is None
    assert not window.scanning


def test_a_task_reports_its_end_once_it_is_no_longer_busy(qtbot, window, small_tree):
    """Orange's order: when scanEnded / checkEnded / runEnded come, the task is free, so a listener
    may start the next job at once."""
    seen = []
    window.scanEnded.connect(lambda _o: seen.append(("scan", window.scanning)))
    window.checkEnded.connect(lambda _o: seen.append(("check", window.checking)))
    window.runEnded.connect(lambda _o: seen.append(("run", window.running)))
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    with qtbot.waitSignal(window.checkEnded, timeout=60_000):
        window.check_action.trigger()
    window.sampler.num_samples.setValue(100)
    with qtbot.waitSignal(window.runEnded, timeout=60_000):
        window.start_run()
    assert seen == [("scan", False), ("check", False), ("run", False)]


# ---------------------------------------------------------------- drag and drop


@pytest.mark.parametrize("name", ["t.parquet", "t.arrow", "t.feather", "t.ipc", "instances.json", "m.csv"])
def test_drop_accepts_tables_and_coco_files(window, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"x")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    assert window._dropped_path(mime) == str(path)


def test_drop_refuses_other_files_and_missing_ones(window, tmp_path):
    stray = tmp_path / "notes.txt"
    stray.write_text("x")
    for path in (stray, tmp_path / "gone.parquet"):
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path))])
        assert window._dropped_path(mime) is None


# ---------------------------------------------------------------- image-level runs


def test_sampler_panel_shows_only_what_an_image_level_run_uses(qtbot, window, small_tree, coco_file):  # noqa: F811
    form = window.sampler._form

    def visible(*widgets):
        return [form.isRowVisible(w) for w in widgets]

    p = window.sampler
    assert open_and_wait(qtbot, window, coco_file) == "ok"
    assert visible(p.mode, p.implementation, p.batch_size) == [False, False, False]
    assert visible(p.num_samples, p.replacement, p.epochs, p.seed, p.device) == [True] * 5
    assert window.set_scheme(Scheme("rfs", param=0.1))
    assert visible(p.num_samples, p.replacement) == [False, False]  # an rfs epoch is the repeat-factor epoch
    assert visible(p.epochs, p.seed) == [True, True]
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    assert visible(p.mode, p.implementation, p.batch_size, p.num_samples, p.replacement) == [True] * 5


# ---------------------------------------------------------------- the image check on COCO data


def test_image_check_on_a_coco_file(qtbot, window, coco_file):  # noqa: F811
    (coco_file.parent / "images" / "img3.png").write_bytes(b"not a PNG")  # img3 carries only 'square'
    assert open_and_wait(qtbot, window, coco_file) == "ok"
    paths = window.index.relative_paths()
    bad = [i for i, p in enumerate(paths) if p.endswith("img3.png")][0]
    assert window.check_action.isEnabled()
    with qtbot.waitSignal(window.checkEnded, timeout=60_000) as blocker:
        window.check_action.trigger()
    assert blocker.args == ["ok"], window.last_error
    s = window.session
    assert s.check is not None and not s.check.usable_mask[bad] and s.check.usable_mask.sum() == 7
    tree = window.problems.list
    assert tree.model().rowCount() >= 1 and window.tabs.currentWidget() is window.problems
    assert not window.table.isColumnHidden(COL["usable"])
    counts = np.asarray(window.index.counts)
    usable = window.table_model.column_values("usable")
    square = window.index.classes.index("square")
    assert usable[square] == counts[square] - 1 and (np.delete(usable, square) == np.delete(counts, square)).all()

    assert window.usable_check.isEnabled()
    window.usable_check.setChecked(True)
    assert s.use_usable and s.image_weights[bad] == 0.0 and (np.delete(s.image_weights, bad) > 0).all()
    window.usable_check.setChecked(False)
    assert s.image_weights[bad] > 0


# ---------------------------------------------------------------- the Ray engine


def test_check_engine_setting_is_stored_and_used(qtbot, window, small_tree, settings, monkeypatch):
    """With Ray importable the Tools menu offers the engine; the check then runs through
    core.ray_engine.check_images_ray with the stored address (a fake here: no Ray in GUI tests)."""
    from balance_gui.core import ray_engine

    calls = []

    def fake_ray_check(index, *, address=None, **kwargs):
        calls.append(address)
        return check_images(index, workers=1, **kwargs)

    monkeypatch.setattr(ray_engine, "check_images_ray", fake_ray_check)
    monkeypatch.setattr(type(window), "ray_offered", property(lambda self: True))
    dialog = window.show_check_settings()
    assert dialog.engine.findData("ray") >= 0
    dialog.engine.setCurrentIndex(dialog.engine.findData("ray"))
    dialog.address.setText("  ray://head:10001 ")
    dialog.accept()
    settings.sync()
    assert settings.value("check/engine") == "ray" and settings.value("check/ray_address") == "ray://head:10001"
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    with qtbot.waitSignal(window.checkEnded, timeout=60_000) as blocker:
        window.check_action.trigger()
    assert blocker.args == ["ok"], window.last_error
    assert calls == ["ray://head:10001"]
    assert window.session.check is not None

    window.set_check_engine("ray", "")  # empty: a local cluster started for the check
    with qtbot.waitSignal(window.checkEnded, timeout=60_000):
        window.check_action.trigger()
    assert calls[-1] is None
    window.set_check_engine("local")
    with qtbot.waitSignal(window.checkEnded, timeout=60_000):
        window.check_action.trigger()
    assert len(calls) == 2  # the local engine does not go through Ray


def test_without_ray_no_engine_is_offered(qtbot, settings, monkeypatch):
    from balance_gui.gui import main_window

    monkeypatch.setattr(main_window, "ray_available", lambda: False)
    settings.setValue("check/engine", "ray")  # stored while Ray was installed
    w = main_window.MainWindow(settings=settings, probe_devices=False)
    qtbot.addWidget(w)
    try:
        tools = [a for a in w.menuBar().actions() if a.text() == "&Tools"][0].menu()
        assert w.check_settings_action not in tools.actions()
        assert w.check_task.engine == "local"
    finally:
        assert w.shutdown()


def test_keeping_a_copy_in_the_problems_tab_reaches_the_weights(qtbot, window, tmp_path):
    """The Problems tab's Keep this copy goes to the session: the usable mask and the weights follow."""
    from balance_gui.core.duplicates import duplicate_groups

    from ..test_images import image_bytes, write

    root = tmp_path / "conflict"
    write(root, "ant/a0.png", image_bytes(1))
    write(root, "ant/a1.png", image_bytes(2))
    write(root, "bee/b0.png", image_bytes(1))  # a copy of ant/a0.png under another label
    write(root, "bee/b1.png", image_bytes(3))
    assert open_and_wait(qtbot, window, root) == "ok"
    with qtbot.waitSignal(window.checkEnded, timeout=60_000) as blocker:
        window.check_action.trigger()
    assert blocker.args == ["ok"], window.last_error
    s = window.session
    (group,) = [g for g in duplicate_groups(s.check) if g.cross_class]
    assert not s.check.usable_mask[list(group.samples)].any()  # a label conflict: no copy by default
    window.usable_check.setChecked(True)
    np.testing.assert_array_equal(s.counts, [1, 1])
    window.problems.duplicatesResolved.emit({group.representative: group.representative})
    assert s.check.usable_mask[group.representative] and not s.check.usable_mask[group.samples[1]]
    np.testing.assert_array_equal(s.counts, [2, 1])  # ant keeps its copy
    np.testing.assert_array_equal(window.table_model.column_values("usable"), [2, 1])


@pytest.mark.slow
def test_check_on_a_real_local_ray_matches_the_local_check(qtbot, window, tmp_path):
    """Engine Ray, no address: a local cluster is started for the check and stopped after it; the
    problems are the local check's."""
    import ray

    from ..test_images import image_bytes, write

    root = tmp_path / "ray"
    write(root, "ant/a0.png", image_bytes(1))
    write(root, "ant/a1.jpg", b"not a JPEG")
    write(root, "bee/b0.png", image_bytes(1))
    write(root, "bee/b1.png", image_bytes(2))
    assert open_and_wait(qtbot, window, root) == "ok"
    window.set_check_engine("ray", "")
    with qtbot.waitSignal(window.checkEnded, timeout=110_000) as blocker:
        window.check_action.trigger()
    assert blocker.args == ["ok"], window.last_error
    local = check_images(window.index, workers=1, cache_path=None)
    got = window.session.check
    assert [(p.kind, p.sample) for p in got.problems] == [(p.kind, p.sample) for p in local.problems]
    np.testing.assert_array_equal(got.usable_mask, local.usable_mask)
    assert not ray.is_initialized()  # the cluster started for the check is gone
