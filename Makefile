# Everything a fresh machine needs comes from here: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
# Everything but the browser tests on two pytest workers (`PYTEST_WORKERS=`: one process); then
# the browser tests in one process, with the machine to themselves: beside a busy worker, a
# page's own timers (live fragments) raced the test's clicks.
PYTEST_WORKERS ?= -n 2 --dist loadgroup

.PHONY: run test test-fast lint format bench sandbox browser postgres wrk clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

## The console with the embedded sandbox (or real Lean when LEAN_CLIENT_ID is set) on :8501.
run: $(STAMP)
	$(BIN)/streamlit run server.py

## The Lean sandbox on its own (port 8601).
sandbox: $(STAMP)
	$(BIN)/python -m sandbox --port 8601

## The whole suite: lint, unit, loopback HTTP, SQLite and PostgreSQL, AppTest, headless Chromium.
test: $(STAMP) browser postgres
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_WORKERS) -m "not e2e"
	$(BIN)/python -m pytest -m e2e

## Everything but the browser tests.
test-fast: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_WORKERS) -m "not e2e"

## Benchmarks (not part of `make test`; each writes bench/*.json): ingest under wrk against a
## bare endpoint, what one delivery costs piece by piece (the machine's ceiling), group commit vs a commit per request, the fleet view over a million refresh
## events, the customer view with 50 ms of Lean latency, and the inbox over a million events
## (SQLite and PostgreSQL; the last one fills and indexes for about half an hour).
bench: $(STAMP) postgres wrk
	$(BIN)/python -m tests.bench.ingest_wrk
	$(BIN)/python -m tests.bench.ingest_budget
	$(BIN)/python -m tests.bench.webhook_throughput
	$(BIN)/python -m tests.bench.fleet_million
	$(BIN)/python -m tests.bench.customer_view
	$(BIN)/python -m tests.bench.inbox_million
	$(BIN)/python -m tests.bench.audit_million

## Debian's wrk, the load generator of `make bench`.
wrk:
	@if command -v wrk >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's wrk for the benchmarks…"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	else \
		echo "The benchmarks need wrk. Install it with:"; \
		echo "    sudo apt-get install wrk"; \
		exit 1; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Debian's Chromium for the browser tests (Playwright's own download does not work here).
browser:
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser tests…"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "The browser tests need Chromium at $(CHROMIUM). Install it with:"; \
		echo "    sudo apt-get install chromium"; \
		echo "or point CHROMIUM=/path/to/chromium at another build."; \
		exit 1; \
	fi

## PostgreSQL's server binaries: the store tests start a throwaway cluster of their own.
postgres:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's postgresql for the store tests…"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	else \
		echo "The store tests need PostgreSQL's server binaries. Install them with:"; \
		echo "    sudo apt-get install postgresql"; \
		exit 1; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
