"""What the text reports share: the aligned table, escaped records, the excluded-samples note."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..names import escape_name


def text_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], left: tuple[int, ...]) -> list[str]:
    """``header``, a rule and ``rows`` as aligned lines: the columns in ``left`` flush left, the others
    (figures) flush right, two spaces between columns, no trailing blanks."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]

    def line(cells: Sequence[Any]) -> str:
        return "  ".join(
            cell.ljust(w) if i in left else cell.rjust(w) for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(header), line(["-" * w for w in widths]), *map(line, rows)]


def escaped_record(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with each of its strings escaped (names, paths, reasons, modes); its keys are ours."""
    return {
        key: escape_name(value)
        if isinstance(value, str)
        else {escape_name(k): v for k, v in value.items()}
        if key == "modes"
        else value
        for key, value in record.items()
    }


def excluded_note(count: int) -> str:
    """How a report says that ``count`` samples are left out of the weights."""
    return f"{count:,} sample{'' if count == 1 else 's'} excluded (weight 0: corrupt or duplicate copies)"


__all__ = ["escaped_record", "excluded_note", "text_table"]
