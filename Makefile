# kefu-gateway — the two commands a newcomer types: `make run` and `make test`.
# Each creates/updates the virtualenv in .venv and installs what it needs first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export GATEWAY_CONFIG ?= examples/accounts.toml
export SHOP1_APP_SECRET ?= demo-app-secret

.PHONY: run demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: start the gateway on http://127.0.0.1:8080 with the example accounts
run: $(STAMP)
	$(BIN)/kefu-gateway serve

## demo: a one-minute tour (needs RabbitMQ): signed callbacks in, masked and routed messages out
demo: $(STAMP)
	$(BIN)/kefu-gateway demo

## test: lint, type-check, and the whole test suite (needs RabbitMQ and PostgreSQL running)
test: $(STAMP) lint typecheck
	$(BIN)/pytest -q

## unit: the fast tests only (no broker, no database)
unit: $(STAMP)
	$(BIN)/pytest -q -m "not rabbitmq and not postgres" tests/adapters tests/normalizer tests/rules tests/gateway

lint: $(STAMP)
	$(BIN)/ruff check gateway adapters normalizer rules tests bench examples
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/bench_pii.py
	$(BIN)/python bench/bench_rules.py
	$(BIN)/python bench/bench_routing.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis kefu-gateway.db*
