"""A sweep's options, each declared once: the fields of `SweepSpec`.

Every field carries its default, its doc and its check, and says whether a
suite file shares it between its cells (`Option`, the field's metadata).
Everything else is derived from the fields: `bench.sweep`'s signature and the
Args of its docstring, `SweepSpec.validated`, a suite file's top-level keys
and their defaults (`bench.runs.suite`), and `gdbench run`'s flags
(`bench.cli`). A new option is one field here, and the code that uses it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import numbers
import textwrap
from typing import Any, Callable, Iterable, Mapping, Sequence

import jax

import optimizers
import problems
from bench.core import lr_schedule, memory, search as searching
from bench.errors import ConfigError

TARGETS = tuple(10.0 ** -k for k in range(1, 9))
PRIMARY_TARGET = 1e-6
#: COCO's absolute ladder (`targets = "coco"`): Delta f = 10^2 down to 10^-8, five per decade (51 levels).
COCO_TARGETS = tuple(float(10.0 ** (k / 5)) for k in range(10, -41, -1))
TARGET_KINDS = ("relative", "absolute")
IMPLS = ("gdbench", "optax")
DTYPES = ("float32", "float64")
#: In minibatch mode the full loss is computed (and stored, and checked against
#: the targets) every this many steps unless record_every says otherwise.
MINIBATCH_RECORD_EVERY = 10
#: Upper limits: past them a number is a typo, and honouring it would exhaust
#: memory before anything ran (a count of seeds is a list made at once; steps
#: index int32 arrays in the engine; each stored step is a row).
MAX_STEPS = 10**9
MAX_COUNT = 10_000  # seeds as a count
MAX_SEED = 2**32 - 1
MAX_RECORDED = 10**6  # steps / record_every


# --------------------------------------------------------------------------- checks
# Each takes (value, where) and gives the value normalized, or raises
# ConfigError(where, what is allowed): `where` is the field's name in the API,
# "<suite file>: <key>" in a suite, "--<flag>" on the command line.


def integer(minimum: int, maximum: int | None = None) -> Callable[[Any, str], int]:
    def check(value, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
            raise ConfigError(where, f"must be an integer >= {minimum}, got {value!r}")
        if maximum is not None and value > maximum:
            raise ConfigError(where, f"must be an integer in [{minimum}, {maximum}], got {value!r}")
        return int(value)

    return check


def choice(*allowed: str) -> Callable[[Any, str], str]:
    words = " or ".join([", ".join(repr(a) for a in allowed[:-1]), repr(allowed[-1])] if len(allowed) > 1
                        else [repr(allowed[0])])

    def check(value, where: str) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise ConfigError(where, f"must be {words}, got {value!r}")
        return value

    return check


def optional(check: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    """`check`, with None allowed (the default)."""
    def check_or_none(value, where: str):
        return None if value is None else check(value, where)

    return check_or_none


def _listed(value) -> list | None:
    """A list of the values of a list-like input (None for a scalar, a string or a mapping)."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        return None
    return list(value)


