"""The main window: thin wiring between the session model, the views and the job runners.

State lives in ``session.Session`` (dataset, scheme, weights, run settings, run state, last
step); views observe it. Long work runs in superqt workers through ``jobs.JobRunner``s,
one per kind of job, each cancelling its previous job. A panel is added by building it in
``_build_widgets`` and connecting it to the session's signals in ``_connect``.
"""

from __future__ import annotations

import gc
import logging
import os
import time
import traceback
from typing import Any

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStyle,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from balance_gui import DEMO_DATASET, __version__
from balance_gui.core.annotations import AnnotationProgress
from balance_gui.core.errors import BalanceError, Cancelled
from balance_gui.core.expected import class_figures, fit_line, step_figures
from balance_gui.core.weights import Scheme, class_weights, dataset_figures

from . import workers
from .class_table import COL, MULTI_LABEL_ONLY, SINGLE_LABEL_ONLY, ClassTableModel, ClassTableView
from .cooccurrence_view import CooccurrenceView
from .coverage import CoverageView
from .export_dialogs import UseInTrainingDialog, ask_plot_path, ask_weights_path, export_plot, training_snippet
from .gallery import GalleryPanel
from .help import HelpDialog
from .histogram import HistogramView
from .image_check import CheckJob, ProblemsPanel, make_check_job
from .jobs import JobRunner
from .multilabel_plots import MultiLabelPlots
from .numbers import percent
from .sampler_panel import SamplerPanel
from .scheme_picker import SchemePicker
from .session import RunState, Session
from .summary import SummaryPanel

log = logging.getLogger(__name__)

APP_NAME = "balance-gui"
REDRAW_MS = 33  # ~30 redraws per second while a run or scan is going
RECENT_KEY = "recent/folders"
MAX_RECENT = 10
SHUTDOWN_WAIT_S = 15.0


def default_settings() -> QSettings:
    return QSettings(QSettings.defaultFormat(), QSettings.Scope.UserScope, APP_NAME, APP_NAME)


# Errors that the user's data, files or settings caused: shown as they are, in one line.
# Anything else is a bug: shown with its traceback in the message box's details.
USER_ERRORS = (BalanceError, OSError)


