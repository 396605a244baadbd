# Two commands set up a fresh machine (Python 3.11 + pip):
#   make demo   - create .venv if missing, install, run refresh_all on the sandbox, print a summary
#   make test   - install, ruff, the whole pytest suite
# and `make dev` opens the Dagster UI.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install demo test lint dev bench bench-load clean

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

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster job execute -m finance_pipeline -j refresh_all
	$(BIN)/python -m finance_pipeline.summary

lint: install
	$(BIN)/ruff check .

test: install lint
	$(BIN)/pytest -q

dev: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml

bench: install
	$(BIN)/python benchmarks/bitrix24_sync.py
	$(BIN)/python benchmarks/refresh_all_parallel.py

bench-load: install
	$(BIN)/python benchmarks/load_1m.py

clean:
	rm -rf $(VENV) .dagster_home data/*.duckdb data/*.wal
