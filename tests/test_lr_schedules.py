"""Learning-rate schedules in sweeps and suites (`schedule`), against optax's schedules and plain optax loops.

The references are optax's: its schedules of the same shape (joined from its
pieces where it has none) step by step, and plain Python loops of optax's
optimizers over them. Everything runs in float64 on tiny problems.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import bench
import optimizers
import problems
from bench import cli
from bench.core import lr_schedule
from bench.errors import ConfigError
from bench.runs import runner, suite as suites
from optimizers import schedules

STEPS = 60


# --------------------------------------------------------------------------- the schedules against optax's


def optax_schedule(name: str, lr: float, steps: int, warmup_steps: int = 0, end_value: float = 0.0,
                   decay_fraction: float = 0.2):
    """optax's schedule of each shape, built from its own functions."""
    if name == "constant":
        return optax.constant_schedule(lr)
    if name == "cosine":
        return optax.cosine_decay_schedule(lr, steps, alpha=end_value / lr)
    if name == "warmup_cosine":
        return optax.warmup_cosine_decay_schedule(0.0, lr, warmup_steps, steps, end_value)
    rise = [optax.linear_schedule(0.0, lr, warmup_steps)] if warmup_steps else []
    if name == "linear":
        pieces = [*rise, optax.linear_schedule(lr, end_value, steps - warmup_steps)]
        return optax.join_schedules(pieces, [warmup_steps] if warmup_steps else [])
    assert name == "wsd"
    decay = min(max(1, round(decay_fraction * steps)), steps - warmup_steps)
    pieces = [*rise, optax.constant_schedule(lr), optax.linear_schedule(lr, end_value, decay)]
    bounds = [warmup_steps] if warmup_steps else []
    return optax.join_schedules(pieces, [*bounds, steps - decay])


SCHEDULE_CASES = [
    ("cosine", dict(end_value=0.0)),
    ("cosine", dict(end_value=2e-3)),
    ("warmup_cosine", dict(warmup_steps=40, end_value=0.0)),
    ("warmup_cosine", dict(warmup_steps=0, end_value=1e-3)),
    ("linear", dict(warmup_steps=13, end_value=1e-3)),
    ("linear", dict(warmup_steps=0, end_value=0.0)),
    ("wsd", dict(warmup_steps=10, decay_fraction=0.2, end_value=0.0)),
    ("wsd", dict(warmup_steps=0, decay_fraction=1.0, end_value=1e-3)),
    ("wsd", dict(warmup_steps=50, decay_fraction=0.5, end_value=0.0)),  # the decay starts where warm-up ends
]
SCHEDULE_IDS = [f"{n}-{i}" for i, (n, _) in enumerate(SCHEDULE_CASES)]


@pytest.mark.parametrize("name, params", SCHEDULE_CASES, ids=SCHEDULE_IDS)
def test_each_schedule_equals_optaxs_at_every_step_float64(x64, name, params):
    """Every count 0..steps+4 (past the end: the end value), concrete and jitted, float64."""
    lr = 0.05
    ours = lr_schedule.make(name, lr, STEPS, **params)
    ref = optax_schedule(name, lr, STEPS, **params)
    counts = np.arange(STEPS + 5)
    want = np.array([ref(int(c)) for c in counts], np.float64)
    got = np.array([ours(int(c)) for c in counts], np.float64)
    jitted = np.asarray(jax.jit(jax.vmap(ours))(jnp.asarray(counts, jnp.int32)))  # an optimizer's int32 count
    # the same formulas in another order of operations: a few ulps of the peak
    np.testing.assert_allclose(got, want, rtol=0, atol=4e-16 * lr)
    np.testing.assert_allclose(jitted, want, rtol=0, atol=4e-16 * lr)
    assert want[-1] == pytest.approx(params.get("end_value", 0.0), abs=1e-18)


