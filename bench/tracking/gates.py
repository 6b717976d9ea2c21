"""The deterministic gates of `gdbench compare`: convergence and compiled cost.

Convergence. Per trajectory (instance, optimizer, impl, config_id,
hyperparams, seed): the first hit of each target of the ladder (`steps_to_1e-1`
...), the final loss, whether and when it diverged. A compiled program run on
one platform gives the same numbers bit for bit every time, so on the same
platform (`platform()`: backend, device kind and count, CPU model, numbers and
instruction sets (one model name may cover AVX2 and AVX-512 machines), XLA flags
and compile options, and the versions of jax, jaxlib, optax and numpy) any
change is flagged.

Across platforms the numbers may differ in the last bits: another CPU's vector
width changes the order of a reduction's additions (XLA:CPU compiles for the
CPU it runs on; AVX2 and AVX-512 machines differ), and another XLA version may
fuse differently. Such a difference starts at about one unit in the last place
(relative 6e-8 in float32, 1e-16 in float64) and grows along the trajectory as
rounding differences do (bench/core/xla.py measured relative 1e-6 in float32 and
1e-14 in float64 after 2,000 steps on a quadratic). So across platforms:

* a final loss may move by `LOSS_RTOL[dtype]` (1e-3 in float32, 1e-8 in float64:
  over 100x the drift measured, and far below the change of a different update
  rule or hyperparameter) relative to the larger of |final loss| and the initial
  gap |f(x_0) - f_ref| (a loss near an optimum of 0 has no relative scale);
* a first hit (or the divergence step) may move by `STEPS_ATOL` steps or
  `STEPS_RTOL` of itself, whichever is more (2 steps, 1%): a last-bit difference
  moves a first hit only when the loss crosses the target within rounding of it,
  and then by a step; a miss counts as the run's length + 1, so a target hit on
  the very last step of one run and missed by the other is within it;
* a trajectory that diverged in one run and not in the other is always flagged.

Chaotic trajectories (a multimodal problem stepped with a large learning rate)
can amplify a last-bit difference beyond any tolerance; the `ci` suite runs in
float64 and for 200 steps, so amplification would need a growth of 1e8 over
them. What is within tolerance is still listed, marked as such.

Compiled cost (bench/tracking/costs.py) is a count over the optimized program: the same
on every CPU for one jax/jaxlib version and backend, so it is compared exactly
then; with other versions its changes are listed but not flagged (a new XLA
changes fusion decisions without any change of ours).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from bench.errors import ConfigError
from bench.tracking.costs import METRICS as COST_METRICS

KEY = ["instance", "optimizer", "impl", "config_id", "hyperparams", "seed"]
COST_KEY = ["instance", "optimizer", "impl", "dtype"]
VERSIONS = ("jax", "jaxlib", "optax", "numpy")
#: meta.json's device fields that name the CPU (`bench.runs.results.device_info`).
CPU_FIELDS = ("host_cpu", "host_cpu_id", "host_isa")
LOSS_RTOL = {"float32": 1e-3, "float64": 1e-8}
STEPS_RTOL = 0.01
STEPS_ATOL = 2
CHANGE_COLUMNS = ["gate", "instance", "optimizer", "impl", "where", "metric", "a", "b", "flagged", "note"]
#: The suite fields that decide the trajectories: runs that differ in one are runs of different suites
#: (`tuning`: held-out selection seeds, absent in most suites, so that a run with them is compared only
#: with runs chosen on the same seeds; its trajectories' keys differ in `seed` between the phases).
SUITE_FIELDS = ("name", "steps", "seeds", "dtype", "targets", "grid", "target_kind", "tuning")
#: A suite field that a run's meta.json may lack (written before the field existed): the value it had then.
SUITE_FIELD_DEFAULTS = {"target_kind": "relative"}


def suite_identity(meta: dict) -> dict:
    """What makes two runs comparable, from a meta.json: its suite's SUITE_FIELDS, lists and
    tuples alike (JSON turns one into the other). `compare` refuses runs whose identities
    differ; `history` keeps them in different series."""
    def canonical(v):
        if isinstance(v, (list, tuple)):
            return [canonical(x) for x in v]
        return {k: canonical(x) for k, x in sorted(v.items())} if isinstance(v, dict) else v

    suite = meta.get("suite") or {}
    return {field: canonical(suite.get(field, SUITE_FIELD_DEFAULTS.get(field))) for field in SUITE_FIELDS}


def suite_key(meta: dict) -> str:
    """`suite_identity` as one string: equal for comparable runs, different otherwise."""
    return json.dumps(suite_identity(meta), sort_keys=True, default=str)


def check_same_suite(meta_a: dict, meta_b: dict, name_a: str, name_b: str) -> None:
    """ConfigError naming the first suite field that differs: such runs are not comparable."""
    ia, ib = suite_identity(meta_a), suite_identity(meta_b)
    for field in SUITE_FIELDS:
        if ia[field] != ib[field]:
            va, vb = ((m.get("suite") or {}).get(field, SUITE_FIELD_DEFAULTS.get(field)) for m in (meta_a, meta_b))
            raise ConfigError("RUN_A, RUN_B", f"runs of different suites: suite.{field} is {va!r} in {name_a} "
                                              f"and {vb!r} in {name_b}")


def ladder_columns(runs: pd.DataFrame) -> list[str]:
    """The first-hit columns of the target ladder (`steps_to_1e-1` ...), not the primary target's copy."""
    return [c for c in runs.columns if c.startswith("steps_to_") and c != "steps_to_target"]


