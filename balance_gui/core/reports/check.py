"""The ``check`` report: corrupt files and duplicate copies, then per-class image statistics
(``images.CheckResult``), and how much was decoded now or read from the cache."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..names import escape_name
from .text import escaped_record, text_table

if TYPE_CHECKING:
    from ..dataset import DatasetIndex
    from ..images import CheckResult


def check_report(index: DatasetIndex, result: CheckResult) -> dict[str, Any]:
    """Everything ``check`` shows, as plain JSON-ready data. Every name and reason is escaped as
    ``inspect`` escapes them (``escape_name``, as ``ls -b`` does): a file name cannot start a line
    of its own in the table, and the JSON is valid UTF-8 whatever bytes the names hold."""
    dups = result.duplicates
    return {
        "root": escape_name(os.path.abspath(index.root)),
        "source": index.source,
        "images": len(index),
        "usable": int(result.usable_counts.sum()),
        "summary": {
            "corrupt": len(result.corrupt),
            "duplicates": len(dups),
            "cross_class_duplicates": sum(p.cross_class for p in dups),
        },
        "problems": [escaped_record(p.as_dict()) for p in result.problems],
        "classes": [escaped_record(s.as_dict()) for s in result.class_stats],
        "files_decoded": result.files_decoded,
        "cache": None if result.cache_path is None else escape_name(result.cache_path),
        "warnings": [escape_name(w) for w in result.warnings],
    }


def format_check_report(report: dict[str, Any]) -> str:
    """``check_report`` as the text ``check`` prints: the problems, the class table, the totals."""
    out = [f"dataset: {report['root']} ({report['source']})", ""]
    if report["problems"]:
        problem_rows: list[tuple[str, ...]] = []
        for p in report["problems"]:
            if p["kind"] == "corrupt":
                detail = p["reason"]
            else:
                detail = f"copy of {p['duplicate_of']}" + ("  (ANOTHER CLASS)" if p["cross_class"] else "")
            problem_rows.append((p["kind"], p["path"], detail))
        out += text_table(("kind", "path", "detail"), problem_rows, left=(0, 1, 2)) + [""]

    def spread(s: dict[str, Any] | None) -> str:
        return "-" if s is None else f"{s['min']}/{s['median']}/{s['max']}"

    rows: list[tuple[str, ...]] = [
        (
            c["name"],
            f"{c['images']:,}",
            f"{c['usable']:,}",
            f"{c['corrupt']:,}",
            f"{c['duplicates']:,}",
            spread(c["width"]),
            spread(c["height"]),
            f"{c['grayscale']:,}",
            f"{c['colour']:,}",
        )
        for c in report["classes"]
    ]
    header = (
        "class",
        "images",
        "usable",
        "corrupt",
        "dup",
        "width min/med/max",
        "height min/med/max",
        "gray",
        "colour",
    )
    out += text_table(header, rows, left=(0,))
    s = report["summary"]
    out += [
        "",
        f"images: {report['images']:,}   usable: {report['usable']:,}   corrupt: {s['corrupt']:,}   "
        f"duplicate copies: {s['duplicates']:,} ({s['cross_class_duplicates']:,} across classes)",
        f"decoded now: {report['files_decoded']:,}   from the cache: {report['images'] - report['files_decoded']:,}"
        + (f"   cache: {report['cache']}" if report["cache"] else ""),
    ]
    out += [f"warning: {w}" for w in report["warnings"]]
    return "\n".join(out)


__all__ = ["check_report", "format_check_report"]
