"""Suites: a TOML file naming problems, optimizers, grids, seeds and steps.

    name = "quick"
    steps = 2000
    seeds = [0, 1, 2]              # or a count: seeds = 3
    dtype = "float32"
    optimizers = "all"             # or a list of names
    impls = ["gdbench", "optax"]
    [grid]
    learning_rate = { num = 8 }    # log-spaced over each optimizer's search space
    # learning_rate = [1e-3, 1e-2] # or explicit values
    # [search]                   # or besides the grid: quasi-random trials (bench/core/search.py)
    # trials = 16                # over each optimizer's search space, less the grid's
    # seed = 0
    # learning_rate = { low = 1e-4, high = 1e-1 }  # optional: only these, with ranges of their own
    # [tuning]                   # held-out seeds: choose on these, report on `seeds` (docs/METRICS.md)
    # select_seeds = [100, 101]  # or a count n: the n smallest integers >= 0 not in seeds
    [[problems]]
    name = "rosenbrock"
    args = { dim = 2 }
    optimizers = ["gd", "adam"]    # optional: only these of the suite's optimizers on this problem
    # batch_size = [16, "full"]    # minibatch sizes (stochastic problems), one cell each
    # grad_noise = { scale = 0.1, relative = false }  # noisy gradients (problems.with_grad_noise)

With [tuning], the grid (or the trials) runs on `select_seeds`, each cell's
chosen configuration runs again on `seeds`, and the tuned results are those
of this second run (`Suite.sweep_spec`'s phases; bench/runs/runner.py).

The top-level keys besides name, description, optimizers, impls, grid,
search, tuning and problems are the sweep options a suite shares between its cells:
the fields of `bench.core.sweepspec.SweepSpec` marked `suite`, with their
checks, and their defaults unless the field declares a suite default (steps
2000, seeds 0, 1, 2). `batch_size` may also be given per problem. Every key is
checked before anything runs; a bad one raises `ConfigError` naming the file
and the key, with a close match when there is one.
"""

from __future__ import annotations

import dataclasses
import difflib
import numbers
import os
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np

import optimizers
import problems
from bench.core import cells, lr_schedule, search as searching, sweepspec
from bench.errors import ConfigError

SUITES_PACKAGE = "bench.suites"
BUILTIN_SOURCE = "bench/suites/{}.toml"
MAX_COUNT = 10_000  # grid range points: past it a number is a typo (the points are a list made at once)
#: The keys of a suite alone; the others are its sweep options (`sweepspec.suite_options`).
SUITE_KEYS = ("name", "description", "optimizers", "impls", "grid", "search", "tuning", "problems")
PROBLEM_KEYS = {"name", "args", "optimizers", "batch_size", "grad_noise"}
GRAD_NOISE_KEYS = {"scale", "relative"}
RANGE_KEYS = {"num", "low", "high", "scale"}
SEARCH_KEYS = {"trials", "seed"}
TUNING_KEYS = {"select_seeds"}
PHASES = ("select", "report")


@dataclasses.dataclass(frozen=True)
class ProblemEntry:
    """A problem of a suite. batch_size: its own sizes (None: the suite's)."""

    name: str
    args: dict[str, Any]
    optimizers: tuple[str, ...] | None = None  # None: all of the suite's optimizers
    batch_size: tuple | None = None
    grad_noise: dict[str, Any] | None = None

    def build(self) -> problems.Problem:
        """The problem instance (ValueError for bad arguments)."""
        return build_problem(dataclasses.asdict(self))


def build_problem(entry: Mapping[str, Any]) -> problems.Problem:
    """The problem of a suite entry as a dict (also as meta.json records it)."""
    p = problems.get(entry["name"], **dict(entry.get("args") or {}))
    if entry.get("grad_noise"):
        p = problems.with_grad_noise(p, **entry["grad_noise"])
    return p


