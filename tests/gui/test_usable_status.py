"""The status bar's "Weights on usable images: N of M" follows the session: the switch, and a
duplicate copy kept in the Problems tab with the switch on (the usable images change, the switch not)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from .conftest import open_and_wait
from .test_image_check_window import conflict_row
from .test_wiring import health_tree, run_check  # noqa: F401  (the fixture)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_a_kept_copy_updates_the_usable_images_status(qtbot, window, health_tree):  # noqa: F811
    """health_tree: 11 files; ant/a1.png and bee/z_copy.png are one picture (a label conflict: both out)."""
    assert open_and_wait(qtbot, window, health_tree) == "ok"
    assert run_check(qtbot, window) == "ok"
    window.usable_check.setChecked(True)
    assert window.status_label.text().startswith("Weights on usable images: 7 of 11 images, 4 excluded")
    window.show_status("something else")
    panel = window.problems
    panel.select_row(conflict_row(panel), copy=1)
    qtbot.mouseClick(panel.keep_button, Qt.MouseButton.LeftButton)
    assert int(window.session.check.usable_mask.sum()) == 8
    assert window.status_label.text().startswith("Weights on usable images: 8 of 11 images, 3 excluded")
    window.usable_check.setChecked(False)
    assert window.status_label.text() == "Weights on all 11 images"
