"""The ``inspect`` report of a dataset: one row per class (count, share, weight and the expected
figures of an epoch, ``core.expected``) and the dataset figures (``weights.dataset_figures``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..names import escape_name
from .text import excluded_note, text_table

if TYPE_CHECKING:  # numpy loads only when a report is built
    from ..dataset import DatasetIndex
    from ..images import CheckResult
    from ..weights import Scheme


def inspect_report(
    index: DatasetIndex,
    scheme: Scheme,
    class_w: Any,
    draws: int | None = None,
    check: CheckResult | None = None,
) -> dict[str, Any]:
    """Everything ``inspect`` shows, as plain JSON-ready data; names escaped as ``ls -b`` does,
    so that the JSON is valid UTF-8 whatever bytes the file names hold. With ``check`` (a health
    check of ``index``), counts, weights and figures are those of the usable images."""
    from ..expected import class_figures
    from ..weights import dataset_figures

    counts = index.counts if check is None else check.usable_counts
    fig = class_figures(counts, class_w, draws)
    data = dataset_figures(counts).as_dict()
    data["skipped_files"] = index.skipped_files
    data["skipped_extensions"] = {escape_name(k): v for k, v in index.skipped_extensions.items()}
    return {
        "root": escape_name(os.path.abspath(index.root)),
        "source": index.source,
        "scheme": str(scheme),
        "draws": fig.draws,
        # Present with --usable: counts are usable images; this many samples are left out.
        **({} if check is None else {"usable": True, "excluded": int((~check.usable_mask).sum())}),
        "dataset": data,
        "classes": [
            {
                "index": i,
                "name": escape_name(name),
                "count": int(fig.counts[i]),
                "share": float(fig.shares[i]),
                "weight": float(fig.weights[i]),
                "expected_share": float(fig.expected_shares[i]),
                "expected_draws": float(fig.expected_draws[i]),
                "expected_uses_per_image": float(fig.expected_uses_per_image[i]),
                "expected_distinct": float(fig.expected_distinct[i]),
            }
            for i, name in enumerate(index.classes)
        ],
        "warnings": [escape_name(w) for w in index.warnings()],
    }


def format_inspect_report(report: dict[str, Any]) -> str:
    """``inspect_report`` as the text ``inspect`` prints: the class table, then the dataset figures."""
    header = ("idx", "class", "count", "share", "weight", "exp.share", "exp.draws", "uses/img", "exp.distinct")
    rows = [
        (
            str(c["index"]),
            c["name"],
            f"{c['count']:,}",
            f"{c['share']:.4f}",
            f"{c['weight']:.6g}",
            f"{c['expected_share']:.4f}",
            f"{c['expected_draws']:,.1f}",
            f"{c['expected_uses_per_image']:.2f}",
            f"{c['expected_distinct']:,.1f}",
        )
        for c in report["classes"]
    ]
    d = report["dataset"]
    out = [
        f"dataset: {report['root']} ({report['source']})",
        f"scheme: {report['scheme']}   draws per epoch (k): {report['draws']:,}",
        *([f"counts are usable images: {excluded_note(report['excluded'])}"] if report.get("usable") else []),
        "",
        *text_table(header, rows, left=(1,)),
        "",
        f"images (N): {d['num_samples']:,}   classes (C): {d['num_classes']:,}   empty classes: {d['empty_classes']}",
        f"imbalance ratio (max/min): {d['imbalance_ratio']:.2f}   normalised entropy: "
        f"{d['normalized_entropy']:.4f}   Gini: {d['gini']:.4f}",
    ]
    out += [f"warning: {w}" for w in report["warnings"]]
    return "\n".join(out)


__all__ = ["format_inspect_report", "inspect_report"]
