"""Columnar label sources: Parquet and Arrow IPC/Feather tables, read with pyarrow.

A table lists one sample per row: a path column and a label column (``path`` and ``label`` by
default; any others are ignored). Labels may be text, integers, or dictionary-encoded text or
integers; classes are the label values that occur, sorted by name (integers ascending), as for
a CSV manifest. Rows are samples in table order, counted from 0; a path is relative to the
table's folder, or absolute, and no file it names is ever opened or stat-ed.

The table is read in record batches, and only the label column is read to open it: the index
holds the labels as the narrowest integer type that fits the classes. The paths are read the
first time they are asked for (the image check; a weights file names the rows by position and
never needs them, see ``core.table_identity``), straight from the Arrow string buffers into the
index's packed path buffer, never as one Python string per row. A table that changed on disk
since it was opened is then refused.

Bad input is a :class:`DatasetError` in one line: a missing column (naming those that exist),
null labels (counted; ``drop_null=True`` leaves those rows out), labels of another type or of
mixed types, a truncated or foreign file.
"""

from __future__ import annotations

import os
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from .dataset import DatasetIndex, ProgressCallback, ScanProgress, _readonly
from .errors import BalanceError, Cancelled, DatasetError, DatasetNotFoundError, SettingsError
from .names import quoted

if TYPE_CHECKING:
    import pyarrow as pa

PARQUET_EXTENSIONS = (".parquet", ".pq")
IPC_EXTENSIONS = (".arrow", ".feather", ".ipc")
TABLE_EXTENSIONS = PARQUET_EXTENSIONS + IPC_EXTENSIONS
DEFAULT_PATH_COLUMN = "path"
DEFAULT_LABEL_COLUMN = "label"
BATCH_ROWS = 1 << 18  # rows per record batch read from a Parquet file
_LOAD_LOCK = threading.Lock()  # one lazy path load at a time (an index may be shared by threads)


def is_table_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a Parquet or Arrow IPC/Feather file by its extension."""
    text = os.fspath(path).lower()
    return text.endswith(TABLE_EXTENSIONS) and not os.path.isdir(path)


@dataclass(frozen=True)
class TablePart:
    """One file of a columnar source: ``kind`` is ``"parquet"`` or ``"ipc"`` (file or stream format)."""

    path: str
    kind: str


def part_of(path: str) -> TablePart:
    return TablePart(path, "parquet" if path.lower().endswith(PARQUET_EXTENSIONS) else "ipc")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _what(part: TablePart) -> str:
    return "Parquet file" if part.kind == "parquet" else "Arrow IPC/Feather file"


class _Opened:
    """A part opened for reading: its schema, its row count when known, and its batches."""

    def __init__(self, part: TablePart, labels: str | None = None) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.part = part
        self._parquet: Any = None
        self._reader: Any = None
        with _reading(part):
            if part.kind == "parquet":
                # The label column as Parquet stores it, dictionary-encoded: its strings are never
                # decoded one per row, nor hashed again (a plain column comes back as it is).
                self._parquet = pq.ParquetFile(part.path)
                names = self._parquet.schema_arrow.names
                if labels in names and _column_kind(self._parquet.schema_arrow.field(labels).type) == "str":
                    self._parquet = pq.ParquetFile(part.path, read_dictionary=[labels])
                self.schema: pa.Schema = self._parquet.schema_arrow
                self.num_rows: int | None = self._parquet.metadata.num_rows
            else:
                source = pa.memory_map(part.path)
                try:
                    self._reader = pa.ipc.open_file(source)
                    self.num_rows = sum(
                        self._reader.get_batch(i).num_rows for i in range(self._reader.num_record_batches)
                    )
                except pa.ArrowInvalid:  # the stream format (what Hugging Face datasets writes)
                    source.seek(0)
                    self._reader = pa.ipc.open_stream(source)
                    self.num_rows = None
                self.schema = self._reader.schema

    def batches(self, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        """Record batches holding ``columns`` (in that order), wrapped so any read error is a DatasetError."""
        import pyarrow as pa

        part = self.part
        with _reading(part):
            if self._parquet is not None:
                yield from self._parquet.iter_batches(batch_size=BATCH_ROWS, columns=list(columns))
                return
            names = list(columns)
            if isinstance(self._reader, pa.ipc.RecordBatchFileReader):
                it: Iterator[pa.RecordBatch] = (
                    self._reader.get_batch(i) for i in range(self._reader.num_record_batches)
                )
            else:
                it = iter(self._reader)
            for batch in it:
                yield pa.RecordBatch.from_arrays([batch.column(n) for n in names], names=names)


class _reading:
    """Turns pyarrow's errors while reading ``part`` into one-line DatasetErrors naming the file."""

    def __init__(self, part: TablePart) -> None:
        self.part = part

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, e: BaseException | None, tb: object) -> None:
        if e is None or isinstance(e, (BalanceError, Cancelled)) or not isinstance(e, Exception):
            return
        import pyarrow as pa

        if isinstance(e, FileNotFoundError):
            raise DatasetNotFoundError(f"table not found: {self.part.path}") from e
        if isinstance(e, (pa.ArrowException, OSError, ValueError, EOFError)):
            raise DatasetError(
                f"{self.part.path}: not a readable {_what(self.part)} (truncated or not that format?): {_first_line(e)}"
            ) from e


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("scan cancelled")


