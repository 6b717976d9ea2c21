"""gdbench compare's gates: deterministic metrics (convergence, compiled cost) flagged on any
change on one platform, within a documented tolerance across platforms; time regressions only
where a test on the repeats finds them; baselines; bad input as exit 2."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from test_analysis_cases import FIXTURE_RUN, copy_run

from bench import cli
from bench.tracking import baseline, gates, timegate

HOST = "Test CPU 9000"


def make_run(dest, host=HOST, times=None, costs=None):
    """A copy of the fixture run with a CPU model in meta.json, a costs table and per-round step times.

    times: {(optimizer, impl): array of seconds per step per round}; the default is
    the same 20 rounds of 1 ms (+ a deterministic ramp) for every cell.
    """
    folder = copy_run(dest)
    meta = json.loads((folder / "meta.json").read_text())
    meta["device"].update(host_cpu=host, host_cpu_id="TestVendor family 1 model 1", host_isa="avx avx2 fma")
    meta["versions"] = {"jax": "0.10.2", "jaxlib": "0.10.2", "optax": "0.2.8", "numpy": "2.4.6"}
    (folder / "meta.json").write_text(json.dumps(meta))
    runs = pd.read_parquet(folder / "runs.parquet")
    base = 1e-3 * (1 + 0.01 * np.arange(20))
    runs["program_step_times_s"] = [list((times or {}).get((o, i), base)) for o, i in zip(runs["optimizer"], runs["impl"])]
    runs.to_parquet(folder / "runs.parquet", index=False)
    cells = runs[["problem", "instance", "optimizer", "impl", "dtype"]].drop_duplicates()
    cost = costs if costs is not None else cells.assign(flops=100.0, bytes_accessed=400.0, transcendentals=0.0,
                                                        fusions=3.0)
    cost.to_parquet(folder / "costs.parquet", index=False)
    return folder


def edit(folder, table, mask_fn, col, fn):
    df = pd.read_parquet(folder / f"{table}.parquet")
    mask = mask_fn(df)
    df.loc[mask, col] = fn(df.loc[mask, col])
    df.to_parquet(folder / f"{table}.parquet", index=False)
    return mask.sum()


def run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def first_hit_row(df):
    """One trajectory of adam on the quadratic with a finite first hit of 1e-1."""
    hit = (df["optimizer"] == "adam") & df["instance"].str.startswith("quadratic") & np.isfinite(df["steps_to_1e-1"])
    return hit & (df.index == hit.idxmax())


def test_identical_runs_pass(tmp_path, capsys):
    a, b = make_run(tmp_path / "a"), make_run(tmp_path / "b")
    code, out, err = run(["compare", str(a), str(b), "--fail-above", "1.10"], capsys)
    assert code == 0, out + err
    assert "deterministic metrics (convergence, compiled cost): no change" in out
    assert "vs optax" in out and "no regression above 1.1x" in out


def test_one_step_of_one_first_hit_fails_naming_it(tmp_path, capsys):
    a, b = make_run(tmp_path / "a"), make_run(tmp_path / "b")
    assert edit(b, "runs", first_hit_row, "steps_to_1e-1", lambda s: s + 1) == 1
    code, out, err = run(["compare", str(a), str(b)], capsys)
    assert code == 1
    lines = [ln for ln in out.splitlines() if ln.startswith("!")]
    assert len(lines) == 1 and "quadratic" in lines[0] and "/ adam (gdbench" in lines[0] and "steps_to_1e-1" in lines[0]
    assert "1 flagged change" in err


def test_across_platforms_a_step_is_within_tolerance_and_ten_percent_is_not(tmp_path, capsys):
    a, b = make_run(tmp_path / "a"), make_run(tmp_path / "b", host="Other CPU with AVX-512")
    edit(b, "runs", first_hit_row, "steps_to_1e-1", lambda s: s + 1)
    code, out, _ = run(["compare", str(a), str(b)], capsys)
    assert code == 0 and "within the cross-platform tolerance" in out and "host_cpu" in out
    edit(b, "runs", first_hit_row, "steps_to_1e-1", lambda s: s * 1.1 + 5)
    assert run(["compare", str(a), str(b)], capsys)[0] == 1


def test_final_loss_tolerance_across_platforms_is_the_dtypes(tmp_path, capsys):
    a, b = make_run(tmp_path / "a"), make_run(tmp_path / "b", host="Other CPU")
    runs = pd.read_parquet(a / "runs.parquet")
    gap = (runs["initial_loss"] - runs["f_ref"]).abs().max()
    edit(b, "runs", lambda d: d.index == 0, "final_loss", lambda s: s + 1e-5 * gap)  # float32 rtol 1e-3
    assert run(["compare", str(a), str(b)], capsys)[0] == 0
    edit(b, "runs", lambda d: d.index == 0, "final_loss", lambda s: s + 1e-2 * gap)
    code, out, _ = run(["compare", str(a), str(b)], capsys)
    assert code == 1 and "final_loss" in out


def test_one_extra_fusion_fails_naming_the_optimizer(tmp_path, capsys):
    a, b = make_run(tmp_path / "a"), make_run(tmp_path / "b")
    edit(b, "costs", lambda d: (d["optimizer"] == "momentum") & (d["impl"] == "gdbench")
         & d["instance"].str.startswith("rosenbrock"), "fusions", lambda s: s + 1)
    code, out, _ = run(["compare", str(a), str(b)], capsys)
    flagged = [ln for ln in out.splitlines() if ln.startswith("!")]
    assert code == 1 and len(flagged) == 1 and "cost: rosenbrock" in flagged[0]
    assert "/ momentum (gdbench" in flagged[0] and "fusions 3 -> 4" in flagged[0]


def test_costs_of_another_jax_are_listed_not_gated(tmp_path, capsys):
    a, b = make_run(tmp_path / "a"), make_run(tmp_path / "b")
    meta = json.loads((b / "meta.json").read_text())
    meta["versions"]["jaxlib"] = "0.11.0"
    (b / "meta.json").write_text(json.dumps(meta))
    edit(b, "costs", lambda d: d["optimizer"] == "gd", "flops", lambda s: s * 2)
    code, out, _ = run(["compare", str(a), str(b)], capsys)
    assert code == 0 and "not gated" in out and "flops 100 -> 200" in out


def seeded_times(rng, n, scale, noise):
    return scale * (1 + noise * rng.standard_normal(n)).clip(0.5)


def test_a_25_percent_slower_optimizer_fails_naming_it(tmp_path, capsys):
    rng = np.random.default_rng(0)
    times_a = {(o, i): seeded_times(rng, 30, 1e-3, 0.05) for o in ("adam", "gd", "momentum") for i in ("gdbench", "optax")}
    times_b = {(o, i): seeded_times(rng, 30, 1e-3, 0.05) for o in ("adam", "gd", "momentum") for i in ("gdbench", "optax")}
    times_b[("gd", "gdbench")] = seeded_times(rng, 30, 1.25e-3, 0.05)
    a, b = make_run(tmp_path / "a", times=times_a), make_run(tmp_path / "b", times=times_b)
    code, out, err = run(["compare", str(a), str(b), "--fail-above", "1.10", "--on", "time"], capsys)
    assert code == 1, out
    rows = [ln.split("│") for ln in out.splitlines() if ln.startswith("│")]
    flagged = [r[1].strip() for r in rows if r[-2].strip() == "!"]
    assert flagged == ["gd", "gd"]  # on both problems
    assert "2 regression(s) above 1.1x (time)" in err


def test_pure_noise_never_fails(tmp_path, capsys):
    """Two samples of one distribution with 15% noise, 10 seeded trials: never a regression."""
    opts = [(o, i) for o in ("adam", "gd", "momentum") for i in ("gdbench", "optax")]
    for trial in range(10):
        rng = np.random.default_rng(100 + trial)
        a = make_run(tmp_path / f"a{trial}", times={k: seeded_times(rng, 10, 1e-3, 0.15) for k in opts})
        b = make_run(tmp_path / f"b{trial}", times={k: seeded_times(rng, 10, 1e-3, 0.15) for k in opts})
        code, out, err = run(["compare", str(a), str(b), "--fail-above", "1.10"], capsys)
        assert code == 0, f"trial {trial}:\n{out}{err}"


def test_the_twin_ratio_cancels_machine_speed():
    rng = np.random.default_rng(1)
    rows = []
    for label, speed in (("a", 1.0), ("b", 1.5)):  # B's machine is 1.5x slower, for ours and optax alike
        shared = speed * seeded_times(rng, 30, 1e-3, 0.1)
        rows.append(pd.DataFrame({"instance": "p", "optimizer": "adam", "impl": ["gdbench", "optax"],
                                  "program_step_times_s": [list(shared * 1.02), list(shared)]}))
    g = timegate.gate(rows[0], rows[1], [("p", "adam")], 1.10, 0.01)
    assert g["basis"].item() == "vs optax" and abs(g["ratio"].item() - 1) < 1e-9 and not g["regression"].item()
    # Without the twin the machine's 1.5x is all there is to see: not gated, unless a threshold on the
    # ratio of medians is asked for (tests/test_timegate.py)
    alone = [r[r["impl"] == "gdbench"] for r in rows]
    g = timegate.gate(*alone, [("p", "adam")], 1.10, 0.01)
    assert g["basis"].item() == "absolute" and not g["gated"].item() and not g["regression"].item()
    g = timegate.gate(*alone, [("p", "adam")], 1.10, 0.01, absolute_above=1.4)
    assert g["gated"].item() and g["regression"].item() and math.isnan(g["p"].item())


def u_statistic(a, b) -> float:
    """Pairs (b, a) with b > a, a tie counting half: U's definition."""
    diff = np.subtract.outer(np.asarray(b, float), np.asarray(a, float))
    return float((diff > 0).sum() + 0.5 * (diff == 0).sum())