@dataclasses.dataclass(frozen=True)
class Suite:
    """A validated suite. `grid` values are lists or {num, low, high, scale} ranges.

    `options` holds the sweep options its cells share (`sweepspec.suite_options`:
    steps, seeds, dtype, ...), checked; they read as attributes too
    (`suite.steps`). `batch_size` is there a tuple of sizes (None: full batch),
    `record_path` may be "all" (every trajectory's path kept).
    """

    name: str
    source: str
    problems: tuple[ProblemEntry, ...]
    optimizers: tuple[str, ...]
    grid: dict[str, Any]
    options: dict[str, Any] = dataclasses.field(default_factory=sweepspec.suite_defaults)
    impls: tuple[str, ...] = cells.IMPLS
    description: str = ""
    search: dict[str, Any] | None = None  # the [search] table: trials, seed, {hyperparameter: range}
    tuning: dict[str, Any] | None = None  # the [tuning] table: {"select_seeds": [seeds]} (a count resolved)

    def __getattr__(self, name: str):
        if name != "options" and name in sweepspec.suite_options():
            return self.options[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def grid_for(self, spec: optimizers.OptimizerSpec) -> dict[str, list[Any]]:
        """The grid's values for one optimizer (ranges resolved on its search space)."""
        out = {}
        for name, value in self.grid.items():
            if isinstance(value, list):
                out[name] = value
                continue
            low, high, scale = spec.search_space.get(name, (None, None, "log"))
            low = value.get("low", low)
            high = value.get("high", high)
            scale = value.get("scale", scale)
            if low is None or high is None:
                raise ConfigError(f"{self.source}: grid.{name}",
                                  f"{spec.name} has no search space for {name}; give low and high")
            space = np.geomspace if scale == "log" else np.linspace
            out[name] = [float(v) for v in space(low, high, value["num"])]
        return out

    @property
    def select_seeds(self) -> tuple[int, ...] | None:
        """The seeds the configurations are chosen on ([tuning]); None: the suite's `seeds` (no held-out seeds)."""
        return None if self.tuning is None else tuple(self.tuning["select_seeds"])

    def sweep_spec(self, problem: problems.Problem, optimizer: str, impl: str,
                   batch_size: int | None = None, phase: str = "select",
                   configs: list[dict[str, Any]] | None = None) -> sweepspec.SweepSpec:
        """The sweep of one cell: `problem` (built) x `optimizer` run by `impl`, with the suite's settings.

        Phase "select": the list of the optimizer's configurations (`configs_for`)
        on the selection seeds (`select_seeds`, or `seeds` without [tuning]).
        Phase "report": the chosen `configs` on the suite's `seeds`.
        """
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
        options = {**self.options, "batch_size": batch_size}
        if phase == "report":
            if self.tuning is None or not configs:
                raise ValueError("a report phase needs [tuning] and the chosen configurations")
            return sweepspec.SweepSpec(problem, optimizer, **options, impl=impl, grid=list(configs))
        if self.tuning is not None:
            options["seeds"] = self.select_seeds
        return sweepspec.SweepSpec(problem, optimizer, **options, impl=impl,
                                   grid=self.configs_for(self.spec_for(optimizer)))

    def spec_for(self, optimizer: str) -> optimizers.OptimizerSpec:
        """An optimizer of the suite, resolved, with the suite's schedule (`lr_schedule.scheduled`):
        the spec whose configurations `configs_for` gives."""
        try:
            return lr_schedule.scheduled(optimizers.resolve(optimizer), self.schedule, self.steps)
        except ConfigError as e:
            raise ConfigError(_where(self.source, e.where), e.message) from None

    def configs_for(self, spec: optimizers.OptimizerSpec) -> list[dict[str, Any]]:
        """The configurations one optimizer runs: the grid's product, crossed with the search's trials."""
        grid = self.grid_for(spec)
        if self.search is None:
            return cells.expand_grid(spec, grid)
        space = {k: v for k, v in self.search.items() if k not in SEARCH_KEYS}
        return searching.configs(spec, grid, space, self.search["trials"], self.search.get("seed", 0),
                                 where=f"{self.source}: search")

    def batch_sizes_for(self, entry: ProblemEntry) -> tuple:
        """The batch sizes of one problem's cells (None: full batch)."""
        return entry.batch_size if entry.batch_size is not None else self.batch_size

    def to_dict(self) -> dict[str, Any]:
        """The suite as a suite file's table (what meta.json records): `parse` of it gives the same suite."""
        def sizes(batch):
            return ["full" if b is None else b for b in batch]

        d = dataclasses.asdict(self)
        options = d.pop("options")
        d.update({k: v for k, v in options.items() if v is not None})  # None: the default, no key (as in files)
        d["batch_size"] = sizes(self.batch_size)
        for key in ("search", "tuning"):
            if d[key] is None:
                del d[key]
        d["problems"] = []
        for p in self.problems:
            entry = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(p).items()
                     if v is not None}
            if "batch_size" in entry:
                entry["batch_size"] = sizes(entry["batch_size"])
            d["problems"].append(entry)
        return d


