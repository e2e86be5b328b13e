"""``class_aware`` (mmdetection's ClassAwareSampler): pick a class by its share, then the next image
of that class in a reshuffled cycle. With replacement only."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..expected import distinct_cycled, expected_shares
from .base import ClassLayout, EpochFigures, SamplerMode

if TYPE_CHECKING:
    from ...sampling.draws import Draw, Where


def _figures(n: np.ndarray, class_w: np.ndarray, k: int, replacement: bool) -> EpochFigures:
    # d_c ~ Binomial(k, p_c), images cycled: E[min(n_c, d_c)] distinct
    p = expected_shares(n, class_w)
    return EpochFigures(p, k * p, distinct_cycled(n, p, k))


def _class_draw(c: ClassLayout, where: Where) -> Draw:
    import torch

    from ...sampling.draws import ClassAwareDraw, stable_argsort

    if c.runs is not None and c.runs[0].numel() == int(torch.count_nonzero(c.counts)):
        # every class is one contiguous run: no permutation needed
        gstart = torch.zeros(c.class_w.numel(), dtype=torch.int64)
        gstart[c.runs[2]] = c.runs[0]
        return ClassAwareDraw(c.counts, gstart, c.mass, None, where)
    order = stable_argsort(c.targets)
    return ClassAwareDraw(c.counts, torch.cumsum(c.counts, 0) - c.counts, c.mass, order, where)


MODE = SamplerMode(
    key="class_aware",
    label="Class-aware cycling",
    tooltip="Pick a class by its weight, then the next image of that class in a reshuffled cycle",
    figures=_figures,
    class_draw=_class_draw,
)
