"""The core's lists of choices: one StrEnum per concept, iterated by the CLI and the GUI.

Each member is its own value (``Mode.CLASS_AWARE == "class_aware"``), so it passes
straight to the core's functions; ``label`` and ``tooltip`` are what a person reads.
"""

from __future__ import annotations

from enum import StrEnum


class _Choice(StrEnum):
    @property
    def label(self) -> str:
        return _TEXT[self][0]

    @property
    def tooltip(self) -> str:
        return _TEXT[self][1]


class SchemeName(_Choice):
    INVERSE = "inverse"
    BALANCED = "balanced"
    SQRT = "sqrt"
    POWER = "power"
    EFFECTIVE = "effective"
    RFS = "rfs"
    NONE = "none"
    CUSTOM = "custom"

    @property
    def syntax(self) -> str:
        """How the scheme is written on a command line: its name, and its parameter if it takes one."""
        return self.value + _SCHEME_PARAMETER.get(self, "")


_SCHEME_PARAMETER = {"power": ":Q", "effective": ":BETA", "rfs": ":T", "custom": ":FILE.json"}


class Mode(_Choice):
    WEIGHTED = "weighted"
    CLASS_AWARE = "class_aware"
    STRATIFIED = "stratified"


class FileFormat(_Choice):
    PT = ".pt"
    CSV = ".csv"
    JSON = ".json"
    NPY = ".npy"


class Device(_Choice):
    CPU = "cpu"
    CUDA = "cuda"
    MPS = "mps"


class Implementation(_Choice):
    BALANCED = "balanced"
    TORCH = "torch"


_TEXT: dict[StrEnum, tuple[str, str]] = {
    SchemeName.INVERSE: ("Inverse  (N / n_c)", "Each class drawn equally often: w_c = N / n_c"),
    SchemeName.BALANCED: (
        "Balanced  (N / (C·n_c))",
        "sklearn's 'balanced': w_c = N / (C n_c), inverse divided by C: the same shares",
    ),
    SchemeName.SQRT: ("Square root  (1 / √n_c)", "Half-way: shares grow with √n_c"),
    SchemeName.POWER: ("Power  (n_c^(q−1))", "Shares grow as n_c^q: q = 0 is inverse, q = 1 is none"),
    SchemeName.EFFECTIVE: (
        "Effective number  (β)",
        "Cui et al. 2019: w_c = (1 − β) / (1 − β^n_c); β → 1 approaches inverse, β = 0 is none",
    ),
    SchemeName.RFS: (
        "Repeat factor  (rfs:T)",
        "LVIS repeat-factor sampling: w_c = max(1, √(T / f_c)), f_c the class's share of images",
    ),
    SchemeName.NONE: ("None  (uniform)", "Every image weight 1: shares as in the dataset"),
    SchemeName.CUSTOM: ("Custom  (edit in the table)", "Your own weight per class: edit the Weight column"),
    Mode.WEIGHTED: (
        "Weighted (independent draws)",
        "Each draw picks an image with probability proportional to its weight",
    ),
    Mode.CLASS_AWARE: (
        "Class-aware cycling",
        "Pick a class by its weight, then the next image of that class in a reshuffled cycle",
    ),
    Mode.STRATIFIED: (
        "Stratified",
        "Each class gets floor or ceil of k·p_c draws (randomised rounding), images cycled inside the class",
    ),
    FileFormat.PT: (
        "PyTorch weights record",
        "weights, class weights and the dataset fingerprint; torch.load(weights_only=True)",
    ),
    FileFormat.CSV: ("CSV, one row per image", "one row per image: path, class, class_index, weight"),
    FileFormat.JSON: ("JSON, one weight per class", "per-class weights and counts, readable by any language"),
    FileFormat.NPY: (
        "NumPy per-image weights",
        "the per-image weights only: no identity, only its length can be checked",
    ),
    Device.CPU: ("CPU", "run on the CPU"),
    Device.CUDA: ("CUDA", "run on an NVIDIA GPU"),
    Device.MPS: ("MPS (Apple)", "run on the Apple GPU (Metal)"),
    Implementation.BALANCED: ("balance-gui sampler", "This project's sampler"),
    Implementation.TORCH: ("torch WeightedRandomSampler", "PyTorch's own sampler, for comparison"),
}
