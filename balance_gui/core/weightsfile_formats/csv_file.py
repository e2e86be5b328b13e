"""``.csv``: ``path,class,class_index,weight,fingerprint``, one row per sample; only the last row fills
``fingerprint`` (``format_version=2 sha256=HEX``), so a file cut at a row end has none. A table-like
source's file names each sample by its table row number (``row,class,...``). A per-image file is
``file,image_id,weight,fingerprint`` with a trailer row. A cell a spreadsheet would run as a formula
is written with one more single quote in front (OWASP), and read back without it."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..atomic import atomic_write
from ..errors import WeightsFileError
from ..names import quoted
from .base import (
    CSV_QUOTED_VERSION,
    FORMAT_VERSION,
    IMAGE_WEIGHTS_KIND,
    IMAGE_WEIGHTS_VERSION,
    INT64_MAX,
    Export,
    ImageExport,
    WeightsFormat,
    check_fingerprint,
    check_version,
    clip,
    image_weights_bad,
    no_fingerprint,
    shown_row,
)

if TYPE_CHECKING:
    from ..dataset import DatasetIndex

NEWEST = CSV_QUOTED_VERSION
HEADER = ["path", "class", "class_index", "weight", "fingerprint"]
#: A table-like source's .csv names each sample by its table row number (see core.table_identity).
TABLE_HEADER = ["row", *HEADER[1:]]
IMAGE_HEADER = ["file", "image_id", "weight", "fingerprint"]
_V1_HEADER = HEADER[:4]
_TRAILER = re.compile(r"format_version=(\d{1,9}) sha256=([0-9a-f]{64})")
_IMAGE_TRAILER = re.compile(r"kind=image_weights format_version=(\d{1,9}) sha256=([0-9a-f]{64})")
_FORMULA_START = "=+-@\t\r"  # OWASP: a cell starting so is a formula to Excel, LibreOffice, Sheets
_QUOTED_FORMULA = re.compile("'*[" + re.escape(_FORMULA_START) + "]")


def quote_formula(cell: str) -> str:
    """``cell`` as a .csv holds it: one single quote more in front when it starts, after any single
    quotes, with a character that makes a spreadsheet run it as a formula (OWASP's CSV injection
    advice). :func:`unquote_formula` undoes it, so every name round-trips."""
    return "'" + cell if cell[:1] in _FORMULA_START or (cell[:1] == "'" and _QUOTED_FORMULA.match(cell)) else cell


def unquote_formula(cell: str) -> str:
    """The name a version-4 .csv cell holds (see :func:`quote_formula`)."""
    return cell[1:] if cell[:1] == "'" and _QUOTED_FORMULA.match(cell, 1) else cell


def rows_fingerprint(version: int, rows: Sequence[Sequence[str]]) -> str:
    """sha256 of the format version and every row's four fields."""
    h = hashlib.sha256(f"balance-gui csv format_version={version}\n".encode())
    # NUL cannot occur in a path or a class name, so it separates fields unambiguously.
    h.update("".join("\0".join(r) + "\n" for r in rows).encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def write(path: str | os.PathLike[str], data: Export) -> None:
    if data.identity is None:
        atomic_write(path, lambda fh: _write_samples(fh, data.index, data.per_sample))
    else:
        atomic_write(path, lambda fh: _write_table(fh, data.index, data.per_sample))


def _write_samples(fh: Any, index: DatasetIndex, per_sample: np.ndarray) -> None:
    classes = [quote_formula(c) for c in index.classes]
    paths = index.relative_paths()
    quoted_any = classes != list(index.classes)
    for i, p in enumerate(paths):
        if p[:1] in _FORMULA_START or p[:1] == "'":
            q = quote_formula(p)
            quoted_any |= q != p
            paths[i] = q
    version = CSV_QUOTED_VERSION if quoted_any else FORMAT_VERSION
    rows = [
        (p, classes[t], str(t), repr(w))
        for p, t, w in zip(paths, index.targets.tolist(), per_sample.tolist(), strict=True)
    ]
    fingerprint = rows_fingerprint(version, rows)
    text = io.TextIOWrapper(fh, encoding="utf-8", errors="surrogateescape", newline="")
    writer = csv.writer(text)
    writer.writerow(HEADER)
    writer.writerows((*r, "") for r in rows[:-1])
    writer.writerow((*rows[-1], f"format_version={version} sha256={fingerprint}"))
    text.flush()
    text.detach()


def _write_table(fh: Any, index: DatasetIndex, per_sample: np.ndarray) -> None:
    """A table-like source's .csv: each sample named by its table row, written and hashed a slice of
    rows at a time (the same fields and fingerprint as ``_write_samples``, without the paths)."""
    from ..table_identity import kept_rows

    classes = [quote_formula(c) for c in index.classes]
    version = CSV_QUOTED_VERSION if classes != list(index.classes) else FORMAT_VERSION
    rows = kept_rows(index)
    h = hashlib.sha256(f"balance-gui csv format_version={version}\n".encode())
    text = io.TextIOWrapper(fh, encoding="utf-8", errors="surrogateescape", newline="")
    writer = csv.writer(text)
    writer.writerow(TABLE_HEADER)
    step = 1 << 16
    for start in range(0, len(rows), step):
        stop = min(start + step, len(rows))
        part = [
            (str(r), classes[t], str(t), repr(w))
            for r, t, w in zip(
                rows[start:stop].tolist(),
                index.targets[start:stop].tolist(),
                per_sample[start:stop].tolist(),
                strict=True,
            )
        ]
        h.update("".join("\0".join(r) + "\n" for r in part).encode("utf-8", "surrogateescape"))
        if stop < len(rows):
            writer.writerows((*r, "") for r in part)
        else:  # the last row carries the fingerprint of them all
            writer.writerows((*r, "") for r in part[:-1])
            writer.writerow((*part[-1], f"format_version={version} sha256={h.hexdigest()}"))
    text.flush()
    text.detach()


def read(path: str) -> dict[str, Any]:
    rows: list[tuple[str, str, str, str]] = []
    trailer = None
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header == _V1_HEADER:
            raise no_fingerprint(path)
        if header not in (HEADER, TABLE_HEADER):
            raise WeightsFileError(
                f"{path}: header must be {','.join(HEADER)} (or {','.join(TABLE_HEADER)} for a table), "
                f"found {shown_row(header)}"
            )
        for line_no, row in enumerate(reader, start=2):
            if trailer is not None:
                raise WeightsFileError(f"{path}, line {line_no}: rows follow the fingerprint (edited file?)")
            if len(row) != 5:
                raise WeightsFileError(f"{path}, line {line_no}: expected 5 fields, got {len(row)}")
            rows.append((row[0], row[1], row[2], row[3]))
            if row[4]:
                trailer = (line_no, row[4])
    if not rows:
        raise WeightsFileError(f"{path}: the file lists no samples")
    if trailer is None:
        raise WeightsFileError(f"{path}: the fingerprint on the last row is missing (truncated file?)")
    found = _TRAILER.fullmatch(trailer[1])
    if found is None:
        raise WeightsFileError(f"{path}, line {trailer[0]}: the fingerprint field is not 'format_version=N sha256=HEX'")
    version = int(found.group(1))
    check_version(path, version, NEWEST)
    check_fingerprint(path, found.group(2), rows_fingerprint(version, rows))
    if version >= CSV_QUOTED_VERSION:  # cells a spreadsheet would run carry one more quote: take it off
        rows = [(unquote_formula(p), unquote_formula(c), i, w) for p, c, i, w in rows]
    targets, weights = [], []
    names: dict[int, str] = {}
    for line_no, (_, name, index_text, weight_text) in enumerate(rows, start=2):
        try:
            t, w = int(index_text), float(weight_text)
        except ValueError:
            raise WeightsFileError(
                f"{path}, line {line_no}: class_index and weight must be numbers, "
                f"got {clip(repr(index_text))}, {clip(repr(weight_text))}"
            ) from None
        if not 0 <= t <= INT64_MAX:
            raise WeightsFileError(f"{path}, line {line_no}: class_index must be a whole number >= 0, got {t}")
        if names.setdefault(t, name) != name:
            raise WeightsFileError(
                f"{path}, line {line_no}: class_index {t} is {quoted(names[t])} on another row, {quoted(name)} here"
            )
        targets.append(t)
        weights.append(w)
    targets_np = np.asarray(targets, dtype=np.int64)
    weights_np = np.asarray(weights, dtype=np.float64)
    out: dict[str, Any] = (
        {"rows": _table_rows(path, rows)} if header == TABLE_HEADER else {"samples": [r[0] for r in rows]}
    )
    out.update(
        targets=targets_np,
        weights=weights_np,
        # Classes with no sample (empty folders) have no row: only the classes seen, by index.
        classes_seen=dict(sorted(names.items())),
        num_excluded=_num_excluded(targets_np, weights_np),
    )
    return out


def _num_excluded(targets: np.ndarray, weights: np.ndarray) -> int:
    """A .csv marks excluded samples by weight 0 only: the weight-0 rows of classes that have weight
    (a class weighted 0 by the scheme is not an exclusion, and a class whose every image is excluded
    cannot be told from one). Class indices come from the file: np.isin, not a table as long as the
    largest index."""
    return int(((weights == 0) & np.isin(targets, targets[weights > 0])).sum())


def _table_rows(path: str, rows: Sequence[Sequence[str]]) -> np.ndarray:
    """The ``row`` field of a table's .csv: table row numbers, ascending."""
    out = np.empty(len(rows), dtype=np.int64)
    for i, r in enumerate(rows):
        text = r[0]
        if not (text.isascii() and text.isdigit() and len(text) <= 18):
            raise WeightsFileError(f"{path}, line {i + 2}: row must be a table row number, got {clip(repr(text))}")
        out[i] = int(text)
    bad = np.flatnonzero(np.diff(out) <= 0)
    if bad.size:
        raise WeightsFileError(f"{path}, line {int(bad[0]) + 3}: rows must be in table order, without repeats")
    return out


# ---------------------------------------------------------------- per-image weights


def _image_quote(cell: str) -> str:
    return "'" + cell if cell[:1] in _FORMULA_START or (cell.startswith("'") and cell[1:2] in _FORMULA_START) else cell


def _image_unquote(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and cell[1:2] in (*_FORMULA_START, "'") else cell


def _image_rows_fingerprint(version: int, rows: list[list[str]]) -> str:
    h = hashlib.sha256(f"balance-gui image_weights csv format_version={version}\n".encode())
    h.update("".join("\0".join(r) + "\n" for r in rows).encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def write_image(path: str | os.PathLike[str], data: ImageExport) -> None:
    files, ids, w = data.record["files"], data.record["image_ids"], data.weights
    version = IMAGE_WEIGHTS_VERSION
    rows = [[f, "" if ids is None else str(ids[i]), repr(float(w[i]))] for i, f in enumerate(files)]
    trailer = f"kind={IMAGE_WEIGHTS_KIND} format_version={version} sha256={_image_rows_fingerprint(version, rows)}"

    def write_rows(fh: Any) -> None:
        text = io.TextIOWrapper(fh, encoding="utf-8", errors="surrogateescape", newline="")
        out = csv.writer(text)
        out.writerow(IMAGE_HEADER)
        out.writerows([_image_quote(r[0]), r[1], r[2], ""] for r in rows)
        out.writerow(["", "", "", trailer])
        text.flush()
        text.detach()

    atomic_write(path, write_rows)


def read_image(path: str) -> dict[str, Any] | None:
    """The per-image record, its fingerprint checked here (``checked``: over the rows, not the record)."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as fh:
            rows = list(csv.reader(fh))
    except csv.Error as e:
        raise image_weights_bad(path, f"not a valid CSV file ({e})") from e
    if not rows or rows[0] != IMAGE_HEADER:
        return None
    if len(rows) < 2 or not (m := _IMAGE_TRAILER.fullmatch(rows[-1][-1] if rows[-1] else "")):
        raise image_weights_bad(path, "no fingerprint row at the end: the file was cut or edited")
    body = rows[1:-1]
    if any(len(r) != 4 for r in body):
        raise image_weights_bad(path, "a row does not have the 4 fields file,image_id,weight,fingerprint")
    plain = [[_image_unquote(r[0]), r[1], r[2]] for r in body]
    if int(m.group(1)) != IMAGE_WEIGHTS_VERSION:
        raise image_weights_bad(
            path, f"format version {m.group(1)} is not one this version reads ({IMAGE_WEIGHTS_VERSION})"
        )
    if _image_rows_fingerprint(IMAGE_WEIGHTS_VERSION, plain) != m.group(2):
        raise image_weights_bad(path, "fingerprint mismatch: the file was edited after export")
    try:
        weights = [float(r[2]) for r in plain]
        ids = None if all(r[1] == "" for r in plain) else [int(r[1]) for r in plain]
    except ValueError as e:
        raise image_weights_bad(path, f"a weight or image id is not a number ({e})") from e
    return {
        "kind": IMAGE_WEIGHTS_KIND,
        "format_version": IMAGE_WEIGHTS_VERSION,
        "files": [r[0] for r in plain],
        "image_ids": ids,
        "weights": weights,
        "fingerprint": m.group(2),
        "checked": True,
    }


FORMAT = WeightsFormat(
    extension=".csv",
    label="CSV, one row per image",
    tooltip="one row per image: path, class, class_index, weight",
    identified=True,
    per_sample=True,
    newest_version=NEWEST,
    write=write,
    read=read,
    write_image=write_image,
    read_image=read_image,
)
