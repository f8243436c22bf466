# kefu-gateway — the two commands a newcomer types: `make run` and `make test`.
# Each creates/updates the virtualenv in .venv and installs what it needs first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export GATEWAY_CONFIG ?= examples/accounts.toml
export SHOP1_APP_SECRET ?= demo-app-secret

.PHONY: run demo test lint typecheck unit bench bench-soak bench-micro wrk clean

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

## bench: HTTP load of kefu-gateway vs hand-written baselines (needs RabbitMQ, PostgreSQL, wrk)
BENCH_ARGS ?=
bench: $(STAMP) wrk
	$(BIN)/python -m bench.load http $(BENCH_ARGS)

## bench-soak: the gateway at 50 % of its peak for 10 minutes (RSS, fds, p99 per minute)
SOAK_ARGS ?= --minutes 10
bench-soak: $(STAMP) wrk
	$(BIN)/python -m bench.load soak $(SOAK_ARGS)

## bench-micro: the stage micro-benchmarks (PII, rules, routing, the whole pipeline)
bench-micro: $(STAMP)
	$(BIN)/python bench/bench_pii.py
	$(BIN)/python bench/bench_rules.py
	$(BIN)/python bench/bench_routing.py
	$(BIN)/python bench/bench_pipeline.py

wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing wrk (apt-get install -y wrk)"; \
	    apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; \
	  fi; \
	  command -v wrk >/dev/null 2>&1 || { echo "make bench needs wrk: install it (Debian/Ubuntu: sudo apt-get install wrk; macOS: brew install wrk)"; exit 1; }; }

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis kefu-gateway.db*