def check_seeds(value, where: str) -> tuple[int, ...]:
    """A count n (seeds 0..n-1) or a list of seeds."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        if value < 1:
            raise ConfigError(where, f"a count of seeds must be >= 1, got {value!r}")
        if value > MAX_COUNT:
            raise ConfigError(where, f"a count of seeds must be at most {MAX_COUNT}, got {value!r}")
        return tuple(range(int(value)))
    seeds = _listed(value)
    if seeds is None:
        raise ConfigError(where, f"must be a count or a list of integers >= 0, got {value!r}")
    if not seeds or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0 for s in seeds):
        raise ConfigError(where, f"must be a non-empty list of integers >= 0, got {seeds!r}")
    if any(s > MAX_SEED for s in seeds):
        raise ConfigError(where, f"must be a non-empty list of integers in [0, {MAX_SEED}], got {seeds!r}")
    return tuple(int(s) for s in seeds)


def check_targets(value, where: str) -> tuple[float, ...]:
    """Positive levels, sorted from the loosest ('coco': COCO_TARGETS); relative ones are
    also checked to lie in (0, 1), with the target kind (`check_together`)."""
    if isinstance(value, str) and value == "coco":
        return COCO_TARGETS
    targets = _listed(value)
    if (not targets or any(isinstance(t, bool) or not isinstance(t, numbers.Real) or not 0 < t < float("inf")
                           for t in targets)):
        raise ConfigError(where, f"must be a list of positive numbers or 'coco', got {value!r}")
    return tuple(sorted((float(t) for t in targets), reverse=True))


def check_target(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < float("inf"):
        raise ConfigError(where, f"must be one of the targets, a positive number, got {value!r}")
    return float(value)


def check_record_path(value, where: str) -> bool | str | None:
    if value is not None and not isinstance(value, bool) and value != "all":
        raise ConfigError(where, f"must be true, false or 'all', got {value!r}")
    return value


def check_batch_sizes(value, where: str) -> tuple[int | None, ...]:
    """One batch size or a list of them, as a tuple (None, or 'full': the full batch)."""
    sizes = list(value) if isinstance(value, (list, tuple)) else [value]
    if not sizes or any(not (b is None or (isinstance(b, str) and b == "full")) and (
            isinstance(b, bool) or not isinstance(b, numbers.Integral) or b < 1) for b in sizes):
        raise ConfigError(where, f"must be an integer >= 1, 'full', or a list of them, got {value!r}")
    return tuple(None if b is None or isinstance(b, str) else int(b) for b in sizes)


#: The most timed rounds a cell gets (`cells.CellRun.time`), and so the most `repeats` may ask.
MAX_ROUNDS = 1000


def check_repeats(value, where: str) -> int:
    return integer(1, MAX_ROUNDS)(value, where)


def check_table(value, where: str) -> dict:
    if not isinstance(value, Mapping):
        raise ConfigError(where, f"must be a table {{name: value}}, got {value!r}")
    return dict(value)


def check_max_memory(value, where: str) -> int:
    return memory.parse_size(value, where)


# --------------------------------------------------------------------------- command-line text


def int_text(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"must be an integer, got {text!r}") from None


def float_text(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"must be a number, got {text!r}") from None


def floats_text(text: str) -> list[float]:
    return [float_text(t.strip()) for t in text.split(",") if t.strip()]


def targets_text(text: str) -> list[float] | str:
    """'coco' (COCO's ladder) or comma-separated numbers."""
    return "coco" if text.strip() == "coco" else floats_text(text)


def seeds_text(text: str) -> list[int] | int:
    try:
        parts = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"must be a count or a comma-separated list of integers, got {text!r}") from None
    return parts[0] if len(parts) == 1 and "," not in text else parts


def batch_sizes_text(text: str) -> list:
    """'16,64,full' -> [16, 64, 'full']."""
    parts = [t.strip() for t in text.split(",") if t.strip()]
    try:
        return [t if t == "full" else int(t) for t in parts]
    except ValueError:
        raise ValueError(f"must be comma-separated integers or 'full', got {text!r}") from None


def record_path_text(text: str) -> bool | str:
    words = {"true": True, "false": False, "all": "all"}
    if text.lower() not in words:
        raise ValueError(f"must be true, false or all, got {text!r}")
    return words[text.lower()]


# --------------------------------------------------------------------------- the fields


SAME = object()  # an Option.suite_default: the same as the field's default


@dataclasses.dataclass(frozen=True)
class Option:
    """What a field of `SweepSpec` is, besides its name, type and default."""

    doc: str  # its entry in `bench.sweep`'s Args
    check: Callable[[Any, str], Any] | None = None  # (value, where) -> normalized value (None: checked elsewhere)
    suite: bool = False  # a top-level key of a suite file, shared by its cells, and a `gdbench run` flag
    suite_default: Any = SAME  # a suite's default where it differs from `bench.sweep`'s
    from_text: Callable[[str], Any] | None = None  # the flag's text as a value (ValueError: why not); None: as it is
    metavar: str | None = None
    flag_help: str | None = None  # the flag's help where the doc's first sentence does not fit


