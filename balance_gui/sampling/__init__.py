"""The torch sampler library: what training code imports, apart from the app and its figures.

    sampler.py                BalancedSampler, BalancedBatchSampler, DistributedBalancedSampler
    draws.py                  the draw strategies an epoch is made with (one per sampler mode)
    epochs.py                 where an epoch's randomness comes from (seed or generator), resume keys
    sampler_inputs.py         checks of the samplers' arguments, one line per bad value
    sampler_state.py          checks of a resume state: what it was made with, what it may hold
    pk_sampler.py             PKBatchSampler: P classes x K images per batch
    distributed_pk.py         DistributedPKBatchSampler
    repeat_factor_sampler.py  RepeatFactorSampler, DistributedRepeatFactorSampler (LVIS, detectron2)
    recipes.py                catalyst's down- and up-sampling, a raw-to-balanced schedule

The samplers read the sampler modes and class weights of ``balance_gui.core`` (``core.modes``,
``core.weights``); the core's simulation and ``load_sampler`` build them. The modules' old paths,
``balance_gui.core.sampler`` and the like, are the same module objects. The names below load
lazily: importing this package imports neither torch nor numpy.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "BalancedSampler": "sampler",
    "BalancedBatchSampler": "sampler",
    "DistributedBalancedSampler": "sampler",
    "PKBatchSampler": "pk_sampler",
    "DistributedPKBatchSampler": "distributed_pk",
    "RepeatFactorSampler": "repeat_factor_sampler",
    "DistributedRepeatFactorSampler": "repeat_factor_sampler",
    "downsampling_sampler": "recipes",
    "upsampling_sampler": "recipes",
    "BalanceSchedule": "recipes",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # the real types for type checkers (mirrors _EXPORTS); at run time names load lazily
    from .distributed_pk import DistributedPKBatchSampler as DistributedPKBatchSampler
    from .pk_sampler import PKBatchSampler as PKBatchSampler
    from .recipes import BalanceSchedule as BalanceSchedule
    from .recipes import downsampling_sampler as downsampling_sampler
    from .recipes import upsampling_sampler as upsampling_sampler
    from .repeat_factor_sampler import DistributedRepeatFactorSampler as DistributedRepeatFactorSampler
    from .repeat_factor_sampler import RepeatFactorSampler as RepeatFactorSampler
    from .sampler import BalancedBatchSampler as BalancedBatchSampler
    from .sampler import BalancedSampler as BalancedSampler
    from .sampler import DistributedBalancedSampler as DistributedBalancedSampler


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
