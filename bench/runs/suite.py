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
    [[problems]]
    name = "rosenbrock"
    args = { dim = 2 }
    optimizers = ["gd", "adam"]    # optional: only these of the suite's optimizers on this problem
    # batch_size = [16, "full"]    # minibatch sizes (stochastic problems), one cell each
    # grad_noise = { scale = 0.1, relative = false }  # noisy gradients (problems.with_grad_noise)

`batch_size` may also be given at the top level (for every problem without
its own). Every key is checked before anything runs; a bad one raises `ConfigError`
naming the file and the key, with a close match when there is one.
"""

from __future__ import annotations

import dataclasses
import difflib
import numbers
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np

import optimizers
import problems
from bench.core import cells, memory, search as searching
from bench.errors import ConfigError

SUITES_PACKAGE = "bench.suites"
#: Upper limits: past them a number is a typo, and honouring it would exhaust
#: memory before anything ran (a count of seeds or grid points is a list made
#: at once; steps index int32 arrays in the engine; each stored step is a row).
MAX_STEPS = 10**9
MAX_COUNT = 10_000  # seeds as a count, grid range points
MAX_SEED = 2**32 - 1
MAX_REPEATS = cells.MAX_ROUNDS
MAX_RECORDED = 10**6  # steps / record_every
TOP_KEYS = {
    "name": "a string",
    "description": "a string",
    "steps": f"an integer in [1, {MAX_STEPS}]",
    "seeds": f"a list of integers in [0, {MAX_SEED}], or a count in [1, {MAX_COUNT}]",
    "dtype": "'float32' or 'float64'",
    "optimizers": "'all' or a list of optimizer names or 'module:attribute' / 'file.py:attribute' references",
    "impls": "a list of 'gdbench' and/or 'optax'",
    "repeats": f"an integer in [1, {MAX_REPEATS}]",
    "targets": "a list of numbers in (0, 1)",
    "target": "one of the targets",
    "record_every": "an integer >= 1",
    "record_path": "true, false or 'all'",
    "device": "'cpu' or 'gpu'",
    "max_memory": "a size such as '2GB' or '512MiB', or an integer of bytes",
    "batch_size": "an integer >= 1, 'full', or a list of them",
    "grid": "a table {hyperparameter = [values] or {num, low, high, scale}}",
    "search": "a table {trials, seed, hyperparameter = {low, high, scale}}",
    "problems": "an array of tables [[problems]] with name and args",
}
PROBLEM_KEYS = {"name", "args", "optimizers", "batch_size", "grad_noise"}
GRAD_NOISE_KEYS = {"scale", "relative"}
RANGE_KEYS = {"num", "low", "high", "scale"}
SEARCH_KEYS = {"trials", "seed"}


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
    """A validated suite. `grid` values are lists or {num, low, high, scale} ranges."""

    name: str
    source: str
    problems: tuple[ProblemEntry, ...]
    optimizers: tuple[str, ...]
    grid: dict[str, Any]
    steps: int = 2000
    seeds: tuple[int, ...] = (0, 1, 2)
    dtype: str = "float32"
    impls: tuple[str, ...] = cells.IMPLS
    repeats: int = 5
    targets: tuple[float, ...] = cells.TARGETS
    target: float = cells.PRIMARY_TARGET
    record_every: int | None = None
    record_path: bool | str | None = None  # None: problems of dim <= 3; "all": every trajectory's path kept
    device: str | None = None
    max_memory: int | None = None  # bytes a cell's program may use (None: half the free memory; bench.core.memory)
    description: str = ""
    batch_size: tuple = (None,)  # None: full batch
    search: dict[str, Any] | None = None  # the [search] table: trials, seed, {hyperparameter: range}

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

    def sweep_spec(self, problem: problems.Problem, optimizer: str, impl: str,
                   batch_size: int | None = None) -> cells.SweepSpec:
        """The sweep of one cell: `problem` (built) x `optimizer` run by `impl`, with the suite's settings.

        Its grid is the list of the optimizer's configurations (`configs_for`).
        """
        return cells.SweepSpec(
            problem, optimizer, grid=self.configs_for(optimizers.resolve(optimizer)), seeds=self.seeds,
            steps=self.steps, impl=impl, dtype=self.dtype, targets=self.targets, target=self.target,
            record_every=self.record_every, device=self.device, batch_size=batch_size,
            record_path=True if self.record_path == "all" else self.record_path, max_memory=self.max_memory,
        )

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
        d["batch_size"] = sizes(self.batch_size)
        if d["search"] is None:
            del d["search"]
        if self.max_memory is None:  # the default: no key (as in the suite files)
            del d["max_memory"]
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


def _batch_size(source: str, key: str, value) -> tuple:
    """A batch_size value as a tuple of sizes (None: 'full')."""
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values or any(v != "full" and v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1)
                         for v in values):
        raise ConfigError(_where(source, key), f"must be {TOP_KEYS['batch_size']}, got {value!r}")
    return tuple(None if v == "full" else v for v in values)


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
    return dict(value)


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
        batch = _batch_size(source, f"{key}.batch_size", entry["batch_size"]) if "batch_size" in entry else None
        noise = _grad_noise(source, f"{key}.grad_noise", entry["grad_noise"]) if entry.get("grad_noise") else None
        out.append(ProblemEntry(name, dict(args), names, batch, noise))
    return tuple(out)


def parse(data: Mapping[str, Any], source: str) -> Suite:
    """Validates a suite's table; errors name `source` and the key."""
    for key in data:
        if key not in TOP_KEYS:
            raise _unknown(source, key, TOP_KEYS)
    kw: dict[str, Any] = {}
    name = data.get("name", Path(source).stem)
    if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(_where(source, "name"), f"must be a name of letters, digits, - and _, got {name!r}")
    if "description" in data:
        if not isinstance(data["description"], str):
            raise ConfigError(_where(source, "description"), "must be a string")
        kw["description"] = data["description"]
    if "steps" in data:
        kw["steps"] = _int(source, "steps", data["steps"], 1, MAX_STEPS)
    if "repeats" in data:
        kw["repeats"] = _int(source, "repeats", data["repeats"], 1, MAX_REPEATS)
    if "seeds" in data:
        seeds = data["seeds"]
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            seeds = list(range(_int(source, "seeds", seeds, 1, MAX_COUNT)))
        if (not isinstance(seeds, list) or not seeds
                or any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED for s in seeds)):
            raise ConfigError(_where(source, "seeds"), f"must be {TOP_KEYS['seeds']}, got {data['seeds']!r}")
        kw["seeds"] = tuple(seeds)
    if "dtype" in data:
        if data["dtype"] not in cells.DTYPES:
            raise ConfigError(_where(source, "dtype"), f"must be {TOP_KEYS['dtype']}, got {data['dtype']!r}")
        kw["dtype"] = data["dtype"]
    if "impls" in data:
        impls = data["impls"]
        if not isinstance(impls, list) or not impls or any(i not in cells.IMPLS for i in impls):
            raise ConfigError(_where(source, "impls"), f"must be {TOP_KEYS['impls']}, got {impls!r}")
        kw["impls"] = tuple(dict.fromkeys(impls))
    if "targets" in data:
        t = data["targets"]
        if (not isinstance(t, list) or not t
                or any(isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 < v < 1 for v in t)):
            raise ConfigError(_where(source, "targets"), f"must be {TOP_KEYS['targets']}, got {t!r}")
        kw["targets"] = tuple(sorted((float(v) for v in t), reverse=True))
    targets = kw.get("targets", cells.TARGETS)
    if "target" in data:
        if data["target"] not in targets:
            raise ConfigError(_where(source, "target"), f"must be one of the targets {list(targets)}, got {data['target']!r}")
        kw["target"] = float(data["target"])
    elif cells.PRIMARY_TARGET not in targets:
        raise ConfigError(_where(source, "target"), f"the default target {cells.PRIMARY_TARGET} is not among the targets; set target")
    if "record_every" in data:
        kw["record_every"] = _int(source, "record_every", data["record_every"], 1)
        if kw.get("steps", Suite.steps) // kw["record_every"] > MAX_RECORDED:
            raise ConfigError(_where(source, "record_every"),
                              f"stores more than {MAX_RECORDED} steps per trajectory; must be >= steps / {MAX_RECORDED}")
    if "record_path" in data:
        if not isinstance(data["record_path"], bool) and data["record_path"] != "all":
            raise ConfigError(_where(source, "record_path"),
                              f"must be {TOP_KEYS['record_path']}, got {data['record_path']!r}")
        kw["record_path"] = data["record_path"]
    if "device" in data:
        if data["device"] not in ("cpu", "gpu"):
            raise ConfigError(_where(source, "device"), f"must be {TOP_KEYS['device']}, got {data['device']!r}")
        kw["device"] = data["device"]
    if "batch_size" in data:
        kw["batch_size"] = _batch_size(source, "batch_size", data["batch_size"])
    if "max_memory" in data:
        kw["max_memory"] = memory.parse_size(data["max_memory"], _where(source, "max_memory"))
    opts = _name_list(source, "optimizers", data.get("optimizers", "all"), optimizers.names(), "optimizer")
    grid = _grid(source, data.get("grid", {}))
    if "search" in data:
        kw["search"] = _search(source, data["search"])
    suite = Suite(name=name, source=source, problems=_problems(source, data.get("problems")),
                  optimizers=opts, grid=grid, **kw)
    check(suite)
    return suite