def _column_kind(t: pa.DataType) -> str | None:
    """``"str"``, ``"int"`` or None (any other type) for a column type, looking through a dictionary."""
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or getattr(pa.types, "is_string_view", bool)(t):
        return "str"
    if pa.types.is_integer(t):
        return "int"
    return None


def _missing_column(part: TablePart, schema: pa.Schema, name: str, option: str) -> DatasetError:
    names = ", ".join(quoted(n) for n in schema.names[:20])
    more = "" if len(schema.names) <= 20 else f" and {len(schema.names) - 20:,} more"
    return DatasetError(
        f"{part.path}: no column {quoted(name)}; its columns are {names}{more} (pick one with {option})"
    )


def visible(name: str) -> str:
    """``name`` quoted as messages show it, its invisible characters (Unicode Cf) as ``\\uXXXX``."""
    text = quoted(name)
    if text.isascii():
        return text
    return "".join(f"\\u{ord(ch):04x}" if unicodedata.category(ch) == "Cf" else ch for ch in text)


def lookalike_labels(names: Sequence[str]) -> tuple[str, list[str]] | None:
    """Why some of ``names`` print like another label, and which: a label holding invisible characters
    (a byte-order mark, zero-width spaces, bidi controls), or labels that differ only in their Unicode
    form (NFC and NFD of the same text). None when every label prints as itself."""
    forms: dict[str, list[str]] = {}
    for name in names:
        if name.isascii():
            continue
        where = [i for i, ch in enumerate(name) if unicodedata.category(ch) == "Cf"]
        if where:
            codes = ", ".join(sorted({f"U+{ord(name[i]):04X}" for i in where}))
            return f"label {visible(name)} holds invisible character(s) ({codes} at position {where[0]})", [name]
        forms.setdefault(unicodedata.normalize("NFC", name), []).append(name)
    for group in forms.values():
        if len(group) > 1:
            shown = " and ".join(visible(n) for n in group[:3])
            return f"labels {shown} differ only in their Unicode form (NFC/NFD): they print alike", group
    return None


def _narrowest(num_classes: int) -> type[np.signedinteger]:
    for dtype in (np.int8, np.int16, np.int32):
        if num_classes <= int(np.iinfo(dtype).max) + 1:
            return dtype
    return np.int64


