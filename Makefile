# `make demo` and `make test` create .venv and install on first use; later runs reuse it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# this environment's programs first, as in an activated virtualenv: one ninja builds DeepSpeed's CPU ops (the
# system's and the virtualenv's ninja hash build lines differently, so alternating them rebuilds, ~40 s a time)
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install demo test test-unit test-slow lint mutate clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) scripts/run_demo.py

# tiers: unit (no training, no processes), then integration (tiny models, LLaMA-Factory, processes), then slow;
# each on 2 workers (pytest-xdist), a test file to a worker so its shared fixtures are built once
XDIST := -n 2 --dist loadfile
test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -m "not integration and not slow" $(XDIST) --durations=5
	$(PY) -m pytest -m "integration and not slow" $(XDIST) --durations=25

test-unit: $(STAMP)
	$(PY) -m pytest -m "not integration and not slow" $(XDIST)

# exit code 5 (no test collected or all skipped) is not a failure here; -rP shows what the slow tests print
test-slow: $(STAMP)
	$(PY) -m pytest -m slow $(XDIST) -rP --durations=15 || test $$? -eq 5

# mutation testing of the modules whose numbers users act on ([tool.mutmut] in pyproject.toml), against their
# unit tests; not part of CI (about 50 minutes on this 2-core machine); the score per module and every survivor last
mutate: $(STAMP)
	rm -rf mutants
	$(PY) -m mutmut run --max-children 2
	$(PY) scripts/mutation_score.py

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf outputs .pytest_cache .ruff_cache mutants
