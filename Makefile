# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test unit bench install install-dev lint typecheck servers-install clean help

help:
	@echo "make demo   - install and replay the bundled welding line (no servers needed)"
	@echo "make test   - install everything the tests need, then run the whole suite"
	@echo "make unit   - the tests that need no server (under two minutes)"
	@echo "make lint / make typecheck - ruff check + ruff format --check, and mypy --strict"
	@echo "make bench  - throughput, latency, scale-out, memory vs raw clients and Quix Streams"
	@echo "              (real Kafka + InfluxDB, ~15 min; BENCH_QUICK=1 for a smoke run)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps re-run an install only when pyproject.toml changes.
$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $@ $(VENV)/.installed-base

install: $(VENV)/.installed-base
install-dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/linewatch replay --config examples/welding-line.yaml \
		--input examples/welding-line.jsonl.gz \
		--truth examples/welding-line.truth.json --out out/demo

servers-install:
	bash scripts/kafka.sh fetch
	bash scripts/influxdb.sh install
	bash scripts/alertmanager.sh install
	command -v docker-compose >/dev/null || { apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-compose; }
	command -v chromium >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; }

# CI enforces style and types: lint and typecheck run before the suite.
test: install-dev servers-install
	$(MAKE) --no-print-directory lint typecheck
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	exit $$rc

unit: install-dev
	@$(BIN)/python -m pytest -m "not integration" $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make unit: pytest collected no tests" >&2; fi; \
	exit $$rc

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-dev
	$(BIN)/mypy

# Quix Streams pins its own confluent-kafka: its contender gets a venv of its own.
QUIX_VENV ?= bench/.venv-quix
$(QUIX_VENV)/.installed: bench/requirements-quix.txt
	$(PYTHON) -m venv $(QUIX_VENV)
	$(QUIX_VENV)/bin/python -m pip install --quiet -r bench/requirements-quix.txt
	touch $@

# One command: real broker and InfluxDB, table printed, figures in bench/results.json.
bench: install-dev $(QUIX_VENV)/.installed
	bash scripts/kafka.sh fetch
	bash scripts/influxdb.sh install
	$(BIN)/python bench/harness.py --quix-python $(QUIX_VENV)/bin/python

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache
