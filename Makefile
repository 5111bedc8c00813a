# `make demo` and `make test` create .venv and install on first use; later runs reuse it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# this environment's programs first, as in an activated virtualenv: one ninja builds DeepSpeed's CPU ops (the
# system's and the virtualenv's ninja hash build lines differently, so alternating them rebuilds, ~40 s a time)
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install demo test test-unit test-slow test-all lint mutate clean gpu-wheels

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

# exit code 5 (no test collected or all skipped) is not a failure here; -rP shows what the slow tests print.
# CI runs `make test` and `make test-slow`; `make test-all` adds the extended tests (whose paths other slow tests
# already walk: the README's command block, the published points, two more `new` chains, the measuring sweep).
# The slow files go to the workers in the order tests/conftest.py gives them (those of `slow(minutes=N)` first).
test-slow: $(STAMP)
	$(PY) -m pytest -m "slow and not extended" $(XDIST) --no-loadscope-reorder -rP --durations=15 || test $$? -eq 5

test-all: test
	$(PY) -m pytest -m slow $(XDIST) --no-loadscope-reorder -rP --durations=25 || test $$? -eq 5

# mutation testing of every module of recipekit/ ([tool.mutmut] in pyproject.toml) against the unit tests and the
# integration tests marked `mutation`; not part
# of CI (hours on this 2-core machine). It goes on from where the last run stopped (mutmut keeps each result until
# its function changes), runs the survivors again (a new test may kill them), then writes the score tables;
# `make mutate MODULES="recipekit.plan.gpus.* recipekit.steps.*"` runs every mutant of those modules again;
# `make mutate FRESH=1` starts over
mutate: $(STAMP)
	$(if $(FRESH),rm -rf mutants,$(PY) scripts/mutation_score.py --restore)
	$(PY) -m mutmut run --max-children 2 $(foreach m,$(MODULES),'$(m)')
	$(PY) scripts/mutation_score.py --recheck --write

# the developer benchmarks (scripts/bench_*.py), each against its baseline: `make bench` runs every one with its
# defaults, one after another (bench-score-labels, last, reads the demo's model: `make demo` first); `make bench-NAME
# ARGS="..."` runs one with its flags
BENCHES := bench-convert bench-gen-report bench-plan bench-contamination bench-new bench-score-labels
.PHONY: bench $(BENCHES)
bench: $(BENCHES)
$(BENCHES): bench-%: $(STAMP)
	$(PY) scripts/bench_$(subst -,_,$*).py $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .

# the wheels a GPU machine that cannot download lacks, for `bash tools/gpu_check.sh` there (Python 3.12, x86_64):
# the pinned training stack (its transformers, tokenizers, accelerate and peft are newer than LLaMA-Factory 0.9.5
# accepts), bitsandbytes for 4-bit, and the small packages these import, at the versions they resolve to here.
# DeepSpeed has only a source archive: its wheel is built here without ops (they build on first use there).
# bitsandbytes keeps its CUDA 13 libraries only (tools/slim_wheel.py): about 27 MiB in tools/wheels, under the
# 64 MiB the machine takes with the working tree.
GPU_WHEELS := llamafactory==0.9.5 trl==0.24.0 datasets==4.0.0 bitsandbytes==0.50.2 transformers==5.6.0 \
	tokenizers==0.22.2 accelerate==1.11.0 peft==0.18.1 omegaconf==2.4.0 dill==0.3.8 multiprocess==0.70.16 \
	hjson==3.1.0 pydantic==2.12.3 pydantic-core==2.41.4 annotated-types==0.8.0 typing-inspection==0.4.5 \
	fsspec==2025.3.0
GPU_SOURCE_WHEELS := deepspeed==0.18.4
GPU_PLATFORMS := $(foreach n,17 24 27 28 31 34 35,--platform manylinux_2_$(n)_x86_64) --platform manylinux2014_x86_64
gpu-wheels:
	mkdir -p tools/wheels
	$(PYTHON) -m pip download --no-deps --python-version 3.12 --implementation cp $(GPU_PLATFORMS) \
		--only-binary=:all: -d tools/wheels $(GPU_WHEELS)
	$(PYTHON) -m pip wheel --no-deps -w tools/wheels $(GPU_SOURCE_WHEELS)
	$(PYTHON) tools/slim_wheel.py tools/wheels/bitsandbytes-0.50.2-*.whl \
		'bitsandbytes/libbitsandbytes_cuda1[12]*.so' 'bitsandbytes/libbitsandbytes_rocm*.so'
	du -ch tools/wheels/*.whl | tail -n 1

clean:
	rm -rf outputs .pytest_cache .ruff_cache mutants
