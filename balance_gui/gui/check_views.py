"""The Problems tab and the gallery (gui/image_check.py, gui/gallery.py) bound to the session.

The panels know nothing of the session: these functions connect them, so each follows the
session itself, as the other views do in their own ``bind``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from balance_gui.core.errors import BalanceError

from .session import RunState, Session


def check_index(session: Session) -> Any:
    """The index the image check ran on: the dataset's, or for a COCO or ``path,labels`` file its
    images as one class (``core.annotation_check.as_check_index``), in the same order."""
    if not session.multilabel:
        return session.index
    from balance_gui.core.annotation_check import as_check_index

    return as_check_index(session.index)


def bind_problems(panel: Any, session: Session, show_status: Callable[[str], None]) -> None:
    """The Problems tab lists the attached check's problems (it empties when the check is cleared),
    and the copies a user keeps of a duplicate group go to the session's usable mask."""
    shown: list[Any] = [None]  # the check the panel shows: a resolution re-attaches a new one

    def changed() -> None:
        check = session.check
        if check is shown[0]:
            return
        shown[0] = check
        if check is None or session.index is None:
            panel.clear()
        else:
            panel.set_result(check_index(session), check)

    def resolved(choices: Any) -> None:
        try:
            session.resolve_duplicates(choices)
        except BalanceError as e:  # e.g. mid-run: the weights the run draws with stay
            show_status(f"Not applied: {e}")
            shown[0] = None  # the panel applied the choice itself: back to what the session holds
            changed()

    session.checkChanged.connect(changed)
    panel.duplicatesResolved.connect(resolved)
    if session.check is not None:
        changed()


def gallery_draws(session: Session) -> Any:
    """Per image, the draws of the last finished run (the gallery can sort by them); None during a run."""
    step = session.step
    if step is None or session.state is not RunState.IDLE:
        return None
    return getattr(step, "image_uses", None)


def bind_gallery(panel: Any, session: Session) -> None:
    """The gallery empties with a new dataset and sorts by the draws of the last finished run."""
    session.datasetChanged.connect(lambda _index: panel.clear())
    session.checkChanged.connect(lambda: panel.set_check(session.check))  # corrupt and excluded files marked
    if session.check is not None:
        panel.set_check(session.check)

    def state_changed(state: RunState) -> None:
        if state is RunState.IDLE:
            panel.set_draw_counts(gallery_draws(session))

    session.stateChanged.connect(state_changed)
    session.stepChanged.connect(lambda step: panel.set_draw_counts(None) if step is None else None)


__all__ = ["bind_gallery", "bind_problems", "check_index", "gallery_draws"]
