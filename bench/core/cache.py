"""The persistent compile cache: JAX's own, in a per-user folder, so a rerun skips XLA compilation.

gdbench compiles one XLA program per cell, and compiling is about half of a
quick suite's time. JAX can store compiled programs on disk and load them
back in a later process (its persistent compilation cache); `enable` points it
at a per-user folder and lowers its threshold so that gdbench's sub-second
programs are stored too. The cache key is JAX's: the program, the jax/jaxlib
versions, XLA_FLAGS, the compile options (gdbench's vector width among them)
and the devices (on the CPU, their topology and the host's CPU features), so a
change in any of them compiles afresh.

Where it lives:

* `$XDG_CACHE_HOME/gdbench/jax/`, or `~/.cache/gdbench/jax/` when
  XDG_CACHE_HOME is unset, empty or relative (as the XDG spec says);
* `GDBENCH_CACHE_DIR=/some/dir` moves it (a relative path is taken from the
  current folder; an empty value counts as unset);
* `GDBENCH_CACHE_DIR=off` turns it off;
* where the JAX option `jax_compilation_cache_dir` is already set (by the
  user's code or JAX_COMPILATION_CACHE_DIR), that folder and JAX's settings
  are left as they are.

A folder that cannot be created or written (a path under a file, no
permission) is one warning, and the run compiles as if the cache were off.
The `gdbench run` command enables the cache; the library does not change
process-wide JAX settings unless asked (`bench.enable_compile_cache()`).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Callable, Mapping

ENV = "GDBENCH_CACHE_DIR"
OFF = "off"

_REQUESTS = "/jax/compilation_cache/compile_requests_use_cache"  # a compile that looked in the cache
_HITS = "/jax/compilation_cache/cache_hits"  # ... and found its program there


@dataclasses.dataclass(frozen=True)
class CacheState:
    """Which folder the compile cache uses (`dir`, None when off) and why."""

    dir: str | None
    why: str


def default_dir(environ: Mapping[str, str]) -> Path:
    """`$XDG_CACHE_HOME/gdbench/jax`, or `~/.cache/gdbench/jax`."""
    xdg = environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path(environ.get("HOME") or Path.home()) / ".cache"
    return base / "gdbench" / "jax"


def requested(environ: Mapping[str, str]) -> CacheState:
    """The folder the environment asks for (not yet checked): GDBENCH_CACHE_DIR, else the default."""
    value = environ.get(ENV, "").strip()
    if value.lower() == OFF:
        return CacheState(None, f"{ENV}=off")
    if value:
        return CacheState(str(Path(value).expanduser().absolute()), ENV)
    return CacheState(str(default_dir(environ)), "default")


def _usable(folder: str) -> str | None:
    """None if `folder` can be created and written, else what is wrong."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        return f"{type(e).__name__}: {e.strerror or e}"
    return None


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def enable(environ: Mapping[str, str] | None = None, warn: Callable[[str], None] = _warn) -> CacheState:
    """Turns on JAX's persistent compilation cache in gdbench's folder (see the module); returns its state.

    Sets `jax_compilation_cache_dir` and `jax_persistent_cache_min_compile_time_secs`
    (to 0: gdbench's programs mostly compile in under JAX's default 1 s). A
    folder set by the user beforehand is kept, with their settings. A folder
    that cannot be used is `warn(message)` (a RuntimeWarning by default) and
    the cache stays off. Call it before the first compilation you want cached.
    """
    import jax

    environ = os.environ if environ is None else environ
    current = jax.config.jax_compilation_cache_dir
    if current:
        return CacheState(current, "jax_compilation_cache_dir set by the user")
    state = requested(environ)
    if state.dir is None:
        return state
    problem = _usable(state.dir)
    if problem is not None:
        warn(f"compile cache off: cannot use {state.dir} ({problem}); set {ENV} to another folder or to off")
        return CacheState(None, f"unusable folder {state.dir}: {problem}")
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_compilation_cache_dir", state.dir)
    return state


def in_force() -> str | None:
    """The folder JAX's persistent compilation cache uses in this process, or None."""
    import jax

    on = jax.config.jax_enable_compilation_cache and jax.config.jax_compilation_cache_dir
    return jax.config.jax_compilation_cache_dir if on else None


class Counter:
    """Counts the persistent cache's hits and misses between `start()` and `stop()`.

    JAX reports them as monitoring events, to listeners registered process-wide:
    this one is registered by `start` and removed by `stop`. A miss is a
    compilation that looked in the cache and did not find its program.
    """

    def __init__(self):
        self._lock = threading.Lock()  # programs compile in several threads
        self.requests = 0
        self.hits = 0
        self._listening = False

    def _on_event(self, event: str, **_) -> None:
        if event in (_REQUESTS, _HITS):
            with self._lock:
                if event == _REQUESTS:
                    self.requests += 1
                else:
                    self.hits += 1

    @classmethod
    def start(cls) -> "Counter":
        import jax

        counter = cls()
        jax.monitoring.register_event_listener(counter._on_event)
        counter._listening = True
        return counter

    def stop(self) -> dict:
        """Stops counting; returns {"dir": the folder or None when off, "hits": n, "misses": n}."""
        import jax

        if self._listening:
            jax.monitoring.unregister_event_listener(self._on_event)
            self._listening = False
        folder = in_force()
        if folder is None:  # JAX still reports lookups without a folder: none of them is a cache miss
            return {"dir": None, "hits": 0, "misses": 0}
        return {"dir": folder, "hits": self.hits, "misses": self.requests - self.hits}
