# The whole set-up is `make bench` and `make test`: each creates .venv if missing,
# installs the project (editable, with its test extras) and runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: bench test test-slow test-portable perf perf-json gpu-check clean browser baseline gate readme

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

bench: $(STAMP)
	$(BIN)/gdbench run

# Two test processes (pytest-xdist), each test file on one of them: compiling, most of
# the tests' time, runs on one core, so two processes use both (0.62x the time of one).
PYTEST := $(BIN)/python -m pytest -n 2 --dist loadfile

test: $(STAMP) browser
	$(PYTEST)

# The browser tests drive report.html and history.html in a headless Debian chromium over the
# DevTools protocol (websocket-client, the test extra; no chromedriver needed). Best effort:
# installed when we may (root, apt), otherwise those tests skip and say why.
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  (apt-get install -y -qq chromium >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1)) || \
	  echo "chromium could not be installed: the browser tests of report.html and history.html will be skipped"; \
	else echo "chromium not installed (needs root and apt): the browser tests of report.html and history.html will be skipped"; fi

# README.md's optimizer table, regenerated from the registry (optimizers/table.py).
readme: $(STAMP)
	$(BIN)/python -m optimizers.table --write README.md

test-slow: $(STAMP)
	$(PYTEST) -m slow

# The tests as other x86 CPUs run them, each a full run: AVX2 without AVX-512
# (AMD Zen 3); AVX-512's base subset without VNNI, BF16, FP16 or AMX (Skylake-X);
# AVX without FMA (other rounding in every multiply-add; Sandy Bridge); 128-bit
# SSE4.2 vectors; and XLA's default 256-bit vectors instead of the engine's 512.
PORTABLE_FLAGS := --xla_cpu_max_isa=AVX2 --xla_cpu_max_isa=AVX512 --xla_cpu_max_isa=AVX \
                  --xla_cpu_max_isa=SSE4_2 --xla_cpu_prefer_vector_width=256

test-portable: $(STAMP)
	@set -e; for flags in $(PORTABLE_FLAGS); do echo "== XLA_FLAGS=$$flags"; XLA_FLAGS=$$flags $(PYTEST); done

# The measurements of results/PERFORMANCE.md (several minutes; see that file for each one's command).
perf: $(STAMP)
	$(BIN)/python -m bench.dev.perf all

# One check of gdbench on an NVIDIA GPU, about 8 minutes: writes results/gpu-check/<UTC stamp>-gpu.md
# (README, "Checking a GPU"). In .venv like the targets above; PY=python3 runs that interpreter as it
# is instead (no venv made, nothing installed: a GPU machine whose Python already has JAX with CUDA).
# Without a GPU it says so and exits 0. ARGS passes options: ARGS="--device cpu --quick".
gpu-check: $(if $(PY),,$(STAMP))
	$(if $(PY),$(PY),$(BIN)/python) -m bench.dev.gpucheck $(ARGS)

# pytest-benchmark's JSON of tests/perf (each optimizer's step, the sweep engine; a few minutes):
#   make perf-json OUT=file.json      then: gdbench compare A.json B.json [--fail-above 1.10]
# --benchmark-only overrides the --benchmark-skip of pyproject's addopts, -m "" its -m "not slow".
perf-json: $(STAMP)
	@test -n "$(OUT)" || { echo "usage: make perf-json OUT=file.json"; exit 2; }
	$(BIN)/python -m pytest tests/perf --benchmark-only -m "" --benchmark-json=$(OUT) -p no:cacheprovider

# The regression gate of CI (docs/CI.md): the ci suite's trajectories and compiled
# step costs against the committed results/baseline/. `make baseline` is the only
# way to update it; it says what changed.
CI_RUNS := results/runs/ci-gate

gate: $(STAMP)
	rm -rf $(CI_RUNS)
	$(BIN)/gdbench run --suite ci --no-progress --no-report --out $(CI_RUNS) >/dev/null
	$(BIN)/gdbench compare results/baseline $(CI_RUNS)/*-ci

baseline: $(STAMP)
	rm -rf $(CI_RUNS)
	$(BIN)/gdbench run --suite ci --no-progress --no-report --out $(CI_RUNS) >/dev/null
	$(BIN)/gdbench baseline $(CI_RUNS)/*-ci --out results/baseline

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
