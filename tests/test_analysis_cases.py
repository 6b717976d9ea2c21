"""Shared set-up of the analysis, report and compare tests: hand-made runs tables
and the committed results folder tests/fixtures/run (no tests here)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import optimizers

FIXTURE_RUN = Path(__file__).parent / "fixtures" / "run"
INF = float("inf")


def hyperparams(optimizer: str, **over) -> str:
    """The `hyperparams` JSON of a configuration: the optimizer's defaults with `over`."""
    spec = optimizers.get(optimizer)
    return json.dumps({**{k: v for k, v in spec.defaults.items()}, **over}, sort_keys=True)


def make_runs(rows: list[dict]) -> pd.DataFrame:
    """A runs table from the fields a test cares about; the rest get neutral values."""
    out = []
    for i, r in enumerate(rows):
        row = {"run_id": i, "instance": "P", "problem": "p", "dim": 2, "optimizer": "adam", "impl": "gdbench",
               "config_id": 0, "seed": 0, "steps_to_target": INF, "final_subopt": 1.0, "diverged": False,
               "steps": 200, "program_step_s": 1e-3, "lanes": 1, "initial_loss": 10.0, "f_ref": 0.0, "best_loss": 1.0,
               "time_ratio_vs_optax": np.nan, "target": 1e-6, **r}
        if "hyperparams" not in r:
            row["hyperparams"] = hyperparams(row["optimizer"], learning_rate=row.get("learning_rate", 1e-3))
        row.setdefault("learning_rate", json.loads(row["hyperparams"]).get("learning_rate"))
        row.setdefault("lane_step_s", row["program_step_s"] / row["lanes"])
        row.setdefault("lane_time_to_target_s", row["steps_to_target"] * row["lane_step_s"])
        row.setdefault("program_time_to_target_s", row["steps_to_target"] * row["program_step_s"])
        out.append(row)
    return pd.DataFrame(out)


def copy_run(dest: Path) -> Path:
    """A writable copy of the committed results folder."""
    shutil.copytree(FIXTURE_RUN, dest)
    return dest


@pytest.fixture(scope="session")
def fixture_report(tmp_path_factory) -> Path:
    """The committed results folder, copied, with its report written by `gdbench report` (once)."""
    from bench import cli

    folder = copy_run(tmp_path_factory.mktemp("report") / "run")
    assert cli.main(["report", str(folder)]) == 0
    return folder
