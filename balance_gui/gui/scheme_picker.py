"""Scheme picker: which weighting scheme the core applies, with its parameter."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QLabel, QVBoxLayout, QWidget
from superqt import QLabeledDoubleSlider

from balance_gui.core.options import SchemeName
from balance_gui.core.weights import Scheme

# The core's schemes with their labels and tooltips.
SCHEMES = tuple((str(name), name.label, name.tooltip) for name in SchemeName)
SCHEME_ORDER = tuple(s[0] for s in SCHEMES)


class SchemePicker(QGroupBox):
    """Emits ``schemeChanged(Scheme)`` whenever the user changes the scheme or its parameter."""

    schemeChanged = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Weighting scheme", parent)
        self._quiet = False

        layout = QVBoxLayout(self)
        self.combo = QComboBox()
        self.combo.setObjectName("scheme_combo")
        for i, (name, label, tip) in enumerate(SCHEMES):
            self.combo.addItem(label, name)
            self.combo.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        layout.addWidget(self.combo)

        params = QWidget()
        form = QFormLayout(params)
        form.setContentsMargins(0, 0, 0, 0)
        self.q_slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.q_slider.setObjectName("power_q")
        self.q_slider.setRange(0.0, 1.0)
        self.q_slider.setDecimals(2)
        self.q_slider.setSingleStep(0.05)  # type: ignore[arg-type]  # superqt's float slider takes a float step
        self.q_slider.setValue(0.5)
        self.q_slider.setToolTip("q: 0 balances fully (inverse), 1 keeps the dataset's shares (none)")
        self.q_label = QLabel("q")
        form.addRow(self.q_label, self.q_slider)
        self.beta_spin = QDoubleSpinBox()
        self.beta_spin.setObjectName("effective_beta")
        self.beta_spin.setDecimals(5)
        self.beta_spin.setRange(0.0, 0.99999)
        self.beta_spin.setSingleStep(0.001)
        self.beta_spin.setValue(0.999)
        self.beta_spin.setToolTip("β in [0, 1): 0 is none; closer to 1 approaches inverse")
        self.beta_label = QLabel("β")
        form.addRow(self.beta_label, self.beta_spin)
        self.t_spin = QDoubleSpinBox()
        self.t_spin.setObjectName("rfs_threshold")
        self.t_spin.setDecimals(5)
        self.t_spin.setRange(0.00001, 1.0)
        self.t_spin.setSingleStep(0.001)
        self.t_spin.setValue(0.001)  # LVIS's threshold
        self.t_spin.setToolTip("T: classes with a share of images below T are repeated by √(T / f_c)")
        self.t_label = QLabel("T")
        form.addRow(self.t_label, self.t_spin)
        layout.addWidget(params)
        # the parameter widgets of each scheme that takes one
        self._param_widgets: dict[str, tuple[QLabel, QDoubleSpinBox | QLabeledDoubleSlider]] = {
            "power": (self.q_label, self.q_slider),
            "effective": (self.beta_label, self.beta_spin),
            "rfs": (self.t_label, self.t_spin),
        }

        self.hint = QLabel()
        self.hint.setObjectName("scheme_hint")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #555;")
        layout.addWidget(self.hint)
        self.error = QLabel()
        self.error.setObjectName("scheme_error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b00020;")
        self.error.setVisible(False)
        layout.addWidget(self.error)

        self.combo.currentIndexChanged.connect(self._changed)
        self.q_slider.valueChanged.connect(self._changed)
        self.beta_spin.valueChanged.connect(self._changed)
        self.t_spin.valueChanged.connect(self._changed)
        self._sync_visibility()

    # ------------------------------------------------------------------ API
    def scheme(self) -> Scheme:
        name = self.combo.currentData()
        if name == "power":
            return Scheme("power", round(float(self.q_slider.value()), 6))
        if name in ("effective", "rfs"):
            return Scheme(name, float(self._param_widgets[name][1].value()))
        if name == "custom":
            return Scheme("custom")  # the session fills in its current weights: no copy here
        return Scheme(name)

    def set_scheme(self, scheme: Scheme, emit: bool = False) -> None:
        """Show ``scheme`` in the widgets; emits ``schemeChanged`` only when ``emit``."""
        self._quiet = not emit
        try:
            if scheme.name in self._param_widgets and scheme.param is not None:
                self._param_widgets[scheme.name][1].setValue(float(scheme.param))
            self.combo.setCurrentIndex(SCHEME_ORDER.index(scheme.name))
        finally:
            self._quiet = False
        self._sync_visibility()
        if emit:
            self.schemeChanged.emit(self.scheme())

    def set_hint(self, text: str) -> None:
        self.hint.setText(text)

    def set_error(self, text: str | None) -> None:
        self.error.setText(text or "")
        self.error.setVisible(bool(text))

    # ------------------------------------------------------------------ internals
    def _sync_visibility(self) -> None:
        name = self.combo.currentData()
        for scheme_name, widgets in self._param_widgets.items():
            for widget in widgets:
                widget.setVisible(name == scheme_name)

    def _changed(self, *_: object) -> None:
        self._sync_visibility()
        if not self._quiet:
            self.schemeChanged.emit(self.scheme())