@pytest.mark.parametrize("name, params", SCHEDULE_CASES, ids=SCHEDULE_IDS)
def test_a_traced_peak_broadcasts_along_the_lanes(x64, name, params):
    """Peaks of shape (B,) (the lanes-last path) and vmapped peaks give each lane its own schedule."""
    peaks = np.array([0.01, 0.05, 0.2])
    counts = jnp.arange(STEPS + 2, dtype=jnp.int32)
    lanes_last = jax.jit(jax.vmap(lambda c, p: lr_schedule.make(name, p, STEPS, **params)(c),
                                  in_axes=(0, None)))(counts, peaks)
    vmapped = jax.jit(jax.vmap(lambda p: jax.vmap(lr_schedule.make(name, p, STEPS, **params))(counts)))(peaks)
    for k, p in enumerate(peaks):
        want = np.array([optax_schedule(name, float(p), STEPS, **params)(int(c)) for c in counts])
        np.testing.assert_allclose(lanes_last[:, k], want, rtol=0, atol=4e-16 * p)
        np.testing.assert_allclose(vmapped[k], want, rtol=0, atol=4e-16 * p)


def test_the_new_schedule_functions_against_optax(x64):
    counts = range(0, 130)
    pairs = [
        (schedules.linear_schedule(0.3, 0.01, 50, transition_begin=20), optax.linear_schedule(0.3, 0.01, 50, 20)),
        (schedules.warmup_linear_decay_schedule(0.01, 0.3, 30, 100, 0.02),
         optax.join_schedules([optax.linear_schedule(0.01, 0.3, 30), optax.linear_schedule(0.3, 0.02, 70)], [30])),
        (schedules.warmup_stable_decay_schedule(0.0, 0.3, 10, 100, 25, 0.05),
         optax.join_schedules([optax.linear_schedule(0.0, 0.3, 10), optax.constant_schedule(0.3),
                               optax.linear_schedule(0.3, 0.05, 25)], [10, 75])),
    ]
    for ours, ref in pairs:
        np.testing.assert_allclose([float(ours(c)) for c in counts], [float(ref(c)) for c in counts],
                                   rtol=0, atol=2e-16)
    with pytest.raises(ValueError, match="decay_steps must be > warmup_steps"):
        schedules.warmup_linear_decay_schedule(0.0, 0.1, 10, 10)
    with pytest.raises(ValueError, match="warmup_steps \\+ decay_steps must be <= total_steps"):
        schedules.warmup_stable_decay_schedule(0.0, 0.1, 10, 20, 11)
    with pytest.raises(ValueError, match="transition_steps"):
        schedules.linear_schedule(0.1, 0.0, 0)


# --------------------------------------------------------------------------- every optimizer takes one


EXEMPT = ("rprop", "schedule_free_sgd", "schedule_free_adamw")
SCHEDULABLE = [n for n in optimizers.names() if n not in EXEMPT]


def test_the_registry_exempts_the_exempt_only():
    exempt = [name for name in optimizers.names() if lr_schedule.exempt_reason(
        lr_schedule.scheduled(optimizers.get(name), {"name": "cosine", "end_value": 0.0}, STEPS))]
    assert sorted(exempt) == sorted(EXEMPT)


