"""The class gallery and the check panel: lazy thumbnails, bounded cache, most-drawn order,
hover and double-click, and the check worker with its problems list."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from balance_gui.core.dataset import scan_image_folder
from balance_gui.core.errors import Cancelled
from balance_gui.gui import gallery
from balance_gui.gui.gallery import GalleryPanel, most_drawn_order
from balance_gui.gui.image_check import ProblemsPanel, make_check_job

from ..test_images import image_bytes, write
from .conftest import active_threads


@pytest.fixture
def image_tree(tmp_path):
    """Class "big": 400 real PNGs (only a few are ever on screen); "small": 5 JPEGs and a broken file."""
    root = tmp_path / "data"
    payload = image_bytes(1, "PNG", (40, 30))  # the same bytes: the gallery does not care, and it is fast
    for i in range(400):
        write(root, f"big/{i:04d}.png", payload)
    for i in range(5):
        write(root, f"small/{i}.jpg", image_bytes(10 + i, "JPEG", (200, 100)))
    write(root, "small/zz_broken.jpg", b"not an image")
    return root


@pytest.fixture
def panel(qtbot):
    opened: list[str] = []
    p = GalleryPanel(open_file=opened.append, threads=2)
    p.opened = opened
    qtbot.addWidget(p)
    p.resize(500, 400)
    p.show()
    yield p
    assert p.shutdown(timeout_s=30)


@pytest.fixture
def decoded(monkeypatch):
    """Every path the gallery's loader decodes, in order."""
    seen: list[str] = []
    lock = threading.Lock()
    real = gallery.decode_thumbnail

    def spy(path, size):
        with lock:
            seen.append(path)
        return real(path, size)

    monkeypatch.setattr(gallery, "decode_thumbnail", spy)
    return seen


def visible_rows(panel) -> set[int]:
    view = panel.view
    rows = set()
    rect = view.viewport().rect()
    step = 8
    for x in range(0, rect.width(), step):
        for y in range(0, rect.height(), step):
            idx = view.indexAt(QPoint(x, y))
            if idx.isValid():
                rows.add(idx.row())
    return rows


def test_only_visible_rows_are_decoded(qtbot, panel, image_tree, decoded):
    index = scan_image_folder(image_tree)
    panel.set_class(index, index.class_to_idx["big"])
    assert panel.model.rowCount() == 400
    shown = visible_rows(panel)
    assert 4 <= len(shown) < 100
    qtbot.waitUntil(lambda: panel.model.cached() >= len(shown), timeout=5000)
    rows = {int(os.path.basename(p)[:4]) for p in decoded}
    # What is on screen, a part-row below it, and the last row: QListView measures it for its layout.
    assert rows <= shown | set(range(max(shown) + 1, max(shown) + 20)) | {399}
    assert len(decoded) < 100

    panel.view.scrollToBottom()
    qtbot.waitUntil(lambda: any(p.endswith("0399.png") for p in decoded), timeout=5000)
    assert any(p.endswith("0399.png") for p in decoded)  # scrolled to the end: the last row is decoded
    assert len(set(decoded)) < 200  # the middle, never shown, was never decoded


def test_the_thumbnail_cache_is_bounded(qtbot, image_tree, decoded):
    p = GalleryPanel(open_file=None, cache_size=10, threads=2)
    qtbot.addWidget(p)
    try:
        index = scan_image_folder(image_tree)
        p.set_class(index, index.class_to_idx["big"])
        model = p.model
        for row in range(60):  # as a view scrolling past 60 rows would ask
            model.data(model.index(row), Qt.ItemDataRole.DecorationRole)
            qtbot.waitUntil(lambda row=row: any(x.endswith(f"{row:04d}.png") for x in decoded), timeout=10000)
        qtbot.waitUntil(lambda: p.loader.decoded >= 60, timeout=5000)
        assert p.loader.decoded >= 60 and model.cached() == 10
    finally:
        assert p.shutdown(timeout_s=30)


