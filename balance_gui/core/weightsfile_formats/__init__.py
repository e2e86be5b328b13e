"""The weights-file formats: one file each, listed here once, in the order the GUI and the help show.

Everything that names, lists, writes or reads weights files (``core.weightsfile``,
``core.annotation_weights``, the CLI's ``-o`` and ``verify``, the GUI's export dialog) reads
:data:`WEIGHTS_FORMATS`. A new format is a file defining ``FORMAT = WeightsFormat(...)`` and one
line below. torch is imported by the ``.pt`` format only, when a .pt is written or read."""

from __future__ import annotations

import os
from collections.abc import Iterable

from ..errors import WeightsFileError
from . import csv_file, json_file, npy_file, pt_file
from .base import Export, ImageExport, WeightsFormat

WEIGHTS_FORMATS: tuple[WeightsFormat, ...] = (
    pt_file.FORMAT,
    csv_file.FORMAT,
    json_file.FORMAT,
    npy_file.FORMAT,
)

_BY_EXTENSION = {f.extension: f for f in WEIGHTS_FORMATS}


def listed(formats: Iterable[WeightsFormat]) -> str:
    """The formats' extensions as a sentence names them: ``.pt, .csv, .json or .npy``."""
    names = [f.extension for f in formats]
    return f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else "".join(names)


def format_of(path: str | os.PathLike[str]) -> WeightsFormat:
    """The format ``path``'s extension names (any case); a WeightsFileError listing them otherwise."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    try:
        return _BY_EXTENSION[ext]
    except KeyError:
        raise WeightsFileError(
            f"unknown weights file type {ext or '(none)'!r} for {os.fspath(path)}; "
            f"use one of {', '.join(_BY_EXTENSION)}"
        ) from None


def weights_format(extension: str) -> WeightsFormat:
    """The format of ``extension`` (``.pt``), as ``read_weights_file`` records it in ``format``."""
    return _BY_EXTENSION[extension]


__all__ = [
    "WEIGHTS_FORMATS",
    "Export",
    "ImageExport",
    "WeightsFormat",
    "format_of",
    "listed",
    "weights_format",
]
