"""The core stays Qt-free, and the public API is importable from the package root."""

from __future__ import annotations

import subprocess
import sys

import balance_gui


def test_core_imports_no_qt():
    code = (
        "import sys, balance_gui, balance_gui.cli\n"
        "from balance_gui.core import dataset, weights, weightsfile, sampler, simulate, atomic\n"
        "bad = [m for m in ('PySide6', 'pyqtgraph', 'superqt') if m in sys.modules]\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_public_api_resolves():
    for name in balance_gui.__all__:
        assert getattr(balance_gui, name) is not None, name
    from balance_gui.core.sampler import BalancedSampler

    assert balance_gui.BalancedSampler is BalancedSampler
