"""What a weighting scheme is: the entry each file of this package defines (``SchemeKind``), and
the parsed scheme the core passes around (``Scheme``: a name and its parameter)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import SettingsError


@dataclass(frozen=True)
class Scheme:
    """A parsed weighting scheme: ``name`` plus ``param`` (q, beta, T) or ``custom`` weights.

    ``usable``: for custom weights read from an exported ``.json`` that excludes samples (corrupt
    files, duplicate copies), each class's ``(count, usable count)`` in that file: its weights are
    meant for the usable images only, so :func:`class_weights` takes them only on usable counts."""

    name: str
    param: float | None = None
    custom: Mapping[str, float] | None = None
    usable: Mapping[str, tuple[int, int]] | None = None
    source: str | None = None  # the custom weights file

    def __str__(self) -> str:
        """As written on a command line and stored in a weights file's ``scheme``: ``power:0.5``."""
        return self.name if self.param is None else f"{self.name}:{self.param:g}"


@dataclass(frozen=True)
class ClassCounts:
    """A scheme's input: images per class (float64), and the class names where known."""

    n: np.ndarray
    classes: Sequence[str] | None = None

    @property
    def present(self) -> np.ndarray:
        return self.n > 0

    @property
    def safe(self) -> np.ndarray:
        """The counts with empty classes set to 1, so that formulas never divide by 0 (their
        weight is set to 0 afterwards)."""
        return np.where(self.present, self.n, 1.0)

    @property
    def total(self) -> float:
        return float(self.n.sum())

    @property
    def num_classes(self) -> int:
        return int(self.n.size)


def finite(scheme: str, symbol: str) -> Callable[[float, str], str | None]:
    """A parameter check: any finite number."""

    def check(value: float, text: str) -> str | None:
        return None if math.isfinite(value) else f"{scheme} {symbol} must be finite (got {text})"

    return check


@dataclass(frozen=True)
class Parameter:
    """A scheme's one number, written after a colon (``power:0.5``) and set in the GUI."""

    symbol: str  # in the GUI: "q", "β", "T"
    syntax: str  # on a command line: "Q", "BETA", "T"
    noun: str  # what a missing value is called in the error: "a number", "a threshold"
    example: str  # a value to show in the error: "0.5"
    default: float  # the GUI's starting value
    low: float  # the GUI's range
    high: float
    decimals: int
    step: float
    tooltip: str
    check: Callable[[float, str], str | None]  # the error for an unusable value (and its text), or None
    slider: bool = False  # the GUI shows a slider (a short range), else a spin box


@dataclass(frozen=True)
class SchemeKind:
    """One weighting scheme: how it is written, shown and explained, and its class weights.

    ``weights`` returns a weight per class; classes without images are set to 0 afterwards, and
    the weights are then checked and scaled (``weights.class_weights``), so a scheme file holds only
    its formula. A scheme takes a number (``parameter``), some other argument (``read``, as custom
    takes a file), or nothing."""

    key: str
    label: str
    tooltip: str
    weights: Callable[[ClassCounts, Scheme], np.ndarray]
    parameter: Parameter | None = None
    argument: str = ""  # how a non-numeric argument is written, shown in the help: ":FILE.json"
    read: Callable[[str], Scheme] | None = None  # parses that argument (the text after the colon)
    shorthand: Callable[[str], bool] | None = None  # a whole spelling that means this scheme with it

    @property
    def syntax(self) -> str:
        """How the scheme is written on a command line: its name, and its argument if it takes one."""
        return self.key + (f":{self.parameter.syntax}" if self.parameter else self.argument)

    def parse(self, arg: str, raw: str) -> Scheme:
        """The scheme written ``raw``, its argument ``arg`` (the text after the colon, maybe empty)."""
        p = self.parameter
        if p is not None:
            try:
                value = float(arg)
            except ValueError:
                raise SettingsError(
                    f"scheme {self.key!r} needs {p.noun}, as in '{self.key}:{p.example}' (got {raw!r})"
                ) from None
            error = p.check(value, arg)
            if error:
                raise SettingsError(error)
            return Scheme(self.key, value)
        if self.read is not None:
            return self.read(arg)
        if arg:
            raise SettingsError(f"scheme {self.key!r} takes no parameter (got {raw!r})")
        return Scheme(self.key)
