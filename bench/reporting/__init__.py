"""What a user reads: the last stage of gdbench's pipeline for one run.

`report` writes a results folder's report.html and report.md from the
DataFrames of `bench.stats`, `plots` draws their figures, and `fmt` formats the
numbers shared by the report, the end-of-run summary and `gdbench compare`.
"""