def option(default: Any = dataclasses.MISSING, **meta) -> Any:
    return dataclasses.field(default=default, metadata={"option": Option(**meta)})


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """One sweep: a problem x an optimizer, a grid x seeds, and how to run and record it.

    The fields are `bench.sweep`'s arguments, with their defaults (each
    documented there, from its `Option`). `prepare` compiles one
    (`batch_size` one size), `run_sweep` runs one (`batch_size` may list
    several: one cell each), and a suite makes one per cell
    (`Suite.sweep_spec`). `validated` checks them.
    """

    problem: Any = option(doc="a registered problem name (with `problem_args`) or a `problems.Problem`.")
    optimizer: Any = option(doc="a registered optimizer name, an `optimizers.OptimizerSpec`, a plain optax "
                                "factory, or a 'module:attribute' / 'file.py:attribute' reference to one.")
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] | None = option(
        None, doc="{hyperparameter: [values]}; the cartesian product is swept, the other hyperparameters keep "
                  "their defaults. A list of configurations ({hyperparameter: value}) is taken as it is.")
    seeds: int | Sequence[int] = option(
        (0,), check=check_seeds, suite=True, suite_default=(0, 1, 2), from_text=seeds_text, metavar="N|S1,S2,...",
        doc="a count n (seeds 0..n-1) or a list of seeds; seed s starts at `p.init(jax.random.PRNGKey(s))`.")
    steps: int = option(1000, check=integer(1, MAX_STEPS), suite=True, suite_default=2000, from_text=int_text,
                        doc="updates per trajectory.")
    impl: str = option("gdbench", check=choice("gdbench", "optax", "both"),
                       doc="'gdbench' (ours), 'optax' (the twin) or 'both' (timed interleaved; each row then "
                           "carries the time-per-step ratio ours / optax).")
    dtype: str = option("float32", check=choice(*DTYPES), suite=True, doc="float32 or float64.")
    problem_args: Mapping[str, Any] | None = option(None, check=optional(check_table),
                                                    doc="the problem's arguments, with a problem name.")
    target_kind: str = option(
        "relative", check=choice(*TARGET_KINDS), suite=True, metavar="relative|absolute",
        flag_help="what the targets are: relative suboptimality levels (default) or absolute Delta f = f - f*",
        doc="'relative': a target t is reached at f <= f_ref + t (f(x_0) - f_ref), t in (0, 1); 'absolute' "
            "(COCO's): at f - f* <= t, t any positive Delta f, for problems with a known f* only.")
    targets: Sequence[float] = option(
        TARGETS, check=check_targets, suite=True, from_text=targets_text, metavar="T1,T2,...|coco",
        flag_help="the target levels, comma-separated, or coco (COCO's absolute ladder 1e2..1e-8)",
        doc="the levels whose first-hit steps are recorded: relative suboptimality levels, or with target_kind "
            "'absolute' Delta f levels; 'coco': COCO's ladder 10^2 .. 10^-8, five per decade (51 levels).")
    target: float = option(PRIMARY_TARGET, check=check_target, suite=True, from_text=float_text,
                           flag_help="the primary target, one of the targets (e.g. 1e-6)",
                           doc="the primary target, one of the targets (steps_to_target, lane_time_to_target_s).")
    record_every: int | None = option(
        None, check=optional(integer(1)), suite=True, from_text=int_text, metavar="K",
        flag_help="store the loss every K steps (default: the default schedule; 10 in minibatch mode)",
        doc="store the loss every k steps instead of the default schedule (in minibatch mode: default 10, "
            "and the full loss is computed, and checked against the targets, at these steps only).")
    record_path: bool | str | None = option(
        None, check=check_record_path, suite=True, from_text=record_path_text, metavar="true|false|all",
        flag_help="store parameter paths (default: for problems of dim <= 3); all: keep every trajectory's",
        doc="store parameter paths: True, False, or None (default) for problems of dim <= 3; a suite's 'all' "
            "keeps every trajectory's path in its results folder (else the tuned configurations' only).")
    repeats: int = option(5, check=check_repeats, suite=True, from_text=int_text, metavar="N",
                          doc="timed executions per program after a warm-up; the median is the execution time.")
    device: str | None = option(None, check=optional(choice("cpu", "gpu")), suite=True,
                                flag_help="cpu or gpu (default: JAX's default device)",
                                doc="cpu, gpu, or None for JAX's default.")
    batch_size: Any = option(
        None, check=check_batch_sizes, suite=True, suite_default=(None,), from_text=batch_sizes_text,
        metavar="B1,B2,...", flag_help="minibatch sizes for every problem, comma-separated, 'full' for the full batch",
        doc="minibatch sizes: None (full batch: exact gradients), an integer (each step's gradient is a "
            "minibatch's, drawn per lane from its seed and the step; the problem must be stochastic), or a list "
            "of them ('full' or None for the full batch): one cell per batch size, each its own instance.")
    max_memory: Any = option(
        None, check=optional(check_max_memory), suite=True, metavar="SIZE",
        doc="the device memory a cell's program may use, in bytes or as a size such as 2GB or 512MiB "
            "(default: half of the free memory). Lanes that do not fit run in chunks of one compiled program, "
            "with the same results; the runs table's `chunks` says how many.")
    trials: int | None = option(
        None, check=optional(searching.check_trials),
        doc="a number of quasi-random trials (`bench.core.search`: a scrambled Halton sequence, log-uniform on "
            "'log' ranges) over `search`, crossed with the grid; None: the grid alone.")
    search: Any = option(
        None, doc="the hyperparameters the trials cover: a list of names, or {name: {low, high, scale}} (each key "
                  "optional, the rest from the optimizer's search space); None: its whole search space less the "
                  "grid's.")
    search_seed: int = option(0, check=searching.check_seed,
                              doc="the trials' seed; the same seed gives the same trials.")
    schedule: Any = option(
        None, check=lr_schedule.check, suite=True, from_text=lr_schedule.from_text, metavar="NAME[,KEY=VALUE...]",
        flag_help="a learning-rate schedule peaking at the learning rate, e.g. warmup_cosine,warmup_steps=40,"
                  "end_value=0 (default: constant)",
        doc="the learning-rate schedule (`bench.core.lr_schedule`): None (constant), a name, or {name, ...its "
            "parameters}, e.g. {'name': 'warmup_cosine', 'warmup_steps': 40, 'end_value': 0.0}; the learning "
            "rate is its peak. Names: constant, cosine, warmup_cosine, linear, wsd; the grid may sweep its "
            "parameters (warmup_steps, end_value, decay_fraction).")

    def validated(self) -> SweepSpec:
        """The same sweep, checked, its inputs resolved; ConfigError naming the first bad field.

        In the result the problem is a `problems.Problem` (problem_args None),
        the optimizer an `OptimizerSpec` (with a schedule, `lr_schedule.scheduled`'s),
        seeds a tuple of integers, targets sorted from the loosest, batch_size one size, and record_every and
        record_path have their defaults filled in; with `trials`, the grid is
        the list of the search's configurations (`bench.core.search.configs`)
        and trials None. The grid's values are checked when its
        configurations are built (`prepare`).
        """
        v = checked(self)
        check_together(v)
        p = resolve_problem(v["problem"], v["problem_args"])
        check_f_star(p, v["target_kind"])
        batch_size = check_batch_size(p, v["batch_size"])
        if batch_size is not None and v["record_every"] is None:
            v["record_every"] = MINIBATCH_RECORD_EVERY
            check_together(v)
        spec = lr_schedule.scheduled(resolve_optimizer(v["optimizer"]), v["schedule"], v["steps"])
        if v["impl"] != "gdbench" and spec.twin is None:
            raise ConfigError("impl", f"{spec.name} has no optax twin")
        devices_for(v["device"])
        grid = v["grid"]
        if v["trials"] is not None:  # quasi-random trials, crossed with the grid (bench/core/search.py)
            grid = searching.configs(spec, grid, v["search"], v["trials"], v["search_seed"])
        elif v["search"] is not None:
            raise ConfigError("search", "needs trials (the number of quasi-random trials)")
        record_path = p.dim <= 3 if v["record_path"] is None else bool(v["record_path"])
        return dataclasses.replace(self, **{**v, "problem": p, "problem_args": None, "optimizer": spec,
                                            "batch_size": batch_size, "grid": grid, "trials": None,
                                            "search": None, "record_path": record_path})