@pytest.mark.parametrize("n, m", [(5, 5), (3, 8), (1, 6)])
def test_mann_whitney_small_samples_are_exact(n, m):
    """Against the permutation distribution itself: every split of the pooled values into n Bs and m As."""
    rng = np.random.default_rng(n * m)
    a, b = rng.normal(1, 0.2, m), rng.normal(1.15, 0.2, n)
    pooled, u = np.concatenate([a, b]), u_statistic(a, b)
    splits = [u_statistic(np.delete(pooled, list(bs)), pooled[list(bs)])
              for bs in itertools.combinations(range(n + m), n)]
    expected = np.mean(np.asarray(splits) >= u)
    # rel 1e-12: both are a count over C(n + m, n) splits, up to the rounding of a division
    assert timegate.mann_whitney_greater(a, b) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("n, m, digits", [(40, 30, None), (12, 15, 1), (40, 30, 1)])
def test_mann_whitney_large_or_tied_samples_use_the_normal_approximation(n, m, digits):
    """Against the textbook normal approximation of U: mean nm/2, variance with the tie
    correction, and a continuity correction of 1/2 (Lehmann, Nonparametrics, 1975, ch. 1)."""
    rng = np.random.default_rng(n * m)
    a, b = rng.normal(1, 0.2, m), rng.normal(1.15, 0.2, n)
    if digits is not None:  # ties
        a, b = np.round(a, digits), np.round(b, digits)
    total = n + m
    _, counts = np.unique(np.concatenate([a, b]), return_counts=True)
    var = n * m / 12 * (total + 1 - (counts**3 - counts).sum() / (total * (total - 1)))
    z = (u_statistic(a, b) - n * m / 2 - 0.5) / math.sqrt(var)
    # rel 1e-9: the same closed form, evaluated in another order
    assert timegate.mann_whitney_greater(a, b) == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)), rel=1e-9)


