# Two commands for a newcomer: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/billing
export REDIS_URL ?= redis://127.0.0.1:6379/0
export TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/billing_test
export TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
# pytest-xdist workers for `make test` (0: one process); each worker gets its own database and Redis db.
PYTEST_WORKERS ?= auto
# `make bench` owns these: it empties the database (its name must contain "bench") and flushes the Redis db.
export BENCH_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/billing_bench
export BENCH_REDIS_URL ?= redis://127.0.0.1:6379/14
export FLASK_APP := wsgi:subscription_app
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: run test test-slow venv services migrate seed bench clean help browser-deps

help:
	@echo "make run        install, start PostgreSQL/Redis if needed, migrate, seed, start every process of Procfile.dev"
	@echo "make test       the test suite on real PostgreSQL and Redis (billing tests at 7 calendar instants)"
	@echo "make test-slow  the slow suites (crashes, outages, fuzzing, browser)"
	@echo "make browser-deps  Debian's chromium for the browser test (root: apt-get), once"
	@echo "make bench      load-test both services against their ceilings: bench/out/ (see bench/README.md)"

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing Python packages into $(VENV): pip lists each package as it goes"
	$(BIN)/python -m pip install --progress-bar on --upgrade pip
	$(BIN)/python -m pip install --progress-bar on -r requirements-dev.txt
	@touch $(STAMP)

venv: $(STAMP)

services: venv
	$(BIN)/python scripts/services.py ensure

migrate: services
	$(BIN)/flask db upgrade

seed: migrate
	$(BIN)/flask seed

run: seed
	$(BIN)/honcho start -f Procfile.dev

test: venv
	$(BIN)/python scripts/services.py ensure --database-url $(TEST_DATABASE_URL) --redis-url $(TEST_REDIS_URL)
	$(BIN)/lint-imports
	$(BIN)/pytest -m "not slow" --calendar -n $(PYTEST_WORKERS)

# Idempotent: nothing to do when chromium is there. Without root or apt the browser test skips.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "chromium missing and cannot apt-get install it here: the browser test will skip"; fi; }

test-slow: venv browser-deps
	$(BIN)/python scripts/services.py ensure --database-url $(TEST_DATABASE_URL) --redis-url $(TEST_REDIS_URL)
	$(BIN)/pytest -m slow

# BENCH_ARGS=--quick checks the harness in ~2 minutes; see `python -m bench.run --help`.
bench: venv
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .run .pytest_cache