def options() -> dict[str, dataclasses.Field]:
    """Every field of `SweepSpec` by name, in order."""
    return {f.name: f for f in dataclasses.fields(SweepSpec)}


def meta(name: str) -> Option:
    return options()[name].metadata["option"]


def check(name: str, value, where: str | None = None):
    """One option's value checked and normalized; ConfigError(where, ...) naming `where` (default: the name)."""
    rule = meta(name).check
    return value if rule is None else rule(value, name if where is None else where)


def checked(spec: SweepSpec) -> dict[str, Any]:
    """Every field of `spec`, checked by its own rule, in order."""
    return {name: check(name, getattr(spec, name)) for name in options()}


def check_together(values: Mapping[str, Any], where: Callable[[str], str] = str, given=None) -> None:
    """The checks that relate options (checked ones): the target among the targets, record_every and steps,
    the schedule's warm-up and steps.

    `where(name)` names an option in an error; `given` holds the names given
    (rather than defaulted), if not all were.
    """
    targets, target = values["targets"], values["target"]
    if values["target_kind"] == "relative" and targets[0] >= 1:
        got = "COCO's absolute ladder ('coco')" if targets == COCO_TARGETS else str(list(targets))
        raise ConfigError(where("targets"), f"must be a list of numbers in (0, 1) with target_kind 'relative', "
                                            f"got {got}; target_kind 'absolute' takes any positive Delta f")
    columns = {}
    for t in targets:  # each target's first hits are a column of the runs table, named by it
        name = target_column(t, values["target_kind"])
        if name in columns:
            raise ConfigError(where("targets"), f"{columns[name]} and {t} are too close: both would be {name}")
        columns[name] = t
    if target not in targets:
        if given is not None and "target" not in given:
            raise ConfigError(where("target"), f"the default target {target} is not among the targets; set target")
        raise ConfigError(where("target"), f"must be one of the targets {list(targets)}, got {target!r}")
    lr_schedule.check_steps(values["schedule"], values["steps"], where("schedule"))
    every = values["record_every"]
    if every is not None and values["steps"] // every > MAX_RECORDED:
        raise ConfigError(where("record_every"),
                          f"stores more than {MAX_RECORDED} steps per trajectory; must be >= steps / {MAX_RECORDED}")