class LabelCoder:
    """Turns label columns, batch by batch, into class codes (first-seen order), then into the
    sorted classes and the narrowest targets. With ``names`` (a ClassLabel's names) the labels are
    already class indices into ``names`` and keep that order; -1 is a missing label."""

    def __init__(self, source: str, column: str, names: Sequence[str] | None = None) -> None:
        self.source = source
        self.column = column
        self.names = None if names is None else list(names)
        self.kind: str | None = None
        self.kind_where = ""
        self.seen: dict[Any, int] = {}
        self.chunks: list[np.ndarray] = []
        self.rows = 0
        # Rows per code, counted batch by batch: one np.bincount over 100M targets holds the GIL
        # for ~0.4 s (it never releases it), and the GUI thread waits that long behind the scan.
        self.code_counts = np.zeros(0 if names is None else len(names), dtype=np.int64)
        self.counts = np.zeros(0, dtype=np.int64)  # per class, once finished

    def check_type(self, t: pa.DataType, where: str) -> None:
        kind = _column_kind(t)
        if kind is None or (self.names is not None and kind != "int"):
            need = "integers (a ClassLabel)" if self.names is not None else "text, integers or dictionary-encoded"
            raise DatasetError(f"{where}: label column {quoted(self.column)} holds {t}; labels must be {need}")
        if self.kind is not None and kind != self.kind:
            raise DatasetError(
                f"mixed label types: label column {quoted(self.column)} holds {_kind_words(self.kind)} in "
                f"{self.kind_where} and {_kind_words(kind)} in {where}"
            )
        self.kind, self.kind_where = kind, self.kind_where or where

    def add(self, col: pa.Array) -> None:
        """Codes for one batch of labels (without nulls)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if self.names is not None:
            values = col.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
            bad = np.flatnonzero((values < 0) | (values >= len(self.names)))
            if bad.size:
                raise DatasetError(
                    f"{self.source}, row {self.rows + int(bad[0])}: label {int(values[bad[0]])} is not one of the "
                    f"{len(self.names)} ClassLabel names"
                )
            self.chunks.append(values.astype(_narrowest(len(self.names))))
            self.code_counts += np.bincount(values, minlength=len(self.names))
            self.rows += len(values)
            return
        encoded = col if pa.types.is_dictionary(col.type) else pc.dictionary_encode(col)
        dictionary = encoded.dictionary.to_pylist()
        seen = self.seen
        remap = np.fromiter((seen.setdefault(v, len(seen)) for v in dictionary), dtype=np.int64, count=len(dictionary))
        codes = remap[encoded.indices.to_numpy(zero_copy_only=False)]
        self.chunks.append(codes.astype(_narrowest(len(seen))))
        batch_counts = np.bincount(codes, minlength=len(seen))
        batch_counts[: len(self.code_counts)] += self.code_counts
        self.code_counts = batch_counts
        self.rows += len(codes)

    def finish(self) -> tuple[list[str], np.ndarray]:
        """The classes and one target per row (the narrowest signed integer type that holds them)."""
        if self.names is not None:
            targets = np.concatenate(self.chunks) if self.chunks else np.zeros(0, _narrowest(len(self.names)))
            self.counts = self.code_counts
            return self.names, targets.astype(_narrowest(len(self.names)), copy=False)
        values = list(self.seen)
        codes = np.concatenate(self.chunks, dtype=_narrowest(len(values))) if self.chunks else np.zeros(0, np.int8)
        self.chunks = []
        counts = np.zeros(len(values), dtype=np.int64)
        counts[: len(self.code_counts)] = self.code_counts
        used = [i for i in range(len(values)) if counts[i]]  # a dictionary may hold values no row uses
        order = sorted(used, key=values.__getitem__)
        classes = [str(values[i]) for i in order]
        perm = np.full(len(values), -1, dtype=np.int64)
        perm[order] = np.arange(len(order))
        self.counts = counts[order]
        targets = np.empty(len(codes), dtype=_narrowest(len(order)))
        step = 1 << 22
        for start in range(0, len(codes), step):  # in slices: no int64 copy of the whole column
            targets[start : start + step] = perm[codes[start : start + step]]
        del codes
        self._refuse_bad_names(classes, targets)
        return classes, targets

    def _refuse_bad_names(self, classes: list[str], targets: np.ndarray) -> None:
        if self.kind != "str":
            return

        def row_of(name: str) -> int:
            return int(np.flatnonzero(targets == classes.index(name))[0])

        blank = [c for c in classes if not c.strip()]
        if blank:
            raise DatasetError(f"{self.source}, row {row_of(blank[0])}: the label is empty or blank")
        lookalike = lookalike_labels(classes)
        if lookalike is not None:
            message, names = lookalike
            raise DatasetError(f"{self.source}, row {min(row_of(n) for n in names)}: {message}; fix the label")


def _kind_words(kind: str) -> str:
    return "text" if kind == "str" else "integers"


class PathPacker:
    """Packs path columns, batch by batch, into DatasetIndex's buffer of NUL-terminated paths and
    its start offsets, from the Arrow string buffers (no Python string per row)."""

    def __init__(self, source: str, column: str) -> None:
        self.source = source
        self.column = column
        self.blob = bytearray()
        self.starts: list[np.ndarray] = []
        self.rows = 0

    def add(self, col: pa.Array) -> None:
        import pyarrow as pa

        if pa.types.is_dictionary(col.type):
            col = col.dictionary_decode()
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            col = col.cast(pa.large_string())  # string views
        if col.null_count:
            raise self._nulls(col)
        n = len(col)
        if not n:
            return
        _, offsets_buf, data_buf = col.buffers()[:3]
        width = np.int64 if pa.types.is_large_string(col.type) else np.int32
        offsets = np.frombuffer(offsets_buf, dtype=width)[col.offset : col.offset + n + 1].astype(np.int64)
        base = int(offsets[0])
        data = np.frombuffer(data_buf, dtype=np.uint8)[base : int(offsets[-1])] if data_buf else np.zeros(0, np.uint8)
        rel = offsets - base
        empty = np.flatnonzero(rel[1:] == rel[:-1])
        if empty.size:
            raise DatasetError(f"{self.source}, row {self.rows + int(empty[0])}: the path is empty")
        nul = np.flatnonzero(data == 0)
        if nul.size:
            row = int(np.searchsorted(rel, nul[0], side="right")) - 1
            raise DatasetError(f"{self.source}, row {self.rows + row}: the path contains a NUL byte")
        self.starts.append(rel[:-1] + np.arange(n, dtype=np.int64) + len(self.blob))
        self.blob += np.insert(data, rel[1:], 0).data  # each path, then a NUL
        self.rows += n

    def _nulls(self, col: pa.Array) -> DatasetError:
        import pyarrow.compute as pc

        first = int(pc.index(pc.is_null(col), True).as_py())
        return DatasetError(
            f"{self.source}: {col.null_count:,} row(s) of this batch have no path (null), the first is row "
            f"{self.rows + first}: every row needs a path in column {quoted(self.column)}"
        )

    def finish(self) -> tuple[bytes, np.ndarray]:
        starts = np.concatenate([*self.starts, np.array([len(self.blob)], dtype=np.int64)])
        self.starts = []
        # A bytearray holds the paths: it slices and decodes as bytes does, without a second copy.
        return self.blob, starts  # type: ignore[return-value]


@dataclass(frozen=True)
class PathLoader:
    """Reads the paths of a columnar source when they are first needed (picklable)."""

    parts: tuple[TablePart, ...]
    path_column: str | None  # None: paths are ``file#row`` (a source without a path column)
    label_column: str
    drop_null: bool
    signature: tuple[tuple[int, int], ...]  # (size, mtime_ns) of each part when it was opened
    source: str
    class_label: bool = False  # the labels are a ClassLabel's indices: -1 is no label

    def load(self) -> tuple[bytes, np.ndarray]:
        import pyarrow as pa
        import pyarrow.compute as pc

        if _signature(self.parts) != self.signature:
            raise DatasetError(f"{self.source} changed since it was opened: open it again")
        packer = PathPacker(self.source, self.path_column or "")
        for part in self.parts:
            opened = _Opened(part)
            columns = [self.path_column] if self.path_column else [self.label_column]
            if self.drop_null and self.path_column:
                columns.append(self.label_column)
            row = 0
            for batch in opened.batches(columns):
                if self.path_column:
                    col = batch.column(0)
                else:  # the row's file and number: data-00000-of-00001.arrow#17
                    numbers = pa.array(np.arange(row, row + batch.num_rows, dtype=np.int64)).cast(pa.string())
                    col = pc.binary_join_element_wise(os.path.basename(part.path) + "#", numbers, "")
                row += batch.num_rows
                if self.drop_null:
                    labels = batch.column(len(columns) - 1)
                    if self.class_label:
                        labels = _minus_one_is_null(labels)
                    if labels.null_count:
                        col = col.filter(pc.is_valid(labels))
                packer.add(col)
        return packer.finish()

    def paths_at(self, rows: np.ndarray) -> list[str]:
        """The paths of table rows ``rows`` (counting every row of every part, dropped ones too),
        reading only the Parquet row groups / Arrow record batches that hold them: a few rows of a
        100M-row table cost one row group, not the whole column (~40 s and GBs)."""
        if _signature(self.parts) != self.signature:
            raise DatasetError(f"{self.source} changed since it was opened: open it again")
        rows = np.asarray(rows, dtype=np.int64)
        with _ROWS_LOCK:
            starts, where = self._chunk_table()
            chunks = np.searchsorted(starts, rows, side="right") - 1
            out: list[str] = [""] * len(rows)
            for chunk in np.unique(chunks):
                mine = np.flatnonzero(chunks == chunk)
                col = self._chunk(int(chunk), where[int(chunk)])
                taken = col.take(rows[mine] - int(starts[chunk])).to_pylist()
                for k, path in zip(mine.tolist(), taken, strict=True):
                    out[k] = path
        return out

    def _chunk_table(self) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
        """Each chunk's first table row, and where it is: (part, chunk in the part, first row in the part)."""
        cached = _CHUNK_TABLES.get(self)
        if cached is not None:
            return cached
        starts: list[int] = []
        where: list[tuple[int, int, int]] = []
        first = 0
        for p, part in enumerate(self.parts):
            local = 0
            for j, n in enumerate(_chunk_rows(part)):
                starts.append(first + local)
                where.append((p, j, local))
                local += n
            first += local
        starts.append(first)
        table = (np.asarray(starts, dtype=np.int64), where)
        _CHUNK_TABLES[self] = table
        while len(_CHUNK_TABLES) > _CHUNKS_KEPT:  # tables opened before
            _CHUNK_TABLES.popitem(last=False)
        return table

    def _chunk(self, chunk: int, where: tuple[int, int, int]) -> pa.Array:
        """The path column of one chunk, the last few kept (a gallery page reads the same ones again)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        key = (self, chunk)
        col = _CHUNKS.get(key)
        if col is not None:
            _CHUNKS.move_to_end(key)
            return col
        p, j, local = where
        part = self.parts[p]
        if self.path_column:
            col = _read_chunk(part, j, self.path_column)
            if pa.types.is_dictionary(col.type):
                col = col.dictionary_decode()
        else:  # the row's file and number, as ``load`` makes them
            n = len(_read_chunk(part, j, self.label_column))
            numbers = pa.array(np.arange(local, local + n, dtype=np.int64)).cast(pa.string())
            col = pc.binary_join_element_wise(os.path.basename(part.path) + "#", numbers, "")
        _CHUNKS[key] = col
        while len(_CHUNKS) > _CHUNKS_KEPT:
            _CHUNKS.popitem(last=False)
        return col


_ROWS_LOCK = threading.Lock()  # one reader of the chunk caches at a time
_CHUNK_TABLES: OrderedDict[PathLoader, tuple[np.ndarray, list[tuple[int, int, int]]]] = OrderedDict()
_CHUNKS: OrderedDict[tuple[PathLoader, int], pa.Array] = OrderedDict()
_CHUNKS_KEPT = 4  # path columns of row groups kept: ~1M rows each, tens of MB at most


def _chunk_rows(part: TablePart) -> list[int]:
    """Rows per chunk of ``part``: its Parquet row groups, or its Arrow record batches."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with _reading(part):
        if part.kind == "parquet":
            meta = pq.ParquetFile(part.path).metadata
            return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        source = pa.memory_map(part.path)
        try:
            reader = pa.ipc.open_file(source)
            return [reader.get_batch(i).num_rows for i in range(reader.num_record_batches)]
        except pa.ArrowInvalid:  # the stream format: its batches in turn, memory-mapped (no copy)
            source.seek(0)
            return [batch.num_rows for batch in pa.ipc.open_stream(source)]


