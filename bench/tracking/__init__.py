"""CI performance tracking: results folders compared across commits and machines.

`compare` sets two runs (or a committed `baseline` and a run) side by side;
`gates` holds the deterministic gates (convergence, and the compiled cost of
one step that `costs` measures and every run stores), `timegate` the
statistical time gate; `benchjson` compares pytest-benchmark JSON files;
`history` follows many runs over commits, with `changepoints` finding the
steps in each series. It reads what `bench.runs` wrote and what `bench.stats`
computes from it (docs/CI.md).
"""
