# The README's commands. Everything installs into the repo (.venv, .tools); nothing global but
# Debian's chromium and postgresql for the tests.
SHELL := /bin/bash
PORT ?= 3000
DATA_DIR ?= ./data
VENV := .venv
PY := $(VENV)/bin/python
export PORT DATA_DIR
export REFLEX_TELEMETRY_ENABLED := false
export REFLEX_CHECK_LATEST_VERSION := false
export NPM_CONFIG_REGISTRY := https://registry.npmjs.org
export REFLEX_HTTP_CLIENT_BIND_ADDRESS := 0.0.0.0
export REFLEX_BUN_PATH := $(CURDIR)/.tools/bin/bun
export PYTHONUNBUFFERED := 1

.PHONY: install install-dev install-browser run demo test test-postgres test-fast bench lint format

install:
	@scripts/bootstrap.sh

## The app's packages and the tests' and tools' (requirements-dev.txt).
install-dev:
	@scripts/bootstrap.sh requirements-dev.txt

install-browser:
	@scripts/install-browser.sh

## Install everything, upgrade the database and start the dashboard on one port.
run: install
	$(PY) -m supervision_app.cli serve

## Same as run, with demo users and agents and simulated agents acting through the API.
demo: install
	$(PY) -m supervision_app.cli serve --demo

## Install what tests need (Chromium and PostgreSQL from Debian) and run the whole suite,
## browser tests included, on SQLite and then again on PostgreSQL.
test: install-dev install-browser
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -q -p no:cacheprovider
	scripts/with-test-postgres.sh $(PY) -m pytest -q -p no:cacheprovider

## The whole suite on PostgreSQL only.
test-postgres: install-dev install-browser
	scripts/with-test-postgres.sh $(PY) -m pytest -q -p no:cacheprovider

## Services and API only (no browser).
test-fast: install-dev
	$(PY) -m pytest -q -m "not e2e"

bench: install-dev
	@set -e; for script in bench/[a-z]*.py; do case $$script in */common.py|*/baseline_app.py) continue;; esac; echo "== $$script"; $(PY) $$script; done

lint: install-dev
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

format: install-dev
	$(PY) -m ruff check --fix . && $(PY) -m ruff format .
