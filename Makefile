# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs the project (pinned by constraints.txt) when needed.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.embaug-installed
BENCH_STAMP := $(VENV)/.embaug-bench-installed
ARGS ?=

.PHONY: install demo test test-fast lint ui report clean bench bench-full

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The benchmarks need two extra packages (sentence-transformers, psutil): the `bench` extra.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev,bench]"
	touch $(BENCH_STAMP)

demo: $(STAMP)
	$(BIN)/embaug demo $(ARGS)

# Everything, as CI runs it: a missing dataset (../shared) or Postgres fails instead of skipping.
test: $(STAMP)
	$(BIN)/ruff check .
	EMBAUG_TESTS_STRICT=1 $(BIN)/python -m pytest

# While working: ruff and every test that needs no server, no subprocess and no whole-graph run.
test-fast: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest --fast

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

ui: $(STAMP)
	$(BIN)/embaug ui

report: $(STAMP)
	$(BIN)/embaug report

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.run_all $(ARGS)

# The whole catalogue: end to end cold and warm, then neighbours and peers on its store (~2 h here).
bench-full: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.run_all --full $(ARGS)

clean:
	rm -rf .embaug