def platform(meta: dict) -> dict:
    """What decides the exact numbers of a run, from its meta.json."""
    device = meta.get("device") or {}
    versions = meta.get("versions") or {}
    return {
        "backend": device.get("backend"), "device_kind": device.get("device_kind"),
        "device_count": device.get("device_count"), "host_cpu": device.get("host_cpu"),
        "host_cpu_id": device.get("host_cpu_id"), "host_isa": device.get("host_isa"),
        "xla_flags": device.get("xla_flags"), "compile_options": device.get("compile_options"),
        **{v: versions.get(v) for v in VERSIONS},
    }


def platform_differences(meta_a: dict, meta_b: dict) -> list[str]:
    """The platform fields that differ; an unknown CPU (model, numbers or instruction sets: runs
    written before they were recorded) counts as different, as the CPU decides the last bits."""
    pa, pb = platform(meta_a), platform(meta_b)
    return [k for k in pa if pa[k] != pb[k] or (k in CPU_FIELDS and pa[k] is None)]


def _equal(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (np.isnan(a) and np.isnan(b))
    return a == b


def _steps_within(a: float, b: float, length: float) -> bool:
    a, b = (length + 1 if np.isinf(v) else v for v in (a, b))
    return abs(a - b) <= max(STEPS_ATOL, STEPS_RTOL * min(a, b))


def _loss_within(a: float, b: float, gap: float, dtype: str) -> bool:
    if not (np.isfinite(a) and np.isfinite(b)):
        return _equal(a, b)
    scale = max(abs(a), abs(b), abs(gap) if np.isfinite(gap) else 0.0)
    return abs(a - b) <= LOSS_RTOL.get(dtype, LOSS_RTOL["float32"]) * scale


def _where(row) -> str:
    return f"config {int(row['config_id'])}, seed {int(row['seed'])}"


def convergence_changes(runs_a: pd.DataFrame, runs_b: pd.DataFrame, exact: bool) -> pd.DataFrame:
    """Every change of a trajectory's deterministic metrics (CHANGE_COLUMNS), flagged
    when `exact` (same platform) or beyond the cross-platform tolerance."""
    ladder = [c for c in ladder_columns(runs_a) if c in runs_b.columns]
    metrics = [*ladder, "final_loss", "diverged", "diverged_step"]
    a = runs_a.set_index(KEY)
    b = runs_b.set_index(KEY)
    out = []
    for key in a.index.intersection(b.index, sort=False):
        ra, rb = a.loc[key], b.loc[key]
        if isinstance(ra, pd.DataFrame) or isinstance(rb, pd.DataFrame):  # duplicate keys: compare the first
            ra, rb = (r.iloc[0] if isinstance(r, pd.DataFrame) else r for r in (ra, rb))
        row = dict(zip(KEY, key))
        length = float(ra.get("steps", np.inf))
        for m in metrics:
            va, vb = ra[m], rb[m]
            va, vb = (v.item() if hasattr(v, "item") else v for v in (va, vb))
            if _equal(va, vb):
                continue
            if exact:
                flagged, note = True, ""
            elif m == "diverged":
                flagged, note = True, ""
            elif m == "final_loss":
                gap = float(ra.get("initial_loss", np.nan)) - float(ra.get("f_ref", np.nan))
                flagged = not _loss_within(float(va), float(vb), gap, str(ra.get("dtype", "float32")))
                note = "" if flagged else "within the cross-platform tolerance"
            else:
                v1, v2 = (np.inf if (m == "diverged_step" and v < 0) else float(v) for v in (va, vb))
                flagged = not _steps_within(v1, v2, length)
                note = "" if flagged else "within the cross-platform tolerance"
            out.append(dict(gate="convergence", instance=row["instance"], optimizer=row["optimizer"],
                            impl=row["impl"], where=_where(row), metric=m, a=va, b=vb, flagged=flagged, note=note))
    return pd.DataFrame(out, columns=CHANGE_COLUMNS)


def cost_changes(costs_a: pd.DataFrame, costs_b: pd.DataFrame, exact: bool) -> pd.DataFrame:
    """Every change of a compiled step's cost (CHANGE_COLUMNS); flagged when `exact`."""
    if costs_a.empty or costs_b.empty:
        return pd.DataFrame(columns=CHANGE_COLUMNS)
    a = costs_a.drop_duplicates(COST_KEY).set_index(COST_KEY)
    b = costs_b.drop_duplicates(COST_KEY).set_index(COST_KEY)
    out = []
    for key in a.index.intersection(b.index, sort=False):
        for m in COST_METRICS:
            if m not in a.columns or m not in b.columns:
                continue
            va, vb = float(a.loc[key, m]), float(b.loc[key, m])
            if _equal(va, vb):
                continue
            out.append(dict(gate="cost", instance=key[0], optimizer=key[1], impl=key[2], where=key[3], metric=m,
                            a=va, b=vb, flagged=exact, note="" if exact else "other jax/jaxlib: not gated"))
    return pd.DataFrame(out, columns=CHANGE_COLUMNS)


def _value(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)) or (isinstance(v, float) and v.is_integer()):
        return str(int(v))
    return "inf" if isinstance(v, float) and np.isinf(v) else f"{v:.17g}"


