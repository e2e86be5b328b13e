"""The CLI's options for columnar label sources (``core.tables``): Parquet/Arrow tables, Hugging
Face dataset folders and WebDataset shards, wherever a command takes a dataset or manifest."""

from __future__ import annotations

import argparse
from typing import Any

from .core.dataset import DatasetIndex
from .core.names import quoted


def add_table_args(p: argparse.ArgumentParser) -> None:
    """``--path-column``, ``--label-column``, ``--drop-null``, ``--label-member`` on ``p``."""
    p.add_argument(
        "--path-column",
        metavar="NAME",
        help="Parquet/Arrow table or Hugging Face folder: the column of paths (default: path)",
    )
    p.add_argument(
        "--label-column",
        metavar="NAME",
        help="Parquet/Arrow table or Hugging Face folder: the column of labels (default: label)",
    )
    p.add_argument(
        "--drop-null",
        action="store_true",
        help="leave out rows (or WebDataset samples) without a label instead of refusing the table",
    )
    p.add_argument(
        "--label-member",
        metavar="EXT",
        help="WebDataset shards: the member holding the class (default: cls, as in KEY.cls)",
    )


def table_options(args: argparse.Namespace) -> dict[str, Any]:
    """The columnar options the user gave, as ``open_dataset`` keywords (none when none were given)."""
    out: dict[str, Any] = {}
    for name in ("path_column", "label_column", "label_member"):
        value = getattr(args, name, None)
        if value is not None:
            out[name] = value
    if getattr(args, "drop_null", False):
        out["drop_null"] = True
    return out


def table_match_note(info: dict[str, Any], index: DatasetIndex) -> str | None:
    """What ``verify`` found the same in a table-like source's weights file (``core.table_identity``),
    or None for a file that lists paths or only counts."""
    identity = info.get("table")
    classes = f"{index.num_classes} class{'' if index.num_classes == 1 else 'es'}"
    unread = "no image file was read"
    if identity is not None:
        column = identity["label_column"]
        where = f"column {quoted(column)}, " if column is not None else ""
        dropped = identity["dropped_rows"]
        left_out = f" ({dropped:,} without a label left out)" if dropped else ""
        return (
            f"the same {identity['num_rows']:,} rows{left_out} with the same label in each "
            f"({where}label_sha256 {identity['label_sha256'][:12]}...), {classes}; {unread}"
        )
    if "rows" in info:
        return f"the same {len(info['rows']):,} rows by number with the same class in each, {classes}; {unread}"
    return None
