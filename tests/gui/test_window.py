"""The desktop app, driven through its real widgets: opening data, tables, schemes, export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QImage
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit

from balance_gui.core.expected import class_figures
from balance_gui.core.weights import Scheme, class_weights, dataset_figures
from balance_gui.gui import workers
from balance_gui.gui.class_table import COL
from balance_gui.gui.histogram import step_heights

from ..conftest import make_tree
from .conftest import active_threads, open_and_wait

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]


def table_column(window, key):
    return window.table_model.column_values(key)


# ---------------------------------------------------------------- start-up


def test_gui_import_leaves_torch_unloaded():
    """The window must not wait for torch: no GUI module imports it (or the torch-backed core)."""
    code = (
        "import sys, balance_gui.gui.app, balance_gui.gui.main_window; "
        "bad = [m for m in ('torch', 'balance_gui.core.simulate', 'balance_gui.core.sampler', "
        "'balance_gui.sampling.sampler', 'balance_gui.core.weightsfile') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_starts_on_demo_dataset(qtbot, settings):
    from balance_gui.gui.app import create_window

    w = create_window(None, settings=settings)
    qtbot.addWidget(w)
    try:
        with qtbot.waitSignal(w.datasetLoaded, timeout=20_000) as blocker:
            pass
        index = blocker.args[0]
        assert Path(index.root) == REPO / "resources" / "demo"
        assert w.table_model.rowCount() == index.num_classes >= 2
        assert w.sampler.num_samples.value() == len(index)  # default: N draws per epoch
    finally:
        assert w.shutdown()


def test_devices_probed_in_background(qtbot, window):
    import torch

    if window.torch_label.text().endswith("loading…"):
        with qtbot.waitSignal(window.devicesProbed, timeout=60_000):
            pass
    assert window.torch_label.text() == "PyTorch: ready"
    assert window.sampler.device_enabled("cpu")
    assert window.sampler.device_enabled("cuda") == torch.cuda.is_available()
    model = window.sampler.device.model()
    for row in range(model.rowCount()):
        assert model.item(row).toolTip()  # a disabled device says why
    if not torch.cuda.is_available():
        assert "CUDA" in model.item(1).toolTip() or "cuda" in model.item(1).toolTip()


# ---------------------------------------------------------------- opening data


def test_open_folder_through_dialog(qtbot, window, small_tree, monkeypatch, settings):
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(small_tree))
    with qtbot.waitSignal(window.datasetLoaded, timeout=20_000):
        window.open_action.trigger()
    index = window.index
    assert index.classes == ("ant", "bee", "cat")
    assert list(table_column(window, "count")) == [40, 10, 2]
    assert table_column(window, "name") == ["ant", "bee", "cat"]
    figs = dataset_figures([40, 10, 2])
    assert window.summary.values["num_samples"].text() == "52"
    assert window.summary.values["num_classes"].text() == "3"
    assert window.summary.values["imbalance_ratio"].text() == f"{figs.imbalance_ratio:,.1f} : 1"
    assert window.summary.values["gini"].text() == f"{figs.gini:.3f}"
    assert window.summary.values["normalized_entropy"].text() == f"{figs.normalized_entropy:.3f}"
    # raw bars are the class counts, in place in one long-lived item
    np.testing.assert_array_equal(window.histogram.raw_heights_by_class(), [40, 10, 2])
    # recent folders persist in the (temporary) settings
    assert window.recent_paths()[0] == str(small_tree)
    assert settings_list(settings, "recent/folders")[0] == str(small_tree)
    assert not window.scan_progress.isVisible() and not window.cancel_button.isVisible()


def settings_list(settings, key):
    settings.sync()
    value = settings.value(key)
    return [value] if isinstance(value, str) else list(value)


@pytest.mark.filterwarnings("ignore:Function.*QDragEnterEvent:DeprecationWarning")
def test_open_by_drop(qtbot, window, small_tree, tmp_path):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(small_tree))])
    enter = QDragEnterEvent(
        QPoint(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    with qtbot.waitSignal(window.datasetLoaded, timeout=20_000):
        QApplication.sendEvent(window, drop)
    assert window.index.root == str(small_tree)
    assert list(table_column(window, "count")) == [40, 10, 2]

    # a plain file is not a dataset: the drag is refused
    stray = tmp_path / "notes.txt"
    stray.write_text("x")
    mime2 = QMimeData()
    mime2.setUrls([QUrl.fromLocalFile(str(stray))])
    enter2 = QDragEnterEvent(
        QPoint(5, 5), Qt.DropAction.CopyAction, mime2, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(window, enter2)
    assert not enter2.isAccepted()


def test_open_csv_manifest(qtbot, window, small_tree):
    manifest = small_tree / "manifest.csv"
    rows = ["path,label"] + [f"ant/img_{i:03d}.jpg,ant" for i in range(5)] + ["bee/img_000.jpg,bee"]
    manifest.write_text("\n".join(rows) + "\n")
    assert open_and_wait(qtbot, window, manifest) == "ok"
    assert window.index.source == "manifest"
    assert list(table_column(window, "count")) == [5, 1]
    assert window.recent_paths()[0] == str(manifest)


def test_recent_menu_reopens(qtbot, window, small_tree, tmp_path, settings):
    other = make_tree(tmp_path / "other", {"x": 3, "y": 1})
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    assert open_and_wait(qtbot, window, other) == "ok"
    assert window.recent_paths()[:2] == [str(other), str(small_tree)]
    # a new window with the same settings lists them, newest first, and opens one
    from balance_gui.gui.main_window import MainWindow

    second = MainWindow(settings=settings, probe_devices=False)
    qtbot.addWidget(second)
    try:
        paths = [a.data() for a in second.recent_menu.actions() if a.data()]
        assert paths[:2] == [str(other), str(small_tree)]
        action = next(a for a in second.recent_menu.actions() if a.data() == str(small_tree))
        with qtbot.waitSignal(second.datasetLoaded, timeout=20_000):
            action.trigger()
        assert second.index.classes == ("ant", "bee", "cat")
    finally:
        assert second.shutdown()


@pytest.mark.parametrize("case", ["missing", "no_classes", "no_images", "bad_manifest"])
def test_errors_are_clear_messages(qtbot, window, small_tree, tmp_path, case, capfd):
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    if case == "missing":
        path, expect = tmp_path / "nowhere", "not found"
    elif case == "no_classes":
        path = tmp_path / "flat"
        path.mkdir()
        (path / "a.jpg").touch()
        expect = "no class folders"
    elif case == "no_images":
        path = make_tree(tmp_path / "empty", {"a": 0, "b": 0})
        expect = "no image files"
    else:
        path = tmp_path / "bad.csv"
        path.write_text("file,class\nx.jpg,a\n")
        expect = "header"
    with qtbot.waitSignal(window.errorShown, timeout=20_000) as blocker:
        window.open_path(str(path))
    assert expect in blocker.args[0]
    assert "Traceback" not in blocker.args[0]
    assert window.last_error == blocker.args[0]
    assert not window.scanning
    # the open dataset stays, the window keeps working
    assert window.index.classes == ("ant", "bee", "cat")
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err


def test_cancel_scan(qtbot, window, small_tree, tmp_path, monkeypatch):
    """A real scan of a 300-folder small_tree, slowed per folder, is cancelled from the status bar."""
    big = make_tree(tmp_path / "big", {f"c{i:03d}": 1 for i in range(300)})
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    real = workers.open_dataset
    seen = []

    def slow_open(path, progress=None, cancel=None):
        def slowed(report):
            seen.append(report)
            progress(report)
            import time

            time.sleep(0.01)

        return real(path, progress=slowed, cancel=cancel)

    monkeypatch.setattr(workers, "open_dataset", slow_open)
    window.open_path(str(big))
    assert window.cancel_button.isVisible()
    qtbot.waitUntil(lambda: len(seen) >= 5, timeout=20_000)
    qtbot.waitUntil(lambda: "Scanning:" in window.status_label.text(), timeout=5_000)  # live count
    with qtbot.waitSignal(window.scanEnded, timeout=10_000) as blocker:
        qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["cancelled"]
    assert len(seen) < 300
    assert window.index.root == str(small_tree)  # the previous dataset stays open
    assert "cancelled" in window.status_label.text().lower()
    assert not window.cancel_button.isVisible()
    assert window.last_error is None


def test_close_mid_scan_leaves_no_threads(qtbot, settings, tmp_path, monkeypatch):
    from balance_gui.gui.main_window import MainWindow

    big = make_tree(tmp_path / "big", {f"c{i:03d}": 1 for i in range(200)})
    real = workers.open_dataset
    started = []

    def slow_open(path, progress=None, cancel=None):
        def slowed(report):
            started.append(1)
            progress(report)
            import time

            time.sleep(0.02)

        return real(path, progress=slowed, cancel=cancel)

    monkeypatch.setattr(workers, "open_dataset", slow_open)
    w = MainWindow(settings=settings, probe_devices=False)
    qtbot.addWidget(w)
    w.show()
    w.open_path(str(big))
    qtbot.waitUntil(lambda: bool(started), timeout=10_000)
    w.close()
    assert w._closed and w.pending_workers == 0
    assert active_threads() == 0


# ---------------------------------------------------------------- schemes and the table


SCHEME_CASES = [
    Scheme("inverse"),
    Scheme("balanced"),
    Scheme("sqrt"),
    Scheme("power", 0.3),
    Scheme("effective", 0.99),
    Scheme("rfs", 0.2),
    Scheme("none"),
]


def pick(window, scheme: Scheme):
    picker = window.scheme_picker
    picker.combo.setCurrentIndex(picker.combo.findData(scheme.name))
    if scheme.param is not None:  # the scheme's own number widget, from its Parameter
        picker.param_widgets[scheme.name][1].setValue(scheme.param)


@pytest.mark.parametrize("scheme", SCHEME_CASES, ids=str)
def test_scheme_updates_table_and_plot(qtbot, window, small_tree, scheme):
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    pick(window, scheme)
    assert window.scheme == scheme
    counts = np.array([40, 10, 2])
    w = class_weights(counts, scheme)
    figs = class_figures(counts, w, draws=window.sampler.num_samples.value())
    np.testing.assert_allclose(table_column(window, "weight"), w, rtol=1e-12)
    np.testing.assert_allclose(table_column(window, "expected_share"), figs.expected_shares, rtol=1e-12)
    np.testing.assert_allclose(table_column(window, "expected_uses"), figs.expected_uses_per_image, rtol=1e-12)
    np.testing.assert_allclose(table_column(window, "expected_distinct"), figs.expected_distinct, rtol=1e-12)
    np.testing.assert_allclose(table_column(window, "share"), counts / 52, rtol=1e-12)
    # the dataset plot marks each class's expected draws per epoch (N = 52 draws)
    _, marks = window.histogram.raw.marks.getData()
    np.testing.assert_allclose(marks[0::2], figs.expected_shares * 52, rtol=1e-9)
    # the displayed text follows the figures
    row = window.table_model.row_of_class(2)
    shown = window.table_model.index(row, COL["expected_share"]).data()
    assert shown == f"{100 * figs.expected_shares[2]:.2f}%"


def test_inverse_and_balanced_give_the_same_shares(qtbot, window, small_tree):
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    pick(window, Scheme("inverse"))
    inv_w, inv_p = table_column(window, "weight"), table_column(window, "expected_share")
    hint = window.scheme_picker.hint.text()
    pick(window, Scheme("balanced"))
    bal_w, bal_p = table_column(window, "weight"), table_column(window, "expected_share")
    np.testing.assert_allclose(inv_w / 3, bal_w)  # weights differ by C = 3 ...
    np.testing.assert_allclose(inv_p, bal_p, rtol=1e-12)  # ... the shares do not
    for text in (hint, window.scheme_picker.hint.text()):
        assert "Same sampled shares" in text and "relative weights" in text
    pick(window, Scheme("power", 0.0))  # q = 0 is inverse
    assert "same sampled shares as inverse" in window.scheme_picker.hint.text()


def test_edit_weight_makes_scheme_custom(qtbot, window, small_tree):
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    pick(window, Scheme("none"))
    view, model = window.table, window.table_model
    # type a weight into the real editor
    index = model.index(model.row_of_class(1), COL["weight"])
    view.setCurrentIndex(index)
    view.edit(index)
    editors = view.viewport().findChildren(QLineEdit)
    assert len(editors) == 1
    editor = editors[0]
    assert editor.text() == "1"  # the full-precision weight, ready to edit
    editor.selectAll()
    qtbot.keyClicks(editor, "4")
    qtbot.keyClick(editor, Qt.Key.Key_Return)  # the delegate commits on the next event-loop turn
    qtbot.waitUntil(lambda: window.scheme.name == "custom", timeout=5_000)
    assert window.scheme_picker.combo.currentData() == "custom"
    assert dict(window.scheme.custom) == {"ant": 1.0, "bee": 4.0, "cat": 1.0}
    np.testing.assert_allclose(table_column(window, "weight"), [1, 4, 1])
    np.testing.assert_allclose(
        table_column(window, "expected_share"), class_figures([40, 10, 2], np.array([1.0, 4, 1])).expected_shares
    )
    # 0 excludes a class
    assert model.setData(model.index(model.row_of_class(0), COL["weight"]), "0")
    np.testing.assert_allclose(table_column(window, "weight"), [0, 4, 1])
    assert table_column(window, "expected_share")[0] == 0
    np.testing.assert_allclose(table_column(window, "expected_share")[1:], [40 / 42, 2 / 42])
    # bad input is refused with a message, and changes nothing
    assert not model.setData(model.index(0, COL["weight"]), "-1")
    assert not model.setData(model.index(0, COL["weight"]), "abc")
    assert "weight" in window.status_label.text()
    np.testing.assert_allclose(table_column(window, "weight"), [0, 4, 1])
    # all zero is caught by the core, shown, and not applied
    model.setData(model.index(model.row_of_class(1), COL["weight"]), "0")
    np.testing.assert_allclose(table_column(window, "weight"), [0, 0, 1])
    assert window.last_error is None
    model.setData(model.index(model.row_of_class(2), COL["weight"]), "0")
    np.testing.assert_allclose(table_column(window, "weight"), [0, 0, 1])
    assert "zero" in window.last_error


def test_table_sorts_and_copies_tsv(qtbot, window, small_tree):
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    view, model = window.table, window.table_model
    view.sortByColumn(COL["count"], Qt.SortOrder.AscendingOrder)
    assert [model.index(r, COL["name"]).data() for r in range(3)] == ["cat", "bee", "ant"]
    view.sortByColumn(COL["name"], Qt.SortOrder.DescendingOrder)
    assert [model.index(r, COL["name"]).data() for r in range(3)] == ["cat", "bee", "ant"]
    view.sortByColumn(COL["weight"], Qt.SortOrder.DescendingOrder)  # inverse: smallest class first
    assert [model.index(r, COL["name"]).data() for r in range(3)] == ["cat", "bee", "ant"]

    view.sortByColumn(COL["index"], Qt.SortOrder.AscendingOrder)
    view.selectAll()
    QGuiApplication.clipboard().clear()
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    text = QGuiApplication.clipboard().text()
    lines = text.splitlines()
    assert len(lines) == 4
    header = lines[0].split("\t")
    assert header[:5] == ["Class", "Index", "Images", "Share", "Weight"]
    cells = [line.split("\t") for line in lines[1:]]
    assert [c[0] for c in cells] == ["ant", "bee", "cat"]
    assert [int(c[2]) for c in cells] == [40, 10, 2]
    w = class_weights([40, 10, 2], "inverse")
    np.testing.assert_allclose([float(c[4]) for c in cells], w, rtol=1e-15)  # full precision, no formatting
    # a partial selection copies only its box
    view.clearSelection()
    sm = view.selectionModel()
    from PySide6.QtCore import QItemSelectionModel

    for r in (0, 2):
        sm.select(model.index(r, COL["count"]), QItemSelectionModel.SelectionFlag.Select)
    assert view.copy_selection() == "Images\n40\n2\n"


def test_many_classes_stay_legible(qtbot, window, tmp_path):
    """3,000 classes: the window loads them, sorts, zooms, and names only the classes that fit."""
    layout = {f"class_{i:04d}": 1 + (i * 7919) % 13 for i in range(3000)}
    root = make_tree(tmp_path / "many", layout)
    assert open_and_wait(qtbot, window, root, timeout_ms=60_000) == "ok"
    counts = np.array(list(layout.values()))
    assert window.table_model.rowCount() == 3000
    hist = window.histogram
    np.testing.assert_array_equal(hist.raw_heights_by_class(), counts)
    hist.set_sorted(True)
    assert np.all(np.diff(hist.raw.heights) <= 0)  # largest first
    np.testing.assert_array_equal(hist.raw_heights_by_class(), counts)
    np.testing.assert_array_equal(window.coverage.order, hist.order)
    axis = hist.raw_plot.getAxis("bottom")
    width = 600.0
    ticks = axis.tickValues(-0.5, 2999.5, width)[0][1]
    assert 0 < len(ticks) <= 100  # not 3,000 overlapping names
    ticks = axis.tickValues(9.5, 19.5, 2 * width)[0][1]
    assert ticks == [float(v) for v in range(10, 20)]  # zoomed in: every class is named
    assert axis.tickStrings(ticks[:1], 1, 1) == [f"class_{hist.order[10]:04d}"]
    hist.set_log(True)
    # 3,000 classes in a few hundred pixels: each bar is log10 of its bin's mean count
    _, h = step_heights(hist.raw.means)
    starts = np.arange(0, 3000, hist.raw.bin)
    means = np.add.reduceat(counts[hist.order], starts) / np.diff(np.append(starts, 3000))
    assert hist.raw.bin > 1
    np.testing.assert_allclose(h, np.log10(means))
    hist.set_log(False)


def test_hover_shows_class_figures(qtbot, window, small_tree):
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    window.resize(1200, 800)
    qtbot.wait(50)
    hist = window.histogram
    vb = hist.raw_plot.getViewBox()
    scene_pos = vb.mapViewToScene(QPointF(1.0, 5.0))  # over the bar of class 1, "bee"
    text = hist.text_at(scene_pos)
    assert "bee" in text and "images: 10 (19.23%)" in text
    w = class_weights([40, 10, 2], "inverse")
    assert f"weight: {w[1]:.4g}" in text
    assert "expected sampled share: 33.33%" in text
    sampled_pos = hist.sampled_plot.getViewBox().mapViewToScene(QPointF(2.0, 0.0))
    assert "cat" in hist.text_at(sampled_pos) and "drawn: 0" in hist.text_at(sampled_pos)
    hist._mouse_moved(scene_pos)  # the real handler runs without error


# ---------------------------------------------------------------- export


@pytest.mark.parametrize("ext", [".pt", ".csv", ".json", ".npy"])
def test_export_weights_reads_back(qtbot, window, small_tree, tmp_path, monkeypatch, settings, ext):
    from balance_gui.core.weightsfile import load_weights
    from balance_gui.gui.export_dialogs import WEIGHT_FORMATS

    assert open_and_wait(qtbot, window, small_tree) == "ok"
    pick(window, Scheme("sqrt"))
    out_dir = tmp_path / "exports"
    out_dir.mkdir()
    label = dict(WEIGHT_FORMATS)[ext]
    calls = []

    def fake_dialog(parent, caption, start, filters, selected):
        calls.append(start)
        return str(out_dir / "w"), label  # no extension typed: the chosen filter's is added

    monkeypatch.setattr(QFileDialog, "getSaveFileName", fake_dialog)
    with qtbot.waitSignal(window.weightsExported, timeout=60_000) as blocker:
        window.export_action.trigger()
    path = blocker.args[0]
    assert path == str(out_dir / f"w{ext}")
    expected_class = class_weights([40, 10, 2], "sqrt")
    per_sample = load_weights(path, window.index).numpy()
    np.testing.assert_allclose(per_sample, expected_class[window.index.targets], rtol=1e-12)
    if ext == ".json":
        np.testing.assert_allclose(load_weights(path).numpy(), expected_class, rtol=1e-12)
        assert json.loads(Path(path).read_text())["scheme"] == "sqrt"
    # the dialog remembers the folder
    settings.sync()
    assert settings.value("export/last_dir") == str(out_dir)
    from balance_gui.gui.export_dialogs import last_dir

    assert last_dir(settings) == str(out_dir)


def test_export_error_is_a_message(qtbot, window, small_tree, tmp_path):
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    with qtbot.waitSignal(window.errorShown, timeout=60_000) as blocker:
        window.export_weights_to(str(tmp_path / "no-such-dir" / "w.npy"))
    assert "Traceback" not in blocker.args[0]


@pytest.mark.parametrize("ext", [".png", ".svg"])
def test_export_plots(qtbot, window, small_tree, tmp_path, monkeypatch, ext):
    from balance_gui.gui.export_dialogs import PLOT_FORMATS

    assert open_and_wait(qtbot, window, small_tree) == "ok"
    target = tmp_path / f"plots{ext}"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), PLOT_FORMATS[ext]))
    with qtbot.waitSignal(window.plotsExported, timeout=20_000):
        (window.export_png_action if ext == ".png" else window.export_svg_action).trigger()
    assert target.is_file()
    if ext == ".png":
        image = QImage(str(target))
        assert not image.isNull() and image.width() > 200 and image.height() > 100
    else:
        from PySide6.QtSvg import QSvgRenderer

        text = target.read_text()
        assert "<svg" in text and "images per class" in text
        assert QSvgRenderer(str(target)).isValid()


@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")
def test_use_in_training_snippet_runs(qtbot, window, small_tree, tmp_path):
    """The dialog's lines, copied and run, give a DataLoader sampling with the exported weights."""
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    path = str(tmp_path / "weights.pt")
    with qtbot.waitSignal(window.weightsExported, timeout=60_000):
        window.export_weights_to(path)
    dialog = window.show_training_dialog()
    qtbot.addWidget(dialog)
    snippet = dialog.text.toPlainText()
    assert repr(path) in snippet and "DataLoader" in snippet
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == snippet
    namespace: dict = {}
    exec(compile(QGuiApplication.clipboard().text(), "<snippet>", "exec"), namespace)
    sampler = namespace["sampler"]
    assert len(namespace["dataset"]) == 52 and len(sampler) == 52
    assert all(0 <= i < 52 for i in sampler)
    assert "load_sampler(" in snippet and "scatter_" not in snippet  # the core's sampler, not a copy of it
    np.testing.assert_allclose(sampler.class_weights.numpy(), class_weights([40, 10, 2], "inverse"))
    dialog.close()


