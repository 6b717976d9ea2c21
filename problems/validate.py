"""Checks on problem parameters: one clear ValueError naming the parameter."""

from __future__ import annotations

import numbers


def check_int(problem: str, name: str, value, *, minimum: int, multiple_of: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{problem}: {name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{problem}: {name} must be an integer >= {minimum}, got {value!r}")
    if value % multiple_of:
        raise ValueError(f"{problem}: {name} must be a multiple of {multiple_of}, got {value!r}")
    return int(value)


def check_float(problem: str, name: str, value, *, minimum: float, inclusive: bool = True) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = value >= minimum if inclusive else value > minimum
    if not ok:
        op = ">=" if inclusive else ">"
        raise ValueError(f"{problem}: {name} must be a number {op} {minimum}, got {value!r}")
    return value
