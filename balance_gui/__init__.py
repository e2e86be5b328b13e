"""balance-gui: class-balance inspection for image datasets, and a fast, exact weighted sampler.

The public API is re-exported here lazily, so ``import balance_gui`` stays fast
and torch loads only when a sampler or weights file is used.
"""

import os
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("balance-gui")  # the one version: pyproject.toml's, as installed
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"

_HERE = os.path.dirname(os.path.abspath(__file__))
_SHIPPED_DEMO = os.path.join(_HERE, "_demo")  # the wheel's copy of resources/demo

#: The bundled demo dataset, opened when the app starts with no path: the wheel's copy when
#: installed, resources/demo in a source checkout or an editable install.
DEMO_DATASET = (
    _SHIPPED_DEMO if os.path.isdir(_SHIPPED_DEMO) else os.path.join(os.path.dirname(_HERE), "resources", "demo")
)

_EXPORTS = {
    "scan_image_folder": "dataset",
    "scan_manifest": "dataset",
    "open_dataset": "dataset",
    "DatasetIndex": "dataset",
    "ScanProgress": "dataset",
    "IMG_EXTENSIONS": "dataset",
    "Scheme": "weights",
    "parse_scheme": "weights",
    "class_weights": "weights",
    "sample_weights": "weights",
    "expected_shares": "expected",
    "class_figures": "expected",
    "dataset_figures": "weights",
    "make_weights_for_balanced_classes": "weights",
    "export_weights": "weightsfile",
    "load_weights": "weightsfile",
    "check_images": "images",
    "CheckResult": "images",
    "usable_weights": "images",
    "BalancedSampler": "sampler",
    "BalancedBatchSampler": "sampler",
    "DistributedBalancedSampler": "sampler",
    "PKBatchSampler": "sampler",
    "simulate": "simulate",
    "SimulationStep": "simulate",
    "BalanceError": "errors",
    "SettingsError": "errors",
    "DatasetError": "errors",
    "WeightsError": "errors",
    "WeightsFileError": "errors",
    "Cancelled": "errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(f".core.{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'balance_gui' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
