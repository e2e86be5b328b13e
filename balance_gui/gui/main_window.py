"""The main window: layout, actions, menus and shutdown.

State lives in ``session.Session``; each view follows it itself (its ``bind(session)``, in its own
file: napari's model/view split). Long work is a task object of ``tasks.py`` (scan, check, run,
export), all sharing one progress bar and Cancel button in the status bar.

The first screen needs only PySide6, the summary and the class table: the window shows before
pyqtgraph, superqt and torch are imported. The plots and the scheme picker are built right after
the window's first frame, the other tabs when first shown (``lazy.LazyView``), and the device probe
(torch) runs in a worker after the first frame too. A new tab is a view file with a ``bind`` and
one ``_tab`` line in ``_build_widgets``.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from balance_gui import DEMO_DATASET
from balance_gui.core.errors import BalanceError
from balance_gui.core.weights import Scheme
from balance_gui.core.weightsfile_formats import WEIGHTS_FORMATS, listed

from .class_table import ClassTableModel, ClassTableView
from .export_text import plot_caption, stale_text, stats_line, training_lines
from .help import HelpDialog
from .jobs import JobRunner
from .lazy import LazyTabs, LazyView
from .recent import RecentPaths
from .sampler_panel import SamplerPanel
from .session import RunState, Session
from .summary import SummaryPanel
from .tasks import (
    ENGINE_KEY,
    RAY_ADDRESS_KEY,
    CheckTask,
    ExportTask,
    RunTask,
    ScanTask,
    TaskProgress,
    base_name,
    ray_available,
)

log = logging.getLogger(__name__)

APP_NAME = "balance-gui"
SHUTDOWN_WAIT_S = 15.0
# Longest wait for the first frame before the deferred views are built anyway (a platform that
# never sends an Expose event must not leave the window without plots).
FIRST_FRAME_FALLBACK_MS = 2000

# What Open and a drop accept besides a folder: manifests, tables and COCO/LVIS files.
OPENABLE_EXTENSIONS = (".csv", ".json", ".parquet", ".pq", ".arrow", ".feather", ".ipc")


def default_settings() -> QSettings:
    return QSettings(QSettings.defaultFormat(), QSettings.Scope.UserScope, APP_NAME, APP_NAME)


# Errors that the user's data, files or settings caused: shown as they are, in one line.
# Anything else is a bug: shown with its traceback in the message box's details.
USER_ERRORS = (BalanceError, OSError)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, USER_ERRORS):
        return str(exc) or type(exc).__name__
    return f"Unexpected error: {type(exc).__name__}: {exc}"


class MainWindow(QMainWindow):
    """Signals tell tests and scripts when background work has ended."""

    datasetLoaded = Signal(object)  # DatasetIndex
    scanEnded = Signal(str)  # "ok", "cancelled" or "failed"
    runEnded = Signal(str)  # "finished", "stopped" or "failed"
    runFinished = Signal(object)  # the final SimulationStep of a run that completed
    weightsExported = Signal(str)
    plotsExported = Signal(str)
    errorShown = Signal(str)
    checkEnded = Signal(str)  # "ok", "cancelled" or "failed"
    devicesProbed = Signal(object)
    firstFrameShown = Signal()  # the window's first frame is up; the deferred views are built

    def __init__(self, settings: QSettings | None = None, parent: Any = None, probe_devices: bool = True) -> None:
        super().__init__(parent)
        self.settings = settings if settings is not None else default_settings()
        self.session = Session(self)
        self.last_error: str | None = None
        self._closed = False
        self._probe_devices = probe_devices
        self._first_frame = False
        self._after_first_frame: list[Callable[[], None]] = []
        self._message_boxes: list[QDialog] = []
        self._training_dialog: Any = None
        self._settings_dialog: Any = None
        self._usable_shown: int | None = None  # the usable images the status bar said the weights are on

        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.resize(1440, 900)
        self.task_progress = TaskProgress(self)
        self.scan_task = ScanTask(self, self.task_progress, self)
        self.check_task = CheckTask(self, self.task_progress, self)
        self.run_task = RunTask(self, self.task_progress, self)
        self.export_task = ExportTask(self, self.task_progress, self)
        self.probes = JobRunner(self)
        self._load_engine_settings()
        self._build_widgets()
        self._build_actions()
        self._build_menus_and_toolbar()
        self._build_status_bar()
        self._connect()
        self._update_actions()
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            try:
                self.restoreGeometry(geometry)
            except TypeError:
                pass

    # ------------------------------------------------------------------ the session, read through
    @property
    def index(self) -> Any:
        return self.session.index

    @property
    def scheme(self) -> Scheme:
        return self.session.scheme

    @property
    def class_w(self) -> np.ndarray | None:
        return self.session.class_weights

    @property
    def figures(self) -> Any:
        return self.session.figures

    @property
    def last_step(self) -> Any:
        return self.session.step

    @property
    def last_export(self) -> str | None:
        return self.session.export_path

    @property
    def _tasks(self) -> tuple[Any, ...]:
        return (self.scan_task, self.check_task, self.run_task, self.export_task)

    @property
    def _runners(self) -> tuple[JobRunner, ...]:
        return (*(t.runner for t in self._tasks), self.probes)

    @property
    def pending_workers(self) -> int:
        """Workers this window started whose threads have not ended."""
        return sum(r.alive for r in self._runners)

    @property
    def scanning(self) -> bool:
        return self.scan_task.busy

    @property
    def checking(self) -> bool:
        return self.check_task.busy

    @property
    def running(self) -> bool:
        return self.run_task.busy

    @property
    def _pending_step(self) -> Any:
        return self.run_task.pending_step

    # the shared progress widget, under the names each task's controls had
    @property
    def scan_progress(self) -> Any:
        return self.task_progress.bar

    @property
    def check_progress(self) -> Any:
        return self.task_progress.bar

    @property
    def cancel_button(self) -> Any:
        return self.task_progress.cancel_button

    @property
    def cancel_check_button(self) -> Any:
        return self.task_progress.cancel_button

    # ================================================================== construction
    def _build_widgets(self) -> None:
        s = self.session
        self.summary = SummaryPanel()
        self.summary.bind(s)
        self.sampler = SamplerPanel()
        self.sampler.bind(s)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(6, 6, 6, 6)
        left_layout.addWidget(self.summary)
        # superqt (its slider) is imported with the picker: built after the first frame
        self._scheme_slot = LazyView(self._make_scheme_picker, "", build_on_show=False)
        self._scheme_slot.setMinimumHeight(90)
        left_layout.addWidget(self._scheme_slot)
        self.usable_check = QCheckBox("Weights on usable images")
        self.usable_check.setObjectName("usable_check")
        self.usable_check.setToolTip(
            "Compute the class weights on the usable counts: corrupt files and duplicate copies get "
            "weight 0 (run Check Images first)"
        )
        self.usable_check.setEnabled(False)
        left_layout.addWidget(self.usable_check)
        left_layout.addWidget(self.sampler)
        left_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMaximumWidth(480)
        self.left_panel = scroll
        self._fit_left_panel()

        self.table_model = ClassTableModel(s, self)
        self.table = ClassTableView(self.table_model)
        self.table.setObjectName("class_table")
        self.table.bind(s)
        self.search = QLineEdit()
        self.search.setObjectName("class_search")
        self.search.setPlaceholderText("Find class… (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Type part of a class name: its row and its bars are selected; Enter finds the next")
        classes_tab = QWidget()
        classes_layout = QVBoxLayout(classes_tab)
        classes_layout.setContentsMargins(0, 0, 0, 0)
        classes_layout.addWidget(self.search)
        classes_layout.addWidget(self.table, 1)
        self.tabs = LazyTabs()
        self.tabs.addTab(classes_tab, "Classes")
        # a tab is built when first shown: one line per tab
        self.tabs.add_lazy("Coverage", self._make_coverage)
        self.tabs.add_lazy("Gallery", self._make_gallery)
        self.tabs.add_lazy("Problems", self._make_problems)
        self.tabs.add_lazy("Co-occurrence", self._make_cooccurrence)

        # the plots (pyqtgraph): built after the first frame
        self._plots_slot = LazyView(self._make_plots, "", build_on_show=False)
        self._plots_slot.setMinimumHeight(260)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self._plots_slot)
        right.addWidget(self.tabs)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        right.setSizes([520, 330])
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([350, 1090])
        self.setCentralWidget(splitter)

    # ------------------------------------------------------------------ deferred views
    def _fit_left_panel(self) -> None:
        """Wide enough for the controls plus the vertical scroll bar: the panel scrolls, never clips."""
        scroll = self.left_panel
        inner = scroll.widget()
        assert inner is not None
        scroll.setMinimumWidth(inner.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 4)

    def _make_scheme_picker(self) -> QWidget:
        from .scheme_hint import bind_scheme_picker
        from .scheme_picker import SchemePicker

        picker = SchemePicker()
        picker.schemeChanged.connect(self.set_scheme)
        picker.setEnabled(self.session.state is RunState.IDLE)
        bind_scheme_picker(picker, self.session, self.show_status)
        return picker

    def _make_plots(self) -> QWidget:
        from .histogram import HistogramView
        from .multilabel_plots import MultiLabelPlots

        self._histogram = HistogramView()
        self._multilabel_plots = MultiLabelPlots()
        self._histogram.classClicked.connect(self.select_class)
        self._histogram.bind(self.session)
        self._multilabel_plots.bind(self.session)
        self._histogram.viewOptionsChanged.connect(self._view_options_changed)
        self._histogram.sort_check.toggled.connect(self.sort_action.setChecked)
        self._histogram.log_check.toggled.connect(self.log_action.setChecked)
        self._view_options_changed(self._histogram.sort_check.isChecked(), self._histogram.log)
        box = QSplitter(Qt.Orientation.Vertical)
        box.setChildrenCollapsible(False)
        box.addWidget(self._histogram)
        box.addWidget(self._multilabel_plots)
        return box

    def _make_coverage(self) -> QWidget:
        from .coverage import CoverageView

        histogram = self.histogram  # the coverage follows its class order and zoom
        view = CoverageView()
        view.order_source = lambda: histogram.order
        view.bind(self.session)
        view.set_order(histogram.order)
        histogram.orderChanged.connect(view.set_order)
        histogram.raw_plot.getViewBox().sigXRangeChanged.connect(
            lambda _vb, x_range: view.plot.getViewBox().setXRange(*x_range, padding=0)
        )
        return view

    def _make_gallery(self) -> QWidget:
        from .check_views import bind_gallery
        from .gallery import GalleryPanel

        view = GalleryPanel()
        view.setObjectName("gallery")
        bind_gallery(view, self.session)
        return view

    def _make_problems(self) -> QWidget:
        from .check_views import bind_problems
        from .image_check import ProblemsPanel

        view = ProblemsPanel()
        view.setObjectName("problems")
        bind_problems(view, self.session, self.show_status)
        return view

    def _make_cooccurrence(self) -> QWidget:
        from .cooccurrence_view import CooccurrenceView

        view = CooccurrenceView()
        view.setObjectName("cooccurrence")
        view.bind(self.session)
        return view

    # the views, built when first asked for
    @property
    def scheme_picker(self) -> Any:
        return self._scheme_slot.view

    @property
    def histogram(self) -> Any:
        self._plots_slot.view  # noqa: B018  (builds both plots)
        return self._histogram

    @property
    def multilabel_plots(self) -> Any:
        self._plots_slot.view  # noqa: B018
        return self._multilabel_plots

    @property
    def coverage(self) -> Any:
        return self.tabs.page("Coverage")

    @property
    def gallery(self) -> Any:
        return self.tabs.page("Gallery")

    @property
    def problems(self) -> Any:
        return self.tabs.page("Problems")

    @property
    def cooccurrence(self) -> Any:
        return self.tabs.page("Co-occurrence")

    # ------------------------------------------------------------------ the first frame
    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._first_frame:
            handle = self.windowHandle()
            if handle is not None:
                handle.installEventFilter(self)
            QTimer.singleShot(FIRST_FRAME_FALLBACK_MS, self._first_frame_up)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Expose and obj is self.windowHandle() and obj.isExposed():
            obj.removeEventFilter(self)
            QTimer.singleShot(0, self._first_frame_up)  # after this frame is painted
        return False

    def _first_frame_up(self) -> None:
        """Build what the first frame did not wait for, then run what waited for it."""
        if self._first_frame or self._closed:
            return
        self._first_frame = True
        self._scheme_slot.view  # noqa: B018
        self._fit_left_panel()
        self._plots_slot.view  # noqa: B018
        if self._probe_devices:
            self._start_device_probe()
        waiting, self._after_first_frame = self._after_first_frame, []
        for fn in waiting:
            fn()
        self.firstFrameShown.emit()

    def after_first_frame(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once the window's first frame is up (at once if it is)."""
        if self._first_frame:
            fn()
        else:
            self._after_first_frame.append(fn)

    def _action(
        self,
        text: str,
        slot: Any,
        shortcut: Any = None,
        icon: Any = None,
        tip: str | None = None,
        checkable: bool = False,
    ) -> QAction:
        action = QAction(text, self)
        if icon is not None:
            action.setIcon(self.style().standardIcon(icon))
        if shortcut is not None:
            action.setShortcut(shortcut)
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        return action

    def _build_actions(self) -> None:
        sp = QStyle.StandardPixmap
        self.open_action = self._action(
            "&Open Folder…",
            self.choose_folder,
            QKeySequence.StandardKey.Open,
            sp.SP_DirOpenIcon,
            "Open an ImageFolder dataset (one sub-folder per class)",
        )
        self.open_manifest_action = self._action(
            "Open &Manifest or Annotations…",
            self.choose_manifest,
            QKeySequence("Ctrl+Shift+O"),
            sp.SP_FileIcon,
            "Open a CSV manifest (path,label or multi-label path,labels), a Parquet/Arrow table or a "
            "COCO/LVIS instances JSON",
        )
        self.demo_action = self._action("Open &Demo Dataset", self.open_demo, tip="The bundled demo dataset")
        self.export_action = self._action(
            "&Export Weights…",
            self.export_weights,
            QKeySequence("Ctrl+E"),
            sp.SP_DialogSaveButton,
            f"Export weights as {listed(WEIGHTS_FORMATS)}",
        )
        self.export_png_action = self._action(
            "Export Plots as &PNG…",
            lambda: self.export_plots(".png"),
            tip="Save both distribution plots as a PNG image",
        )
        self.export_svg_action = self._action(
            "Export Plots as &SVG…",
            lambda: self.export_plots(".svg"),
            tip="Save both distribution plots as an SVG drawing",
        )
        self.training_action = self._action(
            "&Use in Training…",
            self.show_training_dialog,
            icon=sp.SP_FileDialogContentsView,
            tip="The lines that load the exported weights into a DataLoader",
        )
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.start_action = self._action(
            "&Start", self.start_run, QKeySequence("F5"), sp.SP_MediaPlay, "Run the sampler with the current scheme"
        )
        self.pause_action = self._action(
            "&Pause", self.toggle_pause, QKeySequence("F6"), sp.SP_MediaPause, "Pause or resume the run"
        )
        self.stop_action = self._action(
            "S&top", self.stop_run, QKeySequence("Shift+F5"), sp.SP_MediaStop, "Stop the run"
        )
        self.sort_action = self._action("Sort by &Count", lambda on: self.histogram.set_sorted(on), checkable=True)
        self.log_action = self._action("&Log Scale", lambda on: self.histogram.set_log(on), checkable=True)
        self.reset_zoom_action = self._action(
            "&Reset Zoom", lambda: self.histogram.reset_zoom(), QKeySequence("Ctrl+0")
        )
        self.about_action = self._action("&About", self.show_about)
        self.find_action = self._action(
            "&Find Class…", self.focus_search, QKeySequence.StandardKey.Find, tip="Find a class by name"
        )
        self.check_action = self._action(
            "&Check Images",
            self.check_images,
            QKeySequence("Ctrl+K"),
            sp.SP_DialogApplyButton,
            "Decode every image and hash its bytes: find corrupt files and exact duplicates",
        )
        self.check_settings_action = self._action(
            "Check &Engine…",
            self.show_check_settings,
            tip="Where Check Images decodes: local processes or a Ray cluster",
        )
        self.help_action = self._action("balance-gui &Help", self.show_help, QKeySequence.StandardKey.HelpContents)

    def _build_menus_and_toolbar(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addAction(self.open_action)
        file_menu.addAction(self.open_manifest_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.setObjectName("recent_menu")
        file_menu.addAction(self.demo_action)
        file_menu.addSeparator()
        file_menu.addAction(self.export_action)
        file_menu.addAction(self.export_png_action)
        file_menu.addAction(self.export_svg_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        view_menu = menu.addMenu("&View")
        view_menu.addAction(self.sort_action)
        view_menu.addAction(self.log_action)
        view_menu.addAction(self.reset_zoom_action)
        view_menu.addAction(self.find_action)
        tools_menu = menu.addMenu("&Tools")
        tools_menu.addAction(self.check_action)
        if self.ray_offered:  # the engine choice exists only where Ray can be imported
            tools_menu.addAction(self.check_settings_action)
        run_menu = menu.addMenu("&Sampler")
        run_menu.addAction(self.start_action)
        run_menu.addAction(self.pause_action)
        run_menu.addAction(self.stop_action)
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self.help_action)
        help_menu.addAction(self.training_action)
        help_menu.addAction(self.about_action)
        self.recent = RecentPaths(self.settings, self.recent_menu, self.open_path)

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main_toolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.addAction(self.open_action)
        toolbar.addAction(self.open_manifest_action)  # CSV, tables, COCO: the menu's two Open actions
        toolbar.addAction(self.check_action)
        toolbar.addSeparator()
        toolbar.addAction(self.export_action)
        toolbar.addAction(self.export_png_action)
        toolbar.addAction(self.export_svg_action)
        toolbar.addAction(self.training_action)
        toolbar.addSeparator()
        toolbar.addAction(self.start_action)
        toolbar.addAction(self.pause_action)
        toolbar.addAction(self.stop_action)
        self.export_png_action.setIconText("Plots as PNG")
        self.export_svg_action.setIconText("Plots as SVG")
        self.export_action.setIconText("Export Weights")
        self.training_action.setIconText("Use in Training")
        self.open_action.setIconText("Open Folder")
        self.open_manifest_action.setIconText("Open File")
        self.toolbar = toolbar

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.status_label = QLabel("")
        self.status_label.setObjectName("status_message")
        bar.addWidget(self.status_label, 1)
        bar.addPermanentWidget(self.task_progress)
        self.torch_label = QLabel("PyTorch: loading…")
        self.torch_label.setObjectName("torch_status")
        self.torch_label.setToolTip("torch loads in the background; the window does not wait for it")
        bar.addPermanentWidget(self.torch_label)

    def _connect(self) -> None:
        s = self.session
        s.datasetChanged.connect(self._dataset_changed)
        s.stateChanged.connect(lambda _state: self._update_actions())
        s.exportChanged.connect(self._export_changed)
        s.checkChanged.connect(self._check_changed)
        self.usable_check.toggled.connect(self._usable_toggled)
        self.table_model.weightEdited.connect(self._weight_edited)
        self.table_model.editRejected.connect(lambda msg: self.show_status(msg))
        self.sampler.startRequested.connect(self.start_run)
        self.sampler.pauseRequested.connect(self.toggle_pause)
        self.sampler.stopRequested.connect(self.stop_run)
        self.sampler.settingsEdited.connect(self._settings_edited)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        self.search.textEdited.connect(lambda text: self.find_class(text))
        self.search.returnPressed.connect(lambda: self.find_class(self.search.text(), after_current=True))
        self.scan_task.loaded.connect(lambda index, path: self.set_dataset(index, opened_path=path))
        self.scan_task.ended.connect(self.scanEnded)
        self.check_task.ended.connect(self._check_ended)
        self.run_task.ended.connect(self._run_ended)
        self.run_task.finished.connect(self.runFinished)
        self.export_task.written.connect(self.weightsExported)

    # ------------------------------------------------------------------ linked selection and search
    def select_class(self, class_index: int) -> None:
        """Select the class's row in the table (scrolled into view) and mark its bars."""
        if self.index is None or not 0 <= class_index < self.index.num_classes:
            return
        row = self.table_model.row_of_class(class_index)
        self.table.selectRow(row)
        self.table.scrollTo(self.table_model.index(row, 0))
        self.histogram.select_class(class_index)

    def _row_changed(self, current: Any, _previous: Any) -> None:
        if current.isValid():
            c = self.table_model.class_at_row(current.row())
            if not self.session.multilabel:
                self.histogram.select_class(c)
                self.histogram.show_class(c)
            self._show_gallery(c)

    def _show_gallery(self, class_index: int) -> None:
        """The class's thumbnails; with the draw counts of the last finished run, when there is one."""
        from .check_views import gallery_draws

        if self.index is not None:
            self.gallery.set_class(self.index, class_index, gallery_draws(self.session))

    def find_class(self, text: str, after_current: bool = False) -> int | None:
        """Select the first class (after the selected one, with ``after_current``) whose name
        contains ``text``, ignoring case; None when none does."""
        if self.index is None or not text.strip():
            return None
        needle = text.strip().casefold()
        names = self.index.classes
        start = 0
        if after_current and self.histogram.selected is not None:
            start = self.histogram.selected + 1
        for k in range(len(names)):
            c = (start + k) % len(names)
            if needle in names[c].casefold():
                self.select_class(c)
                return c
        self.show_status(f"No class name contains {text!r}")
        return None

    def _view_options_changed(self, sort: bool, log: bool) -> None:
        """The View menu's check marks follow what a new dataset set (sorted and log at 10,000 classes)."""
        self.sort_action.setChecked(sort)
        self.log_action.setChecked(log)

    # ================================================================== messages
    def show_status(self, text: str) -> None:
        self.status_label.setText(text)

    def show_error(self, title: str, text: str, details: str = "") -> None:
        """A clear message in a non-blocking box, also in the status bar; ``details`` (a traceback
        of a bug) goes behind the box's "Show Details" button."""
        self.last_error = text
        self.show_status(f"{title}: {text}")
        if self._closed:
            return
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self)
        box.setObjectName("error_box")
        if details:
            box.setIcon(QMessageBox.Icon.Critical)
            box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self._keep_box(box)
        box.open()
        self.errorShown.emit(text)

    def report_exception(self, title: str, exc: BaseException) -> None:
        """The error boundary: a user error in one line, anything else with its traceback."""
        if isinstance(exc, USER_ERRORS):
            self.show_error(title, _error_text(exc))
            return
        log.error("%s", title, exc_info=exc)
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.show_error(title, _error_text(exc) + "\n\nThis is a bug in balance-gui: please report it.", details)

    def _keep_box(self, box: QDialog) -> None:
        """Hold a non-blocking dialog until it closes (the window closes it at shutdown)."""
        box.finished.connect(lambda *_: self._message_boxes.remove(box) if box in self._message_boxes else None)
        self._message_boxes.append(box)

    def focus_search(self) -> None:
        self.tabs.setCurrentIndex(0)
        self.search.setFocus()
        self.search.selectAll()

    def show_about(self) -> QMessageBox:
        from balance_gui import __version__

        box = QMessageBox(QMessageBox.Icon.NoIcon, f"About {APP_NAME}", "", QMessageBox.StandardButton.Close, self)
        box.setObjectName("about_box")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(
            f"<b>balance-gui {__version__}</b><br>Class-balance inspector for image datasets, and a fast, "
            "exact weighted sampler for PyTorch."
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self._keep_box(box)
        box.open()
        return box

    def show_help(self) -> HelpDialog:
        """The help in a dialog that scrolls: it fits a 1280x800 screen."""
        box = HelpDialog(self, f"{APP_NAME} help")
        self._keep_box(box)
        box.show()
        return box

    # ================================================================== device probe
    def _start_device_probe(self) -> None:
        from . import workers

        if self._closed:
            return
        self.probes.start(
            workers.make_device_probe_worker(),
            on_done=self._devices_probed,
            on_exception=lambda e: self._devices_probed(None, error=e),
        )

    def _devices_probed(self, info: Any, error: Any = None) -> None:
        if self._closed:
            return
        if info is None:
            self.torch_label.setText("PyTorch: unavailable")
            self.torch_label.setToolTip(_error_text(error) if error else "")
            return
        self.sampler.set_devices(info)
        ok, reason = info.get("cpu", (True, ""))
        self.torch_label.setText("PyTorch: ready" if ok else "PyTorch: unavailable")
        self.torch_label.setToolTip(reason)
        self.devicesProbed.emit(info)

    # ================================================================== opening data
    def choose_folder(self) -> None:
        start = self._recent()[0] if self._recent() else os.path.expanduser("~")
        path = QFileDialog.getExistingDirectory(self, "Open dataset folder", os.path.dirname(start))
        if path:
            self.open_path(path)

    def choose_manifest(self) -> None:
        start = os.path.dirname(self._recent()[0]) if self._recent() else os.path.expanduser("~")
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Open manifest or annotations",
            start,
            "Manifests, tables and COCO/LVIS annotations (*.csv *.json *.parquet *.pq *.arrow *.feather *.ipc);;"
            "CSV manifest (*.csv);;Parquet/Arrow table (*.parquet *.pq *.arrow *.feather *.ipc);;"
            "COCO/LVIS instances (*.json)",
        )
        if path:
            self.open_path(path)

    def open_demo(self) -> None:
        self.open_path(DEMO_DATASET)

    def open_path(self, path: str) -> None:
        """Scan ``path`` (folder, manifest, table or annotations) in a worker; the current dataset
        stays until it succeeds."""
        if self._closed:
            return
        path = os.path.abspath(os.path.expanduser(os.fspath(path)))
        if not self._may_discard_jobs(path):
            return
        self.scan_task.start(path)

    def _may_discard_jobs(self, path: str) -> bool:
        """Opening another dataset stops a run or an image check of this one: ask first."""
        jobs = (("a sampler run", self.run_task), ("an image check", self.check_task))
        going = [what for what, task in jobs if task.busy]
        if not going:
            return True
        answer = QMessageBox.question(
            self,
            "Open another dataset?",
            f"{' and '.join(going).capitalize()} of the open dataset is going. Opening "
            f"{os.path.basename(path) or path} stops it and discards its results. Open anyway?",
            QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Open:
            self.show_status(f"Kept the open dataset: {' and '.join(going)} goes on")
            return False
        return True

    def cancel_scan(self) -> None:
        self.scan_task.cancel()

    # ================================================================== recent folders
    def _recent(self) -> list[str]:
        return self.recent.paths()

    def _add_recent(self, path: str) -> None:
        self.recent.add(path)

    def clear_recent(self) -> None:
        self.recent.clear()

    def recent_paths(self) -> list[str]:
        return self.recent.paths()

    # ================================================================== image check
    @property
    def ray_offered(self) -> bool:
        """Ray can be imported: Check Images may decode on a Ray cluster (Tools > Check Engine)."""
        return ray_available()

    def _load_engine_settings(self) -> None:
        engine = str(self.settings.value(ENGINE_KEY, "local") or "local")
        self.check_task.engine = engine if engine == "ray" and self.ray_offered else "local"
        self.check_task.ray_address = str(self.settings.value(RAY_ADDRESS_KEY, "") or "")

    def set_check_engine(self, engine: str, address: str = "") -> None:
        """Where Check Images decodes: ``"local"`` or ``"ray"`` (``address`` empty: a local Ray cluster
        started for the check); stored in the settings."""
        if engine not in ("local", "ray"):
            raise ValueError(f"unknown check engine {engine!r}: local or ray")
        self.settings.setValue(ENGINE_KEY, engine)
        self.settings.setValue(RAY_ADDRESS_KEY, address.strip())
        self.settings.sync()
        self._load_engine_settings()

    def show_check_settings(self) -> QDialog:
        from .check_settings import CheckEngineDialog

        if self._settings_dialog is not None:
            self._settings_dialog.close()
        dialog = CheckEngineDialog(self, self.check_task.engine, self.check_task.ray_address)
        dialog.chosen.connect(self.set_check_engine)
        self._settings_dialog = dialog
        self._keep_box(dialog)
        dialog.show()
        return dialog

    def check_images(self) -> None:
        """Decode and hash every image of the dataset in a worker (progress and cancel in the status bar)."""
        if self._closed or self.index is None:
            return
        if self.session.state is not RunState.IDLE:
            self.show_status("Stop the run before checking images: its result can change the weights")
            return
        self.check_task.start()
        self._update_actions()

    def cancel_check(self) -> None:
        self.check_task.cancel()

    def _check_ended(self, outcome: str) -> None:
        self._update_actions()
        check = self.session.check
        if outcome == "ok" and check is not None and len(check.problems):
            self.tabs.setCurrentWidget(self.problems)
        self.checkEnded.emit(outcome)

    def _check_changed(self) -> None:
        s = self.session
        self.usable_check.blockSignals(True)
        self.usable_check.setChecked(s.use_usable)
        self.usable_check.blockSignals(False)
        self.usable_check.setEnabled(s.check is not None and s.state is RunState.IDLE)
        # a kept duplicate copy changes how many images are usable, the switch staying on
        usable = int(s.check.usable_mask.sum()) if s.use_usable and s.check is not None else None
        if usable != self._usable_shown:
            self._usable_shown = usable
            self._usable_status()

    def _usable_toggled(self, on: bool) -> None:
        try:
            self.session.set_use_usable(on)
        except BalanceError as e:
            self.show_status(str(e))
            self._check_changed()  # back to what the session holds

    def _usable_status(self) -> None:
        """Say which images the weights are on (before the session says an exported file is stale)."""
        s = self.session
        if s.index is None:
            return
        on = s.use_usable
        n = int(s.check.usable_mask.sum()) if on and s.check is not None else len(s.index)
        if on:
            self.show_status(
                f"Weights on usable images: {n:,} of {len(s.index):,} images, "
                f"{len(s.index) - n:,} excluded (corrupt files and duplicate copies get weight 0)"
            )
        else:
            self.show_status(f"Weights on all {len(s.index):,} images")

    # ================================================================== dataset and scheme
    def set_dataset(self, index: Any, opened_path: str | None = None) -> None:
        """Show a core DatasetIndex; ``opened_path`` (folder or manifest) goes to the recent list.
        A run or check in progress is cancelled, and every run view resets."""
        self.run_task.abort()
        self.check_task.abort()  # a check of the previous dataset must not attach to this one
        self.sampler.set_dataset_size(len(index))
        self.session.set_dataset(index, settings=self.sampler.settings())
        self._add_recent(opened_path or index.root)
        self.datasetLoaded.emit(index)

    def _dataset_changed(self, index: Any) -> None:
        self.search.clear()  # a name searched in the previous dataset
        name = os.path.basename(os.path.normpath(index.root)) or index.root
        self.setWindowTitle(f"{name} — {APP_NAME}")
        self._update_actions()

    def set_scheme(self, scheme: Scheme) -> bool:
        """Apply ``scheme`` through the session; False (and a message) when it is refused."""
        picker = self.scheme_picker
        try:
            self.session.set_scheme(scheme)
        except BalanceError as e:
            picker.set_error(str(e))
            self.show_status(f"Scheme not applied: {e}")
            picker.set_scheme(self.session.scheme)  # show what still applies
            return False
        picker.set_error(None)
        return True

    def _weight_edited(self, class_index: int, value: float) -> None:
        if self.index is None:
            return
        name = self.index.classes[class_index]
        try:
            self.session.set_class_weight(class_index, value)
        except BalanceError as e:
            self.show_error("Weight not applied", str(e))
            return
        self.scheme_picker.set_error(None)
        self.show_status(f"Weight of {name!r} set to {value:g}: scheme is custom")

    def _settings_edited(self) -> None:
        try:
            self.session.set_settings(self.sampler.settings())
        except BalanceError as e:
            self.show_status(str(e))

    # ================================================================== sampler
    def start_run(self) -> None:
        s = self.session
        if self._closed or s.index is None or s.class_weights is None or self.run_task.busy:
            return
        if self.check_task.busy:
            self.show_status("Wait for the image check (or cancel it): its result can change the weights")
            return
        settings = self.sampler.settings()
        try:
            s.set_settings(settings)
        except BalanceError as e:
            self.show_error("Cannot start", str(e))
            return
        self.sampler.set_progress(0, settings.total_draws, "sampling images…" if s.multilabel else "starting…")
        self.run_task.start(settings)

    def toggle_pause(self) -> None:
        self.run_task.toggle_pause()

    def stop_run(self) -> None:
        self.run_task.cancel()

    def _run_ended(self, outcome: str) -> None:
        self._update_actions()
        self.runEnded.emit(outcome)

    def stats_line(self) -> str:
        """The stats line as plain text (for plot export and tests); empty before a run."""
        multi = self.session.multilabel and self.session.step is not None
        return stats_line(self.session, str(self.multilabel_plots.figures_label.text()) if multi else "")

    # ================================================================== export
    def _base_name(self) -> str:
        return base_name(self.session)

    def export_weights(self) -> None:
        from .export_dialogs import ask_weights_path

        if self.index is None or self.class_w is None:
            self.show_status("Open a dataset first")
            return
        path = ask_weights_path(self, self.settings, self._base_name())
        if path:
            self.export_weights_to(path)

    def export_weights_to(self, path: str) -> None:
        """Write the current weights to ``path`` in a worker (the format follows the extension)."""
        self.export_task.start(path)

    def _export_changed(self) -> None:
        stale = self._stale_text()
        if stale:
            self.show_status(stale)
        if self._training_dialog is not None and self._training_dialog.isVisible():
            self._training_dialog.warning.setText(stale)
            self._training_dialog.warning.setVisible(bool(stale))

    def _stale_text(self) -> str:
        return stale_text(self.session)

    def export_plots(self, ext: str) -> None:
        from .export_dialogs import ask_plot_path

        path = ask_plot_path(self, self.settings, self._base_name().replace("-weights", "-plots"), ext)
        if path:
            self.export_plots_to(path)

    def export_plots_to(self, path: str) -> None:
        from .export_dialogs import export_plot

        try:
            self.histogram.set_export_caption(self._plot_caption())
            try:
                graphics = self.multilabel_plots.graphics if self.session.multilabel else self.histogram.graphics
                export_plot(graphics, path)
            finally:
                self.histogram.set_export_caption(None)
        except Exception as e:  # noqa: BLE001  (the boundary: report_exception sorts user errors from bugs)
            self.report_exception("Plot export failed", e)
            return
        self.show_status(f"Exported plots to {path}")
        self.plotsExported.emit(path)

    def _plot_caption(self) -> tuple[str, str]:
        return plot_caption(self.session, self.stats_line(), APP_NAME)

    def training_snippet(self) -> str:
        return training_lines(self.session)

    def show_training_dialog(self) -> Any:
        from .export_dialogs import UseInTrainingDialog

        if self._training_dialog is not None:
            self._training_dialog.close()
        self._settings_edited()
        self._training_dialog = UseInTrainingDialog(
            self, self.training_snippet(), self.last_export, stale=self._stale_text()
        )
        self._training_dialog.show()
        return self._training_dialog

    # ================================================================== actions state
    def _update_actions(self) -> None:
        has_data = self.index is not None
        running = self.run_task.busy
        for action in (self.export_action, self.export_png_action, self.export_svg_action):
            action.setEnabled(has_data)
        self.start_action.setEnabled(has_data and not running and not self.check_task.busy)
        self.check_action.setEnabled(has_data and not running)
        self.pause_action.setEnabled(running)
        self.pause_action.setText("&Resume" if self.session.state is RunState.PAUSED else "&Pause")
        self.stop_action.setEnabled(running)
        self.usable_check.setEnabled(self.session.check is not None and self.session.state is RunState.IDLE)
        if not running:
            self.sampler.set_state("idle", can_start=has_data)

    # ================================================================== drag and drop
    @staticmethod
    def _dropped_path(mime: Any) -> str | None:
        """The first local folder or openable file (manifest, table, COCO .json) among the dropped URLs."""
        if mime is None or not mime.hasUrls():
            return None
        for url in mime.urls():
            url = QUrl(url)
            if url.isLocalFile():
                path = url.toLocalFile()
                if os.path.isdir(path) or (os.path.isfile(path) and path.lower().endswith(OPENABLE_EXTENSIONS)):
                    return path
        return None

    def dragEnterEvent(self, event: Any) -> None:
        if self._dropped_path(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: Any) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event: Any) -> None:
        path = self._dropped_path(event.mimeData())
        if path:
            event.acceptProposedAction()
            self.open_path(path)
        else:
            event.ignore()

    # ================================================================== shutdown
    def closeEvent(self, event: Any) -> None:
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self, timeout_s: float = SHUTDOWN_WAIT_S) -> bool:
        """Stop every worker this window started and wait for them; True if all ended."""
        if not self._closed:
            try:
                self.settings.setValue("window/geometry", self.saveGeometry())
                self.settings.sync()
            except RuntimeError:
                pass
        self._closed = True
        self.task_progress.stop()
        runners = self._runners
        for runner in runners:
            runner.cancel()
        for box in list(self._message_boxes):
            box.close()
        if self._training_dialog is not None:
            self._training_dialog.close()
        deadline = time.monotonic() + timeout_s
        ok = True
        for runner in runners:
            left_ms = max(int((deadline - time.monotonic()) * 1000), 0)
            ok = runner.wait(left_ms) and ok
        for title in ("Gallery", "Problems"):  # their decoders run on private thread pools
            if self.tabs.is_built(title):
                ok = self.tabs.page(title).shutdown(max(deadline - time.monotonic(), 0.0)) and ok  # type: ignore[attr-defined]
        return ok
