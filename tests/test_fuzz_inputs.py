"""Bad input, generated: suite files, command lines, problem and optimizer arguments.

Every generated `gdbench run`/`report`/`compare` exits with 0 or 2, never with
a traceback; on 2 it says one line and leaves the disk as it was. `run` is
always given --dry-run (it validates everything a run would, then prints the
plan), so a valid suite costs nothing. `problems.get` and `make` give a
working object or a ValueError naming the parameter. The examples are
derandomized (the same ones on every machine); `make test-slow` runs more.
"""

from __future__ import annotations

import contextlib
import io
import math
import tempfile
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import optimizers
import problems
from bench import cli

FAST = settings(max_examples=500, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
SLOW = settings(FAST, max_examples=3000)

# --------------------------------------------------------------------------- values

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
NUMBERS = st.one_of(
    st.integers(-3, 12),
    st.integers(),
    st.sampled_from([2**31, 2**63, 10**30, -(2**63)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-300, 1e300, 0.5, 1.5]),
)
SCALARS = st.one_of(NUMBERS, st.booleans(), TEXT, st.sampled_from(["all", "log", "linear", "float64", "gd"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(TEXT, inner, max_size=3)), max_leaves=8)


def deep(levels: int):
    return [deep(levels - 1)] if levels else [1]


# --------------------------------------------------------------------------- TOML


def _key(k: str) -> str:
    return _string(k)


def _string(s: str) -> str:
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{_key(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


def toml(data: dict) -> str:
    return "".join(f"{_key(k)} = {toml_value(v)}\n" for k, v in data.items())


# --------------------------------------------------------------------------- suites

BASE = {
    "name": "fz", "steps": 3, "seeds": [0], "optimizers": ["gd"], "impls": ["gdbench"], "repeats": 1,
    "grid": {"learning_rate": [0.01]}, "problems": [{"name": "rosenbrock", "args": {"dim": 2}}],
}
TOP = ["name", "description", "steps", "seeds", "dtype", "optimizers", "impls", "repeats", "targets", "target",
       "record_every", "record_path", "device", "grid", "problems"]
PROBLEM_ARGS = ["dim", "perturb", "condition_number", "rotate", "seed", "mu", "dataset", "hidden", "l2",
                "n_samples", "n_features", "n_classes", "noise"]
HYPERPARAMETERS = sorted({h for n in optimizers.names() for h in optimizers.get(n).defaults})


@st.composite
def problem_entries(draw):
    name = draw(st.one_of(st.sampled_from(problems.names()), TEXT, VALUES))
    args = draw(st.dictionaries(st.one_of(st.sampled_from(PROBLEM_ARGS), TEXT), VALUES, max_size=3))
    entry = {"name": name, "args": args}
    if draw(st.booleans()):
        entry[draw(TEXT)] = draw(VALUES)
    return entry


@st.composite
def grids(draw):
    def spec(values):
        return st.one_of(st.lists(values, max_size=3),
                         st.dictionaries(st.sampled_from(["num", "low", "high", "scale", "nmu"]), values, max_size=4))
    return draw(st.dictionaries(st.one_of(st.sampled_from(HYPERPARAMETERS), TEXT),
                                st.one_of(spec(NUMBERS), spec(VALUES), VALUES), max_size=3))


@st.composite
def suites(draw):
    """Mostly invalid suites: a tiny valid one with some keys replaced, removed or added."""
    data = dict(BASE)
    for key in draw(st.lists(st.sampled_from(TOP), max_size=4, unique=True)):
        data[key] = draw(st.one_of(
            VALUES,
            grids() if key == "grid" else st.lists(problem_entries(), max_size=2) if key == "problems" else VALUES,
            st.lists(st.one_of(st.sampled_from(optimizers.names()), TEXT), max_size=3),
        ))
    for key in draw(st.lists(st.sampled_from(TOP), max_size=2, unique=True)):
        data.pop(key, None)
    if draw(st.integers(0, 9)) == 0:
        data[draw(TEXT)] = draw(VALUES)
    if draw(st.integers(0, 19)) == 0:
        data["grid"] = {"learning_rate": deep(draw(st.integers(10, 400)))}
    return data


# --------------------------------------------------------------------------- the command


def snapshot(root: Path) -> set:
    return {(str(p.relative_to(root)), p.stat().st_size if p.is_file() else -1) for p in root.rglob("*")}


def call(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, err.getvalue()


def check(argv: list[str], root: Path) -> None:
    before = snapshot(root)
    code, err = call(argv)
    assert code in (0, 2), (argv, code, err)
    assert "Traceback" not in err, err
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "error:" in lines[0], (argv, err)
        assert snapshot(root) == before, f"{argv} wrote something"


def workspace(root: Path) -> dict[str, str]:
    """Paths the command lines point at: missing ones, a file, a file's child, broken results folders."""
    (root / "a_file").write_text("x")
    bad = root / "bad_run"
    (bad / "parts").mkdir(parents=True)
    (bad / "meta.json").write_text('{"schema_version": 1, "status": "interrupted", "suite": {"steps": "x"}}')
    (bad / "runs.parquet").write_text("not parquet")
    listed = root / "list_meta"
    listed.mkdir()
    (listed / "meta.json").write_text("[1, 2]")
    return {"missing": str(root / "nope"), "file": str(root / "a_file"), "under_file": str(root / "a_file" / "x"),
            "out": str(root / "out"), "bad_run": str(bad), "list_meta": str(listed), "empty": "", "root": str(root)}


FLAGS = ["--problems", "--optimizers", "--steps", "--seeds", "--dtype", "--device", "--repeats", "--suite"]
PATHS = st.sampled_from(["missing", "file", "under_file", "out", "bad_run", "list_meta", "empty", "root"])


@st.composite
def command_lines(draw):
    kind = draw(st.sampled_from(["run_config", "run_flags", "report", "compare", "random"]))
    paths = draw(st.lists(PATHS, min_size=3, max_size=3))
    if kind == "random":  # `run` always with --dry-run: a valid command line must not start a suite
        command = draw(st.sampled_from(["run", "report", "compare", "list", "x"]))
        return [command] + draw(st.lists(TEXT, max_size=4)) + (["--dry-run"] if command == "run" else []), None
    if kind == "report":
        return ["report", f"@{paths[0]}"] + (["--out", f"@{paths[1]}"] if draw(st.booleans()) else []), None
    if kind == "compare":
        extra = draw(st.lists(st.sampled_from(["--fail-above", "--on", "--impl"]), max_size=2, unique=True))
        return ["compare", f"@{paths[0]}", f"@{paths[1]}"] + [x for f in extra for x in (f, draw(TEXT))], None
    argv = ["run", "--dry-run", "--no-progress"]
    for flag in draw(st.lists(st.sampled_from(FLAGS), max_size=3, unique=True)):
        argv += [flag, draw(st.one_of(TEXT, st.integers().map(str), st.sampled_from(["quick", "adam,gd", "3", "0,1"])))]
    if draw(st.booleans()):
        argv += ["--out", f"@{paths[2]}"]
    if draw(st.integers(0, 9)) == 0:
        argv += ["--resume", f"@{paths[0]}"]
    if kind == "run_config":
        return argv, draw(st.one_of(suites(), suites(), st.text(max_size=40)))
    return argv, None


def _resolve(argv: list[str], places: dict[str, str]) -> list[str]:
    return [places[a[1:]] if a.startswith("@") and a[1:] in places else a for a in argv]


def _cli_example(example) -> None:
    argv, suite = example
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        places = workspace(root)
        argv = _resolve(argv, places)
        if suite is not None:
            config = root / "suite.toml"
            config.write_text(toml(suite) if isinstance(suite, dict) else suite)
            argv = argv[:1] + ["--config", str(config)] + [a for a in argv[1:] if a != "--suite"]
        check(argv, root)


@FAST
@given(command_lines())
def test_cli_exits_0_or_2_without_traceback(example):
    _cli_example(example)


@pytest.mark.slow
@SLOW
@given(command_lines())
def test_cli_exits_0_or_2_without_traceback_many(example):
    _cli_example(example)


def test_the_toml_writer_round_trips():
    """The generator's TOML is read back as written (so the suites reach the checks)."""
    import tomllib

    data = {"a": [1, 2.5, "é\"\\\n"], "b": {"c d": True, "e": []}, "problems": [{"name": "x", "args": {}}]}
    assert tomllib.loads(toml(data)) == data


# --------------------------------------------------------------------------- registries


def _problem_example(name: str, kwargs: dict) -> None:
    try:
        p = problems.get(name, **kwargs)
    except ValueError as e:
        assert str(e).strip() and "\n" not in str(e)
        assert any(k in str(e) or repr(k) in str(e) for k in kwargs), str(e)  # names it (quoted if odd)
        return
    x = p.init(__import__("jax").random.PRNGKey(0), jnp.float32)
    assert np.isfinite(float(p.fn(x, p.data, None)))


SMALL_INTS = st.one_of(st.integers(-3, 8), st.sampled_from([10**9, 2**63, 10**30, -(2**40)]))
PROBLEM_VALUES = st.one_of(SMALL_INTS, st.floats(allow_nan=True, allow_infinity=True), st.booleans(), TEXT,
                           st.lists(SMALL_INTS, max_size=3), st.sampled_from(["synthetic", "digits", "iris"]),
                           st.dictionaries(TEXT, SMALL_INTS, max_size=2))


@FAST
@given(st.sampled_from(problems.names()),
       st.dictionaries(st.one_of(st.sampled_from(PROBLEM_ARGS), TEXT), PROBLEM_VALUES, max_size=3))
def test_problems_get_builds_or_names_the_parameter(name, kwargs):
    _problem_example(name, kwargs)


def _optimizer_example(name: str, hyperparams: dict) -> None:
    spec = optimizers.get(name)
    try:
        tx = spec.make(**hyperparams)
    except ValueError as e:
        assert any(k in str(e) or repr(k) in str(e) for k in hyperparams), str(e)  # names it (quoted if odd)
        return
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    loss = lambda p: jnp.sum(p["w"] ** 2)  # noqa: E731
    extra = {"value": jnp.float32(1.0), "grad": params, "value_fn": loss, "obj_fn": loss}
    kwargs = {k: extra[k] for k in spec.needs if k in extra}
    updates, _ = tx.update(params, state, params, **kwargs)
    assert updates["w"].shape == (3,)


OPT_VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-2, 2), SMALL_INTS, st.booleans(),
                       TEXT, st.none(), st.lists(st.floats(0, 1), max_size=2))


@FAST
@given(st.sampled_from(optimizers.names()).flatmap(lambda n: st.tuples(st.just(n), st.dictionaries(
    st.one_of(st.sampled_from(sorted(optimizers.get(n).defaults)), TEXT), OPT_VALUES, max_size=3))))
def test_optimizer_make_builds_or_names_the_parameter(example):
    _optimizer_example(*example)
