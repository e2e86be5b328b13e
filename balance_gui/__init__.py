"""balance-gui: class-balance inspection for image datasets, and a fast, exact weighted sampler.

The public API is re-exported here lazily, so ``import balance_gui`` stays fast
and torch loads only when a sampler or weights file is used.
"""

import os
from importlib import import_module
from typing import TYPE_CHECKING, Any


def _version() -> str:
    """pyproject.toml's version, as installed; read when first asked for (importlib.metadata costs
    about 0.1 s at import, on the app's launch path)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("balance-gui")
    except PackageNotFoundError:  # a source tree on sys.path that was never installed
        return "0+unknown"


_HERE = os.path.dirname(os.path.abspath(__file__))
_SHIPPED_DEMO = os.path.join(_HERE, "_demo")  # the wheel's copy of resources/demo

#: The bundled demo dataset, opened when the app starts with no path: the wheel's copy when
#: installed, resources/demo in a source checkout or an editable install.
DEMO_DATASET = (
    _SHIPPED_DEMO if os.path.isdir(_SHIPPED_DEMO) else os.path.join(os.path.dirname(_HERE), "resources", "demo")
)

_EXPORTS = {
    "scan_image_folder": "core.dataset",
    "scan_manifest": "core.dataset",
    "open_dataset": "core.dataset",
    "DatasetIndex": "core.dataset",
    "ScanProgress": "core.dataset",
    "IMG_EXTENSIONS": "core.dataset",
    "Scheme": "core.weights",
    "parse_scheme": "core.weights",
    "class_weights": "core.weights",
    "sample_weights": "core.weights",
    "expected_shares": "core.expected",
    "class_figures": "core.expected",
    "dataset_figures": "core.weights",
    "make_weights_for_balanced_classes": "core.weights",
    "export_weights": "core.weightsfile",
    "load_weights": "core.weightsfile",
    "load_sampler": "core.training",
    "check_images": "core.images",
    "CheckResult": "core.images",
    "usable_weights": "core.images",
    "BalancedSampler": "sampling.sampler",
    "BalancedBatchSampler": "sampling.sampler",
    "DistributedBalancedSampler": "sampling.sampler",
    "PKBatchSampler": "sampling.sampler",
    "DistributedPKBatchSampler": "sampling.distributed_pk",
    "read_labels": "core.labels",
    "Labels": "core.labels",
    "downsampling_sampler": "sampling.recipes",
    "upsampling_sampler": "sampling.recipes",
    "BalanceSchedule": "sampling.recipes",
    "simulate": "core.simulate",
    "SimulationStep": "core.simulate",
    "BalanceError": "core.errors",
    "SettingsError": "core.errors",
    "DatasetError": "core.errors",
    "WeightsError": "core.errors",
    "WeightsFileError": "core.errors",
    "Cancelled": "core.errors",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # the real types for type checkers (mirrors _EXPORTS); at run time names load lazily
    __version__: str
    from .core.dataset import IMG_EXTENSIONS as IMG_EXTENSIONS
    from .core.dataset import DatasetIndex as DatasetIndex
    from .core.dataset import ScanProgress as ScanProgress
    from .core.dataset import open_dataset as open_dataset
    from .core.dataset import scan_image_folder as scan_image_folder
    from .core.dataset import scan_manifest as scan_manifest
    from .core.errors import BalanceError as BalanceError
    from .core.errors import Cancelled as Cancelled
    from .core.errors import DatasetError as DatasetError
    from .core.errors import SettingsError as SettingsError
    from .core.errors import WeightsError as WeightsError
    from .core.errors import WeightsFileError as WeightsFileError
    from .core.expected import class_figures as class_figures
    from .core.expected import expected_shares as expected_shares
    from .core.images import CheckResult as CheckResult
    from .core.images import check_images as check_images
    from .core.images import usable_weights as usable_weights
    from .core.labels import Labels as Labels
    from .core.labels import read_labels as read_labels
    from .core.simulate import SimulationStep as SimulationStep
    from .core.simulate import simulate as simulate
    from .core.training import load_sampler as load_sampler
    from .core.weights import Scheme as Scheme
    from .core.weights import class_weights as class_weights
    from .core.weights import dataset_figures as dataset_figures
    from .core.weights import make_weights_for_balanced_classes as make_weights_for_balanced_classes
    from .core.weights import parse_scheme as parse_scheme
    from .core.weights import sample_weights as sample_weights
    from .core.weightsfile import export_weights as export_weights
    from .core.weightsfile import load_weights as load_weights
    from .sampling.distributed_pk import DistributedPKBatchSampler as DistributedPKBatchSampler
    from .sampling.recipes import BalanceSchedule as BalanceSchedule
    from .sampling.recipes import downsampling_sampler as downsampling_sampler
    from .sampling.recipes import upsampling_sampler as upsampling_sampler
    from .sampling.sampler import BalancedBatchSampler as BalancedBatchSampler
    from .sampling.sampler import BalancedSampler as BalancedSampler
    from .sampling.sampler import DistributedBalancedSampler as DistributedBalancedSampler
    from .sampling.sampler import PKBatchSampler as PKBatchSampler


def __getattr__(name: str) -> Any:
    if name == "__version__":
        globals()[name] = value = _version()
        return value
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'balance_gui' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
