"""What a weights-file format is (:class:`WeightsFormat`), what its writer is given (:class:`Export`),
and the checks every format's reader shares: versions, fingerprints, exclusions, clipped messages."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..atomic import atomic_write
from ..errors import WeightsFileError

if TYPE_CHECKING:
    from ..dataset import DatasetIndex

#: Version 2: the fingerprint is mandatory in .pt, .csv and .json. Version 1 .pt files carry one too.
FORMAT_VERSION = 2
#: Version 3: a .pt or .json that excludes samples (the ``excluded`` keys). Files without exclusions
#: stay version 2, byte for byte what earlier releases wrote. A version-2 reader would misread a
#: .json with exclusions: it ignores unknown keys (they are under the fingerprint it checks), and
#: spreads the class weights over every sample of the dataset, so the excluded samples would be drawn
#: again. Version 3 makes it refuse with "upgrade balance-gui" instead (and, for a .pt, instead of
#: the false "modified after export" its fingerprint check would give). A .csv keeps version 2: its
#: rows are unchanged, weight 0 marks the excluded ones, and any reader draws them never.
EXCLUDED_VERSION = 3
#: Version 4, for a .csv only: a path or class cell that a spreadsheet would run as a formula (it starts
#: with = + - @, a tab or a carriage return, after any single quotes) is written with one more single
#: quote in front, as OWASP recommends, and the reader takes it off. Files without such a cell stay
#: version 2; an older reader refuses a version-4 file ("upgrade") instead of reading "'=x" as a name.
CSV_QUOTED_VERSION = 4
#: The newest version this balance-gui reads, whatever the format (each format has its own newest).
READ_VERSION = CSV_QUOTED_VERSION
#: The version of a detection / multi-label per-image weights file (``core.annotation_weights``).
IMAGE_WEIGHTS_VERSION = 1
IMAGE_WEIGHTS_KIND = "image_weights"
INT64_MAX = int(np.iinfo(np.int64).max)
_QUOTED_LIMIT = 200  # characters of a bad field an error message quotes


@dataclass(frozen=True)
class Export:
    """What a writer of a dataset's weights is given, computed once for every format.

    ``per_sample``: one weight per sample (0 for an excluded one); ``excluded``: None, or the bool
    mask of the samples left out; ``usable``: the class counts without them; ``version``: the
    file's format version (EXCLUDED_VERSION when something is excluded); ``identity``: a table-like
    source's rows and label hash (``core.table_identity``), None for files named by path."""

    index: DatasetIndex
    class_weights: np.ndarray
    per_sample: np.ndarray
    excluded: np.ndarray | None
    usable: np.ndarray
    scheme: str
    root: str
    version: int
    identity: dict[str, Any] | None


@dataclass(frozen=True)
class ImageExport:
    """What a writer of per-image weights (COCO or ``path,labels`` data) is given: ``record`` holds
    ``kind``, ``format_version``, ``scheme``, ``annotations``, ``root``, ``classes``, ``files``,
    ``image_ids`` (None for a manifest), ``weights`` (a list) and its ``fingerprint``."""

    record: dict[str, Any]
    weights: np.ndarray


@dataclass(frozen=True)
class WeightsFormat:
    """One weights-file format: how it is named and described, and its writers and readers.

    ``identified``: the file names its classes (and samples or counts), so it can show that it belongs
    to a dataset; otherwise only its length can be checked. ``per_sample``: it holds one weight per
    sample (a per-class file gives them for a dataset only). ``newest_version``: the newest
    ``format_version`` it writes (0: it records none). ``read`` returns the plain record the core
    checks (``weights`` for a per-sample file, ``class_weights``, ``classes``, ...); ``read_image``
    the per-image record, or None when the file holds a single-label dataset's weights."""

    extension: str
    label: str
    tooltip: str
    identified: bool
    per_sample: bool
    newest_version: int
    write: Callable[[str | os.PathLike[str], Export], None]
    read: Callable[[str], dict[str, Any]]
    write_image: Callable[[str | os.PathLike[str], ImageExport], None]
    read_image: Callable[[str], dict[str, Any] | None]

    @property
    def file_filter(self) -> str:
        """The file dialog's filter: ``PyTorch weights record (*.pt)``."""
        return f"{self.label} (*{self.extension})"


def write_buffer(path: str | os.PathLike[str], data: bytes | memoryview) -> None:
    """Write bytes serialised in memory first, atomically: numpy's own file writer reports a full
    disk as "N requested and M written" with no errno, which reads as a contradiction."""
    atomic_write(path, lambda fh: fh.write(data))


# ---------------------------------------------------------------- checks every reader shares


def clip(text: str, limit: int = _QUOTED_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how many were left out."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def shown_row(row: Sequence[str] | None) -> str:
    """A CSV row as an error message quotes it: at most its first fields, clipped."""
    if row is None or len(row) <= 5:
        return clip(repr(row))
    return f"{clip(repr(list(row[:5])))} and {len(row) - 5:,} more fields"


def is_str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


def check_version(path: str, version: object, newest: int) -> None:
    """Refuse a version this reader does not know, as numpy's ``_check_version`` does (``newest``:
    the format's newest version)."""
    if isinstance(version, bool) or not isinstance(version, int):
        raise WeightsFileError(f"{path}: format_version must be an integer, found {clip(repr(version))}")
    newest = min(READ_VERSION, newest)
    if version > newest:
        raise WeightsFileError(
            f"{path} has format_version {version}, newer than this balance-gui reads "
            f"(up to {newest}): upgrade balance-gui"
        )
    if version < 1:
        raise WeightsFileError(f"{path}: unknown format_version {version}")


def no_fingerprint(path: str) -> WeightsFileError:
    return WeightsFileError(
        f"{path} has no fingerprint, so edits to it cannot be detected: export it again with this balance-gui"
    )


def check_fingerprint(path: str, found: object, expected: str) -> None:
    """Refuse a file whose stored fingerprint is missing or is not the one of its content."""
    if found is None:
        raise no_fingerprint(path)
    if found != expected:
        raise WeightsFileError(f"{path} was modified after export: its fingerprint does not match its content")


def check_excluded_version(path: str, version: int, has_excluded: bool) -> None:
    """Exclusions and version 3 come together (see EXCLUDED_VERSION): a version-2 reader must not see them."""
    if has_excluded != (version >= EXCLUDED_VERSION):
        what = "lists excluded samples" if has_excluded else "lists no excluded samples"
        raise WeightsFileError(f"{path}: format_version {version} but the file {what} (edited file?)")


def check_excluded_indices(path: str, excluded: np.ndarray, weights: np.ndarray) -> None:
    """Excluded indices: in range, sorted, unique, not every sample, and each of weight 0."""
    if not excluded.size:
        raise WeightsFileError(f"{path}: 'excluded' is present but empty (a file without exclusions omits it)")
    if excluded[0] < 0 or excluded[-1] >= len(weights):
        raise WeightsFileError(f"{path}: 'excluded' points outside the {len(weights)} samples")
    if np.any(np.diff(excluded) <= 0):
        raise WeightsFileError(f"{path}: 'excluded' must be sorted sample indices without repeats")
    if len(excluded) >= len(weights):
        raise WeightsFileError(f"{path}: 'excluded' leaves out every sample")
    nonzero = excluded[weights[excluded] != 0]
    if nonzero.size:
        raise WeightsFileError(
            f"{path}: sample {int(nonzero[0])} is excluded but has weight {float(weights[nonzero[0]])!r}, not 0"
        )


def image_weights_bad(path: str, why: str) -> WeightsFileError:
    return WeightsFileError(f"{path}: {why}")
