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

from balance_gui.core.options import Device, Implementation, Mode

from .session import RunSettings

INT_MAX = 2**31 - 1

DEVICES = tuple((str(d), d.label) for d in Device)
MODES = tuple((str(m), m.label, m.tooltip) for m in Mode)
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
        self.batch_size.setToolTip("Draw in batches of this size (none: single indices)")
        form.addRow("Batch size", self.batch_size)

        self.seed = QSpinBox()
        self.seed.setObjectName("seed")
        self.seed.setRange(0, INT_MAX)
        self.seed.setValue(0)
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
        layout.addWidget(form_host)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("start")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setObjectName("pause")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("stop")
        for b in (self.start_button, self.pause_button, self.stop_button):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setObjectName("run_progress")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        layout.addWidget(self.progress)

        for spin in (self.num_samples, self.epochs, self.batch_size, self.seed):
            spin.valueChanged.connect(self.settingsEdited)
        self.replacement.toggled.connect(self.settingsEdited)
        for combo in (self.device, self.mode, self.implementation):
            combo.currentIndexChanged.connect(self.settingsEdited)
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

    def set_state(self, state: str, can_start: bool = True) -> None:
        """``idle``, ``running`` or ``paused``."""
        running = state in ("running", "paused")
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

    def set_progress(self, done: int, total: int, text: str | None = None) -> None:
        self.progress.setValue(int(1000 * done / total) if total else 0)
        self.progress.setFormat(text if text is not None else f"{done:,} / {total:,} draws")