def check(suite: Suite) -> None:
    """Checks what needs the registries: problem arguments, grid names and values."""
    for i, entry in enumerate(suite.problems):
        try:
            p = entry.build()
        except ValueError as e:
            where = "grad_noise" if entry.grad_noise and "grad_noise" in str(e) else "args"
            raise ConfigError(_where(suite.source, f"problems[{i}].{where}"), str(e)) from None
        for b in suite.batch_sizes_for(entry):
            try:
                cells.check_batch_size(p, b)
            except ConfigError as e:
                key = "batch_size" if entry.batch_size is None else f"problems[{i}].batch_size"
                raise ConfigError(_where(suite.source, key), f"{cells.problem_label(p)}: {e.message}") from None
    for name in suite.optimizers:
        spec = optimizers.resolve(name)
        for hp in suite.grid:
            if hp not in spec.defaults:
                close = difflib.get_close_matches(hp, list(spec.defaults), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(_where(suite.source, f"grid.{hp}"),
                                  f"not a hyperparameter of {name}{hint} (allowed: {', '.join(spec.defaults)})")
        for hp, values in suite.grid_for(spec).items():
            for v in values:
                try:
                    spec.make(**{hp: v})
                except ValueError as e:
                    raise ConfigError(_where(suite.source, f"grid.{hp}"), str(e)) from None
        if suite.search is not None:
            grid = suite.grid_for(spec)
            for config in suite.configs_for(spec):
                trial = {k: v for k, v in config.items() if k not in grid}
                try:
                    spec.make(**trial)
                except ValueError as e:
                    raise ConfigError(_where(suite.source, "search"), f"{spec.name}: {e}") from None
    if not suite.optimizers:
        raise ConfigError(_where(suite.source, "optimizers"), "must name at least one optimizer")
    if suite.device is not None:
        try:
            cells.devices_for(suite.device)
        except ConfigError as e:
            raise ConfigError(_where(suite.source, "device"), e.message) from None


def load(path: str | Path) -> Suite:
    """Reads and validates a suite file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(str(path), f"cannot read the suite file ({e.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(str(path), f"not valid TOML: {e}") from None
    return parse(data, str(path))


def builtin_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files(SUITES_PACKAGE).iterdir() if p.name.endswith(".toml"))


def builtin(name: str) -> Suite:
    """A suite shipped in bench/suites/ (quick, standard, full)."""
    names = builtin_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError("--suite", f"unknown suite {name!r}{hint} (known: {', '.join(names)})")
    resource = resources.files(SUITES_PACKAGE) / f"{name}.toml"
    data = tomllib.loads(resource.read_text())
    return parse(data, f"bench/suites/{name}.toml")


CUSTOM_SUFFIX = "-custom"


def override(suite: Suite, **changes: Any) -> Suite:
    """The suite with command-line overrides applied (None: keep), re-validated.

    `problems` is a list of names or of (name, args) pairs: the suite's entries
    of those names (or the given args), defaults for names it lacks. A bad
    value is blamed on its flag (`--steps: ...`), not on the suite file. A suite
    changed by any override is named `<name>-custom`, so that its results folder
    does not pass for the built-in suite's (meta.json records the command).
    """
    data = suite.to_dict()
    data.pop("source")
    changed = {k: v for k, v in changes.items() if v is not None}
    data.update(changed)
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
    data = {k: v for k, v in data.items() if v is not None and not (k == "description" and v == "")}
    try:
        return parse(data, suite.source)
    except ConfigError as e:
        prefix = f"{suite.source}: "
        key = e.where[len(prefix):] if e.where.startswith(prefix) else ""
        root = key.replace("[", ".").split(".")[0]
        if root in changed:
            flag = "trials" if root == "search" else root  # --trials sets the search's trials
            raise ConfigError("--" + flag.replace("_", "-"), e.message) from None
        raise
