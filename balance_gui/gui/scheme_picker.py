"""Scheme picker: which weighting scheme the core applies, with its parameter.

Its list, texts and parameter widgets come from ``core.schemes.SCHEMES``: a scheme added there
appears here with a widget for its number, nothing to change in this file."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QLabel, QVBoxLayout, QWidget
from superqt import QLabeledDoubleSlider

from balance_gui.core.schemes import SCHEMES, Parameter, Scheme, scheme_kind

# The core's schemes with their labels and tooltips.
SCHEME_ORDER = tuple(kind.key for kind in SCHEMES)

ParamWidget = QDoubleSpinBox | QLabeledDoubleSlider


def _param_widget(key: str, p: Parameter) -> ParamWidget:
    """The widget for a scheme's number: a slider for a short range, else a spin box."""
    w: ParamWidget
    if p.slider:
        w = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        w.setDecimals(p.decimals)
        w.setSingleStep(p.step)  # type: ignore[arg-type]  # superqt's float slider takes a float step
    else:
        w = QDoubleSpinBox()
        w.setDecimals(p.decimals)
        w.setSingleStep(p.step)
    w.setObjectName(f"{key}_param")
    w.setRange(p.low, p.high)
    w.setValue(p.default)
    w.setToolTip(p.tooltip)
    return w


class SchemePicker(QGroupBox):
    """Emits ``schemeChanged(Scheme)`` whenever the user changes the scheme or its parameter."""

    schemeChanged = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Weighting scheme", parent)
        self._quiet = False

        layout = QVBoxLayout(self)
        self.combo = QComboBox()
        self.combo.setObjectName("scheme_combo")
        for i, kind in enumerate(SCHEMES):
            self.combo.addItem(kind.label, kind.key)
            self.combo.setItemData(i, kind.tooltip, Qt.ItemDataRole.ToolTipRole)
        layout.addWidget(self.combo)

        params = QWidget()
        form = QFormLayout(params)
        form.setContentsMargins(0, 0, 0, 0)
        # the label and widget of each scheme that takes a number, by scheme
        self.param_widgets: dict[str, tuple[QLabel, ParamWidget]] = {}
        for kind in SCHEMES:
            if kind.parameter is not None:
                label, widget = QLabel(kind.parameter.symbol), _param_widget(kind.key, kind.parameter)
                form.addRow(label, widget)
                widget.valueChanged.connect(self._changed)
                self.param_widgets[kind.key] = (label, widget)
        layout.addWidget(params)

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
        self._sync_visibility()

    # ------------------------------------------------------------------ API
    def scheme(self) -> Scheme:
        """The chosen scheme; "custom" without weights (the session fills in its current ones)."""
        key = str(self.combo.currentData())
        kind = scheme_kind(key)
        if kind.parameter is None:
            return Scheme(key)
        value = float(self.param_widgets[key][1].value())
        return Scheme(key, round(value, kind.parameter.decimals + 4))  # a slider's float noise off

    def set_scheme(self, scheme: Scheme, emit: bool = False) -> None:
        """Show ``scheme`` in the widgets; emits ``schemeChanged`` only when ``emit``."""
        self._quiet = not emit
        try:
            if scheme.name in self.param_widgets and scheme.param is not None:
                self.param_widgets[scheme.name][1].setValue(float(scheme.param))
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
        key = self.combo.currentData()
        for scheme_key, widgets in self.param_widgets.items():
            for widget in widgets:
                widget.setVisible(key == scheme_key)

    def _changed(self, *_: object) -> None:
        self._sync_visibility()
        if not self._quiet:
            self.schemeChanged.emit(self.scheme())
