"""pytest-benchmark JSON (`make perf-json OUT=file.json`): read it, check it, compare two files.

    gdbench compare A.json B.json [--fail-above 1.10]

Per benchmark (by `fullname`) present in both files: the min and the median
time of a call, their ratios B / A, each file's interquartile range, and
whether B is slower, with the evidence the files allow:

* `--benchmark-json` files hold every round's time (`stats.data`): then a
  one-sided Mann-Whitney U test (`bench.tracking.timegate`, the same as `gdbench compare`'s time gate;
  at least MIN_ROUNDS rounds each) gives the p-value that B's rounds tend to
  be slower than A's.
* Files holding statistics only (pytest-benchmark's saved runs without
  `--benchmark-save-data`) allow no test: what is left is whether the
  interquartile ranges are disjoint (`separated`: B's first quartile above
  A's third is `slower`, the reverse `faster`). Disjoint IQRs are evidence,
  not a significance level.

A benchmark regresses when its median ratio AND its min ratio exceed
`--fail-above` AND the evidence says slower (p < ALPHA, or without the rounds'
data, disjoint IQRs). Requiring the min too keeps a busy machine's slow
rounds, which raise the median but rarely the min, from failing a check.

`run` returns a `Comparison`; the command prints it, with the exit codes of
`gdbench compare` of results folders: 0 no regression (or no threshold), 1 a
regression, 2 bad input (not pytest-benchmark JSON, nothing in common) in one line.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.errors import ConfigError
from bench.tracking import timegate

#: Significance level of the rank test (one-sided); strict, since a file holds ~100 benchmarks.
ALPHA = 0.01
#: Fewer rounds than this in either file: no rank test (the normal approximation would not hold).
MIN_ROUNDS = 5
TOP_LEVEL = ("machine_info", "commit_info", "benchmarks", "datetime", "version")
STATS = ("min", "max", "mean", "stddev", "median", "iqr", "q1", "q3", "rounds")
COLUMNS = ["fullname", "group", "rounds_a", "rounds_b", "min_a", "min_b", "min_ratio", "median_a", "median_b",
           "median_ratio", "iqr_a", "iqr_b", "separated", "p_value"]


def is_json_path(path: str | Path) -> bool:
    """Whether a `compare` argument names a JSON file (rather than a results folder)."""
    return str(path).lower().endswith(".json")


def load(path: str | Path) -> dict[str, Any]:
    """Reads a pytest-benchmark JSON file and checks its schema; ConfigError (one line) otherwise."""
    where = str(path)
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(where, "no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(where, f"unreadable ({type(e).__name__})") from None
    except json.JSONDecodeError as e:
        raise ConfigError(where, f"not JSON ({e.msg} at line {e.lineno})") from None
    hint = "not pytest-benchmark JSON (write it with pytest --benchmark-json=FILE, e.g. make perf-json OUT=FILE)"
    if not isinstance(doc, dict):
        raise ConfigError(where, f"{hint}: the top level is not an object")
    missing = [k for k in TOP_LEVEL if k not in doc]
    if missing:
        raise ConfigError(where, f"{hint}: no {', '.join(missing)}")
    if not isinstance(doc["benchmarks"], list):
        raise ConfigError(where, f"{hint}: 'benchmarks' is not a list")
    seen = set()
    for i, b in enumerate(doc["benchmarks"]):
        name = b.get("fullname") if isinstance(b, dict) else None
        if not isinstance(name, str):
            raise ConfigError(f"{where}: benchmarks[{i}]", "has no fullname")
        if name in seen:
            raise ConfigError(f"{where}: benchmarks[{i}]", f"{name} appears twice")
        seen.add(name)
        stats = b.get("stats")
        bad = [k for k in STATS if not isinstance((stats or {}).get(k), (int, float))]
        if bad:
            raise ConfigError(f"{where}: {name}", f"stats lack numbers for {', '.join(bad)}")
        data = stats.get("data")
        if data is not None and (not isinstance(data, list) or len(data) != stats["rounds"]):
            raise ConfigError(f"{where}: {name}", "stats.data is not a list of one time per round")
    return doc


def rank_test(a, b) -> float:
    """One-sided p-value that B's rounds tend to be slower than A's (`timegate.mann_whitney_greater`);
    NaN when either has fewer than MIN_ROUNDS rounds (too few for the test)."""
    if min(len(a), len(b)) < MIN_ROUNDS:
        return float("nan")
    return timegate.mann_whitney_greater(a, b)


def _separated(sa: dict, sb: dict) -> str:
    if sb["q1"] > sa["q3"]:
        return "slower"
    if sb["q3"] < sa["q1"]:
        return "faster"
    return "overlap"


def _ratio(b: float, a: float) -> float:
    return b / a if a > 0 else float("nan")


def table(doc_a: dict[str, Any], doc_b: dict[str, Any]) -> pd.DataFrame:
    """One row per benchmark in both files (columns COLUMNS), in A's order."""
    in_b = {x["fullname"]: x for x in doc_b["benchmarks"]}
    rows = []
    for x in doc_a["benchmarks"]:
        y = in_b.get(x["fullname"])
        if y is None:
            continue
        sa, sb = x["stats"], y["stats"]
        data = sa.get("data") is not None and sb.get("data") is not None
        rows.append({
            "fullname": x["fullname"], "group": x.get("group") or "",
            "rounds_a": sa["rounds"], "rounds_b": sb["rounds"],
            "min_a": sa["min"], "min_b": sb["min"], "min_ratio": _ratio(sb["min"], sa["min"]),
            "median_a": sa["median"], "median_b": sb["median"], "median_ratio": _ratio(sb["median"], sa["median"]),
            "iqr_a": sa["iqr"], "iqr_b": sb["iqr"], "separated": _separated(sa, sb),
            "p_value": rank_test(sa["data"], sb["data"]) if data else float("nan"),
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def regressions(t: pd.DataFrame, threshold: float, alpha: float = ALPHA) -> pd.DataFrame:
    """The rows that regress past `threshold` (module docstring: both ratios and the evidence)."""
    tested = t["p_value"].notna()
    evidence = np.where(tested, t["p_value"] < alpha, t["separated"] == "slower")
    bad = (t["median_ratio"] > threshold) & (t["min_ratio"] > threshold) & evidence
    return t[bad.to_numpy()]


def _machine(doc: dict[str, Any]) -> str:
    m = doc.get("machine_info") or {}
    cpu = (m.get("cpu") or {}).get("brand_raw") or m.get("processor") or "?"
    jax = m.get("jax") or {}
    return f"{cpu}; {jax.get('device_kind', '?')} x {jax.get('device_count', '?')}; jax {jax.get('version', '?')}"


def render(t: pd.DataFrame, name_a: str, name_b: str, flagged: pd.DataFrame | None = None) -> str:
    """The table as text, regressions marked with '!'."""
    from io import StringIO

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from bench.reporting import fmt

    flagged_idx = set() if flagged is None else set(flagged.index)
    out = StringIO()
    console = Console(file=out, width=160, color_system=None, force_terminal=False)
    console.print(f"A: {name_a}\nB: {name_b}\ntimes of one call (pytest-benchmark rounds); B/A > 1: B is slower; "
                  f"IQRs: 'slower' when B's first quartile is above A's third; p: one-sided Mann-Whitney U test "
                  f"that B is slower ('-': the files lack the rounds' times, or fewer than {MIN_ROUNDS})",
                  soft_wrap=True)
    for group, part in t.groupby("group", sort=False):
        tab = Table(title=group or None, title_justify="left")  # names as Text: their '[params]' is not markup
        for col in ("benchmark", "min A", "min B", "B/A", "median A", "median B", "B/A", "IQRs", "p", "regression"):
            tab.add_column(col, justify="left" if col == "benchmark" else "right")
        for i, r in part.iterrows():
            tab.add_row(Text(r.fullname.split("::")[-1]), fmt.seconds(r.min_a), fmt.seconds(r.min_b),
                        f"{r.min_ratio:.3f}",
                        fmt.seconds(r.median_a), fmt.seconds(r.median_b), f"{r.median_ratio:.3f}", r.separated,
                        "-" if math.isnan(r.p_value) else f"{r.p_value:.2g}", "!" if i in flagged_idx else "")
        console.print(tab)
    return out.getvalue()


@dataclasses.dataclass(frozen=True)
class Comparison:
    """What `run` found: the table (COLUMNS), its rows above `fail_above` (None without a
    threshold) and notes (benchmarks in one file only, other machines)."""

    name_a: str
    name_b: str
    table: pd.DataFrame
    flagged: pd.DataFrame | None
    notes: list[str]
    fail_above: float | None

    @property
    def failed(self) -> bool:
        return self.flagged is not None and len(self.flagged) > 0

    def text(self) -> str:
        """The table and the notes (the command's standard output)."""
        out = render(self.table, self.name_a, self.name_b, self.flagged) + "".join(f"{n}\n" for n in self.notes)
        if self.flagged is not None and not len(self.flagged):
            out += f"no regression above {self.fail_above:g}x\n"
        return out

    def problems(self) -> list[str]:
        """Why the comparison failed, one line each (the command's standard error)."""
        return [f"{len(self.flagged)} regression(s) above {self.fail_above:g}x, marked '!'"] if self.failed else []


def run(path_a: str, path_b: str, fail_above: float | None = None) -> Comparison:
    """`gdbench compare A.json B.json`: the comparison of two files; ConfigError for bad input."""
    for where, path in (("RUN_A", path_a), ("RUN_B", path_b)):
        if not is_json_path(path):
            raise ConfigError(where, f"{path} is not a .json file: compare two pytest-benchmark JSON files, "
                                     f"or two results folders")
    doc_a, doc_b = load(path_a), load(path_b)
    t = table(doc_a, doc_b)
    if t.empty:
        raise ConfigError("RUN_A, RUN_B", f"{path_a} and {path_b} have no benchmark (fullname) in common")
    flagged = regressions(t, fail_above) if fail_above is not None else None
    notes = []
    only = len(doc_a["benchmarks"]) - len(t), len(doc_b["benchmarks"]) - len(t)
    if any(only):
        notes.append(f"not compared: {only[0]} benchmark(s) only in A, {only[1]} only in B")
    ma, mb = _machine(doc_a), _machine(doc_b)
    if ma != mb:
        notes.append(f"note: different machines or versions (A: {ma} / B: {mb}); ratios compare them too")
    return Comparison(str(path_a), str(path_b), t, flagged, notes, fail_above)