def _where(source: str, key: str) -> str:
    return f"{source}: {key}"


def _unknown(source: str, key: str, allowed) -> ConfigError:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return ConfigError(_where(source, key), f"unknown key; {hint}(allowed: {', '.join(sorted(allowed))})")


def _int(source, key, value, minimum, maximum=None):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(_where(source, key), f"must be an integer >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ConfigError(_where(source, key), f"must be an integer in [{minimum}, {maximum}], got {value!r}")
    return value


def _name_list(source, key, value, known, kind):
    if value == "all":
        return tuple(known)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(_where(source, key), f"must be 'all' or a non-empty list of {kind} names, got {value!r}")
    for v in value:
        if kind == "optimizer" and optimizers.custom.is_reference(v):  # "module:attribute", "file.py:attribute"
            try:
                optimizers.resolve(v)
            except ValueError as e:
                raise ConfigError(_where(source, key), str(e)) from None
        elif v not in known:
            close = difflib.get_close_matches(v, list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(_where(source, key), f"unknown {kind} {v!r}{hint}")
    return tuple(value)


def _grad_noise(source: str, key: str, value) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(_where(source, key), f"must be a table {{scale, relative}}, got {value!r}")
    for k in value:
        if k not in GRAD_NOISE_KEYS:
            raise _unknown(source, f"{key}.{k}", GRAD_NOISE_KEYS)
    if "scale" not in value:
        raise ConfigError(_where(source, key), "needs scale (and optionally relative)")
    return dict(value)


def _grid(source: str, value) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(_where(source, "grid"), f"must be a table, got {value!r}")
    out = {}
    for name, spec in value.items():
        key = f"grid.{name}"
        if isinstance(spec, list):
            if not spec:
                raise ConfigError(_where(source, key), "must list at least one value")
            for v in spec:
                if not isinstance(v, (int, float, bool, str)):
                    raise ConfigError(_where(source, key), f"values must be numbers, booleans or strings, got {v!r}")
            out[name] = spec
        elif isinstance(spec, dict):
            for k in spec:
                if k not in RANGE_KEYS:
                    raise _unknown(source, f"{key}.{k}", RANGE_KEYS)
            if "num" not in spec:
                raise ConfigError(_where(source, key), "a range needs num (and optionally low, high, scale)")
            _int(source, f"{key}.num", spec["num"], 1, MAX_COUNT)
            for k in ("low", "high"):
                if k in spec and (isinstance(spec[k], bool) or not isinstance(spec[k], numbers.Real) or spec[k] <= 0):
                    raise ConfigError(_where(source, f"{key}.{k}"), f"must be a number > 0, got {spec[k]!r}")
            if spec.get("scale", "log") not in ("log", "linear"):
                raise ConfigError(_where(source, f"{key}.scale"), f"must be 'log' or 'linear', got {spec['scale']!r}")
            out[name] = dict(spec)
        else:
            raise ConfigError(_where(source, key), f"must be a list of values or a range table, got {spec!r}")
    return out


def _search(source: str, value) -> dict[str, Any]:
    """The [search] table, checked as far as it can be without an optimizer."""
    if not isinstance(value, dict):
        raise ConfigError(_where(source, "search"), f"must be a table, got {value!r}")
    if "trials" not in value:
        raise ConfigError(_where(source, "search.trials"), "missing: the number of quasi-random trials")
    searching.check_trials(value["trials"], _where(source, "search.trials"))
    if "seed" in value:
        searching.check_seed(value["seed"], _where(source, "search.seed"))
    for name, spec in value.items():
        if name in SEARCH_KEYS:
            continue
        if not isinstance(spec, dict):
            raise ConfigError(_where(source, f"search.{name}"), f"must be a table {{low, high, scale}}, got {spec!r}")
        for k in spec:
            if k not in searching.SPACE_KEYS:
                raise _unknown(source, f"search.{name}.{k}", searching.SPACE_KEYS)
    # The seed the trials are drawn from, written out even when it is the default:
    # meta.json's suite then says which trials ran.
    return {"seed": sweepspec.SweepSpec.__dataclass_fields__["search_seed"].default, **value}


def _tuning(source: str, value, seeds: tuple[int, ...]) -> dict[str, Any]:
    """The [tuning] table: `select_seeds` a list of seeds, or a count n (the n smallest
    integers >= 0 not in `seeds`), disjoint from `seeds`; resolved to the list."""
    where = _where(source, "tuning.select_seeds")
    if not isinstance(value, dict):
        raise ConfigError(_where(source, "tuning"), f"must be a table {{select_seeds}}, got {value!r}")
    for k in value:
        if k not in TUNING_KEYS:
            raise _unknown(source, f"tuning.{k}", TUNING_KEYS)
    if "select_seeds" not in value:
        raise ConfigError(where, "missing: the seeds the configurations are chosen on (a list, or a count)")
    given = value["select_seeds"]
    if isinstance(given, numbers.Integral) and not isinstance(given, bool):
        sweepspec.check_seeds(given, where)  # a count: >= 1 and not absurd
        taken = set(seeds)
        chosen = [s for s in range(int(given) + len(taken)) if s not in taken][: int(given)]
    else:
        chosen = list(sweepspec.check_seeds(given, where))
        if len(set(chosen)) != len(chosen):
            raise ConfigError(where, f"must not repeat a seed, got {given!r}")
    shared = sorted(set(chosen) & set(seeds))
    if shared:
        raise ConfigError(where, f"must be disjoint from seeds {list(seeds)}: both hold "
                                 f"{', '.join(map(str, shared))}")
    return {"select_seeds": chosen}


def _problems(source: str, value) -> tuple[ProblemEntry, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(_where(source, "problems"), "must be a non-empty array of tables [[problems]]")
    out = []
    for i, entry in enumerate(value):
        key = f"problems[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(_where(source, key), f"must be a table with name and args, got {entry!r}")
        for k in entry:
            if k not in PROBLEM_KEYS:
                raise _unknown(source, f"{key}.{k}", PROBLEM_KEYS)
        name = entry.get("name")
        if name not in problems.names():
            close = difflib.get_close_matches(str(name), problems.names(), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(_where(source, f"{key}.name"), f"unknown problem {name!r}{hint}")
        args = entry.get("args", {})
        if not isinstance(args, dict):
            raise ConfigError(_where(source, f"{key}.args"), f"must be a table, got {args!r}")
        names = entry.get("optimizers")
        if names is not None:
            names = _name_list(source, f"{key}.optimizers", names, optimizers.names(), "optimizer")
        batch = (sweepspec.check("batch_size", entry["batch_size"], _where(source, f"{key}.batch_size"))
                 if "batch_size" in entry else None)
        noise = _grad_noise(source, f"{key}.grad_noise", entry["grad_noise"]) if entry.get("grad_noise") else None
        out.append(ProblemEntry(name, dict(args), names, batch, noise))
    return tuple(out)


def parse(data: Mapping[str, Any], source: str, checked: bool = True) -> Suite:
    """Validates a suite's table; errors name `source` and the key."""
    shared = sweepspec.suite_options()
    for key in data:
        if key not in SUITE_KEYS and key not in shared:
            raise _unknown(source, key, [*SUITE_KEYS, *shared])
    kw: dict[str, Any] = {}
    name = data.get("name", Path(source).stem)
    if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(_where(source, "name"), f"must be a name of letters, digits, - and _, got {name!r}")
    if "description" in data:
        if not isinstance(data["description"], str):
            raise ConfigError(_where(source, "description"), "must be a string")
        kw["description"] = data["description"]
    options = sweepspec.suite_defaults()
    for key in shared:
        if key in data:
            options[key] = sweepspec.check(key, data[key], _where(source, key))
    sweepspec.check_together(options, lambda key: _where(source, key), given=data)
    if "impls" in data:
        impls = data["impls"]
        if not isinstance(impls, list) or not impls or any(i not in cells.IMPLS for i in impls):
            raise ConfigError(_where(source, "impls"), f"must be a list of 'gdbench' and/or 'optax', got {impls!r}")
        kw["impls"] = tuple(dict.fromkeys(impls))
    opts = _name_list(source, "optimizers", data.get("optimizers", "all"), optimizers.names(), "optimizer")
    grid = _grid(source, data.get("grid", {}))
    if "search" in data:
        kw["search"] = _search(source, data["search"])
    if "tuning" in data:
        kw["tuning"] = _tuning(source, data["tuning"], options["seeds"])
    suite = Suite(name=name, source=source, problems=_problems(source, data.get("problems")),
                  optimizers=opts, grid=grid, options=options, **kw)
    if checked:
        check(suite)
    return suite


def check(suite: Suite) -> None:
    """Checks what needs the registries: problem arguments, grid names and values.

    Each grid value is checked with the optimizer built at it, its other
    hyperparameters at the first configuration's values (a factory may need
    them all); a hyperparameter without a default must be on the grid (or searched).
    """
    for i, entry in enumerate(suite.problems):
        try:
            p = entry.build()
        except ValueError as e:
            where = "grad_noise" if entry.grad_noise and "grad_noise" in str(e) else "args"
            raise ConfigError(_where(suite.source, f"problems[{i}].{where}"), str(e)) from None
        sweepspec.check_f_star(p, suite.target_kind, _where(suite.source, "target_kind"))
        for b in suite.batch_sizes_for(entry):
            try:
                cells.check_batch_size(p, b)
            except ConfigError as e:
                key = "batch_size" if entry.batch_size is None else f"problems[{i}].batch_size"
                raise ConfigError(_where(suite.source, key), f"{cells.problem_label(p)}: {e.message}") from None
    for name in suite.optimizers:
        spec = suite.spec_for(name)
        cells.check_hyperparameters(spec, suite.grid, lambda hp: _where(suite.source, f"grid.{hp}"))
        grid = suite.grid_for(spec)
        configs = suite.configs_for(spec)  # the grid's product, crossed with the search's trials
        base = configs[0]  # a whole configuration: a factory may need all of its hyperparameters at once
        missing = [k for k, v in spec.defaults.items() if v is optimizers.custom.REQUIRED and k not in base]
        if missing:
            raise ConfigError(_where(suite.source, "grid"),
                              f"{spec.name}: {', '.join(missing)} has no default; give it in the grid")
        for hp, values in grid.items():
            for v in values:
                try:
                    spec.make(**{**base, hp: v})
                except ValueError as e:
                    raise ConfigError(_where(suite.source, f"grid.{hp}"), str(e)) from None
        if suite.search is not None:
            for config in configs:
                try:
                    spec.make(**config)
                except ValueError as e:
                    raise ConfigError(_where(suite.source, "search"), f"{spec.name}: {e}") from None
    if not suite.optimizers:
        raise ConfigError(_where(suite.source, "optimizers"), "must name at least one optimizer")
    if suite.device is not None:
        try:
            cells.devices_for(suite.device)
        except ConfigError as e:
            raise ConfigError(_where(suite.source, "device"), e.message) from None


def load(path: str | Path, checked: bool = True) -> Suite:
    """Reads and validates a suite file (`checked` False: its form only, for `override` to check
    once the command line has completed it, e.g. with a grid for a hyperparameter without default).

    A 'file.py:attribute' optimizer with a relative path is the file beside
    the suite's (its path is rewritten relative to the working folder).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(str(path), f"cannot read the suite file ({e.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(str(path), f"not valid TOML: {e}") from None
    if "optimizers" in data:
        data["optimizers"] = _beside(data["optimizers"], path.parent)
    entries = data.get("problems")
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and "optimizers" in entry:
            entry["optimizers"] = _beside(entry["optimizers"], path.parent)
    return parse(data, str(path), checked)


def _beside(names, folder: Path):
    """Optimizer names with each relative 'file.py:attribute' path taken from `folder`."""
    def moved(name):
        if not optimizers.custom.is_reference(name):
            return name
        where, _, attribute = name.rpartition(":")
        if not where.endswith(".py") or Path(where).is_absolute():
            return name
        return f"{Path(os.path.relpath(folder / where)).as_posix()}:{attribute}"

    if isinstance(names, str):
        return moved(names)
    return [moved(n) for n in names] if isinstance(names, list) else names


def builtin_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files(SUITES_PACKAGE).iterdir() if p.name.endswith(".toml"))


def builtin(name: str) -> Suite:
    """A suite shipped in bench/suites/ (`builtin_names`)."""
    names = builtin_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError("--suite", f"unknown suite {name!r}{hint} (known: {', '.join(names)})")
    resource = resources.files(SUITES_PACKAGE) / f"{name}.toml"
    data = tomllib.loads(resource.read_text())
    return parse(data, BUILTIN_SOURCE.format(name))


CUSTOM_SUFFIX = "-custom"


def flag(key: str) -> str:
    """The `gdbench run` flag that sets a suite key (--impl sets impls, --trials the search)."""
    return "--" + {"impls": "impl", "search": "trials", "tuning": "select_seeds"}.get(key, key).replace("_", "-")


def override(suite: Suite, **changes: Any) -> Suite:
    """The suite with command-line overrides applied (None: keep), re-validated.

    `problems` is a list of names or of (name, args) pairs: the suite's entries
    of those names (or the given args), defaults for names it lacks. `grid`
    replaces the suite's values of the hyperparameters it names; with `search`
    (trials in place of the grid) it is the whole grid. With `optimizers`, the
    suite's own grid keeps the hyperparameters that all of them have (a user's
    optimizer need not share the suite's names). A bad value is blamed on its
    flag (`--steps: ...`), not on the suite file, and so is a suite key that
    the flags made bad. A suite changed by any override is named
    `<name>-custom` and says so in its description, so that its results
    folder does not pass for the built-in suite's (meta.json records the
    command).
    """
    data = suite.to_dict()
    data.pop("source")
    changed = {k: v for k, v in changes.items() if v is not None}
    data.update({k: v for k, v in changed.items() if k != "grid"})
    if changed.keys() & {"grid", "search", "optimizers"}:
        inherited = {} if "search" in changed else dict(suite.grid)
        if "optimizers" in changed:
            reserved = lr_schedule.reserved(data.get("schedule"))  # the schedule's parameters: every optimizer's
            inherited = {k: v for k, v in inherited.items() if k in reserved or _all_have(changed["optimizers"], k)}
        data["grid"] = {**inherited, **dict(changed.get("grid") or {})}
    if "problems" in changed:
        current = suite.to_dict()["problems"]
        entries = []
        for item in changed["problems"]:
            name, args = item if isinstance(item, tuple) else (item, None)
            if args is not None:
                entries.append({"name": name, "args": dict(args)})
            else:
                entries += [p for p in current if p["name"] == name] or [{"name": name, "args": {}}]
        data["problems"] = entries
    for key in ("seeds", "targets", "impls", "optimizers", "batch_size"):
        if isinstance(data.get(key), tuple):
            data[key] = list(data[key])
    for entry in data.get("problems") or []:  # None stands for the default (or 'full') in TOML terms
        for k in [k for k, v in entry.items() if v is None]:
            del entry[k]
        if changes.get("batch_size") is not None:  # an override applies to every problem
            entry.pop("batch_size", None)
        if "batch_size" in entry:
            entry["batch_size"] = ["full" if b is None else b for b in entry["batch_size"]]
    if "batch_size" in data:
        data["batch_size"] = ["full" if b is None else b for b in data["batch_size"]]
    if changed and not suite.name.endswith(CUSTOM_SUFFIX):
        data["name"] = suite.name + CUSTOM_SUFFIX
        data["description"] = f"the {suite.name} suite with {', '.join(flag(k) for k in changed)} changed"
    data = {k: v for k, v in data.items() if v is not None and not (k == "description" and v == "")}
    try:
        return parse(data, suite.source)
    except ConfigError as e:
        prefix = f"{suite.source}: "
        key = e.where[len(prefix):] if e.where.startswith(prefix) else ""
        root = key.replace("[", ".").split(".")[0]
        if root in changed:
            raise ConfigError(flag(root), e.message) from None
        cause = MADE_BAD_BY.get(root)  # a key of the suite that a flag made bad
        if cause in changed:
            raise ConfigError(flag(cause), f"{e.message} (the suite's {key})") from None
        raise


#: A suite key that an override of another key can make bad: a grid for other optimizers, the target for
#: other targets, record_every for more steps, a batch size for other problems, absolute targets for a
#: problem without f*, absolute levels for relative targets, select_seeds for other seeds.
MADE_BAD_BY = {"grid": "optimizers", "search": "optimizers", "impls": "optimizers", "target": "targets",
               "record_every": "steps", "batch_size": "problems", "target_kind": "problems",
               "targets": "target_kind", "tuning": "seeds"}


def _all_have(names, hyperparameter: str) -> bool:
    """Whether every optimizer named has the hyperparameter (a name that does not resolve: left to `parse`)."""
    names = optimizers.names() if names == "all" else [names] if isinstance(names, str) else names
    for name in names:
        try:
            if hyperparameter not in optimizers.resolve(name).defaults:
                return False
        except (ValueError, TypeError):
            continue
    return True