def _freeze_long_lived_objects() -> None:
    """Move every object alive now (Qt wrappers, torch, the dataset index) out of the garbage
    collector's reach before a long job. A worker thread that allocates many objects (the image
    check's per-file records) triggers full collections, and each one walked this whole heap
    holding the GIL: a 109 ms GUI stall measured in the middle of a 20,000-image check. Frozen
    objects are still freed by reference counting; only cycles among them wait for ``gc.unfreeze``."""
    gc.freeze()


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

    def __init__(self, settings: QSettings | None = None, parent: Any = None, probe_devices: bool = True) -> None:
        super().__init__(parent)
        self.settings = settings if settings is not None else default_settings()
        self.session = Session(self)
        self.scans = JobRunner(self)
        self.runs = JobRunner(self)
        self.exports = JobRunner(self)
        self.probes = JobRunner(self)
        self.checks = JobRunner(self)
        self._check_job: CheckJob | None = None
        # How the current check ended. checkEnded tells it only once the job is over, so a
        # listener may start a run at once (runs are held back while a check is busy).
        self._check_outcome = "failed"
        self.last_error: str | None = None
        self._closed = False
        self._scan_job: workers.ScanJob | None = None
        self._stop_requested = False
        self._run_error: BaseException | None = None
        self._pending_step: Any = None
        self._message_boxes: list[QDialog] = []
        self._training_dialog: UseInTrainingDialog | None = None
        self._counts_usable = False  # the views show the usable counts
        self._default_draws = 0  # draws per epoch the window set itself (N, or N usable)

        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.resize(1440, 900)
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

        self._redraw_timer = QTimer(self)
        self._redraw_timer.setInterval(REDRAW_MS)
        self._redraw_timer.timeout.connect(self._redraw)
        if probe_devices:
            QTimer.singleShot(0, self._start_device_probe)

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
    def pending_workers(self) -> int:
        """Workers this window started whose threads have not ended."""
        return sum(r.alive for r in self._runners)

    @property
    def _runners(self) -> tuple[JobRunner, ...]:
        return (self.scans, self.runs, self.exports, self.probes, self.checks)

    # ================================================================== construction
    def _build_widgets(self) -> None:
        self.summary = SummaryPanel()
        self.scheme_picker = SchemePicker()
        self.sampler = SamplerPanel()
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(6, 6, 6, 6)
        left_layout.addWidget(self.summary)
        left_layout.addWidget(self.scheme_picker)
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
        # wide enough for the controls plus the vertical scroll bar: the panel scrolls, never clips
        scroll.setMinimumWidth(left.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 4)
        scroll.setMaximumWidth(480)
        self.left_panel = scroll

        self.histogram = HistogramView()
        self.table_model = ClassTableModel(self.session, self)
        self.table = ClassTableView(self.table_model)
        self.table.setObjectName("class_table")
        self.table.setColumnHidden(COL["usable"], True)
        for key in MULTI_LABEL_ONLY:
            self.table.setColumnHidden(COL[key], True)
        self.coverage = CoverageView()
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
        self.tabs = QTabWidget()
        self.tabs.addTab(classes_tab, "Classes")
        self.tabs.addTab(self.coverage, "Coverage")
        self.gallery = GalleryPanel()
        self.gallery.setObjectName("gallery")
        self.tabs.addTab(self.gallery, "Gallery")
        self.problems = ProblemsPanel()
        self.problems.setObjectName("problems")
        self.tabs.addTab(self.problems, "Problems")
        self.cooccurrence = CooccurrenceView()
        self.cooccurrence.setObjectName("cooccurrence")
        self.tabs.addTab(self.cooccurrence, "Co-occurrence")
        # multi-label data (COCO/LVIS, path,labels) shows these plots in place of the histogram
        self.multilabel_plots = MultiLabelPlots()
        self.multilabel_plots.setVisible(False)

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.histogram)
        right.addWidget(self.multilabel_plots)
        right.addWidget(self.tabs)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 3)
        right.setStretchFactor(2, 2)
        right.setSizes([520, 520, 330])
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([350, 1090])
        self.setCentralWidget(splitter)

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
            "Open a CSV manifest (path,label or multi-label path,labels) or a COCO/LVIS instances JSON",
        )
        self.demo_action = self._action("Open &Demo Dataset", self.open_demo, tip="The bundled demo dataset")
        self.export_action = self._action(
            "&Export Weights…",
            self.export_weights,
            QKeySequence("Ctrl+E"),
            sp.SP_DialogSaveButton,
            "Export weights as .pt, .csv, .json or .npy",
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
        self.sort_action = self._action("Sort by &Count", self.histogram.set_sorted, checkable=True)
        self.log_action = self._action("&Log Scale", self.histogram.set_log, checkable=True)
        self.reset_zoom_action = self._action("&Reset Zoom", self.histogram.reset_zoom, QKeySequence("Ctrl+0"))
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
        run_menu = menu.addMenu("&Sampler")
        run_menu.addAction(self.start_action)
        run_menu.addAction(self.pause_action)
        run_menu.addAction(self.stop_action)
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self.help_action)
        help_menu.addAction(self.training_action)
        help_menu.addAction(self.about_action)
        self._rebuild_recent_menu()

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main_toolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.addAction(self.open_action)
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
        self.toolbar = toolbar

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.status_label = QLabel("")
        self.status_label.setObjectName("status_message")
        bar.addWidget(self.status_label, 1)
        self.scan_progress = QProgressBar()
        self.scan_progress.setObjectName("scan_progress")
        self.scan_progress.setMaximumWidth(220)
        self.scan_progress.setVisible(False)
        bar.addPermanentWidget(self.scan_progress)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel_scan")
        self.cancel_button.setToolTip("Stop the scan; the dataset shown so far stays open")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_scan)
        bar.addPermanentWidget(self.cancel_button)
        self.check_progress = QProgressBar()
        self.check_progress.setObjectName("check_progress")
        self.check_progress.setMaximumWidth(220)
        self.check_progress.setVisible(False)
        bar.addPermanentWidget(self.check_progress)
        self.cancel_check_button = QPushButton("Cancel Check")
        self.cancel_check_button.setObjectName("cancel_check")
        self.cancel_check_button.setToolTip("Stop the image check; nothing of it is applied")
        self.cancel_check_button.setVisible(False)
        self.cancel_check_button.clicked.connect(self.cancel_check)
        bar.addPermanentWidget(self.cancel_check_button)
        self.torch_label = QLabel("PyTorch: loading…")
        self.torch_label.setObjectName("torch_status")
        self.torch_label.setToolTip("torch loads in the background; the window does not wait for it")
        bar.addPermanentWidget(self.torch_label)

    def _connect(self) -> None:
        s = self.session
        s.datasetChanged.connect(self._dataset_changed)
        s.weightsChanged.connect(self._weights_changed)
        s.stepChanged.connect(self._step_changed)
        s.stateChanged.connect(self._state_changed)
        s.exportChanged.connect(self._export_changed)
        s.checkChanged.connect(self._check_changed)
        self.usable_check.toggled.connect(self._usable_toggled)
        self.scheme_picker.schemeChanged.connect(self.set_scheme)
        self.table_model.weightEdited.connect(self._weight_edited)
        self.table_model.editRejected.connect(lambda msg: self.show_status(msg))
        self.sampler.startRequested.connect(self.start_run)
        self.sampler.pauseRequested.connect(self.toggle_pause)
        self.sampler.stopRequested.connect(self.stop_run)
        self.sampler.settingsEdited.connect(self._settings_edited)
        self.histogram.weights_source = lambda: self.session.class_weights
        self.histogram.classClicked.connect(self.select_class)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        self.search.textEdited.connect(lambda text: self.find_class(text))
        self.search.returnPressed.connect(lambda: self.find_class(self.search.text(), after_current=True))
        self.histogram.orderChanged.connect(self.coverage.set_order)
        self.histogram.sort_check.toggled.connect(self.sort_action.setChecked)
        self.histogram.log_check.toggled.connect(self.log_action.setChecked)
        self.histogram.viewOptionsChanged.connect(self._view_options_changed)
        self.histogram.raw_plot.getViewBox().sigXRangeChanged.connect(self._sync_coverage_range)

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
            self.histogram.select_class(c)
            self.histogram.show_class(c)
            self._show_gallery(c)

    def _show_gallery(self, class_index: int) -> None:
        """The class's thumbnails; with the draw counts of the last finished run, when there is one."""
        index = self.index
        if index is None:
            return
        self.gallery.set_class(index, class_index, self._gallery_draws())

    def _gallery_draws(self) -> np.ndarray | None:
        step = self.last_step
        if step is None or self.session.state is not RunState.IDLE:
            return None
        return step.image_uses

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

    def _sync_coverage_range(self, _vb: Any, x_range: Any) -> None:
        self.coverage.plot.getViewBox().setXRange(*x_range, padding=0)

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
        box.finished.connect(lambda *_: self._message_boxes.remove(box) if box in self._message_boxes else None)
        self._message_boxes.append(box)
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

    def focus_search(self) -> None:
        self.tabs.setCurrentIndex(0)
        self.search.setFocus()
        self.search.selectAll()

    def show_about(self) -> QMessageBox:
        return self._info_box(
            "about_box",
            f"About {APP_NAME}",
            f"<b>balance-gui {__version__}</b><br>Class-balance inspector for image datasets, and a fast, "
            "exact weighted sampler for PyTorch.",
        )

    def show_help(self) -> HelpDialog:
        """The help in a dialog that scrolls: it fits a 1280x800 screen."""
        box = HelpDialog(self, f"{APP_NAME} help")
        box.finished.connect(lambda *_: self._message_boxes.remove(box) if box in self._message_boxes else None)
        self._message_boxes.append(box)
        box.show()
        return box

    def _info_box(self, name: str, title: str, html: str) -> QMessageBox:
        """A non-blocking rich-text box, closed with the window."""
        box = QMessageBox(QMessageBox.Icon.NoIcon, title, "", QMessageBox.StandardButton.Close, self)
        box.setObjectName(name)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(html)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        box.finished.connect(lambda *_: self._message_boxes.remove(box) if box in self._message_boxes else None)
        self._message_boxes.append(box)
        box.open()
        return box

    # ================================================================== workers
    def _start_device_probe(self) -> None:
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
        """Scan ``path`` (folder or .csv) in a worker; the current dataset stays until it succeeds."""
        if self._closed:
            return
        path = os.path.abspath(os.path.expanduser(os.fspath(path)))
        if not self._may_discard_jobs(path):
            return
        job = workers.make_scan_job(path)
        self._scan_job = job
        self.scans.start(
            job.worker,
            on_done=lambda index: self._scan_done(job, index),
            on_exception=lambda exc: self._scan_failed(exc),
            on_finished=self._scan_finished,
            cancel=job.cancel.set,
        )
        self.scan_progress.setRange(0, 0)
        self.scan_progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.cancel_button.setEnabled(True)
        self.show_status(f"Scanning {path} …")
        self._redraw_timer.start()

    def _may_discard_jobs(self, path: str) -> bool:
        """Opening another dataset stops a run or an image check of this one: ask first."""
        jobs = (("a sampler run", self.runs), ("an image check", self.checks))
        going = [what for what, runner in jobs if runner.busy]
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
        if self.scans.busy:
            self.scans.quit()
            self.cancel_button.setEnabled(False)
            self.show_status("Cancelling the scan…")

    @property
    def scanning(self) -> bool:
        return self.scans.busy

    def _scan_finished(self) -> None:
        self._scan_job = None
        self.scan_progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self._stop_timer_if_idle()

    def _scan_done(self, job: Any, index: Any) -> None:
        self._scan_finished()
        elapsed = time.perf_counter() - job.started
        self.set_dataset(index, opened_path=job.path)
        self.show_status(
            f"Opened {index.root}: {len(index):,} images in {index.num_classes:,} classes ({elapsed:.2f} s)"
        )
        self.scanEnded.emit("ok")

    def _scan_failed(self, exc: BaseException) -> None:
        self._scan_finished()
        if isinstance(exc, Cancelled):
            self.show_status("Scan cancelled" + ("; the previous dataset stays open" if self.index else ""))
            self.scanEnded.emit("cancelled")
            return
        self.report_exception("Cannot open dataset", exc)
        self.scanEnded.emit("failed")

    def _show_scan_progress(self) -> None:
        job = self._scan_job
        if job is None or job.latest is None:
            return
        p = job.latest
        if isinstance(p, AnnotationProgress):  # a COCO .json or path,labels manifest
            self.scan_progress.setRange(0, max(p.bytes_total, 1) // 1024)
            self.scan_progress.setValue(p.bytes_read // 1024)
            self.show_status(
                f"Reading annotations: {p.images:,} images, {p.annotations:,} annotations, {p.elapsed_s:.1f} s"
            )
            return
        if p.classes_total:
            self.scan_progress.setRange(0, p.classes_total)
            self.scan_progress.setValue(p.classes_done)
        self.show_status(
            f"Scanning: {p.files_found:,} images in {p.classes_done:,} of {p.classes_total:,} "
            f"classes, {p.elapsed_s:.1f} s — {p.current}"
        )

    # ================================================================== recent folders
    def _recent(self) -> list[str]:
        value = self.settings.value(RECENT_KEY, [])
        if isinstance(value, str):
            value = [value]
        return [v for v in (value if isinstance(value, list) else []) if isinstance(v, str) and v]

    def _add_recent(self, path: str) -> None:
        items = [path] + [p for p in self._recent() if p != path]
        self.settings.setValue(RECENT_KEY, items[:MAX_RECENT])
        self.settings.sync()
        self._rebuild_recent_menu()

    def clear_recent(self) -> None:
        self.settings.setValue(RECENT_KEY, [])
        self.settings.sync()
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self._recent()
        for i, path in enumerate(recent):
            label = f"&{i + 1}  {path}" if i < 9 else path
            action = self.recent_menu.addAction(label)
            action.setData(path)
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))
        if recent:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear Recent", self.clear_recent)
        else:
            empty = self.recent_menu.addAction("(none yet)")
            empty.setEnabled(False)

    def recent_paths(self) -> list[str]:
        return self._recent()

    # ================================================================== image check
    def check_images(self) -> None:
        """Decode and hash every image of the dataset in a worker (progress and cancel in the status bar)."""
        if self._closed or self.index is None:
            return
        if self.session.multilabel:
            self.show_status("The image check works on folders and path,label manifests, not yet on annotation files")
            return
        if self.session.state is not RunState.IDLE:
            self.show_status("Stop the run before checking images: its result can change the weights")
            return
        _freeze_long_lived_objects()
        job = make_check_job(self.index)
        self._check_job = job
        self._check_outcome = "failed"  # until the job says otherwise
        self.checks.start(
            job.worker,
            on_done=self._check_done,
            on_exception=self._check_failed,
            on_finished=self._check_finished,
            cancel=job.cancel.set,
        )
        self.check_progress.setRange(0, 0)
        self.check_progress.setVisible(True)
        self.cancel_check_button.setVisible(True)
        self.cancel_check_button.setEnabled(True)
        self.show_status(f"Checking {len(self.index):,} images…")
        self._update_actions()
        self._redraw_timer.start()

    @property
    def checking(self) -> bool:
        return self.checks.busy

    def cancel_check(self) -> None:
        if self.checks.busy:
            self.checks.quit()
            self.cancel_check_button.setEnabled(False)
            self.show_status("Cancelling the image check…")

    def _show_check_progress(self) -> None:
        job = self._check_job
        if job is None or job.latest is None:
            return
        p = job.latest
        self.check_progress.setRange(0, max(p.files_total, 1))
        self.check_progress.setValue(p.files_done)
        self.show_status(
            f"Checking images: {p.files_done:,} of {p.files_total:,} ({p.from_cache:,} from the cache), "
            f"{p.elapsed_s:.1f} s"
        )

    def _check_done(self, result: Any) -> None:
        try:
            self.session.set_check(result)
        except BalanceError as e:
            self.show_error("Check not applied", str(e))
            self._check_outcome = "failed"
            return
        n = len(result.problems)
        self.show_status(
            f"Image check: {len(result.corrupt):,} corrupt, {len(result.duplicates):,} duplicate copies "
            f"({result.elapsed_s:.2f} s)"
            if n
            else f"Image check: all {len(result.targets):,} images usable ({result.elapsed_s:.2f} s)"
        )
        if n:
            self.tabs.setCurrentWidget(self.problems)
        self._check_outcome = "ok"

    def _check_failed(self, exc: BaseException) -> None:
        if isinstance(exc, Cancelled):
            self.show_status("Image check cancelled")
            self._check_outcome = "cancelled"
            return
        self.report_exception("Image check failed", exc)
        self._check_outcome = "failed"

    def _check_finished(self) -> None:
        self._check_job = None
        self.check_progress.setVisible(False)
        self.cancel_check_button.setVisible(False)
        self._stop_timer_if_idle()
        self._update_actions()
        self.checkEnded.emit(self._check_outcome)

    def _check_changed(self) -> None:
        s = self.session
        if s.check is None or s.index is None:
            self.problems.clear()
        else:
            self.problems.set_result(s.index, s.check)
        self.table_model.refresh_usable()
        self.table.setColumnHidden(COL["usable"], s.check is None)  # the table gains the column with a check
        self.usable_check.blockSignals(True)
        self.usable_check.setChecked(s.use_usable)
        self.usable_check.blockSignals(False)
        self.usable_check.setEnabled(s.check is not None and s.state is RunState.IDLE)
        self._show_counts()

    def _show_counts(self) -> None:
        """Every view of the counts follows "Weights on usable images": the summary, the dataset plot
        and its title, the default draws per epoch (N usable, not N files) and the status bar."""
        s = self.session
        if s.index is None or s.multilabel:
            return
        usable = s.use_usable
        counts = s.counts
        assert counts is not None
        if usable == self._counts_usable:
            return
        self._counts_usable = usable
        self.summary.set_usable(s.index, counts if usable else None)
        self.histogram.set_counts(counts, usable=usable)
        n = int(counts.sum())
        if self.sampler.num_samples.value() == self._default_draws:  # still the default: N follows the counts
            self._default_draws = n
            self.sampler.set_dataset_size(n)
            self._settings_edited()
        if usable:
            self.show_status(
                f"Weights on usable images: {n:,} of {len(s.index):,} images, "
                f"{len(s.index) - n:,} excluded (corrupt files and duplicate copies get weight 0)"
            )
        else:
            self.show_status(f"Weights on all {len(s.index):,} images")

    def _usable_toggled(self, on: bool) -> None:
        try:
            self.session.set_use_usable(on)
        except BalanceError as e:
            self.show_status(str(e))
            self._check_changed()  # back to what the session holds

    # ================================================================== dataset and scheme
    def set_dataset(self, index: Any, opened_path: str | None = None) -> None:
        """Show a core DatasetIndex; ``opened_path`` (folder or manifest) goes to the recent list.
        A run in progress is cancelled, and every run view resets."""
        self.runs.cancel()
        if self.checks.busy:  # a check of the previous dataset must not attach to this one
            self.checks.cancel()
            self._check_outcome = "cancelled"
            self._check_finished()
        self._pending_step = None
        self._stop_timer_if_idle()
        self.sampler.set_dataset_size(len(index))
        self._default_draws = self.sampler.num_samples.value()
        self._counts_usable = False  # a new dataset has no check: its own counts
        self.session.set_dataset(index, settings=self.sampler.settings())
        self._add_recent(opened_path or index.root)
        self.datasetLoaded.emit(index)

    def _dataset_changed(self, index: Any) -> None:
        multi = self.session.multilabel
        self.histogram.setVisible(not multi)
        self.multilabel_plots.setVisible(multi)
        for key in SINGLE_LABEL_ONLY:
            if key != "usable":  # shown once a check is attached
                self.table.setColumnHidden(COL[key], multi)
        for key in MULTI_LABEL_ONLY:
            self.table.setColumnHidden(COL[key], not multi)
        if multi:
            self.multilabel_plots.set_dataset(index)
            self.cooccurrence.set_dataset(index)
        else:
            self.cooccurrence.clear()
        self.summary.set_dataset(index, dataset_figures(index.counts))
        if multi:  # N is the file's images (its class counts overlap: an image carries several classes)
            self.summary.values["num_samples"].setText(f"{len(index):,} ({index.num_annotations:,} annotations)")
        self.histogram.set_dataset(index.classes, index.counts)
        self.coverage.set_dataset(index.classes, index.counts)
        self.coverage.set_order(self.histogram.order)
        self.table_model.reset()
        self.gallery.clear()
        self.search.clear()  # a name searched in the previous dataset
        self.scheme_picker.set_scheme(self.session.scheme)
        name = os.path.basename(os.path.normpath(index.root)) or index.root
        self.setWindowTitle(f"{name} — {APP_NAME}")
        self._update_actions()

    def set_scheme(self, scheme: Scheme) -> bool:
        """Apply ``scheme`` through the session; False (and a message) when it is refused."""
        try:
            self.session.set_scheme(scheme)
        except BalanceError as e:
            self.scheme_picker.set_error(str(e))
            self.show_status(f"Scheme not applied: {e}")
            self.scheme_picker.set_scheme(self.session.scheme)  # show what still applies
            return False
        self.scheme_picker.set_error(None)
        return True

    def _weights_changed(self) -> None:
        s = self.session
        if s.index is not None and s.image_figures is not None:  # multi-label data: image-level figures
            if self.scheme_picker.scheme().name != s.scheme.name or s.scheme.name == "custom":
                self.scheme_picker.set_scheme(s.scheme)
            self.table_model.refresh()
            self.multilabel_plots.set_expected(s.image_figures)
            self.scheme_picker.set_hint(
                "Image-level sampling: an image's weight is the max of its classes' weights "
                "(rfs:T: its repeat factor, 1 without annotations)"
            )
            if s.figures_note:
                self.show_status(s.figures_note)
            return
        if s.index is None or s.figures is None:
            return
        if self.scheme_picker.scheme().name != s.scheme.name or s.scheme.name == "custom":
            self.scheme_picker.set_scheme(s.scheme)
        self.table_model.refresh()
        self.histogram.set_scheme_figures(s.figures.expected_shares, s.settings.num_samples)
        if s.step is None:
            self.histogram.set_planned(s.settings.total_draws)
        self.scheme_picker.set_hint(self._scheme_hint())
        if s.figures_note:
            self.show_status(s.figures_note)

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

    def _scheme_hint(self) -> str:
        """The chosen scheme's own example (the largest class: its weight, its share of the images and
        of the draws), that only relative weights matter, and when the weights have no effect at all."""
        s = self.session
        index = self.index
        counts = s.counts  # the usable counts with "Weights on usable images"
        assert counts is not None and s.class_weights is not None  # asked for only with a dataset open
        w = s.class_weights
        cur = s.figures.expected_shares if s.figures is not None else class_figures(counts, w).expected_shares
        total = max(int(counts.sum()), 1)
        c = int(np.argmax(counts))
        example = (
            f"e.g. {index.classes[c]!r}: {int(counts[c]):,} of {total:,} images ({percent(counts[c] / total)}), "
            f"{s.scheme} weight {w[c]:.4g} → {percent(cur[c])} of draws"
        )
        st = s.settings
        drawable = int(counts[w > 0].sum())
        if not st.replacement and st.mode == "weighted" and st.num_samples >= drawable:
            return (
                f"Weights have no effect here: without replacement, {st.num_samples:,} draws per epoch take every "
                f"one of the {drawable:,} images with a weight exactly once; the weights only change the order "
                f"({example}). Draw fewer, or with replacement, to see the scheme."
            )
        if s.scheme.name in ("inverse", "balanced"):
            other = "balanced" if s.scheme.name == "inverse" else "inverse"
            return (
                f"Same sampled shares as {other}: balanced = inverse / C (C = {index.num_classes:,}), and only "
                f"relative weights matter; {example}."
            )
        twins = [
            name
            for name in ("inverse", "none")
            if np.allclose(
                cur, class_figures(counts, class_weights(counts, name)).expected_shares, rtol=1e-9, atol=1e-15
            )
        ]
        if twins and s.scheme.name != "none":
            return f"Gives the same sampled shares as {' and '.join(twins)}: only relative weights matter; {example}."
        return f"Only relative weights matter: scaling every weight by one constant changes nothing; {example}."

    # ================================================================== sampler
    @property
    def running(self) -> bool:
        return self.runs.busy

    def start_run(self) -> None:
        s = self.session
        if self._closed or s.index is None or s.class_weights is None or self.runs.busy:
            return
        if self.checks.busy:
            self.show_status("Wait for the image check (or cancel it): its result can change the weights")
            return
        settings = self.sampler.settings()
        try:
            s.set_settings(settings)
        except BalanceError as e:
            self.show_error("Cannot start", str(e))
            return
        self._stop_requested = False
        self._run_error = None
        self._pending_step = None
        s.clear_step()
        _freeze_long_lived_objects()
        if s.multilabel:
            self._start_image_level_run(settings)
            return
        from balance_gui.core.training import run_weights  # imports torch: only when a run starts

        # The core's one reading of the weights (excluded files weigh 0), as load_sampler reads the exported file
        weights = run_weights(s.index.targets, s.class_weights, s.excluded)
        params = settings.simulate_kwargs()
        if "sample_weights" in weights:
            params["sample_weights"] = weights["sample_weights"]
        worker = workers.make_simulation_worker(s.index.targets, weights.get("class_weights"), params)
        self.sampler.set_progress(0, settings.total_draws, "starting…")
        self.show_status(
            f"Sampling {settings.total_draws:,} draws ({settings.mode}, {settings.implementation}, {settings.device})…"
        )
        self._redraw_timer.start()
        self.runs.start(
            worker,
            on_partial=self._on_step,
            on_exception=self._run_failed,
            on_finished=self._run_finished,
            on_paused=lambda: self.session.set_state(RunState.PAUSED),
            on_resumed=lambda: self.session.set_state(RunState.RUNNING),
        )
        s.set_state(RunState.RUNNING)

    def _start_image_level_run(self, settings: Any) -> None:
        """Multi-label data: the core's image-level run (repeat-factor epochs for rfs:T, else draws
        by image weight), shown when it ends against the expected images and instances per class."""
        s = self.session
        rfs = s.scheme.name == "rfs"
        params = {
            "epochs": settings.epochs,
            "num_samples": None if rfs else settings.num_samples,
            "replacement": True if rfs else settings.replacement,
            "seed": settings.seed,
            "device": settings.device,
        }
        worker = workers.make_image_level_worker(s.index, s.scheme, s.image_weights, params)
        self.sampler.set_progress(0, settings.total_draws, "sampling images…")
        self.show_status(f"Sampling images of {s.index.num_classes:,} classes, {settings.epochs} epoch(s)…")
        self._redraw_timer.start()
        self.runs.start(
            worker,
            on_done=self._on_step,
            on_exception=self._run_failed,
            on_finished=self._run_finished,
        )
        s.set_state(RunState.RUNNING)

    def toggle_pause(self) -> None:
        if not self.runs.busy:
            return
        if self.session.state is RunState.PAUSED:
            self.runs.resume()
        else:
            self.runs.pause()

    def stop_run(self) -> None:
        if self.runs.busy:
            self._stop_requested = True
            self.runs.quit()
            self.show_status("Stopping the run…")

    def _state_changed(self, state: RunState) -> None:
        if self._closed:
            return
        idle = state is RunState.IDLE
        self.sampler.set_state(state.value, can_start=self.index is not None)
        # mid-run edits are refused: the controls that would change the weights are off
        self.scheme_picker.setEnabled(idle)
        self.table_model.set_editable(idle)
        self.usable_check.setEnabled(idle and self.session.check is not None)
        self._update_actions()
        if idle:  # a finished run's per-image draws: the gallery can sort by them
            self.gallery.set_draw_counts(self._gallery_draws())
        if state is RunState.PAUSED:
            self.show_status("Run paused")

    def _on_step(self, step: Any) -> None:
        self._pending_step = step  # drawn by the ~30 Hz timer

    def _run_failed(self, exc: BaseException) -> None:
        self._run_error = exc
        self.report_exception("Sampler failed", exc)

    def _run_finished(self) -> None:
        if self._closed:
            return
        self._redraw()
        self.session.set_state(RunState.IDLE)
        self._stop_timer_if_idle()
        step = self.last_step
        if self._run_error is not None:
            self.runEnded.emit("failed")
        elif self.session.multilabel:
            if step is not None:
                self.show_status(
                    f"Run finished: {step.epochs} epoch(s), {step.sampled.draws:,.1f} images per epoch "
                    f"(expected {step.expected.draws:,.1f})"
                )
            self.runEnded.emit("stopped" if self._stop_requested else "finished")
            if not self._stop_requested:
                self.runFinished.emit(step)
        elif self._stop_requested:
            done = step.draws_done if step is not None else 0
            self.show_status(f"Run stopped after {done:,} draws")
            self.runEnded.emit("stopped")
        else:
            if step is not None:
                self.show_status(
                    f"Run finished: {step.draws_done:,} draws in {step.elapsed_s:.2f} s "
                    f"({step.draws_per_s:,.0f} draws/s)"
                )
            self.runEnded.emit("finished")
            self.runFinished.emit(step)

    def _step_changed(self, step: Any) -> None:
        if self.index is None:
            return
        if self.session.multilabel:
            self.multilabel_plots.set_sampled(step)
            if step is None:
                self.gallery.set_draw_counts(None)
                if self.session.state is RunState.IDLE:
                    self.sampler.set_progress(0, self.session.settings.total_draws, "idle")
            else:
                self.sampler.set_progress(1, 1, "done")
            return
        if step is None:  # no run results: every run view back to the plan
            total = self.session.settings.total_draws
            self.histogram.set_planned(total)
            self.histogram.set_figures_text("")
            self.coverage.clear_run()
            self.table_model.refresh_observed()
            self.gallery.set_draw_counts(None)
            if self.session.state is RunState.IDLE:
                self.sampler.set_progress(0, total, "idle")
            return
        self.histogram.set_sampled(step.class_counts, step.expected_shares, step.draws_done)
        self.histogram.set_figures_text(self._figures_html(step))
        self.sampler.set_progress(step.draws_done, step.total_draws)
        epochs = max(self.session.settings.epochs, 1)
        if step.distinct_seen is not None:
            label = f"Epoch {step.epoch + 1:,} of {epochs:,}: " if epochs > 1 else ""
            self.coverage.set_coverage(step.distinct_seen, step_figures(step, self.index.counts), label)
            self.table_model.refresh_observed()

    @staticmethod
    def _figures_html(step: Any) -> str:
        fit = step.fit
        tv = "—" if not np.isfinite(step.tv_distance) else f"{step.tv_distance:.4f}"
        if fit is not None and not fit.valid:
            chi = (
                f"<b>χ²</b> {fit.chi_square:,.1f} "
                f"<i>(not valid: {fit.low_expected:,} class(es) expect &lt; 5 draws)</i>"
            )
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

    def stats_line(self) -> str:
        """The stats line as plain text (for plot export and tests); empty before a run."""
        step = self.last_step
        if step is None:
            return ""
        if self.session.multilabel:
            return self.multilabel_plots.figures_label.text()
        fit = fit_line(step.fit) if step.fit is not None else ""
        return f"{step.draws_done:,} draws ({step.mode}); {fit}; TV distance {step.tv_distance:.4f}"

    def _redraw(self) -> None:
        if self._closed:
            return
        if self._scan_job is not None:
            self._show_scan_progress()
        if self._check_job is not None:
            self._show_check_progress()
        step, self._pending_step = self._pending_step, None
        if step is not None and self.index is not None:
            self.session.set_step(step)

    def _stop_timer_if_idle(self) -> None:
        if not self.scans.busy and not self.runs.busy and not self.checks.busy:
            self._redraw_timer.stop()

    # ================================================================== export
    def _base_name(self) -> str:
        if self.index is None:
            return "weights"
        name = os.path.basename(os.path.normpath(self.index.root)) or "dataset"
        return (
            f"{name}-{str(self.scheme).replace(':', '-')}-weights"
            if self.scheme.name != "custom"
            else f"{name}-custom-weights"
        )

    def export_weights(self) -> None:
        if self.index is None or self.class_w is None:
            self.show_status("Open a dataset first")
            return
        path = ask_weights_path(self, self.settings, self._base_name())
        if path:
            self.export_weights_to(path)

    def export_weights_to(self, path: str) -> None:
        """Write the current weights to ``path`` in a worker (the format follows the extension)."""
        s = self.session
        weights, scheme = s.class_weights, s.scheme  # read-only: the session replaces, never edits, them
        kwargs = s.export_kwargs()
        excluded = kwargs.get("excluded")
        self.exports.start(
            workers.make_export_worker(path, s.index, kwargs, scheme),
            on_done=lambda written: self._exported(written, weights, scheme, excluded),
            on_exception=lambda exc: self.report_exception("Export failed", exc),
        )
        self.show_status(f"Exporting weights to {path} …")

    def _exported(self, path: str, weights: Any, scheme: Any, excluded: Any = None) -> None:
        if self._closed:
            return
        self.session.mark_exported(path, weights, scheme, excluded)
        self.show_status(f"Exported weights to {path}")
        self.weightsExported.emit(path)

    def _export_changed(self) -> None:
        stale = self._stale_text()
        if stale:
            self.show_status(stale)
        if self._training_dialog is not None and self._training_dialog.isVisible():
            self._training_dialog.warning.setText(self._stale_text())
            self._training_dialog.warning.setVisible(bool(self._stale_text()))

    def _stale_text(self) -> str:
        s = self.session
        if not s.export_stale:
            return ""
        name = os.path.basename(s.export_path or "")
        if s.export_scheme == str(s.scheme) and s.class_weights is not None:
            return (
                f"{name} is out of date: it excludes other files than the current weights "
                f"({'on usable images' if s.use_usable else 'on all images'}): export again to use them."
            )
        return (
            f"{name} holds the weights of scheme {s.export_scheme}, "
            f"not the current {s.scheme}: export again to use the current weights."
        )

    def export_plots(self, ext: str) -> None:
        path = ask_plot_path(self, self.settings, self._base_name().replace("-weights", "-plots"), ext)
        if path:
            self.export_plots_to(path)

    def export_plots_to(self, path: str) -> None:
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
        """Title and footer of an exported plot: dataset, scheme, settings and the stats line."""
        name = os.path.basename(os.path.normpath(self.index.root)) if self.index is not None else APP_NAME
        st = self.session.settings
        title = (
            f"{name}: scheme {self.scheme}, {st.mode}, {'with' if st.replacement else 'without'} replacement, "
            f"{st.num_samples:,} draws × {st.epochs:,} epoch(s)"
        )
        return title, self.stats_line()

    def training_snippet(self) -> str:
        st = self.session.settings
        root = self.index.root if self.index is not None else "path/to/dataset"
        source = self.index.source if self.index is not None else "folder"
        if source == "manifest":  # the lines open the manifest itself
            root = self.index.source_file or root
        weights = self.last_export or os.path.join(os.getcwd(), "weights.pt")
        return training_snippet(
            weights,
            root,
            source,
            num_samples=st.num_samples,
            replacement=st.replacement,
            batch_size=st.batch_size,
            seed=st.seed,
            mode=st.mode,
            device=st.device,
        )

    def show_training_dialog(self) -> UseInTrainingDialog:
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
        running = self.runs.busy
        for action in (self.export_action, self.export_png_action, self.export_svg_action):
            action.setEnabled(has_data)
        self.start_action.setEnabled(has_data and not running and not self.checks.busy)
        # the image check indexes single-label data (core.images.check_images takes a DatasetIndex)
        self.check_action.setEnabled(has_data and not running and not self.session.multilabel)
        self.pause_action.setEnabled(running)
        self.pause_action.setText("&Resume" if self.session.state is RunState.PAUSED else "&Pause")
        self.stop_action.setEnabled(running)
        if not running:
            self.sampler.set_state("idle", can_start=has_data)

    # ================================================================== drag and drop
    @staticmethod
    def _dropped_path(mime: Any) -> str | None:
        if mime is None or not mime.hasUrls():
            return None
        for url in mime.urls():
            url = QUrl(url)
            if url.isLocalFile():
                path = url.toLocalFile()
                if os.path.isdir(path) or path.lower().endswith((".csv", ".json")):
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
        self._redraw_timer.stop()
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
        for panel in (self.gallery, self.problems):  # their decoders run on private thread pools
            ok = panel.shutdown(max(deadline - time.monotonic(), 0.0)) and ok
        return ok