@pytest.mark.parametrize("name", SCHEDULABLE)
def test_every_schedulable_optimizer_and_twin_take_a_callable_learning_rate(x64, name):
    """A constant schedule gives the numbers a constant learning rate gives (ours and the twin).

    float64: a Python learning rate is arithmetic in double precision (fromage's
    shrink factor), a schedule's value an array of the default float dtype."""
    spec = lr_schedule.scheduled(optimizers.get(name), {"name": "linear", "warmup_steps": 0, "end_value": 0.0},
                                 STEPS)
    assert "warmup_steps" in spec.defaults
    base = optimizers.get(name)
    x = {"a": jnp.array([1.0, -2.0, 0.5]), "b": jnp.full((2, 2), 0.7)}

    def loss(p):
        return jnp.sum(p["a"] ** 2) + jnp.sum((p["b"] - 0.3) ** 4)

    def run(tx):
        state, p = tx.init(x), x
        for _ in range(2):  # the second step reads the count the first one left
            value, grad = jax.value_and_grad(loss)(p)
            extra = {"value": value, "grad": grad, "value_fn": loss, "obj_fn": loss}
            u, state = tx.update(grad, state, p, **{k: v for k, v in extra.items() if k in base.needs})
            p = optax.apply_updates(p, u)
        return p

    lr = base.defaults["learning_rate"]
    kw = {"f_min": 0.0} if "f_min" in base.needs else {}
    for make in (base.make, base.baseline):
        a = run(make(**kw))
        b = run(make(**kw, learning_rate=lambda count: jnp.asarray(lr) + 0 * count))
        for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
            np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("name, reason", [
    ("schedule_free_sgd", "schedule-free"),
    ("schedule_free_adamw", "schedule-free"),
    ("rprop", "its learning_rate takes no schedule"),
])
def test_exempt_optimizers_run_as_they_are_and_say_so(x64, name, reason):
    """An exempt optimizer given a schedule runs exactly as without one; its rows say why."""
    kw = dict(grid={"learning_rate": [0.01]}, steps=30, seeds=[0], dtype="float64", repeats=1)
    with_schedule = bench.sweep("rosenbrock", name, schedule="cosine", **kw)
    without = bench.sweep("rosenbrock", name, **kw)
    assert (with_schedule["schedule"] == f"exempt: {reason}").all() and (without["schedule"] == "constant").all()
    np.testing.assert_array_equal(with_schedule["final_loss"], without["final_loss"])  # the same program


def test_an_optimizer_without_learning_rate_and_a_name_clash_are_refused():
    def no_lr(momentum: float = 0.9):
        return optax.sgd(0.1, momentum)

    def clash(learning_rate=0.1, warmup_steps: int = 3):
        return optax.sgd(learning_rate)

    with pytest.raises(ConfigError, match="schedule: no_lr has no learning_rate to schedule"):
        bench.sweep("rosenbrock", no_lr, steps=10, seeds=1, schedule="cosine")
    with pytest.raises(ConfigError, match="schedule.warmup_steps: clash has a hyperparameter 'warmup_steps' too"):
        bench.sweep("rosenbrock", clash, steps=10, seeds=1, schedule="linear")
    bench.sweep("rosenbrock", clash, steps=10, seeds=1, schedule="cosine", repeats=1)  # no clash: cosine has none


# --------------------------------------------------------------------------- sweeps against plain optax loops


def f64(schedule):
    """optax's schedule at the count in float64, as a float64 run's schedule is (`lr_schedule.make`):
    fed optax's int32 count directly, it divides in float32."""
    return lambda count: schedule(jnp.asarray(count, jnp.float64))


def optax_final_losses(problem, make_tx, seeds, steps):
    """f(x_steps) of a plain loop of optax's optimizer from each seed's start."""
    out = []
    for s in seeds:
        x = problem.init(jax.random.PRNGKey(s), np.float64)
        tx = make_tx()
        state = tx.init(x)
        step = jax.jit(lambda x, state: _step(problem, tx, x, state))
        for _ in range(steps):
            x, state = step(x, state)
        out.append(float(problem.fn(x, problem.data, None)))
    return np.array(out)


def _step(problem, tx, x, state):
    g = jax.grad(lambda y: problem.fn(y, problem.data, None))(x)
    u, state = tx.update(g, state, x)
    return optax.apply_updates(x, u), state


def _defaults(name):
    return {k: v for k, v in optimizers.get(name).defaults.items() if k != "learning_rate"}


# Agreement: both sides are float64 runs of the same arithmetic up to the order
# of operations (our schedule's and optax's differ by ulps; XLA fuses the two
# programs differently), 60 steps on a smooth problem: measured <= 4e-16
# relative here (adam, adamw, lamb). 1e-12 leaves room for other CPUs' last
# bits and still tells apart optax's schedule fed the int32 count directly
# (float32-accurate: 1e-8 to 6e-8 relative in these losses) and a schedule off
# by one step (> 1e-4, checked below).
RTOL = 1e-12