def test_ratio_interval_is_reproducible_and_holds_the_ratio_of_medians():
    rng = np.random.default_rng(3)
    a, b = rng.lognormal(0, 0.1, 20), 1.3 * rng.lognormal(0, 0.1, 20)
    lo, hi = timegate.ratio_interval(a, b, 0.99)
    assert (lo, hi) == timegate.ratio_interval(a, b, 0.99) != timegate.ratio_interval(a, b, 0.99, seed=1)
    assert lo < np.median(b) / np.median(a) < hi and lo > 1.0  # a 30% slowdown under 10% noise is out of it
    assert timegate.ratio_interval(a[:1], b, 0.99) == (np.median(b) / a[0],) * 2  # one repeat: no spread


def test_holm():
    assert np.allclose(timegate.holm(np.array([0.01, 0.04, np.nan, 0.03])), [0.03, 0.06, np.nan, 0.06],
                       equal_nan=True)


def test_baseline_round_trips_and_gates(tmp_path, capsys):
    a = make_run(tmp_path / "a")
    base = tmp_path / "baseline"
    code, out, _ = run(["baseline", str(a), "--out", str(base)], capsys)
    assert code == 0 and out == f"new baseline at {base}\nbaseline: {base} (from {a})\n"
    tables, meta = baseline.read(base)
    assert meta["baseline"] and len(tables["runs"]) == len(pd.read_parquet(a / "runs.parquet"))
    assert run(["compare", str(base), str(a)], capsys)[0] == 0  # floats read back bit for bit
    b = make_run(tmp_path / "b")
    edit(b, "runs", first_hit_row, "steps_to_1e-1", lambda s: s - 1)
    code, out, _ = run(["compare", str(base), str(b)], capsys)
    assert code == 1 and "steps_to_1e-1" in out
    code, out, _ = run(["baseline", str(b), "--out", str(base)], capsys)  # says what changed, then replaces
    assert code == 0 and out.startswith(f"1 change(s) against {base}:\n") and "steps_to_1e-1" in out
    assert run(["compare", str(base), str(b)], capsys)[0] == 0
    other = make_run(tmp_path / "other")
    meta = json.loads((other / "meta.json").read_text())
    (other / "meta.json").write_text(json.dumps({**meta, "suite": {**meta["suite"], "steps": 7}}))
    code, out, _ = run(["baseline", str(other), "--out", str(base)], capsys)  # another suite: replaced, not compared
    assert code == 0 and out.startswith("the suite changed (runs of different suites: suite.steps is ")
    assert "; no comparison\n" in out and baseline.read(base)[1]["suite"]["steps"] == 7


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    a = make_run(tmp_path / "a")
    other = make_run(tmp_path / "other")
    meta = json.loads((other / "meta.json").read_text())
    meta["suite"]["steps"] = 7
    (other / "meta.json").write_text(json.dumps(meta))
    (tmp_path / "empty").mkdir()
    for b, message in [(tmp_path / "empty", "not a results folder"), (other, "different suites: suite.steps")]:
        code, out, err = run(["compare", str(a), str(b)], capsys)
        assert code == 2 and err.count("\n") == 1 and message in err and out == ""
    assert run(["compare", str(a), str(a), "--alpha", "2"], capsys)[0] == 2


