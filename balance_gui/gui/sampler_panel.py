"""Sampler controls: what a run draws, and Start / Pause / Stop."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from balance_gui.core.modes import MODES as SAMPLER_MODES
from balance_gui.core.modes import sampler_mode
from balance_gui.core.options import Device, Implementation

from .session import RunSettings

INT_MAX = 2**31 - 1

DEVICES = tuple((str(d), d.label) for d in Device)
MODES = tuple((m.key, m.label, m.tooltip) for m in SAMPLER_MODES)
IMPLEMENTATIONS = tuple((str(i), i.label, i.tooltip) for i in Implementation)


def _choice_combo(name: str, choices: Any) -> QComboBox:
    """A combo box of ``(key, label, tooltip)`` choices; each item's data is its key."""
    combo = QComboBox()
    combo.setObjectName(name)
    for i, (key, label, tip) in enumerate(choices):
        combo.addItem(label, key)
        combo.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
    return combo


class SamplerPanel(QGroupBox):
    settingsEdited = Signal()  # any run setting changed by the user
    startRequested = Signal()
    pauseRequested = Signal()  # pause or resume
    stopRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Sampler", parent)
        layout = QVBoxLayout(self)
        form_host = QWidget()
        form = QFormLayout(form_host)
        form.setContentsMargins(0, 0, 0, 0)
        self._form = form
        self._default_draws = 0  # draws per epoch set by the panel itself (N, or N usable)

        self.num_samples = QSpinBox()
        self.num_samples.setObjectName("num_samples")
        self.num_samples.setRange(1, INT_MAX)
        self.num_samples.setGroupSeparatorShown(True)
        self.num_samples.setToolTip("Draws per epoch (default: N, the dataset's size)")
        form.addRow("Draws / epoch", self.num_samples)

        self.epochs = QSpinBox()
        self.epochs.setObjectName("epochs")
        self.epochs.setRange(1, 100_000)
        self.epochs.setValue(1)
        self.epochs.setGroupSeparatorShown(True)
        self.epochs.setToolTip("How many epochs the run draws; coverage restarts each epoch")
        form.addRow("Epochs", self.epochs)

        self.replacement = QCheckBox("with replacement")
        self.replacement.setObjectName("replacement")
        self.replacement.setChecked(True)
        self.replacement.setToolTip("Without replacement an image is drawn at most once per epoch")
        form.addRow("Replacement", self.replacement)

        self.batch_size = QSpinBox()
        self.batch_size.setObjectName("batch_size")
        self.batch_size.setRange(0, INT_MAX)
        self.batch_size.setSpecialValueText("none")
        self.batch_size.setValue(0)
        self.batch_size.setGroupSeparatorShown(True)
        self.batch_size.setToolTip("Draw in batches of this size (none: single indices)")
        form.addRow("Batch size", self.batch_size)

        self.seed = QSpinBox()
        self.seed.setObjectName("seed")
        self.seed.setRange(0, INT_MAX)
        self.seed.setValue(0)
        self.seed.setToolTip("The random seed: the same seed and settings draw the same indices")
        form.addRow("Seed", self.seed)

        self.device = QComboBox()
        self.device.setObjectName("device")
        for key, label in DEVICES:
            self.device.addItem(label, key)
        form.addRow("Device", self.device)
        self.set_devices(None)

        self.mode = _choice_combo("mode", MODES)
        form.addRow("Mode", self.mode)
        self.implementation = _choice_combo("implementation", IMPLEMENTATIONS)
        form.addRow("Sampler", self.implementation)
        self._base_tips = {
            self.replacement: self.replacement.toolTip(),
            self.mode: "How a draw picks an image: " + "; ".join(f"{label}: {tip}" for _k, label, tip in MODES),
            self.implementation: "Which sampler runs: "
            + "; ".join(f"{label}: {tip}" for _k, label, tip in IMPLEMENTATIONS),
        }
        layout.addWidget(form_host)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("start")
        self.start_button.setToolTip("Run the sampler with the current scheme and settings (F5)")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setObjectName("pause")
        self.pause_button.setToolTip("Pause or resume the run (F6)")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("stop")
        self.stop_button.setToolTip("Stop the run; its draws so far stay shown (Shift+F5)")
        for b in (self.start_button, self.pause_button, self.stop_button):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setObjectName("run_progress")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        self.progress.setToolTip("Draws done of the run's total (draws per epoch × epochs)")
        layout.addWidget(self.progress)

        for spin in (self.num_samples, self.epochs, self.batch_size, self.seed):
            spin.valueChanged.connect(self.settingsEdited)
        self.replacement.toggled.connect(self.settingsEdited)
        for combo in (self.device, self.mode, self.implementation):
            combo.currentIndexChanged.connect(self.settingsEdited)
        self.replacement.toggled.connect(self._sync_constraints)
        self.mode.currentIndexChanged.connect(self._sync_constraints)
        self.implementation.currentIndexChanged.connect(self._sync_constraints)
        self._running = False
        self._sync_constraints()
        self.start_button.clicked.connect(self.startRequested)
        self.pause_button.clicked.connect(self.pauseRequested)
        self.stop_button.clicked.connect(self.stopRequested)
        self.set_state("idle", can_start=False)

    # ------------------------------------------------------------------ API
    def settings(self) -> RunSettings:
        """The run settings the widgets show."""
        return RunSettings(
            num_samples=self.num_samples.value(),
            epochs=self.epochs.value(),
            replacement=self.replacement.isChecked(),
            batch_size=self.batch_size.value() or None,
            seed=self.seed.value(),
            device=self.device.currentData(),
            mode=self.mode.currentData(),
            implementation=self.implementation.currentData(),
        )

    def set_dataset_size(self, n: int) -> None:
        """Draws per epoch default to N; quietly: the window hands the settings to the session itself."""
        self.num_samples.blockSignals(True)
        self.num_samples.setValue(max(1, min(int(n), INT_MAX)))
        self.num_samples.blockSignals(False)
        self._default_draws = self.num_samples.value()

    # ------------------------------------------------------------------ the session
    def bind(self, session: Any) -> None:
        """Follow ``session``: the run state (controls locked mid-run), the run's progress, the
        default draws per epoch (N usable with "Weights on usable images"), and for multi-label data
        only the controls an image-level run uses."""
        self._session = session
        session.stateChanged.connect(self._session_state)
        session.stepChanged.connect(self._session_step)
        session.datasetChanged.connect(lambda _index: self._show_applicable())
        session.weightsChanged.connect(self._show_applicable)
        session.checkChanged.connect(self._session_counts)

    def _session_state(self, state: Any) -> None:
        self.set_state(state.value, can_start=self._session.index is not None)

    def _session_step(self, step: Any) -> None:
        s = self._session
        if s.index is None:
            return
        total = s.settings.total_draws
        if step is None:
            if s.state.value == "idle":
                self.set_progress(0, total, "idle")
        elif s.multilabel:  # an image-level run: epochs, whose lengths may be their own (rfs:T)
            self.set_progress(
                round(step.epochs_done * 100), step.epochs * 100, f"{step.epochs_done:,.2f} / {step.epochs:,} epochs"
            )
        else:
            self.set_progress(step.draws_done, step.total_draws)

    def _session_counts(self) -> None:
        """Draws per epoch still at their default follow the counts the weights are computed on."""
        s = self._session
        if s.index is None or s.multilabel or s.counts is None:
            return
        n = int(s.counts.sum())
        if self.num_samples.value() == self._default_draws and n != self._default_draws:
            self.set_dataset_size(n)
            self.settingsEdited.emit()

    def _show_applicable(self) -> None:
        """An image-level run (multi-label data) has no mode, sampler or batches; under rfs:T an epoch
        is the repeat-factor epoch, so draws per epoch and replacement do not apply either."""
        s = self._session
        multi = s.multilabel
        rfs = multi and s.scheme.name == "rfs"
        hidden = {self.mode: multi, self.implementation: multi, self.batch_size: multi}
        hidden.update({self.num_samples: rfs, self.replacement: rfs})
        for widget, hide in hidden.items():
            self._form.setRowVisible(widget, not hide)

    def set_devices(self, info: dict[str, tuple[bool, str]] | None) -> None:
        """Enable the devices torch can use; a disabled one says why in its tooltip.
        ``None`` means torch is still loading."""
        model = self._device_model()
        for row, (key, _label) in enumerate(DEVICES):
            item = model.item(row)
            if key == "cpu":
                ok, reason = (True, "run on the CPU") if info is None else info.get("cpu", (True, "run on the CPU"))
            elif info is None:
                ok, reason = False, "checking whether PyTorch can use it (torch is loading)"
            else:
                ok, reason = info.get(key, (False, "not available"))
            item.setEnabled(bool(ok))
            item.setToolTip(reason)
        if not model.item(self.device.currentIndex()).isEnabled():
            self.device.setCurrentIndex(0)
        self.device.setToolTip(
            "\n".join(f"{label}: {model.item(r).toolTip()}" for r, (_k, label) in enumerate(DEVICES))
        )

    def device_enabled(self, key: str) -> bool:
        row = [k for k, _ in DEVICES].index(key)
        return self._device_model().item(row).isEnabled()

    def _device_model(self) -> QStandardItemModel:
        model = self.device.model()
        assert isinstance(model, QStandardItemModel)  # a QComboBox's own model
        return model

    def _sync_constraints(self, *_: object) -> None:
        """Settings that cannot work together are not offered: class-aware and stratified draw with
        replacement, and torch's WeightedRandomSampler only draws by weight. The widget that would
        break a choice is disabled and its tooltip says why (the core would refuse it at Start)."""
        spec = sampler_mode(self.mode.currentData())  # what the chosen mode allows: the registry's flags
        torch_wrs = self.implementation.currentData() == Implementation.TORCH
        with_replacement = self.replacement.isChecked()
        mode_label = self.mode.currentText()
        # the replacement box: fixed on while a class-aware or stratified mode is chosen
        if not spec.replacement_only:
            self.replacement.setToolTip(self._base_tips[self.replacement])
        else:
            self.replacement.setToolTip(
                f"{mode_label} draws with replacement (classes are drawn again and again, images cycle "
                "inside each class): choose the weighted mode to draw without replacement"
            )
        self.replacement.setEnabled(not spec.replacement_only and not self._running)
        # the mode and sampler items that cannot go with the other choices
        mode_model = self.mode.model()
        assert isinstance(mode_model, QStandardItemModel)
        for row, (key, _label, tip) in enumerate(MODES):
            item = mode_model.item(row)
            reason = ""
            if sampler_mode(key).replacement_only and not with_replacement:
                reason = "draws with replacement: tick 'with replacement' first"
            elif not sampler_mode(key).torch_sampler and torch_wrs:
                reason = "torch's WeightedRandomSampler has no class-aware mode: choose the balance-gui sampler"
            item.setEnabled(not reason)
            item.setToolTip(tip if not reason else f"Not available: {reason}")
        impl_model = self.implementation.model()
        assert isinstance(impl_model, QStandardItemModel)
        for row, (key, _label, tip) in enumerate(IMPLEMENTATIONS):
            item = impl_model.item(row)
            reason = (
                ""
                if key != Implementation.TORCH or spec.torch_sampler
                else f"it only draws by weight, not {mode_label}"
            )
            item.setEnabled(not reason)
            item.setToolTip(tip if not reason else f"Not available: {reason}")
        unavailable = [
            f"{self.mode.itemText(r)}: {mode_model.item(r).toolTip()}"
            for r in range(self.mode.count())
            if not mode_model.item(r).isEnabled()
        ]
        self.mode.setToolTip("\n".join([self._base_tips[self.mode], *unavailable]))
        unavailable = [
            f"{self.implementation.itemText(r)}: {impl_model.item(r).toolTip()}"
            for r in range(self.implementation.count())
            if not impl_model.item(r).isEnabled()
        ]
        self.implementation.setToolTip("\n".join([self._base_tips[self.implementation], *unavailable]))

    def offered(self, combo: QComboBox, key: str) -> bool:
        """Whether ``combo`` (mode or implementation) offers the choice ``key`` now."""
        model = combo.model()
        assert isinstance(model, QStandardItemModel)
        return model.item(combo.findData(key)).isEnabled()

    def set_state(self, state: str, can_start: bool = True) -> None:
        """``idle``, ``running`` or ``paused``."""
        running = state in ("running", "paused")
        self._running = running
        self.start_button.setEnabled(not running and can_start)
        self.pause_button.setEnabled(running)
        self.pause_button.setText("Resume" if state == "paused" else "Pause")
        self.stop_button.setEnabled(running)
        for w in (
            self.num_samples,
            self.epochs,
            self.replacement,
            self.batch_size,
            self.seed,
            self.device,
            self.mode,
            self.implementation,
        ):
            w.setEnabled(not running)
        self._sync_constraints()

    def set_progress(self, done: int, total: int, text: str | None = None) -> None:
        self.progress.setValue(int(1000 * done / total) if total else 0)
        self.progress.setFormat(text if text is not None else f"{done:,} / {total:,} draws")
