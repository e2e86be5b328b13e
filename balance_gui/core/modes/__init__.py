"""The sampler modes: one file each, listed here once, in the order the GUI and the help show.

The sampler (its draw strategy), the expected figures, the simulation, the CLI's ``--mode`` and
the GUI's sampler panel read :data:`MODES`. A new mode is a file defining
``MODE = SamplerMode(...)`` and one line below (and its draw strategy in ``sampling.draws`` if no
existing one fits)."""

from __future__ import annotations

from ..errors import SettingsError
from . import class_aware, stratified, weighted
from .base import ClassLayout, EpochFigures, SamplerMode

MODES: tuple[SamplerMode, ...] = (
    weighted.MODE,
    class_aware.MODE,
    stratified.MODE,
)

_BY_KEY = {mode.key: mode for mode in MODES}


def sampler_mode(key: object) -> SamplerMode:
    """The mode called ``key``; a SettingsError naming every mode for anything else."""
    mode = _BY_KEY.get(str(key)) if isinstance(key, str) else None
    if mode is None:
        raise SettingsError(f"mode must be one of {', '.join(_BY_KEY)} (got {key!r})")
    return mode


def checked_mode(key: object, replacement: bool) -> SamplerMode:
    """``sampler_mode(key)``, refused without replacement if the mode draws with replacement only."""
    mode = sampler_mode(key)
    if mode.replacement_only and not replacement:
        raise SettingsError(f"{mode.key} mode draws with replacement; use replacement=True")
    return mode


__all__ = ["MODES", "ClassLayout", "EpochFigures", "SamplerMode", "checked_mode", "sampler_mode"]
