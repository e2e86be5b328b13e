"""Class distribution plots: the dataset's counts and the sampler's draws, side by side.

Each series is a few long-lived items updated in place: a ``BarGraphItem`` of bars, two filled
step curves for bins of classes (their means and maxima), and the expected values as short red
bars (a ``PlotDataItem`` drawn with ``connect="pairs"``). Classes sit at x = 0..C-1 in display
order (class index, or by count), so sorting, log scale and zoom only change what is handed to
the same items. With more classes in view than pixels, the bars are bins of classes (see
``BarSeries``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QCursor, QFontMetrics
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QToolTip, QVBoxLayout, QWidget

from .numbers import percent

LOG_FLOOR = math.log10(0.5)  # log-scale bars start at 0.5, so a count of 1 shows and 0 does not

BAR_BRUSH = (70, 130, 180)  # steel blue: the dataset
SAMPLED_BRUSH = (46, 139, 87)  # sea green: the draws
EXPECTED_PEN = pg.mkPen((214, 39, 40), width=2.5)  # red: what the scheme expects
AXIS_PEN = pg.mkPen((60, 60, 60))
AXIS_TEXT = (40, 40, 40)


def configure_pyqtgraph() -> None:
    pg.setConfigOptions(background="w", foreground=AXIS_TEXT, antialias=False)


# How far past its axis a class name may be drawn (the first and last names sit at the ends).
_END_NAME_OVERFLOW_PX = 64


class ClassAxis(pg.AxisItem):
    """Bottom axis that names the classes at their bars, as many as fit without overlapping:
    every class when zoomed in far enough, every k-th (k = 1, 2, 5, 10, ...) otherwise. Names
    turn vertical when that names every class in view and flat names would not (a name then
    needs a line's height, not its width); the axis grows to fit them. The full name is in the
    bar's tooltip."""

    def __init__(self) -> None:
        super().__init__("bottom")
        # The first and last names sit at the axis' ends, half past them: let a name reach this
        # many pixels beyond the axis instead of hiding it (pyqtgraph hides any that overflow).
        self.setStyle(hideOverlappingLabels=_END_NAME_OVERFLOW_PX)
        self.names: list[str] = []  # in display order
        self.rotated = False
        self._inner = False  # inside pyqtgraph's own layout of horizontal text

    def set_names(self, names: Any) -> None:
        self.names = [_short(n) for n in names]
        self.picture = None
        self.update()

    def tickValues(self, minVal: float, maxVal: float, size: float) -> Any:
        n = len(self.names)
        if n == 0 or size <= 0 or maxVal <= minVal:
            return []
        lo, hi = max(0, math.ceil(minVal)), min(n - 1, math.floor(maxVal))
        if hi < lo:
            return []
        px_per_class = size / (maxVal - minVal)
        font = self.style.get("tickFont") or self.font()
        metrics = QFontMetrics(font)
        step = max(1, (hi - lo) // 400)  # measure at most ~400 names
        widest = max(metrics.horizontalAdvance(self.names[i]) for i in range(lo, hi + 1, step)) + 10
        flat = _nice_stride(widest / px_per_class)
        upright = _nice_stride((metrics.height() + 4) / px_per_class)
        self.rotated = upright == 1 < flat  # turned only when that names every class in view
        stride = upright if self.rotated else flat
        start = math.ceil(lo / stride) * stride
        ticks = list(range(start, hi + 1, stride))
        # the first and last class in view are always named (the ends of the axis say where the
        # classes start and stop; their names are drawn inside the axis, see generateDrawSpecs);
        # a regular tick whose name would touch theirs gives way
        # (an end name moved inside takes a whole name's width from its tick, a centred one half)
        room = (metrics.height() + 4 if self.rotated else 1.5 * widest) / px_per_class
        if not ticks or ticks[0] != lo:
            ticks = [lo] + [v for v in ticks if v - lo >= room]
        if ticks[-1] != hi:
            ticks = [v for v in ticks if hi - v >= room] + [hi]
        return [(float(stride), [float(v) for v in ticks])]

    def tickStrings(self, values: Any, scale: float, spacing: float) -> list[str]:
        n = len(self.names)
        return [self.names[int(v)] if 0 <= int(v) < n else "" for v in values]

    def _updateMaxTextSize(self, x: int) -> None:
        if not self._inner:  # pyqtgraph's call measures the names flat: generateDrawSpecs measures them turned or not
            super()._updateMaxTextSize(x)

    def generateDrawSpecs(self, p: Any) -> Any:
        # tickValues, run inside pyqtgraph's generateDrawSpecs, decides whether the names turn: the
        # branch is taken after it, never on the decision of the previous picture (a first picture
        # would otherwise draw turned names flat, run together, until something redrew the axis)
        self._inner = True
        try:
            specs = super().generateDrawSpecs(p)
        finally:
            self._inner = False
        if specs is None:
            return None
        axis_spec, tick_specs, text_specs = specs
        if self.rotated:
            rotated = []
            for rect, _flags, text in text_specs:
                # the same text turned a quarter: a box as wide as a line, as tall as the name
                width = p.boundingRect(QRectF(0, 0, 1000, 100), int(Qt.AlignmentFlag.AlignLeft), text).width()
                line = p.fontMetrics().height()  # the full line: descenders included
                rotated.append((QRectF(rect.center().x() - line / 2, rect.top(), line, width), text))
            self._updateMaxTextSize(int(max((r.height() for r, _ in rotated), default=0)))  # the axis grows
            return axis_spec, tick_specs, [(r, "rotated", t) for r, t in rotated]
        self._updateMaxTextSize(int(max((r.height() for r, _f, _t in text_specs), default=0)))
        # names at the ends are moved inside the axis: the first starts at the axis' left
        # end, the last stops at its right end, so neither runs into the next plot
        bounds = self.mapRectFromParent(self.geometry())
        inside = []
        for rect, flags, text in text_specs:
            shift = max(0.0, bounds.left() - rect.left()) - max(0.0, rect.right() - bounds.right())
            inside.append((rect.translated(shift, 0), flags, text))
        if len(inside) > 2:  # a name that would touch a moved end name gives way to it
            ends = (inside[0][0], inside[-1][0])
            middle = [spec for spec in inside[1:-1] if not any(spec[0].intersects(end) for end in ends)]
            inside = [inside[0], *middle, inside[-1]]
        return axis_spec, tick_specs, inside

    def drawPicture(self, p: Any, axisSpec: Any, tickSpecs: Any, textSpecs: Any) -> None:
        flat = [spec for spec in textSpecs if spec[1] != "rotated"]
        super().drawPicture(p, axisSpec, tickSpecs, flat)
        upright = [spec for spec in textSpecs if spec[1] == "rotated"]
        if not upright:
            return
        if self.style["tickFont"] is not None:
            p.setFont(self.style["tickFont"])
        p.setPen(self.textPen())
        flags = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextDontClip)
        for rect, _flags, text in upright:
            p.save()
            p.translate(rect.center().x(), rect.top())
            p.rotate(-90)  # reads bottom to top, ending at the axis
            p.drawText(QRectF(-rect.height(), -rect.width() / 2, rect.height(), rect.width()), flags, text)
            p.restore()


# Above this many classes a newly opened dataset is shown sorted by count (a rank/frequency
# curve) and, when its counts span two decades, on a log scale.
LARGE_CLASSES = 300
HIGHLIGHT_PEN = pg.mkPen((255, 140, 0), width=2)
REBIN_MS = 50  # at most one re-binning per this while a zoom or resize goes on


def compact_number(value: float) -> str:
    """2000000 -> "2M", 1500 -> "1.5k", 0.25 -> "0.25": tick labels that stay short."""
    v = float(value)
    a = abs(v)
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= factor:
            return f"{v / factor:.3g}{suffix}"
    return f"{v:.3g}" if a >= 1 or a == 0 else f"{v:.2g}"


class CompactAxis(pg.AxisItem):
    """Left axis with compact tick labels ("2M", not "2e+06" or a "x1e6" axis scale)."""

    def __init__(self) -> None:
        super().__init__("left")
        self.enableAutoSIPrefix(False)

    def tickStrings(self, values: Any, scale: float, spacing: float) -> list[str]:
        if self.logMode:  # values are log10: name the decades only, so minor ticks stay quiet
            return [compact_number(10.0**v) if abs(v - round(v)) < 1e-6 else "" for v in values]
        return [compact_number(v * scale) for v in values]


def _nice_stride(minimum: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... not below ``minimum``."""
    if minimum <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(minimum))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= minimum:
            return int(factor * magnitude)
    return int(10 * magnitude)


def make_plot(layout: pg.GraphicsLayoutWidget, row: int, col: int, title: str, ylabel: str) -> pg.PlotItem:
    plot = layout.addPlot(row=row, col=col, axisItems={"bottom": ClassAxis(), "left": CompactAxis()})
    plot.setTitle(title, color=AXIS_TEXT, size="10pt")
    plot.setLabel("left", ylabel, color=AXIS_TEXT)
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(AXIS_PEN)
        axis.setTextPen(AXIS_TEXT)
    plot.showGrid(x=False, y=True, alpha=0.15)
    plot.setMenuEnabled(False)
    plot.hideButtons()
    vb = plot.getViewBox()
    vb.setMouseEnabled(x=True, y=False)  # wheel and drag zoom / pan along the classes
    vb.enableAutoRange(y=True)
    vb.setAutoVisible(y=True)  # y range follows the classes in view
    return plot


class BarSeries:
    """One plot's long-lived items: single bars, binned means and maxima, expected-value marks, highlight.

    When the plot shows more classes than its view has pixels, a bar per class would be narrower
    than a pixel and the painter would show, per pixel column, whichever of ~20 bars it drew last
    or largest: on noisy draws that envelope sits above the expected line for an exact sampler.
    So the series is then drawn as bins of ``bin`` consecutive positions: the solid fill is the bin's
    MEAN (the level the expected marks, binned the same way, compare to) and a faint fill behind it
    reaches the bin's max (so the head class of a long tail never vanishes). Zoomed in to fewer
    classes than pixels, ``bin`` is 1 and the bars are the classes themselves.
    """

    def __init__(self, plot: pg.PlotItem, brush: Any, name: str, mark_name: str) -> None:
        self.plot = plot
        color = pg.mkBrush(brush).color()
        faint = pg.mkColor(color)
        faint.setAlpha(130)  # lighter than the bars, yet a lone 1-px column (the head) still shows
        # Bins are closed step outlines filled as ONE path each ("enclosed": pyqtgraph splits a fill
        # down to a level into 50-point pieces): adjacent rects or pieces leave antialiased seams in
        # an export, and the faint max shows through them.
        self.maxima = pg.PlotDataItem(x=np.zeros(0), y=np.zeros(0), pen=None, brush=faint, fillLevel="enclosed")
        self.means = pg.PlotDataItem(x=np.zeros(0), y=np.zeros(0), pen=None, brush=brush, fillLevel="enclosed")
        self.bars = pg.BarGraphItem(
            x=np.zeros(0), height=np.zeros(0), width=0.8, brush=brush, pen=pg.mkPen(None), name=name
        )
        self.marks = pg.PlotDataItem(x=np.zeros(0), y=np.zeros(0), connect="pairs", pen=EXPECTED_PEN, name=mark_name)
        self.highlight = pg.InfiniteLine(angle=90, movable=False, pen=HIGHLIGHT_PEN)
        self.highlight.setVisible(False)
        plot.addItem(self.maxima)
        plot.addItem(self.means)
        plot.addItem(self.bars)
        plot.addItem(self.marks)
        plot.addItem(self.highlight, ignoreBounds=True)
        # the data in display order, kept to re-bin on zoom
        self.heights = np.zeros(0)
        self.expected: np.ndarray | None = None
        self.log = False
        self.bin = 1
        self._gaps = True
        vb = plot.getViewBox()
        self._timer = QTimer(plot)  # a child of the plot: lives and dies on the GUI thread with it
        self._timer.setSingleShot(True)
        self._timer.setInterval(REBIN_MS)
        self._timer.timeout.connect(self.rebin)
        vb.sigXRangeChanged.connect(self._schedule_rebin)
        vb.sigResized.connect(self._schedule_rebin)

    def update(self, heights: np.ndarray, expected: np.ndarray | None, log: bool) -> None:
        """Heights and marks are in display order."""
        self.heights = np.asarray(heights, dtype=np.float64)
        self.expected = None if expected is None else np.asarray(expected, dtype=np.float64)
        self.log = log
        self.render()

    def bin_size(self) -> int:
        """Classes per bin: ceil(classes in view / view width in pixels), at least 1."""
        pixels = self.plot.getViewBox().width()
        visible = self._visible_classes()
        if pixels < 1 or visible <= pixels:
            return 1
        return math.ceil(visible / pixels)

    def _schedule_rebin(self, *_: object) -> None:
        if not self._timer.isActive():  # throttled: one re-binning per REBIN_MS, not one per wheel step
            self._timer.start()

    def rebin(self) -> None:
        """Redraw if the zoom or the view's size changed the bins (a pan alone does not)."""
        if self._layout() != (self.bin, self._gaps):
            self.render()

    def _layout(self) -> tuple[int, bool]:
        """The bin size, and whether single bars have gaps (few enough classes in view to afford them)."""
        b = self.bin_size()
        return b, b == 1 and self._visible_classes() <= 200

    def render(self) -> None:
        self.bin, self._gaps = b, gaps = self._layout()
        n = self.heights.shape[0]
        y0 = LOG_FLOOR if self.log else 0.0
        if b == 1:
            x = np.arange(n, dtype=np.float64)
            width = np.full(n, 0.8 if gaps else 1.0)
            self.bars.setOpts(x=x, height=self._to_axis(self.heights) - y0, y0=y0, width=width)
            for curve in (self.means, self.maxima):
                curve.setData(x=np.zeros(0), y=np.zeros(0))
            exp = self.expected
        else:
            # bins start at position 0, so a pan keeps them and the head class heads the first one
            starts = np.arange(0, n, b)
            sizes = np.diff(np.append(starts, n)).astype(np.float64)
            x = starts + (sizes - 1) / 2
            width = sizes
            edges = np.append(starts, n) - 0.5
            mean = np.add.reduceat(self.heights, starts) / sizes
            # On a log scale each bin shows log(mean count), not mean(log count): the expected marks are
            # expected counts, and a mean of logs would sit below them for any spread (Jensen), which
            # reads as "sampled below expected" for an exact sampler.
            self.means.setData(*_step_outline(edges, self._to_axis(mean), y0))
            self.maxima.setData(*_step_outline(edges, self._to_axis(np.maximum.reduceat(self.heights, starts)), y0))
            self.bars.setOpts(x=np.zeros(0), height=np.zeros(0), width=1.0)
            exp = None if self.expected is None else np.add.reduceat(self.expected, starts) / sizes
        if exp is None:
            self.marks.setData(x=np.zeros(0), y=np.zeros(0))
            return
        xs = np.repeat(x, 2)
        xs[0::2] -= width / 2
        xs[1::2] += width / 2
        ys = np.maximum(np.log10(np.maximum(exp, 1e-300)), LOG_FLOOR) if self.log else exp
        self.marks.setData(x=xs, y=np.repeat(ys, 2))

    def _to_axis(self, counts: np.ndarray) -> np.ndarray:
        """Counts to the y axis: themselves, or log10 with 0 (and anything below 0.5) at the floor."""
        if not self.log:
            return counts
        return np.where(counts > 0, np.log10(np.maximum(counts, 0.5)), LOG_FLOOR)

    def _visible_classes(self) -> int:
        lo, hi = self.plot.getViewBox().viewRange()[0]
        return max(0, min(self.heights.shape[0] - 1, math.floor(hi)) - max(0, math.ceil(lo)) + 1)


def _step_outline(edges: np.ndarray, heights: np.ndarray, y0: float) -> tuple[np.ndarray, np.ndarray]:
    """The closed outline of bars standing on y0 between consecutive edges: (e0, y0), (e0, h0),
    (e1, h0), (e1, h1), ..., (en, h[n-1]), (en, y0). ``step_heights`` reads the heights back."""
    return np.repeat(edges, 2), np.concatenate([[y0], np.repeat(heights, 2), [y0]])


def step_heights(curve: pg.PlotDataItem) -> tuple[np.ndarray, np.ndarray]:
    """The (edges, heights) of a step outline drawn by ``_step_outline``."""
    x, y = curve.getData()
    if x is None or y is None:
        return np.zeros(0), np.zeros(0)
    return x[0::2], y[1:-1:2]


class HistogramView(QWidget):
    """The raw class distribution and the sampled distribution, with expected shares marked.

    ``orderChanged(order)`` tells linked views (coverage) which class sits at each x.
    """

    orderChanged = Signal(object)
    classClicked = Signal(int)  # a class index, from a click on its bar
    viewOptionsChanged = Signal(bool, bool)  # sorted, log scale: set by a new dataset, not by the user

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        configure_pyqtgraph()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        controls = QHBoxLayout()
        self.sort_check = QCheckBox("Sort by count")
        self.sort_check.setObjectName("sort_by_count")
        self.sort_check.setToolTip("Order the classes by image count, largest first")
        self.log_check = QCheckBox("Log scale")
        self.log_check.setObjectName("log_scale")
        self.log_check.setToolTip("Logarithmic y axis (bars start at 0.5)")
        self.reset_button = QPushButton("Reset zoom")
        self.reset_button.setToolTip("Show all classes. Wheel: zoom the classes; drag: pan")
        legend = QLabel("<span style='color:#d62728'>&#9644;</span> expected")
        legend.setToolTip(
            "Red marks: left, the scheme's share of each class times N (in images); right, the draws expected so far"
        )
        controls.addWidget(self.sort_check)
        controls.addWidget(self.log_check)
        controls.addWidget(self.reset_button)
        controls.addStretch(1)
        controls.addWidget(legend)
        layout.addLayout(controls)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setObjectName("histogram_graphics")
        self.graphics.setMinimumHeight(220)
        layout.addWidget(self.graphics, 1)
        # rows 0 and 2 hold the exported plot's title and footer, empty on screen
        self.title_item = self.graphics.ci.addLabel("", row=0, col=0, colspan=2, size="11pt", bold=True)
        self.raw_plot = make_plot(self.graphics, 1, 0, "Dataset: images per class", "images")
        # each plot has its own y axis: a 5,000,000-draw run does not flatten the image bars
        self.sampled_plot = make_plot(self.graphics, 1, 1, "Sampled: draws per class", "draws")
        self.footer_item = self.graphics.ci.addLabel("", row=2, col=0, colspan=2, size="9pt")
        for item in (self.title_item, self.footer_item):
            item.setMaximumHeight(0)
        self.sampled_plot.setXLink(self.raw_plot)
        self.raw = BarSeries(self.raw_plot, BAR_BRUSH, "images", "the scheme's share of N")
        self.sampled = BarSeries(self.sampled_plot, SAMPLED_BRUSH, "draws", "expected draws")
        self.raw_bars = self.raw.bars
        self.sampled_bars = self.sampled.bars

        self.figures_label = QLabel("")
        self.figures_label.setObjectName("running_figures")
        self.figures_label.setTextFormat(Qt.TextFormat.RichText)
        self.figures_label.setWordWrap(True)  # a long stats line wraps instead of widening the window
        layout.addWidget(self.figures_label)

        self.classes: tuple[str, ...] = ()
        self.counts = np.zeros(0, dtype=np.int64)
        self.order = np.zeros(0, dtype=np.int64)  # order[x] = class index shown at x
        # where the hover reads a class's weight: the session's array, never a copy here
        self.weights_source: Callable[[], np.ndarray | None] = lambda: None
        self._expected_shares = np.zeros(0)
        self._draws_per_epoch = 0
        self._raw_expected: np.ndarray | None = None
        self._sampled = np.zeros(0, dtype=np.int64)
        self._sampled_expected: np.ndarray | None = None
        self._sampled_is_run = False

        self.sort_check.toggled.connect(self._order_changed)
        self.log_check.toggled.connect(self._log_changed)
        self.reset_button.clicked.connect(self.reset_zoom)
        self.graphics.scene().sigMouseMoved.connect(self._mouse_moved)
        self.graphics.scene().sigMouseClicked.connect(self._mouse_clicked)
        self.selected: int | None = None

    # ------------------------------------------------------------------ the session
    def bind(self, session: Any) -> None:
        """Follow ``session`` (a ``gui.session.Session``): its dataset, weights, run steps and usable
        counts; shown now as they are (a view built after the dataset opened shows it at once)."""
        self._session = session
        self._usable_shown: object = False  # the check shown (False: all counts)
        self.weights_source = lambda: session.class_weights
        session.datasetChanged.connect(self._session_dataset)
        session.weightsChanged.connect(self._session_weights)
        session.stepChanged.connect(self._session_step)
        session.checkChanged.connect(self._session_counts)
        if session.index is not None:
            self._session_dataset(session.index)
            self._session_weights()
            self._session_counts()
            self._session_step(session.step)

    def _session_dataset(self, index: Any) -> None:
        multi = self._session.multilabel
        self.setVisible(not multi)  # multi-label data shows its own plots instead
        if index is None or multi:
            return
        self._usable_shown = False
        self.set_dataset(index.classes, index.counts)

    def _session_weights(self) -> None:
        s = self._session
        if s.index is None or s.figures is None or s.multilabel:
            return
        self.set_scheme_figures(s.figures.expected_shares, s.settings.num_samples)
        if s.step is None:
            self.set_planned(s.settings.total_draws)

    def _session_counts(self) -> None:
        """ "Weights on usable images": the dataset plot shows the counts the weights are computed on."""
        s = self._session
        shown = s.check if s.use_usable else False  # a kept duplicate re-attaches the check: new counts
        if s.index is None or s.multilabel or shown is self._usable_shown:
            return
        self._usable_shown = shown
        self.set_counts(s.counts, usable=s.use_usable)

    def _session_step(self, step: Any) -> None:
        s = self._session
        if s.index is None or s.multilabel:
            return
        if step is None:  # no run results: back to the plan
            self.set_planned(s.settings.total_draws)
            self.set_figures_text("")
            return
        self.set_sampled(step.class_counts, step.expected_shares, step.draws_done)
        self.set_figures_text(figures_html(step))

    # ------------------------------------------------------------------ data in
    def set_dataset(self, classes: Any, counts: Any) -> None:
        self.classes = tuple(classes)
        self.counts = np.asarray(counts, dtype=np.int64)
        n = len(self.classes)
        self._sampled = np.zeros(n, dtype=np.int64)
        self._sampled_expected = None
        self._sampled_is_run = False
        self._raw_expected = None
        self._expected_shares = np.zeros(n)
        self.select_class(None)  # the mark belonged to a class of the previous dataset
        # A large dataset opens sorted (a rank/frequency curve), on a log scale when its counts span
        # two decades; any other opens in class order on a linear scale: a choice made for the
        # previous dataset does not carry over. viewOptionsChanged tells the menu's check marks.
        nonzero = self.counts[self.counts > 0]
        spread = nonzero.max() / nonzero.min() if nonzero.size else 1.0
        large = n > LARGE_CLASSES
        for check, on in ((self.sort_check, large), (self.log_check, large and bool(spread >= 100))):
            check.blockSignals(True)
            check.setChecked(on)
            check.blockSignals(False)
        for plot in (self.raw_plot, self.sampled_plot):
            plot.getAxis("left").setLogMode(self.log)
        self.raw_plot.setTitle("Dataset: images per class", color=AXIS_TEXT, size="10pt")
        self.raw_plot.setLabel("left", "images", color=AXIS_TEXT)
        self.order = self._compute_order()
        self._update_ticks()
        self.raw.update(self.counts[self.order], None, self.log)
        self.sampled.update(self._sampled[self.order], None, self.log)
        for plot in (self.raw_plot, self.sampled_plot):
            plot.getViewBox().setLimits(xMin=-1.0, xMax=max(n, 1) + 0.0)
        self.reset_zoom()
        self.orderChanged.emit(self.order)
        self.viewOptionsChanged.emit(self.sort_check.isChecked(), self.log)

    def set_counts(self, counts: Any, usable: bool = False) -> None:
        """Other counts for the same classes ("Weights on usable images": the usable counts), kept
        in the zoom and order the user set; the dataset plot's title says which counts it shows."""
        self.counts = np.asarray(counts, dtype=np.int64)
        self.raw_plot.setTitle(
            "Dataset: usable images per class" if usable else "Dataset: images per class", color=AXIS_TEXT, size="10pt"
        )
        self.raw_plot.setLabel("left", "usable images" if usable else "images", color=AXIS_TEXT)
        if self._raw_expected is not None:  # marks in image units: share x the images shown
            self._raw_expected = self._expected_shares * float(self.counts.sum())
        if self.sort_check.isChecked():
            self._order_changed()
        else:
            self._refresh_all()

    @property
    def raw_title(self) -> str:
        return str(self.raw_plot.titleLabel.text)

    def set_scheme_figures(self, expected_shares: Any, draws_per_epoch: int) -> None:
        """The expected shares of an epoch's draws. The dataset plot's marks show them in image
        units (share x N), so its own y axis never stretches to a large draw setting."""
        self._expected_shares = np.asarray(expected_shares, dtype=np.float64)
        self._draws_per_epoch = int(draws_per_epoch)
        self._raw_expected = self._expected_shares * float(self.counts.sum())
        self.raw.update(self.counts[self.order], self._raw_expected[self.order], self.log)

    def set_planned(self, total_draws: int) -> None:
        """No run results: empty sampled bars, marks at the planned run's expected draws."""
        self._sampled = np.zeros(len(self.classes), dtype=np.int64)
        self._sampled_is_run = False
        self._sampled_expected = self._expected_shares * float(total_draws) if len(self._expected_shares) else None
        self._refresh_sampled()

    def set_sampled(self, class_counts: Any, expected_shares: Any, draws_done: int) -> None:
        """A run's cumulative draws per class and its expected shares."""
        self._sampled = np.asarray(class_counts, dtype=np.int64).copy()
        self._sampled_expected = np.asarray(expected_shares, dtype=np.float64) * float(draws_done)
        self._sampled_is_run = True
        self._refresh_sampled()

    def set_figures_text(self, html: str) -> None:
        self.figures_label.setText(html)

    def set_export_caption(self, caption: tuple[str, str] | None) -> None:
        """Show a title and a footer (scheme, legend, stats line) above and below the plots while
        they are exported; None hides them again."""
        title, stats = caption if caption is not None else ("", "")
        legend = (
            "Bars: images per class (left), draws per class (right). Red marks: the scheme's expected share "
            "(left: times N images; right: the draws expected in the run's mode)."
            if caption is not None
            else ""
        )
        footer = "<br>".join(t for t in (legend, escape(stats, quote=False)) if t)
        self.title_item.setText(escape(title, quote=False))
        self.footer_item.setText(footer)
        for item, text in ((self.title_item, title), (self.footer_item, footer)):
            item.setMaximumHeight(16_777_215 if text else 0)
        self.graphics.ci.layout.activate()
        QCoreApplication.sendPostedEvents()  # the plots take their new geometry before the export
        QCoreApplication.processEvents()
        for series in (self.raw, self.sampled):  # the export draws the bins the screen shows now
            series.rebin()

    # ------------------------------------------------------------------ queries (tests, export)
    @property
    def log(self) -> bool:
        return self.log_check.isChecked()

    def sampled_heights_by_class(self) -> np.ndarray:
        """The sampled plot's per-class heights (the bars when zoomed in to single classes), in class-index order."""
        return self._by_class(self.sampled.heights)

    def raw_heights_by_class(self) -> np.ndarray:
        return self._by_class(self.raw.heights)

    def _by_class(self, heights: np.ndarray) -> np.ndarray:
        out = np.empty_like(heights)
        out[self.order] = heights
        return out

    def hover_text(self, x_pos: int, sampled: bool) -> str:
        c = int(self.order[x_pos])
        n = int(self.counts[c])
        total = max(int(self.counts.sum()), 1)
        lines = [
            f"<b>{escape(self.classes[c], quote=False)}</b> (index {c})",
            f"images: {n:,} ({percent(n / total)})",
        ]
        weights = self.weights_source()
        if weights is not None and len(weights) == len(self.classes):
            lines.append(f"weight: {weights[c]:.4g}")
        if len(self._expected_shares) == len(self.classes):
            lines.append(f"expected sampled share: {percent(self._expected_shares[c])}")
        if self._raw_expected is not None and not sampled:
            lines.append(f"expected draws per epoch: {self._expected_shares[c] * self._draws_per_epoch:,.1f}")
        if sampled:
            drawn = int(self._sampled[c])
            all_drawn = int(self._sampled.sum())
            share = f" ({percent(drawn / all_drawn)})" if all_drawn else ""
            lines.append(f"drawn: {drawn:,}{share}")
            if self._sampled_expected is not None:
                label = "expected" if self._sampled_is_run else "expected in the planned run"
                lines.append(f"{label}: {self._sampled_expected[c]:,.1f}")
        return "<br>".join(lines)

    # ------------------------------------------------------------------ view
    def reset_zoom(self) -> None:
        n = max(len(self.classes), 1)
        for plot in (self.raw_plot, self.sampled_plot):
            plot.getViewBox().setXRange(-0.6, n - 0.4, padding=0)
            plot.getViewBox().enableAutoRange(y=True)

    def set_sorted(self, on: bool) -> None:
        self.sort_check.setChecked(on)

    def set_log(self, on: bool) -> None:
        self.log_check.setChecked(on)

    def _compute_order(self) -> np.ndarray:
        n = len(self.classes)
        if self.sort_check.isChecked() and n:
            return np.argsort(-self.counts, kind="stable").astype(np.int64)
        return np.arange(n, dtype=np.int64)

    def _order_changed(self, *_: object) -> None:
        self.order = self._compute_order()
        self._update_ticks()
        self._refresh_all()
        self.select_class(self.selected)
        self.orderChanged.emit(self.order)

    def position_of(self, class_index: int) -> int:
        return int(np.flatnonzero(self.order == class_index)[0])

    def select_class(self, class_index: int | None) -> None:
        """Mark one class's bars (linked to the table's selection); None clears the mark."""
        self.selected = class_index
        for series in (self.raw, self.sampled):
            if class_index is None or not 0 <= class_index < len(self.classes):
                series.highlight.setVisible(False)
            else:
                series.highlight.setPos(self.position_of(class_index))
                series.highlight.setVisible(True)

    def show_class(self, class_index: int) -> None:
        """Zoom out enough to show the class's bar if it is out of view."""
        x = self.position_of(class_index)
        lo, hi = self.raw_plot.getViewBox().viewRange()[0]
        if not lo <= x <= hi:
            half = (hi - lo) / 2
            self.raw_plot.getViewBox().setXRange(x - half, x + half, padding=0)

    def class_at(self, scene_pos: QPointF) -> int | None:
        for plot in (self.raw_plot, self.sampled_plot):
            vb = plot.getViewBox()
            if vb.sceneBoundingRect().contains(scene_pos):
                pos = int(round(vb.mapSceneToView(scene_pos).x()))
                if 0 <= pos < len(self.classes):
                    return int(self.order[pos])
        return None

    def _mouse_clicked(self, event: Any) -> None:
        c = self.class_at(event.scenePos())
        if c is not None:
            self.select_class(c)
            self.classClicked.emit(c)

    def _log_changed(self, *_: object) -> None:
        for plot in (self.raw_plot, self.sampled_plot):
            plot.getAxis("left").setLogMode(self.log)
        self._refresh_all()
        for plot in (self.raw_plot, self.sampled_plot):
            plot.getViewBox().enableAutoRange(y=True)

    def _refresh_all(self) -> None:
        raw_exp = None if self._raw_expected is None else self._raw_expected[self.order]
        self.raw.update(self.counts[self.order], raw_exp, self.log)
        self._refresh_sampled()

    def _refresh_sampled(self) -> None:
        exp = None if self._sampled_expected is None else self._sampled_expected[self.order]
        self.sampled.update(self._sampled[self.order], exp, self.log)

    def _update_ticks(self) -> None:
        names = [self.classes[c] for c in self.order]
        label = "classes, by count" if self.sort_check.isChecked() else "classes"
        for plot in (self.raw_plot, self.sampled_plot):
            axis = plot.getAxis("bottom")
            axis.set_names(names)
            axis.setLabel(label, color=AXIS_TEXT)

    # ------------------------------------------------------------------ hover
    def _mouse_moved(self, scene_pos: QPointF) -> None:
        text = self.text_at(scene_pos)
        if text:
            QToolTip.showText(QCursor.pos(), text, self.graphics)
        else:
            QToolTip.hideText()

    def text_at(self, scene_pos: QPointF) -> str:
        for plot, sampled in ((self.raw_plot, False), (self.sampled_plot, True)):
            vb = plot.getViewBox()
            if vb.sceneBoundingRect().contains(scene_pos):
                x = vb.mapSceneToView(scene_pos).x()
                pos = int(round(x))
                if 0 <= pos < len(self.classes) and abs(x - pos) <= 0.5:
                    return self.hover_text(pos, sampled)
        return ""


def figures_html(step: Any) -> str:
    """A run step's stats line: draws, speed, the fit to the expected shares, elapsed time."""
    fit = step.fit
    tv = "—" if not np.isfinite(step.tv_distance) else f"{step.tv_distance:.4f}"
    if fit is not None and not fit.valid:
        chi = f"<b>χ²</b> {fit.chi_square:,.1f} <i>(not valid: {fit.low_expected:,} class(es) expect &lt; 5 draws)</i>"
    else:
        p = step.p_value
        p_text = "—" if p is None or not np.isfinite(p) else (f"{p:.3g}" if p >= 1e-4 else f"{p:.1e}")
        chi_v = "—" if step.chi2 is None or not np.isfinite(step.chi2) else f"{step.chi2:,.1f}"
        chi = f"<b>χ²</b> {chi_v} &nbsp;&nbsp; <b>p-value</b> {p_text}"
    how = f"{step.mode}, {'with' if step.replacement else 'without'} replacement"
    return (
        f"<b>Draws</b> {step.draws_done:,} / {step.total_draws:,} ({how}) &nbsp;&nbsp; "
        f"<b>Draws/s</b> {step.draws_per_s:,.0f} &nbsp;&nbsp; {chi} &nbsp;&nbsp; "
        f"<b>TV distance to expected</b> {tv} &nbsp;&nbsp; <b>Elapsed</b> {step.elapsed_s:.2f} s"
    )


def _short(name: str, limit: int = 12) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"
