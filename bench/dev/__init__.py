"""Developer tools, not part of the benchmark's pipeline: the measurements of
results/PERFORMANCE.md (`python -m bench.dev.perf`, `perf_minibatch`) and the
GPU check (`python -m bench.dev.gpucheck`, `make gpu-check`). Nothing in the
other subpackages imports these.
"""