def test_summary_shows_scan_warnings(qtbot, window, tmp_path):
    root = make_tree(tmp_path / "odd", {"a": 3, "b": 1, ".ipynb_checkpoints": 1, "empty": 0})
    (root / "a" / "notes.txt").write_text("x")
    assert open_and_wait(qtbot, window, root) == "ok"
    warnings = window.summary.warnings()
    assert warnings == window.index.warnings()
    text = window.summary.warnings_label.text()
    assert window.summary.warnings_label.isVisibleTo(window)
    assert ".ipynb_checkpoints" in text and "hidden folder" in text
    assert "empty" in text and "notes" not in text and "1 file(s) skipped" in text
    assert window.summary.values["empty_classes"].text() == "1"
    # an empty class gets weight 0 and cannot be edited
    model = window.table_model
    c = window.index.classes.index("empty")
    assert model.column_values("weight")[c] == 0
    assert not (model.flags(model.index(model.row_of_class(c), COL["weight"])) & Qt.ItemFlag.ItemIsEditable)


def test_export_actions_in_toolbar_and_file_menu(window):
    file_menu = window.menuBar().actions()[0].menu()
    for action in (window.export_action, window.export_png_action, window.export_svg_action, window.open_action):
        assert action in window.toolbar.actions()
        assert action in file_menu.actions()
    assert window.open_action.shortcut().toString() == "Ctrl+O"
    assert not window.export_action.isEnabled()  # nothing to export before a dataset is open


