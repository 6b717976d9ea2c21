"""One sweep's inputs as one frozen object (`bench.SweepSpec`), validated in one place."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

import bench
import optimizers
import problems
from bench.core import cells, sweepspec
from bench.runs import runner
from bench.runs import suite as suites

SWEEP_KEYWORDS = ["problem", "optimizer", "grid", "seeds", "steps", "impl", "dtype", "problem_args",
                  "target_kind", "targets", "target", "record_every", "record_path", "repeats", "device",
                  "batch_size", "max_memory", "trials", "search", "search_seed", "schedule"]


def test_sweep_keeps_its_keyword_api_and_the_spec_has_its_arguments():
    params = inspect.signature(bench.sweep).parameters
    assert list(params) == SWEEP_KEYWORDS
    fields = {f.name: f.default for f in dataclasses.fields(bench.SweepSpec)}
    assert list(fields) == SWEEP_KEYWORDS
    for name, default in fields.items():  # the same defaults as sweep's
        if default is not dataclasses.MISSING:
            assert params[name].default == default, name
    assert list(inspect.signature(cells.prepare).parameters) == ["sweep"]
    assert list(inspect.signature(cells.run_sweep).parameters) == ["sweep", "repeats"]


def test_the_spec_is_frozen():
    spec = bench.SweepSpec("rosenbrock", "gd")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.steps = 5


@pytest.mark.parametrize("changes, message", [
    ({"impl": "jax"}, "impl: must be 'gdbench', 'optax' or 'both', got 'jax'"),
    ({"optimizer": "nope"}, "optimizer: unknown optimizer 'nope'"),
    ({"steps": 0}, "steps: must be an integer >= 1, got 0"),
    ({"steps": True}, "steps: must be an integer >= 1, got True"),
    ({"seeds": 0}, "seeds: a count of seeds must be >= 1, got 0"),
    ({"seeds": [0, -1]}, "seeds: must be a non-empty list of integers >= 0, got [0, -1]"),
    ({"targets": (0.1, 2.0)}, "targets: must be a list of numbers in (0, 1) with target_kind 'relative', got "
                              "[2.0, 0.1]; target_kind 'absolute' takes any positive Delta f"),
    ({"target": 0.5}, "target: must be one of the targets"),
    ({"record_every": 0}, "record_every: "),
    ({"device": "tpu"}, "device: must be 'cpu' or 'gpu', got 'tpu'"),
    ({"dtype": "float16"}, "dtype: must be 'float32' or 'float64', got 'float16'"),
    ({"batch_size": 4}, "batch_size: rosenbrock has no minibatches"),
    ({"problem_args": {"dim": 3}, "problem": problems.get("rosenbrock")},
     "problem_args: give problem_args only with a problem name"),
])
def test_validated_names_the_bad_field(changes, message):
    spec = bench.SweepSpec("rosenbrock", "gd", problem_args={"dim": 2}, grid={"learning_rate": [0.1]})
    spec = dataclasses.replace(spec, **changes)
    with pytest.raises(bench.ConfigError) as info:
        spec.validated()
    assert str(info.value).startswith(message)
    with pytest.raises(bench.ConfigError) as again:  # prepare checks it the same way, before compiling
        cells.prepare(spec)
    assert str(again.value) == str(info.value)


def test_validated_resolves_the_inputs_and_is_idempotent():
    spec = bench.SweepSpec("rosenbrock", "adam", problem_args={"dim": 2}, seeds=3, targets=(1e-6, 1e-1),
                           batch_size=None)
    checked = spec.validated()
    assert isinstance(checked.problem, problems.Problem) and checked.problem.dim == 2
    assert checked.problem_args is None
    assert checked.optimizer is optimizers.get("adam")
    assert checked.seeds == (0, 1, 2)
    assert checked.targets == (1e-1, 1e-6)
    assert checked.record_path is True  # dim <= 3
    assert checked.validated() == checked
    stochastic = bench.SweepSpec("noisy_quadratic", "gd", problem_args={"dim": 4}, batch_size=8).validated()
    assert stochastic.record_every == cells.MINIBATCH_RECORD_EVERY


def test_a_suite_makes_each_cells_spec():
    quick = suites.builtin("quick")
    s = dataclasses.replace(quick, options={**quick.options, "steps": 7, "seeds": (3, 4), "record_path": "all"})
    c = runner.plan(s)[0]
    spec = s.sweep_spec(c.problem, c.optimizer, c.impl, c.batch_size)
    assert (spec.problem, spec.optimizer, spec.impl, spec.batch_size) == (c.problem, c.optimizer, c.impl, c.batch_size)
    assert (spec.steps, spec.seeds, spec.dtype, spec.targets, spec.target) == (7, (3, 4), s.dtype, s.targets, s.target)
    assert spec.grid == s.configs_for(optimizers.resolve(c.optimizer))  # the grid's product (no [search] here)
    assert spec.grid == cells.expand_grid(optimizers.resolve(c.optimizer), s.grid_for(optimizers.resolve(c.optimizer)))
    assert spec.device == s.device and spec.record_every == s.record_every and spec.repeats == s.repeats
    assert spec.validated().record_path is True  # "all": every path recorded (and kept by the runner)


def test_sweeps_signature_and_doc_come_from_the_fields():
    assert inspect.signature(bench.sweep) == sweepspec.signature()
    for name in SWEEP_KEYWORDS:
        assert f"\n  {name}: " in bench.sweep.__doc__, name


def test_a_suites_defaults_are_the_fields_unless_a_field_declares_its_own():
    s = suites.parse({"problems": [{"name": "rosenbrock"}]}, "t.toml")
    assert s.options == sweepspec.suite_defaults() and list(s.options) == sweepspec.suite_options()
    for name in sweepspec.suite_options():
        field, meta = sweepspec.options()[name], sweepspec.meta(name)
        expected = field.default if meta.suite_default is sweepspec.SAME else meta.suite_default
        assert s.options[name] == sweepspec.check(name, expected) and getattr(s, name) == s.options[name], name
    assert (s.steps, s.seeds, s.batch_size) == (2000, (0, 1, 2), (None,))  # the suite defaults declared
    assert bench.SweepSpec("rosenbrock", "gd").steps == 1000 and bench.SweepSpec("rosenbrock", "gd").seeds == (0,)


def test_a_new_option_is_one_field(monkeypatch, capsys):
    """A field added to SweepSpec is a sweep keyword, a suite key with its default, and a run flag, checked alike."""
    @dataclasses.dataclass(frozen=True)
    class Extended(bench.SweepSpec):
        warmup_steps: int = sweepspec.option(3, check=sweepspec.integer(0), suite=True, suite_default=7,
                                             from_text=sweepspec.int_text, doc="untimed steps before the first.")

    monkeypatch.setattr(sweepspec, "SweepSpec", Extended)
    monkeypatch.setattr(cells, "SweepSpec", Extended)
    assert sweepspec.signature().parameters["warmup_steps"].default == 3  # bench.sweep's signature is this one
    assert "  warmup_steps: untimed steps before the first." in sweepspec.args_doc()
    with pytest.raises(bench.ConfigError, match=r"^warmup_steps: must be an integer >= 0, got -1$"):
        Extended("rosenbrock", "gd", warmup_steps=-1).validated()
    assert Extended("rosenbrock", "gd", problem_args={"dim": 2}).validated().warmup_steps == 3
    # a suite file: the key, its suite default, its check naming the file and the key
    base = {"optimizers": ["gd"], "problems": [{"name": "rosenbrock", "args": {"dim": 2}}]}
    assert suites.parse(base, "t.toml").warmup_steps == 7
    s = suites.parse({**base, "warmup_steps": 5}, "t.toml")
    assert s.warmup_steps == 5 and s.to_dict()["warmup_steps"] == 5
    c = runner.plan(s)[0]
    assert s.sweep_spec(c.problem, c.optimizer, c.impl, c.batch_size).warmup_steps == 5
    with pytest.raises(bench.ConfigError, match=r"^t.toml: warmup_steps: must be an integer >= 0, got -1$"):
        suites.parse({**base, "warmup_steps": -1}, "t.toml")
    with pytest.raises(bench.ConfigError, match="did you mean 'warmup_steps'"):
        suites.parse({**base, "warmup_step": 1}, "t.toml")
    # the command line: the flag, parsed by its from_text, overriding the suite's key, blamed on itself
    from bench import cli

    args = cli.parser().parse_args(["run", "--warmup-steps", "4"])
    assert args.warmup_steps == 4 and cli._load_suite(args).warmup_steps == 4
    assert cli.main(["run", "--warmup-steps", "-1", "--dry-run"]) == 2
    assert capsys.readouterr().err == "gdbench: error: --warmup-steps: must be an integer >= 0, got -1\n"
    assert cli.main(["run", "--warmup-steps", "x", "--dry-run"]) == 2
    assert "argument --warmup-steps: must be an integer, got 'x'" in capsys.readouterr().err
