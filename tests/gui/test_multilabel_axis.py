"""The multi-label plots name their classes like the item run's histogram: turned upright when flat
names would run together, with the axis grown to hold them, in every picture the axis draws (the
first one included: the screenshot's window is grabbed before anything redraws it)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtGui import QFontMetrics

from balance_gui.gui.histogram import ClassAxis
from balance_gui.gui.multilabel_plots import MultiLabelPlots

pytestmark = pytest.mark.timeout(60)

# the screenshot's twelve demo shapes: 'hstripes' flat needs more than a class's ~37 px at this width
NAMES = ["checker", "circle", "cross", "diamond", "dots", "hstripes", "plus", "triangle", "ring", "vstripes", "star"]
NAMES.append("square")


def test_multilabel_class_names_never_run_together(qtbot, monkeypatch):
    pictures: dict[int, list[list[tuple]]] = {}  # axis id -> the text specs of each picture drawn
    generate = ClassAxis.generateDrawSpecs

    def recorded(self, p):
        specs = generate(self, p)
        pictures.setdefault(id(self), []).append([] if specs is None else list(specs[2]))
        return specs

    monkeypatch.setattr(ClassAxis, "generateDrawSpecs", recorded)
    plots = MultiLabelPlots()
    qtbot.addWidget(plots)
    counts = np.arange(len(NAMES), 0, -1) * 10
    plots.set_dataset(SimpleNamespace(classes=NAMES, counts=counts, instances=2 * counts))
    plots.resize(1030, 460)
    plots.show()
    qtbot.waitExposed(plots)
    plots.grab()
    for plot in plots._plots:
        axis = plot.getAxis("bottom")
        metrics = QFontMetrics(axis.style.get("tickFont") or axis.font())
        widest = max(metrics.horizontalAdvance(n) for n in NAMES)
        assert axis.width() / len(NAMES) < widest  # flat names cannot all fit
        drawn = pictures[id(axis)]
        assert drawn
        for texts in drawn:  # no picture, the first included, draws names over each other
            rects = [rect for rect, _flags, _text in texts]
            assert not any(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1 :]), texts
        # the last picture names every class, turned, and the axis grew to hold the longest name
        assert axis.rotated
        assert [text for _rect, _flags, text in drawn[-1]] == NAMES
        assert all(flags == "rotated" for _rect, flags, _text in drawn[-1])
        qtbot.waitUntil(lambda axis=axis, widest=widest: axis.height() >= widest, timeout=2_000)  # a relayout away
