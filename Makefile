# The two commands for a fresh machine: `make demo` and `make test`. Each creates .venv if missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Install a specific Airflow release instead of the newest, e.g. `make test AIRFLOW_VERSION=3.1.8`.
AIRFLOW_VERSION ?=
# Said after the version in `make test`'s first line, e.g. "(oldest supported minor)"; .ci/run sets it.
AIRFLOW_LABEL ?=
PIP_QUIET := --quiet --disable-pip-version-check

.PHONY: install test demo lint clean docs screenshots bench reliability-report

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
	$(BIN)/python -c "import airflow; print('Testing with Apache Airflow', airflow.__version__, '$(AIRFLOW_LABEL)'.strip())"
	$(BIN)/python -m pytest

## make reliability-report: the reliability tests (bad input, fault matrix, end to end), whose figures
## are written into docs/reliability.md; `make test` runs the same tests and writes nothing
reliability-report: install
	BATCHOPS_WRITE_REPORT=1 $(BIN)/python -m pytest tests/reliability tests/e2e

## make demo: the example DAGs end to end against the bundled simulator, on a throw-away AIRFLOW_HOME
demo: install
	$(BIN)/python scripts/demo.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

$(VENV)/.docs-installed: pyproject.toml | $(VENV)/.installed
	$(BIN)/python -m pip install $(PIP_QUIET) -e '.[docs]' 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import mkdocs, material, pymdownx"
	touch $@

## make docs: the documentation site in site/ (mkdocs build --strict: any warning fails the build)
docs: install $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

## make screenshots: retake docs/img/connection-*.png from a real Airflow UI in headless Chromium
## (Debian's chromium: apt-get install -y chromium)
screenshots: install
	$(BIN)/python -m pip install $(PIP_QUIET) -e '.[screenshots]' 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python scripts/screenshots.py

$(VENV)/.bench-installed: pyproject.toml | $(VENV)/.installed
	$(BIN)/python -m pip install $(PIP_QUIET) -e '.[test,bench]' \
		$(if $(AIRFLOW_VERSION),"apache-airflow==$(AIRFLOW_VERSION)") 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import airflow.providers.http, matplotlib"
	touch $@

## make bench: the benchmarks against the simulator on loopback (about 12 minutes on 2 cores);
## writes bench/results.md, bench/results.json and the PNG charts beside them
bench: install $(VENV)/.bench-installed
	$(BIN)/python -m bench.run_all --out bench

clean:
	rm -rf $(VENV) .airflow-demo build dist site *.egg-info
