"""The core stays Qt-free, and the public API is importable from the package root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_one_version_from_the_installed_metadata():
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("balance-gui")
    except PackageNotFoundError:
        pytest.skip("balance-gui is not installed in this environment (a bare source tree)")
    assert balance_gui.__version__ == installed
    assert f'"{installed}"' not in Path(balance_gui.__file__).read_text()  # no second, hard-coded copy


def test_packaging_metadata_ships_license_types_and_demo():
    import tomllib

    root = Path(__file__).resolve().parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT" and "MIT License" in (root / "LICENSE").read_text()
    assert (root / "balance_gui" / "py.typed").is_file()
    setuptools = project["tool"]["setuptools"]
    assert setuptools["package-dir"]["balance_gui._demo"] == "resources/demo"
    assert "balance_gui._demo" in setuptools["packages"]
    assert os.path.isdir(balance_gui.DEMO_DATASET) and len(os.listdir(balance_gui.DEMO_DATASET)) == 12