def test_platform_fields():
    meta = json.loads((FIXTURE_RUN / "meta.json").read_text())
    assert "host_cpu" in gates.platform_differences(meta, meta)  # unknown CPU: never exact


def test_a_really_slower_optimizer_fails_naming_it(tmp_path, monkeypatch, capsys):
    """Two real runs; in B our gd makes extra passes (three sines of its gradient, times zero: same numbers).

    Its time per step, against optax's twin timed beside it, grows far beyond 25%: the time gate
    flags gd and nothing else; the convergence gate sees no change.
    """
    import dataclasses

    import jax
    import jax.numpy as jnp
    import optax

    import optimizers
    from optimizers import registry

    config = tmp_path / "t.toml"
    config.write_text('name = "t"\nsteps = 200\nseeds = 1\noptimizers = ["gd", "momentum"]\n'
                      'impls = ["gdbench", "optax"]\nrepeats = 10\ndtype = "float32"\n[[problems]]\nname = "quadratic"\n'
                      'args = { dim = 20000, condition_number = 10.0, rotate = false }\n')

    def gate_run(name):
        code, _, err = run(["run", "--config", str(config), "--out", str(tmp_path / name), "--no-progress",
                            "--no-report"], capsys)
        assert code == 0, err
        (folder,) = (tmp_path / name).iterdir()
        return folder

    a = gate_run("a")
    gd = optimizers.get("gd")

    def slow_gd(**hyperparams):
        inner = gd.factory(**hyperparams)

        def update(grads, state, params=None):
            grads = jax.tree.map(lambda g: g + 0.0 * jnp.sin(jnp.sin(jnp.sin(g))), grads)
            return inner.update(grads, state, params)

        return optax.GradientTransformation(inner.init, update)

    monkeypatch.setitem(registry._SPECS, "gd", dataclasses.replace(gd, factory=slow_gd))
    b = gate_run("b")
    code, out, err = run(["compare", str(a), str(b), "--fail-above", "1.25", "--on", "time"], capsys)
    assert code == 1, out
    rows = [ln.split("│") for ln in out.splitlines() if ln.startswith("│")]
    assert [r[1].strip() for r in rows if r[-2].strip() == "!"] == ["gd"], out
    assert "1 regression(s) above 1.25x (time)" in err
    assert not [ln for ln in out.splitlines() + err.splitlines() if ln.startswith("! convergence")]  # same numbers
    assert "transcendentals 0 -> 60000" in out + err  # and the compiled-cost gate names the extra work