@pytest.mark.parametrize("name", ["adam", "adamw", "lamb"])  # lamb: not elementwise (vmapped lane by lane)
def test_warmup_cosine_sweep_equals_a_plain_optax_loop(x64, name):
    p = problems.get("rosenbrock", dim=3, perturb=0.1)  # seeded starts: two seeds, two trajectories
    lrs, seeds, warmup, end = [0.01, 0.05], [0, 1], 20, 1e-3
    runs = bench.sweep(p, name, grid={"learning_rate": lrs}, seeds=seeds, steps=STEPS, dtype="float64",
                       impl="both", repeats=1,
                       schedule={"name": "warmup_cosine", "warmup_steps": warmup, "end_value": end})
    factory = getattr(optax, name)
    for lr in lrs:
        sched = optax.warmup_cosine_decay_schedule(0.0, lr, warmup, STEPS, end)
        want = optax_final_losses(p, lambda: factory(f64(sched), **_defaults(name)), seeds, STEPS)
        for impl in ("gdbench", "optax"):
            got = runs[(runs.impl == impl) & (runs.learning_rate == lr)].sort_values("seed")["final_loss"]
            np.testing.assert_allclose(got, want, rtol=RTOL)
        shifted = optax_final_losses(p, lambda: factory(f64(lambda c: sched(c + 1)), **_defaults(name)), seeds, STEPS)
        assert np.all(np.abs(shifted - want) > 1e-4 * np.abs(want))  # the tolerance can tell an off-by-one
    assert (runs.schedule == json.dumps({"name": "warmup_cosine", "warmup_steps": warmup, "end_value": end})).all()


@pytest.mark.parametrize("name, params", [
    ("cosine", dict(end_value=1e-3)),
    ("linear", dict(warmup_steps=15, end_value=0.0)),
    ("wsd", dict(warmup_steps=10, decay_fraction=0.3, end_value=0.0)),
])
def test_each_schedule_in_a_sweep_equals_a_plain_optax_loop(x64, name, params):
    p = problems.get("rosenbrock", dim=2)
    lr = 0.03  # the default learning rate replaced by a constant one: a static peak
    runs = bench.sweep(p, "adam", grid={"learning_rate": [lr]}, seeds=[0], steps=STEPS, dtype="float64",
                       repeats=1, schedule={"name": name, **params})
    sched = optax_schedule(name, lr, STEPS, **params)
    want = optax_final_losses(p, lambda: optax.adam(f64(sched), **_defaults("adam")), [0], STEPS)
    np.testing.assert_allclose(runs["final_loss"], want, rtol=RTOL)
    assert json.loads(runs["schedule"].iloc[0]) == {"name": name, **lr_schedule.check(
        {"name": name, **params}, "schedule")} | {"name": name}


def test_a_grid_over_warmup_steps_gives_a_row_per_value(x64):
    p = problems.get("rosenbrock", dim=2)
    runs = bench.sweep(p, "adam", grid={"learning_rate": [0.02, 0.05], "warmup_steps": [10, 40]}, seeds=[0],
                       steps=STEPS, dtype="float64", repeats=1, schedule={"name": "warmup_cosine", "end_value": 0.0})
    assert len(runs) == 4 and sorted(runs["warmup_steps"]) == [10, 10, 40, 40]
    for r in runs.itertuples():
        assert json.loads(r.schedule) == {"name": "warmup_cosine", "warmup_steps": r.warmup_steps, "end_value": 0.0}
        assert json.loads(r.hyperparams)["warmup_steps"] == r.warmup_steps
        sched = optax.warmup_cosine_decay_schedule(0.0, r.learning_rate, r.warmup_steps, STEPS, 0.0)
        want = optax_final_losses(p, lambda: optax.adam(f64(sched)), [0], STEPS)
        np.testing.assert_allclose(r.final_loss, want[0], rtol=RTOL)
    a, b = (runs[(runs.learning_rate == 0.05) & (runs.warmup_steps == w)].final_loss.item() for w in (10, 40))
    assert a != b


def test_a_swept_end_value_is_traced_and_matches(x64):
    p = problems.get("rosenbrock", dim=2)
    runs = bench.sweep(p, "adam", grid={"learning_rate": [0.05], "end_value": [0.0, 0.01]}, seeds=[0],
                       steps=STEPS, dtype="float64", repeats=1, schedule={"name": "cosine"})
    for r in runs.itertuples():
        sched = optax.cosine_decay_schedule(0.05, STEPS, alpha=r.end_value / 0.05)
        want = optax_final_losses(p, lambda: optax.adam(f64(sched)), [0], STEPS)
        np.testing.assert_allclose(r.final_loss, want[0], rtol=RTOL)


