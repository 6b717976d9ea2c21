"""Your own optimizer without a registry entry: a plain optax factory, or a "module:attribute" reference."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import optax
import pytest
from agreement import assert_first_hit_agrees

import bench
import optimizers
from bench import cli
from bench.runs import results
from optimizers import custom

KW = dict(problem_args={"dim": 2}, grid={"learning_rate": [1e-3, 3e-3]}, seeds=2, steps=150, repeats=1)


def heavy_ball(learning_rate, momentum=0.9):
    return optax.sgd(learning_rate, momentum)


def test_a_plain_factory_runs_as_its_registered_twin_does():
    mine = bench.sweep("rosenbrock", heavy_ball, **KW)
    # The registered "momentum" run by optax's twin is the same optax code with the same hyperparameters,
    # in another layout (lanes vmapped one by one, or broadcast lanes-last): another compiled program,
    # equal up to float32 rounding (eps 1.2e-7), which 150 slow steps down the valley keep far below 1e-4.
    twin = bench.run_sweep(bench.SweepSpec("rosenbrock", "momentum", impl="optax", record_every=1,
                                           **{k: v for k, v in KW.items() if k != "repeats"}), repeats=1)
    assert set(mine.optimizer) == {"heavy_ball"} and list(mine.learning_rate) == list(twin.runs.learning_rate)
    np.testing.assert_allclose(mine.final_loss, twin.runs.final_loss, rtol=1e-4)
    for hit, row in zip(mine["steps_to_1e-2"], twin.runs.itertuples()):
        values = twin.curves[twin.curves.run_id == row.run_id].loss.to_numpy()
        assert_first_hit_agrees(hit, values, 1e-2 * values[0], 1e-4 * 1e-2 * values[0])


def test_the_spec_comes_from_the_signature():
    spec = custom.spec_of(heavy_ball)
    assert spec.name == "heavy_ball" and spec.twin is None and spec.defaults["momentum"] == 0.9
    assert spec.search_space == {"learning_rate": custom.LEARNING_RATE_SPACE}
    with pytest.raises(ValueError, match="learning_rate has no default; give it in the grid"):
        spec.make()
    assert isinstance(spec.make(learning_rate=0.1), optax.GradientTransformation)
    with pytest.raises(bench.ConfigError, match="has no optax twin"):
        bench.sweep("rosenbrock", heavy_ball, impl="both", **{**KW, "steps": 5})
    with pytest.raises(ValueError, match=r"\*args, \*\*kwargs"):
        custom.spec_of(lambda **hp: optax.sgd(**hp))


def test_references_to_a_module_and_to_a_file(tmp_path, monkeypatch):
    (tmp_path / "my_opts.py").write_text(textwrap.dedent("""
        import optax

        def slow_sgd(learning_rate, momentum=0.9):
            return optax.sgd(learning_rate, momentum)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    by_module = optimizers.resolve("my_opts:slow_sgd")
    by_file = optimizers.resolve(f"{tmp_path / 'my_opts.py'}:slow_sgd")
    assert by_module.name == "my_opts:slow_sgd" and by_file.defaults == by_module.defaults
    for bad, message in [("my_opts:nothing", "has no attribute 'nothing'"), ("no_such_mod_xyz:f", "cannot import"),
                         (f"{tmp_path / 'none.py'}:f", "no such file"), ("my_opts:", "a reference is")]:
        with pytest.raises(ValueError, match=message):
            optimizers.resolve(bad)
    sys.modules.pop("my_opts", None)


def test_a_suite_names_a_plugin_and_the_cli_blames_a_bad_one(tmp_path, capsys, monkeypatch):
    plugin = tmp_path / "my_opts.py"
    plugin.write_text("import optax\n\ndef my_sgd(learning_rate, momentum=0.5):\n"
                      "    return optax.sgd(learning_rate, momentum)\n")
    config = tmp_path / "mine.toml"
    config.write_text(f'name = "mine"\nsteps = 40\nseeds = 1\nrepeats = 1\nimpls = ["gdbench"]\n'
                      f'optimizers = ["gd", "{plugin}:my_sgd"]\n[grid]\nlearning_rate = {{ num = 2 }}\n'
                      '[[problems]]\nname = "quadratic"\nargs = { dim = 4 }\n')
    out = tmp_path / "runs"
    assert cli.main(["run", "--config", str(config), "--out", str(out), "--no-progress"]) == 0
    (folder,) = out.iterdir()
    runs = results.read_run(folder)[0]["runs"]
    assert set(runs.optimizer) == {"gd", f"{plugin}:my_sgd"} and len(runs) == 4
    capsys.readouterr()
    bad = tmp_path / "bad.toml"
    bad.write_text(config.read_text().replace(":my_sgd", ":nope"))
    assert cli.main(["run", "--config", str(bad), "--out", str(tmp_path / "none"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "optimizers" in err[0] and "has no attribute 'nope'" in err[0]
    assert not (tmp_path / "none").exists()
