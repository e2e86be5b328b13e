"""The gallery after an image check (issue 15): small images enlarged to the thumbnail size, the full
relative path and a copy's other labels on hover, corrupt and excluded files badged (drawn on the
thumbnail, with the reason in the tooltip), and a large preview when the system has no viewer."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage

from balance_gui.core.dataset import scan_image_folder
from balance_gui.core.duplicates import duplicate_groups, resolve
from balance_gui.core.images import check_images
from balance_gui.gui import gallery
from balance_gui.gui.gallery import BADGE_CORRUPT, BADGE_EXCLUDED, BADGE_ROLE, GalleryPanel

from ..test_duplicates import mixed_tree
from ..test_images import write


@pytest.fixture
def checked(tmp_path):
    index = scan_image_folder(mixed_tree(tmp_path / "data"))
    return index, check_images(index, workers=1, cache_path=None)


@pytest.fixture
def panel(qtbot):
    opened: list[str] = []
    p = GalleryPanel(open_file=lambda path: opened.append(path) or False, threads=2)  # no system viewer
    p.opened = opened
    qtbot.addWidget(p)
    p.resize(600, 400)
    p.show()
    yield p
    assert p.shutdown(timeout_s=30)


def rows_by_name(panel) -> dict[str, int]:
    model = panel.model
    return {model.path(r).rsplit("/", 1)[-1]: r for r in range(model.rowCount())}


def test_small_images_are_enlarged_with_sharp_pixels(tmp_path):
    tiny = QImage(8, 4, QImage.Format.Format_RGB32)
    for x in range(8):
        for y in range(4):
            tiny.setPixelColor(x, y, QColor(255 * (x % 2), 40 * y, 0))
    tiny.save(str(tmp_path / "tiny.png"))
    image, width, height, error = gallery.decode_thumbnail(str(tmp_path / "tiny.png"), 64)
    assert (image.width(), image.height(), width, height, error) == (64, 32, 8, 4, "")
    # nearest neighbour at 8x: each source pixel is an 8 x 8 block of its own colour
    for x, y in ((0, 0), (1, 0), (7, 3), (3, 2)):
        block = {image.pixelColor(8 * x + dx, 8 * y + dy).rgb() for dx in (0, 7) for dy in (0, 7)}
        assert block == {tiny.pixelColor(x, y).rgb()}
    # less than twice: smoothed, still filling the thumbnail
    write(tmp_path, "mid.png", _png(40, 30))
    image, *_ = gallery.decode_thumbnail(str(tmp_path / "mid.png"), 64)
    assert (image.width(), image.height()) == (64, 48)


def _png(width: int, height: int) -> bytes:
    from ..test_images import image_bytes

    return image_bytes(7, "PNG", (width, height))


def test_hover_gives_the_full_path_and_a_copys_other_labels(qtbot, panel, checked):
    index, result = checked
    panel.set_class(index, index.class_to_idx["bee"])
    panel.set_check(result)
    model = panel.model
    rows = rows_by_name(panel)
    tip = model.index(rows["b1.png"]).data(Qt.ItemDataRole.ToolTipRole).splitlines()
    assert tip[0] == "bee/b1.png"
    assert "also labelled: ant, cat (a label conflict)" in tip
    assert "excluded (weight 0): a label conflict, no copy kept until one is chosen in Problems" in tip
    assert "copies: ant (ant/a1.png), cat (cat/c1.png)" in tip
    plain = model.index(rows["b0.png"]).data(Qt.ItemDataRole.ToolTipRole).splitlines()
    assert plain[0] == "bee/b0.png" and not any("weight 0" in line for line in plain)


def test_corrupt_and_excluded_files_are_badged(qtbot, panel, checked):
    index, result = checked
    panel.set_class(index, index.class_to_idx["ant"])
    model = panel.model
    rows = rows_by_name(panel)
    assert all(model.index(r).data(BADGE_ROLE) is None for r in rows.values())  # no check, nothing known yet
    panel.set_check(result)
    badges = {name: model.index(r).data(BADGE_ROLE) for name, r in rows.items()}
    assert badges == {"a0.png": None, "a1.png": BADGE_EXCLUDED, "a2.png": BADGE_EXCLUDED, "a3.png": None}
    tip = model.index(rows["a2.png"]).data(Qt.ItemDataRole.ToolTipRole)
    assert "excluded (weight 0): a duplicate copy" in tip and "copies: ant (ant/a0.png)" in tip
    assert "kept (its copies get weight 0)" in model.index(rows["a0.png"]).data(Qt.ItemDataRole.ToolTipRole)

    # the user keeps ant/a1.png in Problems: the session's resolved check lifts its badge
    conflict = duplicate_groups(result)[1]
    panel.set_check(resolve(result, {conflict.representative: conflict.representative}))
    assert model.index(rows["a1.png"]).data(BADGE_ROLE) is None

    panel.set_class(index, index.class_to_idx["dog"])
    assert model.index(0).data(BADGE_ROLE) == BADGE_CORRUPT
    assert "corrupt (weight 0): not an image (no format recognised)" in model.index(0).data(Qt.ItemDataRole.ToolTipRole)
    panel.set_check(None)  # without a check, a thumbnail that does not decode is marked corrupt too
    qtbot.waitUntil(lambda: model.cached() == 1, timeout=5000)
    assert model.index(0).data(BADGE_ROLE) == BADGE_CORRUPT


def test_the_badge_is_drawn_on_the_thumbnail(qtbot, panel, checked):
    index, result = checked
    panel.set_class(index, index.class_to_idx["cat"])
    panel.set_check(result)
    qtbot.waitUntil(lambda: panel.model.cached() == 3, timeout=5000)
    rows = rows_by_name(panel)
    picture = panel.view.viewport().grab().toImage()

    def orange_pixels(row: int) -> int:
        rect = panel.view.visualRect(panel.model.index(row))
        return sum(
            picture.pixelColor(x, y).rgb() == QColor(200, 120, 0).rgb()
            for x in range(rect.left(), rect.right())
            for y in range(rect.top(), rect.bottom())
        )

    assert orange_pixels(rows["c1.png"]) > 100 and orange_pixels(rows["c2.png"]) > 100  # excluded copies
    assert orange_pixels(rows["c0.png"]) == 0  # kept


def test_double_click_without_a_viewer_shows_a_large_preview(qtbot, panel, checked):
    index, result = checked
    panel.set_class(index, index.class_to_idx["bee"])
    panel.set_check(result)
    rect = panel.view.visualRect(panel.model.index(1))
    qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    path = panel.model.path(1)
    assert panel.opened == [path]  # the system viewer was tried first
    dialog = panel.preview_dialog
    assert dialog is not None and dialog.isVisible() and dialog.path == path
    qtbot.waitUntil(lambda: not dialog.image.pixmap().isNull(), timeout=5000)
    assert dialog.image.pixmap().width() == gallery.PREVIEW_SIZE  # a 24 x 16 image, shown 768 wide
    assert "bee/b1.png" in dialog.info.text() and "label conflict" in dialog.info.text()

    panel.view.setCurrentIndex(panel.model.index(0))  # "Preview" shows the selected image, a viewer or not
    qtbot.mouseClick(panel.preview_button, Qt.MouseButton.LeftButton)
    assert dialog.path == panel.model.path(0) and dialog.info.text().startswith("bee/b0.png")
    dialog.close()


def test_a_corrupt_file_previews_its_reason(qtbot, panel, checked):
    index, result = checked
    panel.set_class(index, index.class_to_idx["dog"])
    panel.set_check(result)
    dialog = panel.preview(0)
    qtbot.waitUntil(lambda: dialog.image.text().startswith("cannot be shown"), timeout=5000)
    assert "not an image" in dialog.image.text() and "corrupt (weight 0)" in dialog.info.text()
    dialog.close()


def test_a_one_class_check_names_copies_by_path_alone(qtbot, panel, tmp_path):
    """A COCO file's check runs on its images as one class ("images"): a copy's class says nothing."""
    from ..test_images import image_bytes

    for name, seed in (("x0", 1), ("x1", 2), ("x2", 1)):
        write(tmp_path / "one", f"a/{name}.png", image_bytes(seed))
    index = scan_image_folder(tmp_path / "one")
    panel.set_class(index, 0)
    panel.set_check(check_images(index, workers=1, cache_path=None))
    tip = panel.model.index(2).data(Qt.ItemDataRole.ToolTipRole).splitlines()
    assert tip[0] == "a/x2.png" and "copies: a/x0.png" in tip and "excluded (weight 0): a duplicate copy" in tip
    assert not any("label" in line for line in tip)
