"""The weighting schemes: one file each, listed here once, in the order the GUI and the help show.

Everything that names, lists, parses or computes schemes (``weights.parse_scheme`` and
``class_weights``, the CLI's ``--scheme``, the GUI's scheme picker) reads :data:`SCHEMES`. A new
scheme is a file defining ``SCHEME = SchemeKind(...)`` and one line below."""

from __future__ import annotations

from ..errors import SettingsError
from . import balanced, custom, effective, inverse, none, power, rfs, sqrt
from .base import ClassCounts, Parameter, Scheme, SchemeKind

SCHEMES: tuple[SchemeKind, ...] = (
    inverse.SCHEME,
    balanced.SCHEME,
    sqrt.SCHEME,
    power.SCHEME,
    effective.SCHEME,
    rfs.SCHEME,
    none.SCHEME,
    custom.SCHEME,
)

DEFAULT_SCHEME = inverse.SCHEME.key

_BY_KEY = {kind.key: kind for kind in SCHEMES}


def scheme_kind(key: str) -> SchemeKind:
    """The scheme called ``key``; a SettingsError listing every spelling for any other name."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise SettingsError(f"unknown scheme {key!r}; choose one of {syntax_list()}") from None


def syntax_list() -> str:
    """Every scheme as written on a command line: ``inverse, balanced, ..., custom:FILE.json``."""
    return ", ".join(kind.syntax for kind in SCHEMES)


def parse_scheme(text: str | Scheme) -> Scheme:
    """Parse a scheme as written on a command line or stored in a weights file: ``inverse``,
    ``power:0.5``, ``custom:FILE.json`` (or any other of :data:`SCHEMES`), case and spaces around
    the name ignored."""
    if isinstance(text, Scheme):
        return text
    raw = text.strip()
    name, _, arg = raw.partition(":")
    name = name.strip().lower()
    if not arg:
        for kind in SCHEMES:
            if kind.shorthand is not None and kind.shorthand(name):
                return kind.parse(raw, raw)
    if name not in _BY_KEY:
        raise SettingsError(f"unknown scheme {raw!r}; choose one of {syntax_list()}")
    return _BY_KEY[name].parse(arg, raw)


__all__ = [
    "DEFAULT_SCHEME",
    "SCHEMES",
    "ClassCounts",
    "Parameter",
    "Scheme",
    "SchemeKind",
    "parse_scheme",
    "scheme_kind",
    "syntax_list",
]
