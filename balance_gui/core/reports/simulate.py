"""The ``simulate`` report: the last step of a run (``simulate.SimulationStep``), one row per
class (images, draws, expected and observed shares and distinct images), then the fit."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..expected import fit_line, fit_test, step_figures
from ..names import escape_name
from .text import text_table

if TYPE_CHECKING:  # the simulation imports torch; its report needs only the step's arrays
    from ..simulate import SimulationStep


def _fmt_share(x: float) -> str:
    return f"{100.0 * x:.3f}%"


def simulation_record(step: SimulationStep, classes: Sequence[str], counts: np.ndarray) -> dict[str, Any]:
    """The last step as plain JSON-ready data (``balance-gui simulate --json``).

    ``classes`` holds one record per class: ``class`` (the name escaped as ``ls -b`` does),
    ``images``, ``draws``, ``expected_share``, ``observed_share``, ``expected_distinct`` and
    ``observed_distinct`` (null when images were not tracked)."""
    names = [escape_name(str(c)) for c in classes]
    K = max(len(names), len(step.class_counts))
    names += [f"class {i}" for i in range(len(names), K)]

    def pad(a: Any, dtype: type) -> np.ndarray:
        a = np.zeros(K, dtype=dtype) if a is None else np.asarray(a, dtype=dtype)
        return np.concatenate([a, np.zeros(K - a.size, dtype=dtype)]) if a.size < K else a[:K]

    n_c = pad(counts, np.int64)
    obs = pad(step.class_counts, np.int64)
    exp = pad(step.expected_shares, np.float64)
    total = int(obs.sum())
    obs_share = obs / total if total else np.zeros(K)
    exp_d = step_figures(step, n_c)
    obs_d = pad(step.distinct_seen, np.int64) if step.distinct_seen is not None else None
    fit = step.fit if step.fit is not None else fit_test(obs, exp)
    return {
        "mode": str(step.mode),
        "replacement": bool(step.replacement),
        "epoch": step.epoch + 1,
        "draws_done": int(step.draws_done),
        "total_draws": int(step.total_draws),
        "draws_per_epoch": int(step.draws_per_epoch),
        "chi_square": fit.chi_square if math.isfinite(fit.chi_square) else None,
        "degrees_of_freedom": fit.dof,
        "p_value": fit.p_value,
        "chi_square_valid": fit.valid,
        "chi_square_note": fit.note(),
        "tv_distance": fit.tv_distance,
        "draws_per_s": step.draws_per_s,
        "elapsed_s": step.elapsed_s,
        "classes": [
            {
                "class": names[i],
                "index": i,
                "images": int(n_c[i]),
                "draws": int(obs[i]),
                "expected_share": float(exp[i]),
                "observed_share": float(obs_share[i]),
                "expected_distinct": None if exp_d is None else float(exp_d[i]),
                "observed_distinct": None if obs_d is None else int(obs_d[i]),
            }
            for i in range(K)
        ],
    }


def format_simulation_report(step: SimulationStep, classes: Sequence[str], counts: np.ndarray) -> str:
    """The text ``balance-gui simulate`` prints: one aligned row per class, then the fit.

    Columns: class name, images in the class, draws, expected share, observed share,
    expected and observed distinct images in the current epoch ("-" when images were
    not tracked), all expected figures for the run's mode (``core.expected``). Then the
    chi-square line (with a note instead of the p-value when some class expects fewer
    than 5 draws), the TV distance and the draw rate."""
    rec = simulation_record(step, classes, counts)

    def trunc(s: str, w: int = 40) -> str:
        return s if len(s) <= w else s[: w - 1] + "\u2026"

    def num(x: float | None, fmt: str) -> str:
        return "-" if x is None else format(x, fmt)

    rows = [
        (
            trunc(c["class"]),
            f"{c['images']:,}",
            f"{c['draws']:,}",
            _fmt_share(c["expected_share"]),
            _fmt_share(c["observed_share"]),
            num(c["expected_distinct"], ",.1f"),
            num(c["observed_distinct"], ","),
        )
        for c in rec["classes"]
    ]
    head = ("class", "images", "draws", "expected share", "observed share", "expected distinct", "observed distinct")
    how = f"{rec['mode']}, {'with' if rec['replacement'] else 'without'} replacement"
    out = [
        f"epoch {step.epoch + 1}, {step.draws_done:,} of {step.total_draws:,} draws ({how})",
        *text_table(head, rows, left=(0,)),
        "",
        fit_line(step.fit if step.fit is not None else fit_test(step.class_counts, step.expected_shares)),
        f"total variation distance {step.tv_distance:.4g}",
        f"draw rate {step.draws_per_s:,.0f} draws/s ({step.elapsed_s:.3f} s)",
    ]
    return "\n".join(out)


__all__ = ["format_simulation_report", "simulation_record"]
