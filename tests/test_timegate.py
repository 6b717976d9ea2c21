"""The time gate never cries wolf over a machine phase: time without optax's twin in the process is not gated.

The rounds of one run share its machine's phase (clock frequency, a
neighbour's load): two back-to-back runs of the same code may differ by 15% in
every round, which a test over rounds calls significant. Only the per-round
ratio to optax's twin (timed interleaved in the same process) cancels it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_compare_gates import make_run, run, seeded_times

from bench import cli
from bench.tracking import compare, timegate

ROUNDS = 88  # the rounds per cell of the false alarm this guards against
OPTS = ("adam", "gd", "momentum")


def phase(rng, factor: float) -> np.ndarray:
    """One run's rounds: 1 ms per step, 2% round-to-round noise, all scaled by the run's machine phase."""
    return factor * seeded_times(rng, ROUNDS, 1e-3, 0.02)


def twinless(folder):
    """The run without optax's rows: its time has the absolute basis only."""
    runs = pd.read_parquet(folder / "runs.parquet")
    runs[runs["impl"] == "gdbench"].to_parquet(folder / "runs.parquet", index=False)
    return folder


def test_a_machine_phase_is_no_alarm_on_the_absolute_basis(tmp_path, capsys):
    rng = np.random.default_rng(24)
    a = twinless(make_run(tmp_path / "a", times={(o, "gdbench"): phase(rng, 1.0) for o in OPTS}))
    b = twinless(make_run(tmp_path / "b", times={(o, "gdbench"): phase(rng, 1.15) for o in OPTS}))
    # what the test over rounds would have said: B slower beyond doubt (the false alarm of issue 24.5)
    xa, xb = (timegate.samples(pd.read_parquet(f / "runs.parquet"), "gdbench") for f in (a, b))
    key = next(iter(xa))
    assert xa[key][1] == "absolute" and timegate.mann_whitney_greater(xa[key][0], xb[key][0]) < 1e-10

    code, out, err = run(["compare", str(a), str(b), "--fail-above", "1.10"], capsys)
    assert code == 0, out + err
    rows = [ln.split("│") for ln in out.splitlines() if ln.startswith("│") and "absolute" in ln]
    assert len(rows) == 2 * len(OPTS) and all(r[-3].strip() == compare.NOT_GATED and r[-2].strip() == ""
                                              for r in rows), out
    assert f"time of {2 * len(OPTS)} cell(s) not gated (absolute basis, no twin measured in the same process)" in out
    assert not err

    # opted in, the threshold on the ratio of medians is all there is: 15% passes 1.25 and fails 1.10
    assert run(["compare", str(a), str(b), "--fail-above", "1.10", "--absolute-above", "1.25"], capsys)[0] == 0
    code, out, err = run(["compare", str(a), str(b), "--fail-above", "1.10", "--absolute-above", "1.10",
                          "--on", "time"], capsys)
    assert code == cli.EXIT_REGRESSION and f"{2 * len(OPTS)} regression(s) above 1.1x (time)" in err
    code, _, err = run(["compare", str(a), str(b), "--absolute-above", "1.10"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--absolute-above" in err


def test_a_15_percent_slowdown_vs_optax_is_caught_through_a_machine_phase(tmp_path, capsys):
    """B's machine 15% slower for both implementations, and our gd 15% slower again: only gd is flagged."""
    rng = np.random.default_rng(5)
    times_a = {(o, i): phase(rng, 1.0) for o in OPTS for i in ("gdbench", "optax")}
    times_b = {(o, i): phase(rng, 1.15) for o in OPTS for i in ("gdbench", "optax")}
    times_b[("gd", "gdbench")] = phase(rng, 1.15 * 1.15)
    a, b = make_run(tmp_path / "a", times=times_a), make_run(tmp_path / "b", times=times_b)
    code, out, err = run(["compare", str(a), str(b), "--fail-above", "1.10", "--on", "time"], capsys)
    assert code == 1, out
    rows = [ln.split("│") for ln in out.splitlines() if ln.startswith("│")]
    assert [r[1].strip() for r in rows if r[-2].strip() == "!"] == ["gd", "gd"]  # on both problems
    assert all("vs optax" in "".join(r) for r in rows if r[1].strip() in OPTS)


def test_no_threshold_no_gate_and_holm_counts_only_the_tested_rows():
    rng = np.random.default_rng(3)
    frame = [pd.DataFrame({"instance": "p", "optimizer": o, "impl": "gdbench",
                           "program_step_times_s": [list(phase(rng, f))]}) for o, f in (("x", 1.0), ("y", 1.0))]
    other = [pd.DataFrame({"instance": "p", "optimizer": o, "impl": "gdbench",
                           "program_step_times_s": [list(phase(rng, f))]}) for o, f in (("x", 1.3), ("y", 1.0))]
    g = timegate.gate(pd.concat(frame), pd.concat(other), [("p", "x"), ("p", "y")], None, 0.01)
    assert not g["gated"].any() and not g["regression"].any() and g["p"].isna().all() and g["ci_low"].isna().all()
    g = timegate.gate(pd.concat(frame), pd.concat(other), [("p", "x"), ("p", "y")], 1.1, 0.01, absolute_above=1.2)
    assert g["regression"].tolist() == [True, False] and math.isclose(g["ratio"][0], 1.3, rel_tol=0.05)


TWINLESS = """
name = "twinless"
steps = 300
seeds = 1
optimizers = ["gd", "momentum", "nesterov"]
impls = ["gdbench"]
repeats = 30
dtype = "float64"
[[problems]]
name = "quadratic"
args = { dim = 50, condition_number = 10.0 }
"""


@pytest.mark.slow  # six real runs, a few seconds each
def test_back_to_back_runs_of_a_twinless_suite_never_alarm(tmp_path, capsys):
    config = tmp_path / "twinless.toml"
    config.write_text(TWINLESS)

    def fresh(name):
        code = cli.main(["run", "--config", str(config), "--out", str(tmp_path / name), "--no-progress",
                         "--no-report"])
        assert code == 0, capsys.readouterr().err
        (folder,) = (tmp_path / name).iterdir()
        return folder

    ratios = []
    for pair in range(3):
        a, b = fresh(f"a{pair}"), fresh(f"b{pair}")
        code, out, err = run(["compare", str(a), str(b), "--fail-above", "1.10"], capsys)
        assert code == 0, out + err
        result = compare.run(str(a), str(b), 1.10)
        assert (result.table["basis"] == "absolute").all() and not result.table["gated"].any()
        ratios += result.table["gate_ratio"].tolist()
    print("back-to-back time ratios B/A:", " ".join(f"{r:.3f}" for r in ratios))
