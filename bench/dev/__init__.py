"""Developer scripts: the measurements behind results/PERFORMANCE.md and the GPU check (not the library)."""
