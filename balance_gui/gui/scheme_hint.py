"""The scheme picker (gui/scheme_picker.py) bound to the session, and the hint under it.

The hint gives the chosen scheme's own example (the largest class: its weight, its share of the
images and of the draws), says that only relative weights matter, and when the weights have no
effect at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from balance_gui.core.expected import class_figures
from balance_gui.core.weights import class_weights

from .numbers import percent
from .session import RunState, Session

IMAGE_LEVEL_HINT = (
    "Image-level sampling: an image's weight is the max of its classes' weights "
    "(rfs:T: its repeat factor, 1 without annotations)"
)


def scheme_hint(s: Session) -> str:
    index = s.index
    counts = s.counts  # the usable counts with "Weights on usable images"
    assert index is not None and counts is not None and s.class_weights is not None  # only with a dataset open
    w = s.class_weights
    cur = s.figures.expected_shares if s.figures is not None else class_figures(counts, w).expected_shares
    total = max(int(counts.sum()), 1)
    c = int(np.argmax(counts))
    example = (
        f"e.g. {index.classes[c]!r}: {int(counts[c]):,} of {total:,} images ({percent(counts[c] / total)}), "
        f"{s.scheme} weight {w[c]:.4g} → {percent(cur[c])} of draws"
    )
    st = s.settings
    drawable = int(counts[w > 0].sum())
    if not st.replacement and st.mode == "weighted" and st.num_samples >= drawable:
        return (
            f"Weights have no effect here: without replacement, {st.num_samples:,} draws per epoch take every "
            f"one of the {drawable:,} images with a weight exactly once; the weights only change the order "
            f"({example}). Draw fewer, or with replacement, to see the scheme."
        )
    if s.scheme.name in ("inverse", "balanced"):
        other = "balanced" if s.scheme.name == "inverse" else "inverse"
        return (
            f"Same sampled shares as {other}: balanced = inverse / C (C = {index.num_classes:,}), and only "
            f"relative weights matter; {example}."
        )
    twins = [
        name
        for name in ("inverse", "none")
        if np.allclose(cur, class_figures(counts, class_weights(counts, name)).expected_shares, rtol=1e-9, atol=1e-15)
    ]
    if twins and s.scheme.name != "none":
        return f"Gives the same sampled shares as {' and '.join(twins)}: only relative weights matter; {example}."
    return f"Only relative weights matter: scaling every weight by one constant changes nothing; {example}."


def bind_scheme_picker(picker: Any, session: Session, show_status: Callable[[str], None]) -> None:
    """The picker shows the session's scheme and its hint, and is locked while a run goes."""

    def weights_changed() -> None:
        s = session
        if s.index is None or (s.figures is None and s.image_figures is None):
            return
        if picker.scheme().name != s.scheme.name or s.scheme.name == "custom":
            picker.set_scheme(s.scheme)
        picker.set_hint(IMAGE_LEVEL_HINT if s.multilabel else scheme_hint(s))
        if s.figures_note:
            show_status(s.figures_note)

    session.datasetChanged.connect(lambda _index: picker.set_scheme(session.scheme))
    session.weightsChanged.connect(weights_changed)
    session.stateChanged.connect(lambda state: picker.setEnabled(state is RunState.IDLE))
    picker.setEnabled(session.state is RunState.IDLE)
    if session.index is not None:  # bound after a dataset opened: its scheme and hint now
        picker.set_scheme(session.scheme)
        weights_changed()


__all__ = ["IMAGE_LEVEL_HINT", "bind_scheme_picker", "scheme_hint"]
