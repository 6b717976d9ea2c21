"""The one registry of problems, shared by the tests, the harness and users."""

from __future__ import annotations

import difflib
import inspect
from typing import Callable

from problems.problem import Problem

_FACTORIES: dict[str, Callable[..., Problem]] = {}


def register(name: str) -> Callable[[Callable[..., Problem]], Callable[..., Problem]]:
    """Decorator: registers a factory `f(**kwargs) -> Problem` under `name`."""

    def wrap(factory: Callable[..., Problem]) -> Callable[..., Problem]:
        if name in _FACTORIES:
            raise ValueError(f"problem {name!r} is registered twice")
        _FACTORIES[name] = factory
        return factory

    return wrap


def names() -> list[str]:
    """Sorted names of the registered problems."""
    return sorted(_FACTORIES)


def factory(name: str) -> Callable[..., Problem]:
    """The factory registered under `name`; ValueError with close matches if unknown."""
    try:
        return _FACTORIES[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), names(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown problem {name!r}{hint} (known: {', '.join(names())})") from None


def get(name: str, **kwargs) -> Problem:
    """Builds problem `name` with its keyword parameters, e.g. get("rosenbrock", dim=10)."""
    build = factory(name)
    allowed = list(inspect.signature(build).parameters)
    for key in kwargs:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"problem {name!r}: unknown parameter {key!r}{hint} (allowed: {', '.join(allowed)})"
            )
    return build(**kwargs)
