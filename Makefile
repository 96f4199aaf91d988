# The two commands for a fresh machine: `make demo` and `make test`. Each creates .venv if missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Install a specific Airflow release instead of the newest, e.g. `make test AIRFLOW_VERSION=3.1.8`.
AIRFLOW_VERSION ?=
PIP_QUIET := --quiet --disable-pip-version-check

.PHONY: install test demo lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install $(PIP_QUIET) --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -m pip install $(PIP_QUIET) -e '.[test]' \
		$(if $(AIRFLOW_VERSION),"apache-airflow==$(AIRFLOW_VERSION)") 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import airflow_provider_batchops, airflow, aiohttp, requests_mock, pytest"
	touch $@

install: $(VENV)/.installed

## make test: the whole suite (unit, integration against the simulator, DAG runs through Airflow)
test: install
	$(BIN)/python -c "import airflow; print('Testing with Apache Airflow', airflow.__version__)"
	$(BIN)/python -m pytest

## make demo: the example DAGs end to end against the bundled simulator, on a throw-away AIRFLOW_HOME
demo: install
	$(BIN)/python scripts/demo.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .airflow-demo build dist *.egg-info
