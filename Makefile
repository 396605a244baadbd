# Two commands set up a fresh machine (Python 3.11 + pip):
#   make demo   - create .venv if missing, install, run refresh_all on the sandbox, print a summary
#   make test   - install, ruff, the whole pytest suite
# and `make dev` (PORT=3000) opens the Dagster UI, `make report` writes the finance report and
# prints its path, `make ask Q=who_owes_us_what` answers a question of examples/ (ARGS=--xlsx).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
PORT ?= 3000
Q ?=
ARGS ?=

.PHONY: install demo test lint dev report ask bench bench-load clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME)
	cp deploy/dagster.local.yaml $@

# `dg launch` is what Dagster 1.13 recommends instead of the superseded `dagster job execute`
# (same in-process launch, no warning); deploy/console_info.yaml keeps the console at INFO.
demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dg launch --job refresh_all -m finance_pipeline -c deploy/console_info.yaml
	$(BIN)/python -m finance_pipeline.summary

lint: install
	$(BIN)/ruff check .

# Three workers (pytest-xdist: most tests wait on servers and subprocesses, not the CPU), one
# test file per worker at a time, so a file's module fixtures (a sandbox and a synced warehouse)
# are built once.
test: install lint
	$(BIN)/pytest -q -n 3 --dist loadfile

dev: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dg dev -w workspace.yaml --port $(PORT)

report: install
	$(BIN)/python -m finance_pipeline.report

ask: install
	$(BIN)/python -m finance_pipeline.ask $(Q) $(ARGS)

bench: install
	$(BIN)/python benchmarks/bitrix24_sync.py
	$(BIN)/python benchmarks/refresh_all_parallel.py

bench-load: install
	$(BIN)/python benchmarks/load_1m.py

clean:
	rm -rf $(VENV) .dagster_home data/*.duckdb data/*.wal
