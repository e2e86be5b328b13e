"""The core's short lists of choices: one StrEnum per concept, iterated by the CLI and the GUI.

Each member is its own value (``Device.CUDA == "cuda"``), so it passes straight to the core's
functions; ``label`` and ``tooltip`` are what a person reads. Weighting schemes, sampler modes and
weights-file formats are not here: each is a file of :mod:`.schemes`, :mod:`.modes` or
:mod:`.weightsfile_formats`, which carries its text too.
"""

from __future__ import annotations

from enum import StrEnum


class _Choice(StrEnum):
    @property
    def label(self) -> str:
        return _TEXT[type(self)][self.value][0]

    @property
    def tooltip(self) -> str:
        return _TEXT[type(self)][self.value][1]


class Mode(StrEnum):
    """The shipped sampler modes by name, for code that means one of them. The list of modes, with
    their text and behaviour, is :data:`balance_gui.core.modes.MODES`: iterate that, not this."""

    WEIGHTED = "weighted"
    CLASS_AWARE = "class_aware"
    STRATIFIED = "stratified"

    @property
    def label(self) -> str:
        from .modes import sampler_mode  # the modes import this module's neighbours: read when asked

        return sampler_mode(self.value).label

    @property
    def tooltip(self) -> str:
        from .modes import sampler_mode

        return sampler_mode(self.value).tooltip


class Device(_Choice):
    CPU = "cpu"
    CUDA = "cuda"
    MPS = "mps"


class Implementation(_Choice):
    BALANCED = "balanced"
    TORCH = "torch"


# Each list's own texts, by list and value: a value two lists share ("balanced" was both a scheme
# and a sampler) keeps one text per list.
_TEXT: dict[type[StrEnum], dict[str, tuple[str, str]]] = {
    Device: {
        "cpu": ("CPU", "run on the CPU"),
        "cuda": ("CUDA", "run on an NVIDIA GPU"),
        "mps": ("MPS (Apple)", "run on the Apple GPU (Metal)"),
    },
    Implementation: {
        "balanced": ("balance-gui sampler", "This project's sampler"),
        "torch": ("torch WeightedRandomSampler", "PyTorch's own sampler, for comparison"),
    },
}
