"""``power:Q``: w_c = n_c^(q-1), shares grow as n_c^q (q = 0 is inverse, q = 1 is none)."""

from __future__ import annotations

import numpy as np

from .base import ClassCounts, Parameter, Scheme, SchemeKind, finite


def _weights(c: ClassCounts, scheme: Scheme) -> np.ndarray:
    assert scheme.param is not None
    present = c.present
    q1, log_n = scheme.param - 1.0, np.log(c.safe)
    with np.errstate(over="ignore"):
        log_w = q1 * log_n
    if np.isfinite(log_w[present]).all():
        # n**(q-1) over- or underflows for large |q|: the same law, scaled so the largest weight is 1.
        shift = log_w[present].max() if abs(log_w[present]).max() > 700 else 0.0
        return np.exp(log_w - shift)
    # |q| near the float64 limit: relative to the class of largest weight, in one product
    ref = log_n[present].max() if q1 > 0 else log_n[present].min()
    with np.errstate(over="ignore", under="ignore"):
        return np.exp(q1 * (log_n - ref))


SCHEME = SchemeKind(
    key="power",
    label="Power  (n_c^(q−1))",
    tooltip="Shares grow as n_c^q: q = 0 is inverse, q = 1 is none",
    weights=_weights,
    parameter=Parameter(
        symbol="q",
        syntax="Q",
        noun="a number",
        example="0.5",
        default=0.5,
        low=0.0,
        high=1.0,
        decimals=2,
        step=0.05,
        tooltip="q: 0 balances fully (inverse), 1 keeps the dataset's shares (none)",
        check=finite("power", "Q"),
        slider=True,
    ),
)