def test_thumbnails_are_scaled_and_hover_shows_name_and_size(qtbot, panel, image_tree):
    index = scan_image_folder(image_tree)
    panel.set_class(index, index.class_to_idx["small"])
    model = panel.model
    qtbot.waitUntil(lambda: model.cached() == 6, timeout=5000)
    pixmap = model.data(model.index(0), Qt.ItemDataRole.DecorationRole)
    assert (pixmap.width(), pixmap.height()) == (96, 48)  # 200 x 100 kept its aspect ratio
    tip = model.data(model.index(0), Qt.ItemDataRole.ToolTipRole)
    size = os.path.getsize(image_tree / "small" / "0.jpg")
    assert tip.splitlines()[:3] == [
        "small/0.jpg",  # the full relative path
        f"{size:,} bytes" if size < 1024 else f"{size / 1024:.1f} KB",
        "200 × 100 px",
    ]
    broken = model.data(model.index(5), Qt.ItemDataRole.ToolTipRole)
    assert broken.startswith("small/zz_broken.jpg") and "cannot decode" in broken


def test_most_drawn_order(qtbot, panel, image_tree):
    index = scan_image_folder(image_tree)
    small = index.class_to_idx["small"]
    draws = np.zeros(len(index), dtype=np.int64)
    first = int(np.flatnonzero(index.targets == small)[0])
    draws[first : first + 6] = [3, 9, 0, 9, 1, 5]
    panel.set_class(index, small)
    assert not panel.sort.model().item(1).isEnabled()  # nothing to sort by before a run
    panel.set_draw_counts(draws)
    panel.sort.setCurrentText(gallery.SORT_MOST_DRAWN)
    names = [os.path.basename(panel.model.path(r)) for r in range(panel.model.rowCount())]
    assert names == ["1.jpg", "3.jpg", "zz_broken.jpg", "0.jpg", "4.jpg", "2.jpg"]  # ties keep file order
    assert panel.model.data(panel.model.index(0)) == "1.jpg  ×9"
    panel.sort.setCurrentText(gallery.SORT_FILE_ORDER)
    assert os.path.basename(panel.model.path(0)) == "0.jpg"
    assert most_drawn_order(np.array([0, 1, 2]), np.array([1, 2, 2])).tolist() == [1, 2, 0]


def test_double_click_emits_and_opens_the_file(qtbot, panel, image_tree):
    index = scan_image_folder(image_tree)
    panel.set_class(index, index.class_to_idx["small"])
    rect = panel.view.visualRect(panel.model.index(2))
    with qtbot.waitSignal(panel.imageActivated) as blocker:
        # A real double-click: QTest's mouseDClick alone sends no press, and item views need one.
        qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    expected = str(image_tree / "small" / "2.jpg")
    assert blocker.args == [expected] and panel.opened == [expected]


def test_check_job_reports_problems_into_the_panel(qtbot, tmp_path, image_tree):
    index = scan_image_folder(image_tree)
    job = make_check_job(index, workers=1, cache_path=None)
    returned = []
    job.worker.returned.connect(returned.append)
    with qtbot.waitSignal(job.worker.finished, timeout=30_000):
        job.worker.start()
    qtbot.waitUntil(lambda: active_threads() == 0, timeout=5000)  # "finished" comes just before its thread ends
    [result] = returned
    assert job.latest is not None and job.latest.files_done == len(index)
    assert len(result.duplicates) == 399 and [p.path for p in result.corrupt] == ["small/zz_broken.jpg"]
    from balance_gui.core import duplicates

    assert any(p is result.problems for p, _ in duplicates._GROUPS_CACHE)  # grouped on the worker's thread

    problems = ProblemsPanel()
    qtbot.addWidget(problems)
    try:
        problems.set_result(index, result)
        assert problems.model.rowCount() == 2  # one group of 400 copies, one corrupt file
        assert "399 duplicate copies in 1 group;" in problems.summary.text()
        with qtbot.waitSignal(problems.problemSelected) as selected:
            problems.select_row(1)  # the corrupt file: its reason, no image
        assert selected.args[0].kind == "corrupt"
        assert "not an image" in problems.detail.text() and problems.image.pixmap().isNull()
        problems.select_row(0, copy=3)  # a copy: its image is shown
        qtbot.waitUntil(lambda: not problems.image.pixmap().isNull(), timeout=5000)
        assert "big/0003.png: copy of big/0000.png" in problems.detail.text()
    finally:
        assert problems.shutdown(timeout_s=30)