def test_run_app_opens_the_command_line_path(qapp, small_tree):
    """``balance-gui PATH`` calls run_app(PATH): the window opens PATH, and closing it ends the app."""
    from PySide6.QtCore import QTimer

    from balance_gui.gui.app import run_app
    from balance_gui.gui.main_window import MainWindow

    seen = {}
    hook_before = sys.excepthook

    def check():
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if not windows:
            QTimer.singleShot(10, check)
            return
        w = windows[0]

        def loaded(index):
            seen["root"] = index.root
            seen["shown"] = w.isVisible()
            w.close()

        if w.index is not None:
            loaded(w.index)
        else:
            w.datasetLoaded.connect(loaded)

    QTimer.singleShot(0, check)
    QTimer.singleShot(30_000, qapp.quit)  # safety net
    assert run_app(str(small_tree)) == 0
    assert seen == {"root": str(small_tree), "shown": True}
    assert sys.excepthook is hook_before
    assert active_threads() == 0


def test_opening_a_dataset_reports_no_check(qtbot, window, small_tree):
    """No check ran: opening (and reopening) a dataset must not say that one ended (issue 15)."""
    ended: list[str] = []
    window.checkEnded.connect(ended.append)
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    assert open_and_wait(qtbot, window, small_tree) == "ok"
    qtbot.wait(50)  # a queued emission would land here
    assert ended == []
