"""Numbers as the tables print them (end-of-run summary, report, compare)."""

from __future__ import annotations

import math


def steps(v: float) -> str:
    """'1,234', or 'never' for a target not reached (inf, NaN)."""
    return "never" if not math.isfinite(v) else f"{v:,.0f}"


def seconds(v: float, missing: str = "never") -> str:
    """'57.4 us', '1.23 ms', '4.5 s'; `missing` for inf or NaN."""
    if not math.isfinite(v):
        return missing
    if v == 0:
        return "0 s"
    if v < 1e-3:
        return f"{v * 1e6:.3g} us"
    return f"{v * 1e3:.3g} ms" if v < 1 else f"{v:.3g} s"
