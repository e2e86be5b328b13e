"""``stratified``: class c gets floor or ceil of k p_c draws an epoch (randomised rounding, so
k p_c in expectation), images cycled inside the class. With replacement only; an epoch is drawn
whole."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..expected import distinct_stratified, expected_shares
from .base import ClassLayout, EpochFigures, SamplerMode

if TYPE_CHECKING:
    from ...sampling.draws import Draw, Where


def _figures(n: np.ndarray, class_w: np.ndarray, k: int, replacement: bool) -> EpochFigures:
    p = expected_shares(n, class_w)
    return EpochFigures(p, k * p, distinct_stratified(n, p, k))


def _class_draw(c: ClassLayout, where: Where) -> Draw:
    from ...sampling.draws import StratifiedDraw

    return StratifiedDraw(c.targets, c.mass, where)


MODE = SamplerMode(
    key="stratified",
    label="Stratified",
    tooltip="Each class gets floor or ceil of k·p_c draws (randomised rounding), images cycled inside the class",
    figures=_figures,
    class_draw=_class_draw,
    whole_epoch=True,
    even_by_design=True,
)
