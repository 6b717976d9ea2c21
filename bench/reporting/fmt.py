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


def sci(v: float) -> str:
    """'1.2e-05', '0.34'; 'n/a' for inf or NaN."""
    return "n/a" if not math.isfinite(v) else f"{v:.2g}"


def ratio(v: float) -> str:
    """'1.23x'; '-' for inf or NaN."""
    return "-" if not math.isfinite(v) else f"{v:.3g}x"


def _bound(v: float, show) -> str:
    return "inf" if v == math.inf else show(v)


def with_ci(median: float, low: float, high: float, show) -> str:
    """'445 [430, 460]'; 'never' for a missed median; a missed bound is 'inf'."""
    if isinstance(median, float) and math.isnan(median):
        return "-"
    if median == math.inf and low == math.inf:
        return show(median)
    return f"{show(median)} [{_bound(low, show)}, {_bound(high, show)}]"
