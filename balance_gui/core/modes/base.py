"""What a sampler mode is: the entry each file of this package defines.

A mode says how an epoch's draws are made from the class weights: its name and text, what it can
be combined with (replacement, torch's sampler), its draw strategy (``sampling.draws``) and its
expected figures (``core.expected``). This module and the mode files import neither torch nor Qt
at import time: the GUI lists the modes before torch is loaded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from ...sampling.draws import Draw, Where


@dataclass(frozen=True)
class EpochFigures:
    """A mode's expected figures of one epoch of ``k`` draws, one value per class."""

    shares: np.ndarray  # expected share of the epoch's draws
    draws: np.ndarray  # expected draws
    distinct: np.ndarray  # expected distinct images drawn


@dataclass(frozen=True)
class ClassLayout:
    """The samples as classes, for a class-form draw strategy: ``targets`` (int64, one class index
    per sample), each class's ``counts`` and weight ``class_w`` (float64), and, where the samples
    come in few runs of one class, the runs ``(starts, lengths or None, class of each run)``."""

    targets: torch.Tensor
    counts: torch.Tensor
    class_w: torch.Tensor
    runs: tuple[torch.Tensor, torch.Tensor | None, torch.Tensor] | None

    @property
    def mass(self) -> torch.Tensor:
        """Each class's total weight, count x class weight: its share of the draws, unnormalised."""
        return self.counts.to(self.class_w.dtype) * self.class_w


@dataclass(frozen=True)
class SamplerMode:
    """One sampler mode.

    ``class_draw`` builds its draw strategy from the samples grouped by class (per-sample weights
    are grouped by equal weight); ``sample_draw``, where given, draws per-sample weights as they
    are. Without replacement every mode that allows it (``replacement_only`` False) draws by
    ``sampling.draws.RaceDraw``, torch.multinomial's law."""

    key: str
    label: str
    tooltip: str
    figures: Callable[[np.ndarray, np.ndarray, int, bool], EpochFigures]  # counts, class_w, k, replacement
    class_draw: Callable[[ClassLayout, Where], Draw]
    sample_draw: Callable[[torch.Tensor, Where], Draw] | None = None
    replacement_only: bool = True  # draws with replacement only: classes are drawn again and again
    torch_sampler: bool = False  # torch's WeightedRandomSampler draws by this law too (for comparison)
    whole_epoch: bool = False  # draws each epoch at once (exact class counts): an epoch's size is bounded
    even_by_design: bool = False  # class counts vary less than multinomial ones: a chi-square is conservative
