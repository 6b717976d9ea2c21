"""Checks on problem parameters: one clear ValueError naming the parameter."""

from __future__ import annotations

import math
import numbers

#: The largest size a problem accepts (a dimension, a sample count, a width, or
#: their product for a dense matrix): past it a number is a typo, and building
#: the instance would exhaust memory, since its data are made at once.
MAX_SIZE = 10**8
MAX_SEED = 2**32 - 1


def check_int(problem: str, name: str, value, *, minimum: int, multiple_of: int = 1, maximum: int = MAX_SIZE) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{problem}: {name} must be an integer >= {minimum}, got {value!r}")
    if not minimum <= value <= maximum:
        raise ValueError(f"{problem}: {name} must be an integer in [{minimum}, {maximum}], got {value!r}")
    if value % multiple_of:
        raise ValueError(f"{problem}: {name} must be a multiple of {multiple_of}, got {value!r}")
    return int(value)


#: The largest label noise a data problem takes: its loss grows as noise^2 and
#: must stay finite in float32 (max ~3.4e38).
MAX_NOISE = 1e6


def check_float(problem: str, name: str, value, *, minimum: float, inclusive: bool = True,
                maximum: float = math.inf) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        try:
            value = float(value)
        except OverflowError:  # an integer too large for a float
            ok = False
        else:
            ok = math.isfinite(value) and (value >= minimum if inclusive else value > minimum)
    if not ok:
        op = ">=" if inclusive else ">"
        raise ValueError(f"{problem}: {name} must be a finite number {op} {minimum}, got {value!r}")
    if value > maximum:
        raise ValueError(f"{problem}: {name} must be at most {maximum:g}, got {value!r}")
    return value


def check_elements(problem: str, names: str, *sizes: int) -> None:
    """ValueError when a dense array of these sizes would exceed MAX_SIZE elements."""
    if math.prod(sizes) > MAX_SIZE:
        raise ValueError(f"{problem}: {names} make a dense array of {math.prod(sizes):,} elements; "
                         f"at most {MAX_SIZE:,} are allowed")
