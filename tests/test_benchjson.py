"""`gdbench compare A.json B.json`: pytest-benchmark JSON read, checked and compared."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench import cli
from bench.tracking import benchjson


def bench_doc(times: dict[str, list[float]], keep_data: bool = True, jax_version: str = "0.10.2") -> dict:
    """A pytest-benchmark JSON document with these rounds per benchmark (stats as pytest-benchmark computes them)."""
    out = []
    for name, data in times.items():
        d = np.asarray(data)
        q1, q3 = np.percentile(d, [25, 75])
        stats = {"min": d.min(), "max": d.max(), "mean": d.mean(), "stddev": d.std(ddof=1), "median": np.median(d),
                 "iqr": q3 - q1, "q1": q1, "q3": q3, "rounds": len(d), "iterations": 1, "ops": 1 / d.mean(),
                 "total": d.sum()}
        stats = {k: float(v) if k not in ("rounds", "iterations") else int(v) for k, v in stats.items()}
        if keep_data:
            stats["data"] = d.tolist()
        out.append({"group": "g", "name": name, "fullname": f"tests/perf/t.py::{name}", "params": None,
                    "param": None, "extra_info": {}, "options": {}, "stats": stats})
    return {"machine_info": {"cpu": {"brand_raw": "Test CPU"}, "jax": {"version": jax_version}},
            "commit_info": {}, "benchmarks": out, "datetime": "2026-12-01T00:00:00", "version": "5.2.3"}


def write(path, doc):
    path.write_text(json.dumps(doc))
    return str(path)


def rounds(center: float, n: int = 20, spread: float = 0.02, seed: int = 0) -> list[float]:
    return (center * (1 + spread * np.random.default_rng(seed).standard_normal(n))).tolist()


def test_a_real_slowdown_regresses_and_noise_does_not(tmp_path, capsys):
    a = write(tmp_path / "a.json", bench_doc({"t[same]": rounds(1e-3), "t[slower]": rounds(1e-3, seed=1),
                                              "t[only_a]": rounds(1.0)}))
    b = write(tmp_path / "b.json", bench_doc({"t[same]": rounds(1e-3, seed=2), "t[slower]": rounds(1.3e-3, seed=3)},
                                             jax_version="0.11.0"))
    assert cli.main(["compare", a, b, "--fail-above", "1.1"]) == 1
    out, err = capsys.readouterr()
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("│ t[")}
    assert sorted(lines) == ["t[same]", "t[slower]"]  # the names in full: '[...]' is not read as markup
    assert lines["t[slower]"].rstrip(" │").endswith("!") and not lines["t[same]"].rstrip(" │").endswith("!")
    assert "1 regression(s) above 1.1x" in err and "1 benchmark(s) only in A" in out
    assert "different machines or versions" in out
    assert cli.main(["compare", a, b]) == 0  # no threshold: a table only


def test_rank_test_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a, b = np.round(rng.normal(1.0, 0.1, 25), 2), np.round(rng.normal(1.05, 0.1, 30), 2)  # with ties
    ref = stats.mannwhitneyu(b, a, alternative="greater", method="asymptotic", use_continuity=True).pvalue
    assert benchjson.rank_test(a, b) == pytest.approx(ref, rel=1e-9)
    assert np.isnan(benchjson.rank_test(a[:4], b))


def test_stats_only_files_use_disjoint_iqrs(tmp_path):
    spread = np.linspace(1.0, 2.0, 20)
    a = bench_doc({"x": rounds(1e-3), "y": (1e-3 * spread).tolist()}, keep_data=False)
    b = bench_doc({"x": rounds(1.3e-3, seed=5), "y": (1.2e-3 * spread).tolist()}, keep_data=False)
    t = benchjson.table(a, b)
    assert t["p_value"].isna().all()
    # x: 30% slower, IQRs disjoint; y: min and median 20% slower, but its rounds spread over A's: no evidence.
    assert list(t["separated"]) == ["slower", "overlap"] and (t["min_ratio"] > 1.1).all()
    assert list(benchjson.regressions(t, 1.1)["fullname"]) == ["tests/perf/t.py::x"]


def test_only_the_median_being_up_is_not_a_regression(tmp_path):
    # A busy machine: half of B's rounds are slow, its fastest ones are as fast as A's.
    a = bench_doc({"x": rounds(1e-3, n=30)})
    slow = rounds(1e-3, n=30, seed=7)
    b = bench_doc({"x": slow[:14] + [v * 1.6 for v in slow[14:]]})
    t = benchjson.table(a, b)
    assert t.loc[0, "median_ratio"] > 1.1 and t.loc[0, "min_ratio"] < 1.1
    assert benchjson.regressions(t, 1.1).empty


@pytest.mark.parametrize("content, message", [
    ("{", "not JSON"),
    ("[1, 2]", "the top level is not an object"),
    (json.dumps({"schema_version": 1, "suite": {}}), "not pytest-benchmark JSON"),
    (json.dumps({**bench_doc({}), "benchmarks": {}}), "'benchmarks' is not a list"),
    (json.dumps({**bench_doc({}), "benchmarks": [{"name": "x"}]}), "has no fullname"),
    (json.dumps({**bench_doc({}), "benchmarks": [{"fullname": "x", "stats": {"min": 1}}]}), "stats lack numbers"),
])
def test_other_json_is_one_line_and_exit_2(tmp_path, capsys, content, message):
    (tmp_path / "bad.json").write_text(content)
    good = write(tmp_path / "good.json", bench_doc({"x": rounds(1.0)}))
    assert cli.main(["compare", good, str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gdbench: error: ") and message in err, err


def test_json_and_folder_mixed_or_nothing_in_common_is_exit_2(tmp_path, capsys):
    a = write(tmp_path / "a.json", bench_doc({"x": rounds(1.0)}))
    b = write(tmp_path / "b.json", bench_doc({"y": rounds(1.0)}))
    assert cli.main(["compare", a, str(tmp_path)]) == 2
    assert "is not a .json file" in capsys.readouterr().err
    assert cli.main(["compare", a, b]) == 2
    assert "no benchmark (fullname) in common" in capsys.readouterr().err
    assert cli.main(["compare", a, str(tmp_path / "missing.json")]) == 2
    assert "no such file" in capsys.readouterr().err
