# powercat: `make run` serves the catalogue, `make test` checks everything. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
PG_TEST_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/powercat_test
PYTEST_WORKERS ?= 2
RESULTS := var/test-results

.PHONY: help install install-dev run serve migrate seed test test-sqlite test-postgres lint fmt \
        typecheck openapi lock bench bench-smoke clean chromium fuzz wrk

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "powercat needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"

$(VENV)/.installed: $(BIN)/python requirements.lock pyproject.toml
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.lock
	$(BIN)/pip install --quiet -r requirements-dev.lock
	@touch $@

install: $(VENV)/.installed ## create .venv and install the pinned runtime dependencies

install-dev: $(VENV)/.installed-dev ## install the pinned development tools too

migrate: install ## migrate the database (POWERCAT_DATABASE_URL, default var/powercat.db)
	$(BIN)/powercat db upgrade

seed: migrate ## load every list in seed/ (idempotent)
	@if $(BIN)/powercat import --help >/dev/null 2>&1; then $(BIN)/powercat import seed/*.txt; \
	else echo "importer not available yet: seed/ not loaded"; fi

run: seed ## install, migrate, load seed/, serve on 127.0.0.1:8000
	$(BIN)/powercat serve --host $(HOST) --port $(PORT)

lint: install-dev ## ruff (lint + format check), mypy --strict on app, bench and tests, import-linter
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy app bench tests
	$(BIN)/lint-imports

fmt: install-dev ## format and auto-fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Debian's chromium and a Chinese font (without one, screenshots show boxes for the catalogue's text).
chromium: ## install Debian's chromium for the browser tests when it is missing (needs root)
	@command -v chromium >/dev/null && fc-list :lang=zh | grep -q . || \
	    (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-wqy-zenhei)

test-sqlite: install-dev chromium
	@mkdir -p $(RESULTS)
	env -u POWERCAT_TEST_DATABASE_URL $(BIN)/pytest -n $(PYTEST_WORKERS) -m "not slow and not bench" \
	    --junitxml=$(RESULTS)/sqlite.xml

test-postgres: install-dev
	@mkdir -p $(RESULTS)
	@$(BIN)/python -m tests.pgcheck "$(PG_TEST_URL)"
	POWERCAT_TEST_DATABASE_URL="$(PG_TEST_URL)" $(BIN)/pytest -n $(PYTEST_WORKERS) \
	    -m "not slow and not bench" --junitxml=$(RESULTS)/postgres.xml \
	    tests/integration tests/api tests/migrations tests/contract tests/cli

# The benchmark harness at 10k items on both databases, briefly: proves it runs, measures nothing.
bench-smoke: install-dev wrk
	@mkdir -p $(RESULTS)
	POWERCAT_TEST_DATABASE_URL="$(PG_TEST_URL)" $(BIN)/pytest -m bench tests/bench \
	    --junitxml=$(RESULTS)/bench.xml

test: lint test-sqlite test-postgres bench-smoke ## lint, type checks, the whole suite on SQLite and PostgreSQL, the bench smoke

# Debian's wrk drives the HTTP benchmarks: one load generator for powercat and its baselines.
wrk: ## install Debian's wrk for the benchmark when it is missing (needs root)
	@command -v wrk >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk)

BENCH_SIZES ?= 10000 100000 1000000
bench: install-dev wrk ## benchmark at BENCH_SIZES on PostgreSQL and SQLite: table + bench/results/*.json
	BENCH_SIZES="$(BENCH_SIZES)" $(BIN)/python -m bench

FUZZ_EXAMPLES ?= 500
fuzz: install-dev ## long Schemathesis run (FUZZ_EXAMPLES per operation) on SQLite and PostgreSQL
	env -u POWERCAT_TEST_DATABASE_URL POWERCAT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
	    $(BIN)/pytest -n $(PYTEST_WORKERS) -m slow tests/contract/test_schemathesis.py
	@$(BIN)/python -m tests.pgcheck "$(PG_TEST_URL)"
	POWERCAT_TEST_DATABASE_URL="$(PG_TEST_URL)" POWERCAT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
	    $(BIN)/pytest -n $(PYTEST_WORKERS) -m slow tests/contract/test_schemathesis.py

openapi: install ## regenerate openapi/openapi.json
	$(BIN)/powercat openapi -o openapi/openapi.json

lock: ## re-resolve requirements*.lock from pyproject.toml (needs the package index)
	rm -rf var/lockenv && $(PYTHON) -m venv var/lockenv
	var/lockenv/bin/pip install --quiet --upgrade "pip>=24"
	var/lockenv/bin/pip install --quiet .
	var/lockenv/bin/pip freeze --exclude powercat > requirements.lock
	var/lockenv/bin/pip install --quiet ".[dev]"
	var/lockenv/bin/pip freeze --exclude powercat > requirements-dev.lock
	rm -rf var/lockenv

clean: ## remove the virtualenv, caches and local data
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .hypothesis
