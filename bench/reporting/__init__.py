"""What a user reads: the last stage of gdbench's pipeline for one run.

`report` writes a results folder's report.html and report.md from the
DataFrames of `bench.stats` (`sections` lays out their content, `document`
renders it), `plots` draws their static figures and `interactive` the same
figures for the browser (plotly.js), `history_page` the page of `gdbench
history`, and `fmt` formats the numbers shared by the report, the end-of-run
summary and `gdbench compare`.
"""