def test_one_model_name_with_other_instruction_sets_is_another_platform(tmp_path, capsys):
    """Virtual machines may name AVX2 and AVX-512 CPUs alike ("AMD EPYC"): their last bits still differ."""
    a, b = make_run(tmp_path / "a"), make_run(tmp_path / "b")
    for folder, isa, model in ((a, "avx avx2 fma", 1), (b, "avx avx2 avx512f fma", 17)):
        meta = json.loads((folder / "meta.json").read_text())
        meta["device"].update(host_isa=isa, host_cpu_id=f"AuthenticAMD family 25 model {model}")
        (folder / "meta.json").write_text(json.dumps(meta))
    assert gates.platform_differences(json.loads((a / "meta.json").read_text()),
                                      json.loads((b / "meta.json").read_text())) == ["host_cpu_id", "host_isa"]
    edit(b, "runs", first_hit_row, "steps_to_1e-1", lambda s: s + 1)
    code, out, _ = run(["compare", str(a), str(b)], capsys)
    assert code == 0 and "within the cross-platform tolerance" in out and "host_isa" in out


def test_the_cpu_is_named_by_its_numbers_and_vector_instruction_sets(monkeypatch):
    from bench.runs import results
    from bench.tracking import history

    x86 = {"vendor_id": "AuthenticAMD", "cpu family": "25", "model": "17", "model name": "AMD EPYC",
           "flags": "fpu smep avx512f sse2 avx2 fma avx aes"}
    monkeypatch.setattr(results, "_cpuinfo", lambda: x86)
    assert results.host_cpu_id() == "AuthenticAMD family 25 model 17"
    assert results.host_isa() == "avx avx2 avx512f fma sse2"  # sorted; not smep, aes
    device = {"device_kind": "cpu", "device_count": 2, "host_cpu": "AMD EPYC", "host_isa": results.host_isa()}
    assert history.machine_label({"device": device}) == "cpu x2 | AMD EPYC (AVX-512)"
    monkeypatch.setattr(results, "_cpuinfo", lambda: {"Features": "fp asimd sve sve2 crc32 bf16 i8mm"})
    assert results.host_isa() == "asimd bf16 i8mm sve sve2" and results.host_cpu_id() is None
    monkeypatch.setattr(results, "_cpuinfo", lambda: {})
    assert results.host_isa() is None and results.host_cpu_id() is None
