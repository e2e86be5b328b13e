"""``weighted``: independent draws, image i with probability w_i / sum(w), torch's
WeightedRandomSampler's law (without replacement: torch.multinomial's successive sampling)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..expected import distinct_with_replacement, expected_shares, inclusion_probabilities
from .base import ClassLayout, EpochFigures, SamplerMode

if TYPE_CHECKING:
    import torch

    from ...sampling.draws import Draw, Where


def _figures(n: np.ndarray, class_w: np.ndarray, k: int, replacement: bool) -> EpochFigures:
    p = expected_shares(n, class_w)
    if replacement:  # draws ~ Multinomial(k, p); distinct images exact
        return EpochFigures(p, k * p, distinct_with_replacement(n, p, k))
    drawn = n * inclusion_probabilities(n, class_w, k)  # each image at most once
    return EpochFigures(drawn / k if k > 0 else p, drawn, drawn)


def _sample_draw(w: torch.Tensor, where: Where) -> Draw:
    import torch

    from ...sampling.draws import RUNS_DIVISOR, ItemsDraw, SegmentsDraw, runs_of

    n = w.numel()
    st = runs_of(w, max(64, n // RUNS_DIVISOR))
    if st is None:
        return ItemsDraw(w, where)
    lens = torch.diff(st, append=torch.tensor([n]))
    return SegmentsDraw(st, lens, lens.to(torch.float64) * w[st], None, where)


def _class_draw(c: ClassLayout, where: Where) -> Draw:
    import torch

    from ...sampling.draws import SegmentsDraw, stable_argsort

    if c.runs is not None:  # class-sorted (or few runs): segments are the runs
        starts, run_lens, run_cls = c.runs
        assert run_lens is not None
        return SegmentsDraw(
            starts, run_lens, run_lens.to(torch.float64) * c.class_w.index_select(0, run_cls), None, where
        )
    order = stable_argsort(c.targets)  # scattered classes: through a stable argsort
    return SegmentsDraw(torch.cumsum(c.counts, 0) - c.counts, c.counts, c.mass, order, where)


MODE = SamplerMode(
    key="weighted",
    label="Weighted (independent draws)",
    tooltip="Each draw picks an image with probability proportional to its weight",
    figures=_figures,
    class_draw=_class_draw,
    sample_draw=_sample_draw,
    replacement_only=False,
    torch_sampler=True,
)