def target_column(target: float, kind: str = "relative") -> str:
    """The runs table's column of a target's first hits: `steps_to_1e-6` (relative 1e-6),
    `steps_to_df_1e+2` and `steps_to_df_1.58e+1` (absolute Delta f 100 and 10^1.2, three digits)."""
    if kind == "relative":
        return f"steps_to_{target:.0e}".replace("e-0", "e-").replace("e+0", "e+")
    mantissa, exponent = f"{target:.2e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"steps_to_df_{mantissa}e{exponent[0]}{int(exponent[1:])}"


def check_f_star(p: problems.Problem, kind: str, where: str = "target_kind") -> None:
    """Absolute targets are Delta f = f - f*: ConfigError unless `p` knows its f*."""
    if kind == "absolute" and p.f_star is None:
        raise ConfigError(where, f"'absolute' needs a known optimum f*, and {p.name} has none; use 'relative' "
                                 "(targets relative to the best loss reached)")


def suite_options() -> list[str]:
    """The options a suite file sets for all its cells (its top-level keys, `gdbench run`'s flags)."""
    return [name for name, f in options().items() if f.metadata["option"].suite]


def suite_defaults() -> dict[str, Any]:
    """A suite's value of each of its options when its file does not set it."""
    out = {}
    for name in suite_options():
        m, default = meta(name), options()[name].default
        out[name] = check(name, default if m.suite_default is SAME else m.suite_default)
    return out


def signature() -> inspect.Signature:
    """`bench.sweep`'s signature: the fields, in order, with their defaults."""
    params = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=f.type,
                                default=inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default)
              for name, f in options().items()]
    return inspect.Signature(params, return_annotation="pandas.DataFrame")


def args_doc(indent: str = "  ") -> str:
    """The Args section of `bench.sweep`'s docstring, from the fields' docs."""
    return "\n".join(textwrap.fill(meta(name).doc, width=96, initial_indent=f"{indent}{name}: ",
                                   subsequent_indent=indent * 2) for name in options())


# --------------------------------------------------------------------------- inputs


def resolve_problem(problem: str | problems.Problem, problem_args: Mapping[str, Any] | None) -> problems.Problem:
    if isinstance(problem, problems.Problem):
        if problem_args:
            raise ConfigError("problem_args", "give problem_args only with a problem name")
        return problem
    return problems.get(problem, **dict(problem_args or {}))


def resolve_optimizer(optimizer) -> optimizers.OptimizerSpec:
    """A registered name, an OptimizerSpec, a plain optax factory or a "module:attribute" reference."""
    try:
        return optimizers.resolve(optimizer)
    except ValueError as e:
        raise ConfigError("optimizer", str(e)) from None


def check_batch_size(p: problems.Problem, batch_size) -> int | None:
    """The minibatch size to run `p` with (None: full batch); ConfigError if it cannot be."""
    sizes = check_batch_sizes(batch_size, "batch_size")
    if len(sizes) != 1:
        raise ConfigError("batch_size", f"one cell runs one batch size, got {batch_size!r}")
    batch_size = sizes[0]
    if batch_size is None:
        return None
    if not p.stochastic:
        raise ConfigError("batch_size", f"{p.name} has no minibatches (a deterministic problem; "
                                        "problems.with_grad_noise gives it noisy gradients)")
    n = p.info.get("n_samples")
    if n is not None and batch_size > n:
        raise ConfigError("batch_size", f"{batch_size} is larger than {p.name}'s data set ({n} examples)")
    return batch_size


def devices_for(device: str | None) -> list:
    """The devices of a platform ('cpu' or 'gpu'), or of JAX's default one."""
    if device is None:
        return jax.devices()
    check("device", device)
    try:
        return jax.devices(device)
    except RuntimeError:
        available = sorted({d.platform for d in jax.devices()} | {"cpu"})
        raise ConfigError("device", f"{device!r} is not available on this machine "
                                    f"(available: {', '.join(available)})") from None


@contextlib.contextmanager
def precision(dtype: str):
    """float64 runs need JAX's 64-bit mode; it is switched on for them only."""
    check("dtype", dtype)
    with jax.enable_x64(dtype == "float64"):
        yield
