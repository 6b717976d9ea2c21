"""The static figures' layout: legends clear of titles and axes, inside the figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from test_analysis_cases import FIXTURE_RUN

import bench
from bench.reporting import plots
from bench.stats import analysis, tuning

LONG_INSTANCE = "quadratic(dim=5, condition_number=10.0, rotate=True, seed=0, mu=1.0, a_long_argument='x' * 20)"


def _boxes(fig):
    """(legend box, title boxes, axes boxes, figure box) in display units, after a draw."""
    FigureCanvasAgg(fig).draw()
    r = fig.canvas.get_renderer()
    (legend,) = fig.legends
    titles = [fig._suptitle] if fig._suptitle is not None else []
    titles += [t for ax in fig.axes for t in (ax.title, ax._left_title, ax._right_title) if t.get_text()]
    return (legend.get_window_extent(r), [t.get_window_extent(r) for t in titles],
            [ax.get_tightbbox(r) for ax in fig.axes if ax.get_visible() and ax.axison], fig.bbox)


def assert_legend_clear(fig):
    legend, titles, axes, page = _boxes(fig)
    assert titles, "the figure has a title"
    assert not any(legend.overlaps(t) for t in titles), "the legend overlaps a title"
    assert not any(legend.overlaps(a) for a in axes), "the legend overlaps an axes (its labels included)"
    assert page.x0 <= legend.x0 and legend.x1 <= page.x1 and page.y0 <= legend.y0 and legend.y1 <= page.y1


@pytest.fixture(scope="module")
def fixture():
    tables, meta = bench.read_run(FIXTURE_RUN)
    ours = tables["runs"][tables["runs"]["impl"] == "gdbench"]
    return tables, meta, ours


def test_the_learning_rate_figures_legend_is_clear_of_the_titles(fixture):
    _, _, ours = fixture
    grid = tuning.per_config(ours)
    grid["lr"] = tuning.hyperparameter(grid)
    for instance in ours["instance"].unique():  # the quadratic's long name ran into the legend before
        assert_legend_clear(plots.lr_sensitivity(grid, instance, 1e-6))


def test_a_legend_of_many_long_names_stays_clear_and_inside(fixture):
    names = [f"opt_{i}" for i in range(17)] + ["configs/my_optimizers.py:adam_with_a_long_name"] * 1
    lrs = [1e-3, 1e-2, 1e-1]
    table = pd.DataFrame([{"instance": LONG_INSTANCE, "optimizer": n, "lr": lr, "median_subopt": 10.0 ** -(k + i % 4),
                           "diverged_share": 0.0, "median_steps": 100.0 * (k + 1)}
                          for i, n in enumerate(names) for k, lr in enumerate(lrs)])
    assert_legend_clear(plots.lr_sensitivity(table, LONG_INSTANCE, 1e-6))
    cols = plots.legend_columns(plots.lr_sensitivity(table, LONG_INSTANCE, 1e-6), plots._handles(
        plots.style_map(names), names, True))
    assert 1 < cols < len(names)  # several columns, several rows


def test_the_paths_figures_legend_is_clear_of_the_titles(fixture):
    tables, meta, ours = fixture
    keys = ["instance", "optimizer", "impl", "config_id"]
    chosen = ours.merge(tuning.best_configs(ours)[keys], on=keys)
    drawn = 0
    for instance, problem in analysis.instance_problems(meta).items():
        if problem is None or problem.dim != 2:
            continue
        pick = chosen[chosen["instance"] == instance]
        pick = pick[pick["seed"] == pick["seed"].min()].drop_duplicates("optimizer")
        assert_legend_clear(plots.paths(problem, pick, tables["paths"], instance))
        assert_legend_clear(plots.paths(problem, pick, tables["paths"], LONG_INSTANCE * 2))
        drawn += 1
    assert drawn == 1


def test_the_check_sees_an_overlap():
    """The test's own check fails on a legend over the title (so that the tests above can fail)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3))
    ax = fig.subplots()
    ax.plot(np.arange(3), label="a line with a long label")
    fig.suptitle("a title across the top of the figure")
    fig.legend(loc="upper center")
    with pytest.raises(AssertionError, match="overlaps a title"):
        assert_legend_clear(fig)