def render_changes(changes: pd.DataFrame) -> str:
    """One line per change: '!' when flagged, the gate, the cell, the metric, A -> B."""
    lines = []
    for r in changes.itertuples():
        line = (f"{'!' if r.flagged else ' '} {r.gate}: {r.instance} / {r.optimizer} ({r.impl}, {r.where}): "
                f"{r.metric} {_value(r.a)} -> {_value(r.b)}")
        lines.append(line + (f" ({r.note})" if r.note else ""))
    return "\n".join(lines) + ("\n" if lines else "")


def deterministic_changes(ta: dict, ma: dict, tb: dict, mb: dict) -> tuple[pd.DataFrame, list[str]]:
    """The convergence and compiled-cost changes (CHANGE_COLUMNS) of two runs' tables and
    meta.json, exact on one platform, tolerant across; and notes on how they were judged."""
    differs = platform_differences(ma, mb)
    exact = not differs
    pa, pb = platform(ma), platform(mb)
    cost_exact = all(pa[k] == pb[k] and pa[k] is not None for k in ("backend", "jax", "jaxlib"))
    notes = []
    if not exact:
        notes.append(f"note: other platform ({', '.join(differs)} differ or are unknown): convergence compared "
                     f"within the cross-platform tolerance (bench/tracking/gates.py)")
    if not cost_exact and len(ta.get("costs", [])) and len(tb.get("costs", [])):
        notes.append("note: other backend or jax/jaxlib version: compiled-cost changes are listed, not gated")
    conv = convergence_changes(ta["runs"], tb["runs"], exact)
    cost = cost_changes(ta.get("costs", pd.DataFrame()), tb.get("costs", pd.DataFrame()), cost_exact)
    changes = pd.concat([c for c in (conv, cost) if len(c)], ignore_index=True) if len(conv) or len(cost) else conv
    return changes, notes