def test_no_schedule_and_constant_are_todays_sweep_bit_for_bit():
    """The same compiled computation on both sides: equal, not close."""
    kw = dict(grid={"learning_rate": [0.01, 0.1]}, seeds=2, steps=50, repeats=1)
    plain = bench.sweep("rosenbrock", "adam", **kw)
    constant = bench.sweep("rosenbrock", "adam", schedule="constant", **kw)
    np.testing.assert_array_equal(plain["final_loss"], constant["final_loss"])
    assert (plain["schedule"] == "constant").all() and (constant["schedule"] == "constant").all()
    assert "warmup_steps" not in json.loads(plain["hyperparams"].iloc[0])


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("schedule, where, message", [
    ("warmup_cosin", "schedule", "unknown schedule 'warmup_cosin'; did you mean 'warmup_cosine'?"),
    ({"name": "cosine", "warmup_steps": 3}, "schedule.warmup_steps", "not a parameter of the cosine schedule"),
    ({"name": "linear", "warmup_step": 3}, "schedule.warmup_step", "did you mean 'warmup_steps'?"),
    ({"warmup_steps": 3}, "schedule.name", "missing"),
    ({"name": "linear", "warmup_steps": 10}, "schedule.warmup_steps", "must be < steps (10), got 10"),
    ({"name": "linear", "warmup_steps": 2.5}, "schedule.warmup_steps", "must be an integer >= 0"),
    ({"name": "cosine", "end_value": -1e-3}, "schedule.end_value", "must be a number >= 0"),
    ({"name": "wsd", "decay_fraction": 0.0}, "schedule.decay_fraction", "must be a number in (0, 1]"),
    ({"name": "wsd", "decay_fraction": 1.5}, "schedule.decay_fraction", "must be a number in (0, 1]"),
    (3, "schedule", "must be a schedule's name or a table"),
])
def test_a_bad_schedule_is_one_line_naming_its_key(schedule, where, message):
    with pytest.raises(ConfigError) as e:
        bench.sweep("rosenbrock", "adam", steps=10, seeds=1, schedule=schedule)
    assert e.value.where == where and message in e.value.message and "\n" not in str(e.value)


def test_bad_swept_schedule_parameters_name_the_key():
    with pytest.raises(ConfigError, match="schedule.warmup_steps: must be < steps \\(10\\), got 10"):
        bench.sweep("rosenbrock", "adam", grid={"warmup_steps": [2, 10]}, steps=10, seeds=1, schedule="linear")
    with pytest.raises(ConfigError, match="schedule.end_value: must be a number >= 0"):
        bench.sweep("rosenbrock", "adam", grid={"end_value": [-0.1]}, steps=10, seeds=1, schedule="linear")
    with pytest.raises(ConfigError, match="grid.decay_fraction: not a hyperparameter of adam"):
        bench.sweep("rosenbrock", "adam", grid={"decay_fraction": [0.1]}, steps=10, seeds=1, schedule="linear")
    with pytest.raises(ConfigError, match="grid.warmup_steps: not a hyperparameter of adam"):
        bench.sweep("rosenbrock", "adam", grid={"warmup_steps": [2]}, steps=10, seeds=1)  # no schedule


# --------------------------------------------------------------------------- suites and the command line


SUITE = """
name = "sched"
steps = 30
seeds = [0]
dtype = "float64"
repeats = 1
optimizers = ["adam", "lamb"]
impls = ["gdbench"]
schedule = { name = "warmup_cosine", warmup_steps = 5, end_value = 0.0 }
[grid]
learning_rate = [0.05]
warmup_steps = [5, 10]
[[problems]]
name = "rosenbrock"
args = { dim = 2 }
"""


