"""A suite into a results folder: the second stage of gdbench's pipeline.

`suite` reads and validates a suite TOML, `runner` runs its cells one by one
through `bench.core` and stores each finished one, `results` writes and reads
the folder atomically (`storage`: what it keeps of the curves and paths),
`resume` decides whether an unfinished run may go on, and `summary` prints the
end-of-run table. What it writes is the input of `bench.stats`,
`bench.reporting` and `bench.tracking`.
"""