def test_check_job_cancel(qtbot, image_tree):
    job = make_check_job(scan_image_folder(image_tree), workers=1, cache_path=None)
    job.cancel.set()
    errors = []
    job.worker.errored.connect(errors.append)
    with qtbot.waitSignal(job.worker.finished, timeout=30_000):
        job.worker.start()
    qtbot.waitUntil(lambda: active_threads() == 0, timeout=5000)  # "finished" comes just before its thread ends
    assert len(errors) == 1 and isinstance(errors[0], Cancelled)


# ---------------------------------------------------------------- hostile files: the check's rules


def thumbnail_within(path, seconds: float = 10.0, **kwargs):
    """``decode_thumbnail`` on a thread: a test fails, instead of hanging, on a decode that never ends."""
    out = []
    thread = threading.Thread(target=lambda: out.append(gallery.decode_thumbnail(str(path), 64, **kwargs)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert out, f"decoding the thumbnail of {path} did not end within {seconds} s"
    return out[0]


def test_thumbnails_open_only_regular_files(tmp_path):
    os.mkfifo(tmp_path / "pipe.jpg")
    os.symlink("/dev/zero", tmp_path / "zero.jpg")
    # In a child: QImageReader opened the FIFO and waited for a writer for ever, holding the GIL.
    code = (
        "import sys; from balance_gui.gui.gallery import decode_thumbnail\n"
        "for path in sys.argv[1:]:\n"
        "    image, _, _, error = decode_thumbnail(path, 64)\n"
        "    print(image.isNull(), error)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "pipe.jpg"), str(tmp_path / "zero.jpg")],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == ["True not a regular file: fifo", "True not a regular file: character device"]
    write(tmp_path, "big.png", image_bytes(1, "PNG", (40, 30)))
    image, _, _, error = thumbnail_within(tmp_path / "big.png", max_file_bytes=100)
    assert image.isNull() and error.startswith("too large: ")


def test_thumbnails_decode_only_what_the_check_accepts(tmp_path):
    from balance_gui.core.images import ACCEPTED_FORMATS, DEFAULT_MAX_PIXELS

    from ..hostile_helpers import POSTSCRIPT, png_header_only

    accepted = ", ".join(ACCEPTED_FORMATS)
    write(tmp_path, "gif.jpg", image_bytes(2, "GIF"))  # Qt reads GIFs; the check does not
    write(tmp_path, "loop.jpg", POSTSCRIPT)
    write(tmp_path, "bomb.png", png_header_only(12000, 12000))
    write(tmp_path, "png_named.jpg", image_bytes(3, "PNG", (200, 100)))
    image, _, _, error = thumbnail_within(tmp_path / "gif.jpg")
    assert image.isNull() and error == f"a GIF file: not a format the check decodes ({accepted})"
    image, _, _, error = thumbnail_within(tmp_path / "loop.jpg")
    assert image.isNull() and error == f"a PostScript file: not a format the check decodes ({accepted})"
    image, width, height, error = thumbnail_within(tmp_path / "bomb.png")
    assert image.isNull() and (width, height) == (12000, 12000)
    assert error.startswith("too many pixels to decode safely") and f"> {DEFAULT_MAX_PIXELS:,}" in error
    image, width, height, error = thumbnail_within(tmp_path / "png_named.jpg")
    assert not image.isNull() and (width, height, error) == (200, 100, "") and image.width() == 64