def test_a_suite_with_a_schedule_parses_runs_and_records_it(tmp_path):
    path = tmp_path / "sched.toml"
    path.write_text(SUITE)
    s = suites.load(path)
    assert s.schedule == {"name": "warmup_cosine", "warmup_steps": 5, "end_value": 0.0}
    recorded = {k: v for k, v in json.loads(json.dumps(s.to_dict())).items() if k != "source"}  # meta.json's
    assert suites.parse(recorded, str(path)).schedule == s.schedule
    folder = runner.run_suite(s, out_root=tmp_path / "runs", show_progress=False)
    tables, meta = bench.read_run(folder)
    runs = tables["runs"]
    assert meta["suite"]["schedule"] == s.schedule
    assert sorted(runs["warmup_steps"]) == [5, 5, 10, 10]
    for r in runs.itertuples():
        assert json.loads(r.schedule) == {"name": "warmup_cosine", "warmup_steps": r.warmup_steps, "end_value": 0.0}
    p = problems.get("rosenbrock", dim=2)
    for r in runs[runs.optimizer == "adam"].itertuples():
        sched = optax.warmup_cosine_decay_schedule(0.0, 0.05, r.warmup_steps, 30, 0.0)
        with jax.enable_x64(True):
            want = optax_final_losses(p, lambda: optax.adam(f64(sched)), [0], 30)
        np.testing.assert_allclose(r.final_loss, want[0], rtol=RTOL)


@pytest.mark.parametrize("key, value, message", [
    ("schedule", '{ name = "cosin" }', "sched.toml: schedule: unknown schedule 'cosin'; did you mean 'cosine'?"),
    ("schedule", '{ name = "linear", warmup_steps = 30 }', "sched.toml: schedule.warmup_steps: must be < steps (30)"),
    ("schedule", '{ name = "wsd", decay_fraction = 2.0 }', "sched.toml: schedule.decay_fraction: must be a number"),
])
def test_a_suites_bad_schedule_exits_2_with_one_line(tmp_path, capsys, key, value, message):
    path = tmp_path / "sched.toml"
    path.write_text(SUITE.replace('schedule = { name = "warmup_cosine", warmup_steps = 5, end_value = 0.0 }',
                                  f"{key} = {value}").replace("warmup_steps = [5, 10]\n", ""))
    assert cli.main(["run", "--config", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_the_schedule_flag(capsys):
    args = cli.parser().parse_args(["run", "--schedule", "warmup_cosine,warmup_steps=40,end_value=0"])
    assert args.schedule == {"name": "warmup_cosine", "warmup_steps": 40, "end_value": 0}
    assert cli.main(["run", "--suite", "quick", "--optimizers", "adam,lamb", "--problems", "rosenbrock:dim=2:perturb=0.1",
                     "--schedule", "wsd,warmup_steps=10", "--grid", "warmup_steps=10,40", "--dry-run"]) == 0
    assert "(both): 48 trajectories" in capsys.readouterr().out  # 8 learning rates x 2 warm-ups x 3 seeds (seeded starts)
    for flag, message in [("warmup_cosin", "--schedule: unknown schedule 'warmup_cosin'"),
                          ("linear,warmup_steps=2.5", "--schedule: must be an integer >= 0 (and < steps), got 2.5"),
                          ("linear,warmup_steps", "--schedule: must be NAME[,KEY=VALUE...]")]:
        code = cli.main(["run", "--suite", "quick", "--optimizers", "adam", "--schedule", flag, "--dry-run"])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and message in err, err
    # schedule-free runs beside scheduled AdamW, as it is: the schedule's end_value is not its own
    code = cli.main(["run", "--suite", "quick", "--optimizers", "adamw,schedule_free_adamw", "--problems",
                     "rosenbrock:dim=2:perturb=0.1", "--schedule", "warmup_cosine,warmup_steps=10",
                     "--grid", "end_value=0,0.001", "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0 and "adamw (both): 48 trajectories" in out and "schedule_free_adamw (both): 24 trajectories" in out


def test_a_suites_swept_schedule_parameter_survives_an_optimizers_override(tmp_path):
    path = tmp_path / "sched.toml"
    path.write_text(SUITE)
    s = suites.override(suites.load(path), optimizers=["adam"])
    assert s.grid["warmup_steps"] == [5, 10]
    assert len(s.configs_for(s.spec_for("adam"))) == 2
