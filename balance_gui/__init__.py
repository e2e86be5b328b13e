"""balance-gui: class-balance inspection for image datasets, and a fast, exact weighted sampler.

The public API is re-exported here lazily, so ``import balance_gui`` stays fast
and torch loads only when a sampler or weights file is used.
"""

import os
from importlib import import_module

__version__ = "0.1.0"

#: The bundled demo dataset (a source checkout or an editable install), opened when the app starts with no path.
DEMO_DATASET = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "resources", "demo")

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
    "expected_shares": "weights",
    "class_figures": "weights",
    "dataset_figures": "weights",
    "make_weights_for_balanced_classes": "weights",
    "export_weights": "weightsfile",
    "load_weights": "weightsfile",
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


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(import_module(f".core.{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'balance_gui' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