def _read_chunk(part: TablePart, chunk: int, column: str) -> pa.Array:
    """Column ``column`` of chunk ``chunk`` of ``part`` (see ``_chunk_rows``), and nothing else."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with _reading(part):
        if part.kind == "parquet":
            table = pq.ParquetFile(part.path).read_row_group(chunk, columns=[column])
            return table.column(0).combine_chunks()
        source = pa.memory_map(part.path)
        try:
            reader = pa.ipc.open_file(source)
            return reader.get_batch(chunk).column(column)
        except pa.ArrowInvalid:
            source.seek(0)
            for j, batch in enumerate(pa.ipc.open_stream(source)):
                if j == chunk:
                    return batch.column(column)
            raise DatasetError(f"{part.path} changed since it was opened: open it again") from None


def _minus_one_is_null(col: pa.Array) -> pa.Array:
    """A ClassLabel column with its -1 values (Hugging Face's "no label") as nulls."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.if_else(pc.equal(col, -1), pa.scalar(None, col.type), col)


def _signature(parts: Sequence[TablePart]) -> tuple[tuple[int, int], ...]:
    out = []
    for part in parts:
        try:
            st = os.stat(part.path)
        except OSError:
            return ()
        out.append((st.st_size, st.st_mtime_ns))
    return tuple(out)


@dataclass(frozen=True, eq=False)
class TableIndex(DatasetIndex):
    """A :class:`DatasetIndex` over a columnar source whose paths are read when first needed.

    ``table_rows`` counts every row of the source, ``dropped_rows`` those left out for a null
    label (``drop_null``), ``null_rows`` which they are. Sample ``i`` is the ``i``-th row kept."""

    table_rows: int = 0
    dropped_rows: int = 0
    label_column: str = DEFAULT_LABEL_COLUMN
    path_column: str = DEFAULT_PATH_COLUMN
    source_file: str = ""  # the table (or folder) the index was read from, absolute
    table_format: str = ""  # "parquet", "arrow" (IPC/Feather) or "hf" (a save_to_disk folder)
    # The table rows left out for a null label (drop_null), ascending: sample i is the i-th row kept.
    null_rows: np.ndarray = field(default_factory=lambda: _readonly(np.zeros(0, dtype=np.int64)), repr=False)
    _loader: PathLoader | None = field(default=None, repr=False)

    def _load_paths(self) -> None:
        if self._loader is None:
            return
        with _LOAD_LOCK:
            loader = self._loader
            if loader is None:
                return
            blob, starts = loader.load()
            if len(starts) - 1 != len(self):
                raise DatasetError(f"{loader.source} changed since it was opened: open it again")
            object.__setattr__(self, "_paths_blob", blob)
            object.__setattr__(self, "_path_starts", _readonly(starts))
            object.__setattr__(self, "_loader", None)

    def relative_path(self, i: int) -> str:
        if self._loader is None:
            return super().relative_path(i)
        return self.paths_of([i])[0]

    def paths_of(self, samples: Sequence[int] | np.ndarray) -> list[str]:
        """The relative paths of ``samples``, in that order. Until every path has been read (the
        image check reads them all), only the row groups or record batches holding these rows are
        read: a gallery page of a 100M-row table costs a row group or two, not the whole column."""
        idx = np.asarray(samples, dtype=np.int64).reshape(-1)
        if idx.size and (int(idx.min()) < -len(self) or int(idx.max()) >= len(self)):
            raise IndexError(f"sample out of range: {len(self):,} samples")
        idx = np.where(idx < 0, idx + len(self), idx)
        loader = self._loader
        if loader is None:
            return [super(TableIndex, self).relative_path(int(i)) for i in idx]
        return loader.paths_at(self._table_rows(idx))

    def _table_rows(self, samples: np.ndarray) -> np.ndarray:
        """The table row of each sample: sample i is the i-th row kept (rows with a null label dropped)."""
        nulls = self.null_rows
        if not len(nulls):
            return samples
        kept_before = nulls - np.arange(len(nulls), dtype=np.int64)  # rows kept before each dropped row
        return samples + np.searchsorted(kept_before, samples, side="right")

    def relative_paths(self) -> list[str]:
        self._load_paths()
        return super().relative_paths()

    def warnings(self) -> list[str]:
        out = super().warnings()
        if self.dropped_rows:
            out.append(
                f"{self.dropped_rows:,} row(s) without a label (null) were left out (--drop-null); "
                "sample numbers count the rows kept"
            )
        return out


def index_from_parts(
    parts: Sequence[TablePart],
    *,
    source: str,
    root: str,
    label_column: str,
    path_column: str | None,
    drop_null: bool = False,
    class_names: Sequence[str] | None = None,
    index_source: str = "manifest",
    table_format: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> TableIndex:
    """The index of the rows of ``parts``, read in order: labels now, paths when first needed.
    ``table_format`` (see :class:`TableIndex`): by default ``hf`` for a folder, else the first part's."""
    import pyarrow.compute as pc

    start_time = time.perf_counter()
    coder = LabelCoder(source, label_column, class_names)
    opened_parts = [_Opened(p, label_column) for p in parts]
    total = sum(o.num_rows or 0 for o in opened_parts)
    nulls = dropped = rows = 0
    first_null = -1
    null_rows: list[np.ndarray] = []  # positions of the rows left out (drop_null)
    null_label = -1 if class_names is not None else None  # a ClassLabel's "no label"
    for opened in opened_parts:
        part = opened.part
        schema = opened.schema
        if label_column not in schema.names:
            raise _missing_column(part, schema, label_column, "--label-column")
        coder.check_type(schema.field(label_column).type, part.path)
        if path_column is not None:
            if path_column not in schema.names:
                raise _missing_column(part, schema, path_column, "--path-column")
            if _column_kind(schema.field(path_column).type) != "str":
                raise DatasetError(
                    f"{part.path}: path column {quoted(path_column)} holds {schema.field(path_column).type}; "
                    "paths must be text"
                )
        for batch in opened.batches([label_column]):
            _check_cancel(cancel)
            col = batch.column(0)
            if null_label is not None:
                col = _minus_one_is_null(col)
            if col.null_count:
                if drop_null:
                    dropped += col.null_count
                    is_null = pc.is_null(col).to_numpy(zero_copy_only=False)
                    null_rows.append(rows + np.flatnonzero(is_null).astype(np.int64))
                    col = col.filter(pc.is_valid(col))
                else:
                    if first_null < 0:
                        first_null = rows + int(pc.index(pc.is_null(col), True).as_py())
                    nulls += col.null_count
            if not nulls:
                coder.add(col)
            rows += batch.num_rows
            if progress is not None:
                progress(ScanProgress(1, rows, max(total, rows), rows, source, time.perf_counter() - start_time))
    if nulls:
        raise DatasetError(
            f"{source}: {nulls:,} row(s) have no label (null), the first is row {first_null}; "
            "fill them in, or leave those rows out with --drop-null"
        )
    if not coder.rows:
        raise DatasetNotFoundError(f"{source}: the table lists no samples" + (" with a label" if dropped else ""))
    classes, targets = coder.finish()
    counts = coder.counts
    loader = PathLoader(
        tuple(parts), path_column, label_column, drop_null, _signature(parts), source, class_names is not None
    )
    return TableIndex(
        root=root,
        classes=tuple(classes),
        class_to_idx=MappingProxyType({c: i for i, c in enumerate(classes)}),
        targets=_readonly(targets),
        counts=_readonly(counts),
        _paths_blob=b"",
        _path_starts=_readonly(np.zeros(1, dtype=np.int64)),
        source=index_source,
        source_file=os.path.abspath(source),
        table_rows=rows,
        dropped_rows=dropped,
        label_column=label_column,
        path_column=path_column or "",
        table_format=table_format or _format_of(parts, source),
        null_rows=_readonly(np.concatenate(null_rows) if null_rows else np.zeros(0, dtype=np.int64)),
        _loader=loader,
    )


def _format_of(parts: Sequence[TablePart], source: str) -> str:
    """What a weights file records as the ``source`` of these parts (see :class:`TableIndex`)."""
    if os.path.isdir(source):
        return "hf"
    return "parquet" if parts and parts[0].kind == "parquet" else "arrow"


def read_table(
    path: str | os.PathLike[str],
    *,
    path_column: str | None = None,
    label_column: str | None = None,
    drop_null: bool = False,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> TableIndex:
    """Index a Parquet or Arrow IPC/Feather table (see the module's documentation).

    Paths are relative to the table's folder, or absolute; classes are the sorted label values."""
    text = os.path.expanduser(os.fspath(path))
    if not os.path.isfile(text):
        raise DatasetNotFoundError(f"table not found: {text}")
    return index_from_parts(
        [part_of(text)],
        source=text,
        root=os.path.dirname(os.path.abspath(text)),
        label_column=label_column or DEFAULT_LABEL_COLUMN,
        path_column=path_column or DEFAULT_PATH_COLUMN,
        drop_null=drop_null,
        progress=progress,
        cancel=cancel,
    )


def count_labels(path: str | os.PathLike[str], label_column: str = DEFAULT_LABEL_COLUMN) -> dict[str, int]:
    """Rows per class of a table, by class name: what ``inspect`` counts."""
    index = read_table(path, label_column=label_column)
    return {c: int(n) for c, n in zip(index.classes, index.counts, strict=True)}


# ---------------------------------------------------------------- dispatch


def open_columnar(
    path: str | os.PathLike[str],
    *,
    path_column: str | None = None,
    label_column: str | None = None,
    drop_null: bool = False,
    label_member: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    **rest: Any,
) -> DatasetIndex | None:
    """The index of a columnar source (a Parquet/Arrow table, a Hugging Face ``save_to_disk``
    folder, WebDataset tar shards), or None when ``path`` is none of these. Options for those
    sources given for anything else are refused."""
    from .hf_source import is_hf_folder, read_hf_folder
    from .webdataset import is_webdataset, read_webdataset

    text = os.fspath(path)
    columns: dict[str, Any] = {"path_column": path_column, "label_column": label_column, "drop_null": drop_null}
    if is_table_file(text) and label_member is None:
        return read_table(text, **columns, progress=progress, cancel=cancel)
    if is_hf_folder(text) and label_member is None:
        return read_hf_folder(text, **columns, progress=progress, cancel=cancel)
    if is_webdataset(text) and path_column is None and label_column is None:
        return read_webdataset(text, label_member=label_member, drop_null=drop_null, progress=progress, cancel=cancel)
    given = [
        option
        for option, value in (
            ("--path-column", path_column),
            ("--label-column", label_column),
            ("--drop-null", drop_null or None),
            ("--label-member", label_member),
        )
        if value is not None
    ]
    if given:
        raise SettingsError(
            f"{', '.join(given)} do(es) not apply to {visible(text)}: --path-column, --label-column and --drop-null "
            f"are for Parquet/Arrow tables ({', '.join(TABLE_EXTENSIONS)}) and Hugging Face dataset folders, "
            "--label-member and --drop-null for WebDataset .tar shards"
        )
    return None


__all__ = [
    "TABLE_EXTENSIONS",
    "TableIndex",
    "count_labels",
    "is_table_file",
    "open_columnar",
    "read_table",
]


def is_columnar(path: str | os.PathLike[str]) -> bool:
    """Whether :func:`open_columnar` reads ``path``: a table file, a Hugging Face folder, tar shards."""
    from .hf_source import is_hf_folder
    from .webdataset import is_webdataset

    return is_table_file(path) or is_hf_folder(path) or is_webdataset(path)
