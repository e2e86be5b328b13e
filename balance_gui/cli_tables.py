"""The CLI's options for columnar label sources (``core.tables``): Parquet/Arrow tables, Hugging
Face dataset folders and WebDataset shards, wherever a command takes a dataset or manifest."""

from __future__ import annotations

import argparse
from typing import Any


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
