"""The analysis of a results folder: the third stage of gdbench's pipeline.

Pure functions from the runs and curves tables to DataFrames: `tuning` (the
tuning protocol: best configuration, one-shot defaults, learning-rate
sensitivity), `bootstrap` (confidence intervals of medians), `profiles`
(performance and data profiles, the AlgoPerf-style score), `coco` (COCO's
aRT and runtime ECDF on absolute targets), `parity` (ours
against optax), `batchsize` (the stochastic regime) and `analysis`, which
gathers them for a notebook and for `bench.reporting`. Nothing here writes files.
"""
