"""Where an epoch's randomness comes from: the epoch key of a sampler.

Without a seed, as ``WeightedRandomSampler``: one draw from the sampler's ``generator`` (advancing
it) or from torch's global generator, taken when the epoch starts (its first ``next()``).  With
``seed=S``: the key is ``(S, epoch)``, the epoch advancing by one per iteration unless
``set_epoch`` fixes it, so any process recomputes any epoch.
"""

from __future__ import annotations

import numpy as np
import torch

from .draws import EpochKey
from .sampler_inputs import check_generator, check_int

_SEED_LIMIT = 1 << 63


def check_seed(seed: object, name: str = "seed") -> int:
    """A seed: an int in the signed 64-bit range (never a float, which would be truncated)."""
    return check_int(seed, name, -_SEED_LIMIT, _SEED_LIMIT - 1)


class EpochKeys:
    """Mixin: ``generator``, ``seed``, ``epoch`` and :meth:`set_epoch`, and the next epoch's key.

    Example:
        >>> from balance_gui.core.epochs import EpochKeys
        >>> k = EpochKeys()
        >>> k._init_keys(None, seed=5)
        >>> k._next_key(), k._next_key()
        ((5, 0), (5, 1))
        >>> k.set_epoch(9)
        >>> k._next_key(), k._next_key()
        ((5, 9), (5, 9))
    """

    generator: torch.Generator | None
    seed: int | None
    epoch: int
    _fixed_epoch: bool
    _auto_epoch: int

    def _init_keys(self, generator: torch.Generator | None, seed: int | None) -> None:
        self.generator = generator
        self.seed = seed
        self.epoch = 0
        self._fixed_epoch = False
        self._auto_epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Fix the epoch for ``seed=`` mode: same seed and epoch, same draws.  (Without a seed each
        epoch's randomness comes from the generator, and the epoch number is only recorded.)"""
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)):
            raise TypeError(f"epoch must be an int, got {epoch!r}")
        self.epoch = int(epoch)
        self._fixed_epoch = True

    def _next_key(self) -> EpochKey:
        """The key of the epoch that starts now (draws from the generator without a seed)."""
        if self.seed is not None:
            if not self._fixed_epoch:
                self.epoch = self._auto_epoch
                self._auto_epoch += 1
            return (self.seed, self.epoch)
        g = check_generator(self.generator)  # it may have been assigned since construction
        base = torch.randint(0, 1 << 62, (), generator=g, device=g.device if g is not None else "cpu")
        return (int(base), 0)
