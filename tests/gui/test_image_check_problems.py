"""The Problems tab (issue 15): one row per duplicate group, expandable to its copies and their
classes; a label conflict marked, "Keep this copy" / "Keep none" / "Default" changing the usable
mask that reaches the session's weights; filters by kind, class and text; CSV export of the rows
shown, written atomically; the per-class statistics; and a model that stays lazy at 54,442 copies."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from PySide6.QtCore import QModelIndex, Qt

from balance_gui.core.dataset import scan_image_folder
from balance_gui.core.duplicates import duplicate_groups
from balance_gui.core.errors import WeightsFileError
from balance_gui.core.images import CheckResult, ClassStats, Problem, check_images
from balance_gui.core.weights import class_weights
from balance_gui.gui.image_check import ProblemsPanel, summary_text
from balance_gui.gui.problems_model import (
    FILTER_CONFLICTS,
    FILTER_CORRUPT,
    FILTER_DUPLICATES,
    KIND_CONFLICT,
    SORT_ROLE,
    ProblemsModel,
)
from balance_gui.gui.session import Session

from ..test_duplicates import mixed_tree


@pytest.fixture
def checked(tmp_path):
    index = scan_image_folder(mixed_tree(tmp_path / "data"))
    return index, check_images(index, workers=1, cache_path=None)


@pytest.fixture
def panel(qtbot):
    p = ProblemsPanel()
    qtbot.addWidget(p)
    yield p
    assert p.shutdown(timeout_s=30)


def rows(model, parent=None) -> list[tuple[str, ...]]:
    parent = QModelIndex() if parent is None else parent
    return [
        tuple(model.index(r, c, parent).data() for c in range(model.columnCount()))
        for r in range(model.rowCount(parent))
    ]


def test_one_row_per_group_expandable_to_its_copies_and_their_classes(qtbot, panel, checked):
    index, result = checked
    panel.set_result(index, result)
    model = panel.model
    assert [(k, p, c, u) for k, p, c, u, _ in rows(model)] == [
        ("duplicate", "ant/a0.png", "ant", "1 of 2"),
        (KIND_CONFLICT, "ant/a1.png", "ant, bee, cat", "none"),  # a label conflict keeps no copy
        ("duplicate", "cat/c0.png", "cat", "1 of 2"),
        ("corrupt", "dog/d_bad.png", "dog", "no"),
    ]
    conflict = model.index(1, 0)
    assert "3 identical files in 3 classes" in model.index(1, 4).data()
    assert model.index(1, 0).data(Qt.ItemDataRole.ForegroundRole) is not None  # drawn in the conflict colour
    assert [(p, c, u) for _, p, c, u, _ in rows(model, conflict)] == [
        ("ant/a1.png", "ant", "no"),
        ("bee/b1.png", "bee", "no"),
        ("cat/c1.png", "cat", "no"),
    ]
    assert model.rowCount(model.index(3, 0)) == 0  # a corrupt file has no children
    assert "bee/b1.png  (class bee, excluded)" in model.index(1, 1).data(Qt.ItemDataRole.ToolTipRole)
    assert panel.summary.text() == (
        "1 corrupt, 4 duplicate copies in 3 groups (1 label conflict: no copy kept unless you keep one); "
        "4 of 10 images usable (6 excluded: 60.00%)"
    )
    assert panel.shown_label.text() == "4 of 4 rows"


def test_keep_this_copy_keep_none_and_default_reach_the_session(qtbot, panel, checked):
    index, result = checked
    session = Session()
    session.set_dataset(index)
    session.set_check(result)
    session.set_use_usable(True)
    panel.duplicatesResolved.connect(session.resolve_duplicates)
    session.checkChanged.connect(lambda: panel.set_result(index, session.check))
    panel.set_result(index, session.check)
    np.testing.assert_array_equal(session.counts, [2, 1, 1, 0])

    panel.select_row(1, copy=1)  # bee/b1.png in the label conflict
    assert panel.keep_button.isEnabled() and not panel.keep_none_button.isEnabled()
    assert not panel.default_button.isEnabled()  # it is the default already
    with qtbot.waitSignal(panel.duplicatesResolved) as chosen:
        qtbot.mouseClick(panel.keep_button, Qt.MouseButton.LeftButton)
    conflict = duplicate_groups(result)[1]
    assert chosen.args == [{conflict.representative: conflict.samples[1]}]
    # the session's check, counts and weights follow; the panel keeps its row, selection and expansion
    np.testing.assert_array_equal(session.counts, [2, 2, 1, 0])
    assert session.check.usable_mask[conflict.samples[1]] and not session.excluded[conflict.samples[1]]
    np.testing.assert_array_equal(session.class_weights, class_weights([2, 2, 1, 0], "inverse", index.classes))
    current = panel.list.currentIndex()
    assert (current.parent().row(), current.row()) == (1, 1) and panel.list.isExpanded(panel.model.index(1, 0))
    assert panel.model.index(1, 3).data() == "1 of 3 (your choice)"
    assert panel.model.index(1, 3, panel.model.index(1, 0)).data() == "yes"
    assert "kept: bee/b1.png (class bee)" in panel.detail.text()
    assert [s.usable for s in panel.result.class_stats] == [2, 2, 1, 0]
    assert panel.default_button.isEnabled() and not panel.keep_button.isEnabled()

    panel.select_row(0)  # the same-class group: keep none of it
    panel.keep_none_selected()
    np.testing.assert_array_equal(session.counts, [1, 2, 1, 0])
    assert panel.model.index(0, 3).data() == "none (your choice)"
    panel.select_row(1)
    panel.restore_default_selected()  # the conflict: back to no copy
    np.testing.assert_array_equal(session.counts, [1, 1, 1, 0])
    assert panel.model.index(1, 3).data() == "none"


def test_a_choice_is_refused_mid_run_and_the_session_is_unchanged(qtbot, panel, checked):
    from balance_gui.core.errors import SettingsError
    from balance_gui.gui.session import RunState

    index, result = checked
    session = Session()
    session.set_dataset(index)
    session.set_check(result)
    session.set_state(RunState.RUNNING)
    with pytest.raises(SettingsError, match="stop the run"):
        session.resolve_duplicates({duplicate_groups(result)[1].representative: None})
    assert session.check is result
    session.set_state(RunState.IDLE)
    session.set_check(None)
    with pytest.raises(SettingsError, match="run the image check first"):
        session.resolve_duplicates({0: None})


def test_filters_by_kind_class_and_text(qtbot, panel, checked):
    index, result = checked
    panel.set_result(index, result)

    def paths() -> list[str]:
        return [r[1] for r in rows(panel.model)]

    panel.set_filter(FILTER_CONFLICTS)
    assert paths() == ["ant/a1.png"] and panel.shown_label.text() == "1 of 4 rows"
    panel.set_filter(FILTER_CORRUPT)
    assert paths() == ["dog/d_bad.png"]
    panel.set_filter(FILTER_DUPLICATES)
    assert paths() == ["ant/a0.png", "ant/a1.png", "cat/c0.png"]
    panel.set_filter(class_name="bee")  # a group with a copy in bee
    assert paths() == ["ant/a1.png"]
    panel.set_filter(class_name="cat")
    assert paths() == ["ant/a1.png", "cat/c0.png"]
    panel.set_filter(text="C2")  # any copy's path, case ignored
    assert paths() == ["cat/c0.png"]
    panel.set_filter(FILTER_CORRUPT, class_name="ant")
    assert paths() == [] and not panel.export_button.isEnabled()
    # through the widgets, as a user does
    panel.set_filter()
    panel.kind_filter.setCurrentText(FILTER_CONFLICTS)
    panel.class_filter.setCurrentText("cat")
    assert paths() == ["ant/a1.png"]
    qtbot.keyClicks(panel.search, "zzz")
    assert paths() == [] and panel.shown_label.text() == "0 of 4 rows"


def test_export_csv_writes_the_rows_shown_atomically(qtbot, panel, checked, tmp_path):
    index, result = checked
    panel.set_result(index, result)
    out = tmp_path / "problems.csv"
    assert panel.export_csv(str(out)) == 8  # 3 groups of 2, 3, 2 copies and a corrupt file
    table = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert table[0] == ["kind", "group", "path", "class", "usable", "detail"]
    assert table[1:3] == [
        ["duplicate", "1", "ant/a0.png", "ant", "yes", "first copy"],
        ["duplicate", "1", "ant/a2.png", "ant", "no", "copy of ant/a0.png"],
    ]
    assert table[-1] == ["corrupt", "", "dog/d_bad.png", "dog", "no", "not an image (no format recognised)"]

    panel.set_filter(FILTER_CONFLICTS)
    panel.select_row(0, copy=2)
    panel.keep_selected()
    assert panel.export_csv(str(out)) == 3
    table = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [(r[0], r[2], r[3], r[4]) for r in table[1:]] == [
        (KIND_CONFLICT, "ant/a1.png", "ant", "no"),
        (KIND_CONFLICT, "bee/b1.png", "bee", "no"),
        (KIND_CONFLICT, "cat/c1.png", "cat", "yes"),
    ]
    before = out.read_bytes()
    with pytest.raises(WeightsFileError, match="does not exist"):
        panel.export_csv(str(tmp_path / "missing" / "p.csv"))
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(WeightsFileError, match="is a folder"):
        panel.export_csv(str(tmp_path / "folder.csv"))
    assert out.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [
        "data",
        "folder.csv",
        "problems.csv",
    ]  # no temp file left


def test_class_statistics_table(qtbot, panel, checked):
    index, result = checked
    panel.set_result(index, result)
    table = panel.stats.model()
    assert table.rowCount() == 4
    header = [table.headerData(c, Qt.Orientation.Horizontal) for c in range(table.columnCount())]
    assert header[:5] == ["Class", "Images", "Usable", "Corrupt", "Duplicate copies"]
    first = [table.index(0, c).data() for c in range(table.columnCount())]
    assert first == ["ant", "4", "2", "0", "1", "24/24/24", "16/16/16", "0", "4", "RGB 4"]
    dog = [table.index(3, c).data() for c in range(table.columnCount())]
    assert dog[:5] == ["dog", "1", "0", "1", "0"] and dog[5] == "—" and dog[9] == "—"
    panel.stats.sortByColumn(1, Qt.SortOrder.DescendingOrder)  # by the number of images
    assert [table.index(r, 0).data() for r in range(4)] == ["ant", "cat", "bee", "dog"]
    panel.select_row(1, copy=1)
    panel.keep_selected()  # bee/b1.png now usable: the Usable column follows, the sort stays
    assert [(table.index(r, 0).data(), table.index(r, 2).data()) for r in range(4)] == [
        ("ant", "2"),
        ("cat", "1"),
        ("bee", "2"),
        ("dog", "0"),
    ]
    assert table.index(0, 5).data(SORT_ROLE) == 24


def synthetic_check(groups: int, copies: int, classes: int = 50) -> CheckResult:
    """``groups`` contents, each held by ``copies`` files spread over the classes (no image needed)."""
    n = groups * copies
    targets = np.arange(n, dtype=np.int64) % classes
    names = tuple(f"class_{c:03d}" for c in range(classes))
    problems = []
    for g in range(groups):
        first = g * copies
        for k in range(1, copies):
            s = first + k
            problems.append(
                Problem(
                    s,
                    f"f/{s:07d}.png",
                    "duplicate",
                    duplicate_of=first,
                    duplicate_of_path=f"f/{first:07d}.png",
                    cross_class=bool(targets[s] != targets[first]),
                )
            )
    stats = tuple(ClassStats(c, int((targets == i).sum()), 0, 0, 0, None, None, 0, 0, {}) for i, c in enumerate(names))
    unusable = np.ones(n, dtype=bool)
    return CheckResult(names, targets, tuple(problems), stats, 0, 0.0, _unusable=unusable)


def test_54442_copies_are_rows_of_a_lazy_model(qtbot, monkeypatch):
    """54,442 copies in 27,221 groups: one row per group, and the view asks only for the rows it paints."""
    result = synthetic_check(27_221, 3)
    assert len(result.duplicates) == 54_442
    asked: set[tuple[int, int]] = set()
    real = ProblemsModel.data

    def spy(self, index, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole:
            asked.add((index.internalId(), index.row()))
        return real(self, index, role)

    monkeypatch.setattr(ProblemsModel, "data", spy)
    p = ProblemsPanel()
    qtbot.addWidget(p)
    try:
        p.resize(900, 600)
        p.show()
        # the panel reads only the index's length and root
        fake = type("Index", (), {"__len__": lambda self: len(result.targets), "root": "/nonexistent"})()
        p.set_result(fake, result)
        qtbot.wait(50)
        assert p.model.rowCount() == 27_221
        assert 0 < len(asked) < 200  # the rows on screen, not 27,221 (nor 54,442)
        p.set_filter(class_name="class_007")
        assert 0 < p.model.rowCount() < 27_221
        assert all(7 in p.model.entry(p.model.index(r, 0)).targets for r in range(p.model.rowCount()))
    finally:
        assert p.shutdown(timeout_s=30)


def test_the_summary_keeps_a_small_share_readable():
    n = 1_000_000
    unusable = np.zeros(n, dtype=bool)
    unusable[5] = True
    stats = (ClassStats("a", n, n - 1, 1, 0, None, None, 0, 0, {}),)
    result = CheckResult(
        ("a",),
        np.zeros(n, dtype=np.int64),
        (Problem(5, "a/5.jpg", "corrupt", reason="empty"),),
        stats,
        0,
        0.0,
        _unusable=unusable,
    )
    index = type("Index", (), {"__len__": lambda self: n})()
    assert summary_text(index, result, 0, 0) == (
        "1 corrupt, 0 duplicate copies in 0 groups; 999,999 of 1,000,000 images usable (1 excluded: 0.0001%)"
    )


def test_the_preview_shows_the_whole_image_in_a_short_pane(qtbot, panel, checked):
    index, result = checked
    panel.resize(900, 260)  # a short pane: less than the 256 px preview
    panel.show()
    panel.set_result(index, result)
    panel.select_row(0, copy=1)
    qtbot.waitUntil(lambda: not panel.image.pixmap().isNull(), timeout=5000)
    shown = panel.image.pixmap()
    assert shown.height() <= panel.image.height() and shown.width() <= panel.image.width()
    assert abs(shown.width() * 16 - shown.height() * 24) <= 24  # a 24 x 16 image, aspect kept (to a pixel)
    panel.resize(1200, 900)
    qtbot.waitUntil(lambda: panel.image.pixmap().width() > shown.width(), timeout=5000)  # it grows with the pane
    assert panel.image.pixmap().width() <= 256
