# The whole set-up is `make bench` and `make test`: each creates .venv if missing,
# installs the project (editable, with its test extras) and runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: bench test test-slow perf clean browser baseline gate

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

bench: $(STAMP)
	$(BIN)/gdbench run

test: $(STAMP) browser
	$(BIN)/python -m pytest

# The report test opens report.html in a headless Debian chromium. Best effort:
# installed when we may (root, apt), otherwise that one test skips and says why.
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  (apt-get install -y -qq chromium >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1)) || \
	  echo "chromium could not be installed: the report's browser test will be skipped"; \
	else echo "chromium not installed (needs root and apt): the report's browser test will be skipped"; fi

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

# The measurements of results/PERFORMANCE.md (several minutes; see that file for each one's command).
perf: $(STAMP)
	$(BIN)/python -m bench.perf all

# The regression gate of CI (docs/CI.md): the ci suite's trajectories and compiled
# step costs against the committed results/baseline/. `make baseline` is the only
# way to update it; it says what changed.
CI_RUNS := results/runs/ci-gate

gate: $(STAMP)
	rm -rf $(CI_RUNS)
	$(BIN)/gdbench run --suite ci --no-progress --out $(CI_RUNS) >/dev/null
	$(BIN)/gdbench compare results/baseline $(CI_RUNS)/*-ci

baseline: $(STAMP)
	rm -rf $(CI_RUNS)
	$(BIN)/gdbench run --suite ci --no-progress --out $(CI_RUNS) >/dev/null
	$(BIN)/gdbench baseline $(CI_RUNS)/*-ci --out results/baseline

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
