"""Tools > Check Engine: where Check Images decodes (offered when Ray can be imported).

"Local" runs the check in worker processes on this machine; "Ray" sends the decode+hash to a Ray
cluster (``core.ray_engine``): the address of a running one (``auto``, ``ray://host:10001``), or
empty for a local cluster started for the check and stopped after it. The window stores the choice
in its settings (``check/engine``, ``check/ray_address``).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout


class CheckEngineDialog(QDialog):
    chosen = Signal(str, str)  # engine ("local" or "ray"), Ray address ("" = a local cluster)

    def __init__(self, parent: Any, engine: str, address: str) -> None:
        super().__init__(parent)
        self.setObjectName("check_engine_dialog")
        self.setWindowTitle("Check engine")
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.engine = QComboBox()
        self.engine.setObjectName("check_engine")
        self.engine.addItem("Local", "local")
        self.engine.addItem("Ray", "ray")
        self.engine.setItemData(0, "Decode in worker processes on this machine", Qt.ItemDataRole.ToolTipRole)
        self.engine.setItemData(1, "Decode on a Ray cluster: same report, same cache", Qt.ItemDataRole.ToolTipRole)
        self.engine.setCurrentIndex(max(self.engine.findData(engine), 0))
        form.addRow("Check engine", self.engine)
        self.address = QLineEdit(address)
        self.address.setObjectName("ray_address")
        self.address.setPlaceholderText("empty: a local cluster started for the check")
        self.address.setToolTip("A running cluster, as ray.init takes it: auto, ray://host:10001")
        form.addRow("Ray address", self.address)
        layout.addLayout(form)
        note = QLabel("The Ray check gives the same problems and uses the same cache as the local one.")
        note.setWordWrap(True)
        layout.addWidget(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.engine.currentIndexChanged.connect(self._sync)
        self._sync()

    def _sync(self, *_: object) -> None:
        self.address.setEnabled(self.engine.currentData() == "ray")

    def accept(self) -> None:
        self.chosen.emit(str(self.engine.currentData()), self.address.text().strip())
        super().accept()


__all__ = ["CheckEngineDialog"]
