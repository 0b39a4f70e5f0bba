# Everyday commands. `make help` lists them.
STACK ?= dev
VENV  := .venv
PY    := $(VENV)/bin/python

.DEFAULT_GOAL := help
.PHONY: help setup lint unit test

help: ## List the commands
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## Install Debian packages and the Python environment (idempotent)
	@scripts/system-packages.sh
	@scripts/venv.sh $(VENV) requirements-dev.txt

lint: setup ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/mypy policies/__main__.py

unit: setup ## Fast tests: validation, placement, components under mocks, policies
	$(PY) -m pytest -m "not engine" -q

test: lint ## Every test (lint, unit, engine)
	$(PY) -m pytest -q
