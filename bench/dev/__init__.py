"""Developer tools: benchmarks of the harness and of single problems, and the GPU check."""
