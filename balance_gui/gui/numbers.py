"""How the GUI writes numbers: thousands separators, and shares with enough digits to read."""

from __future__ import annotations

import math


def percent(share: float) -> str:
    """A share (0..1) as a percentage that never reads 0.00% for a share above 0: two decimals
    from 0.1% up, two significant digits below (0.012%, 0.0004%, 3.1e-07%)."""
    v = 100.0 * float(share)
    if v == 0 or not math.isfinite(v):
        return f"{v:.0f}%" if math.isfinite(v) else "—"
    if abs(v) >= 0.1:
        return f"{v:,.2f}%"
    return f"{v:.2g}%"
