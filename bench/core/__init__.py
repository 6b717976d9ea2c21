"""One cell, compiled and run: the first stage of gdbench's pipeline.

A cell is one problem instance x one optimizer with its grid of hyperparameters
and seeds. `cells` checks a `SweepSpec` and turns it into lanes, `engine`
compiles them into one XLA program (its step loop, bookkeeping and recorded
`schedule`), `memory` and `chunking` fit it into the memory budget, `minibatch`
and `search` supply stochastic steps and quasi-random trials, `distributed`
spreads it over processes, and `xla` / `cache` hold the process-wide XLA
settings and the persistent compile cache. The stages after it (`bench.runs`,
`bench.stats`, `bench.reporting`, `bench.tracking`) only read its tables.
"""
