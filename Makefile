# Track AI. Every target bootstraps .venv itself (skipped when pyproject.toml and constraints.txt
# have not changed), so a fresh clone needs only `make demo` or `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/dagster_home

.PHONY: demo demo-quick test test-fast dev lint format manifest docs bench bench-smoke install clean-db docs-serve eval-matching
.PHONY: image smoke-containers stack-up stack-down

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/trackai demo

demo-quick: $(STAMP)
	$(BIN)/trackai demo --quick

test: $(STAMP)
	$(BIN)/trackai dbt prepare
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not reliability"

dev: $(STAMP)
	$(BIN)/trackai dev

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

manifest: $(STAMP)
	$(BIN)/trackai dbt prepare

docs: $(STAMP)
	$(BIN)/trackai dbt docs

BENCHMARKS := bench_ingest bench_matching bench_dispatch bench_freshness bench_dashboard bench_overheads bench_console bench_archive

# Every benchmark in full (about half an hour here), then docs/benchmarks.md from the JSON results.
bench: $(STAMP)
	@set -e; for b in $(BENCHMARKS); do echo "--- $$b"; $(BIN)/python bench/$$b.py; done
	$(BIN)/python bench/summarize.py

# What CI runs: each benchmark's tiny smoke mode (functional, never timed), results under .trackai/.
bench-smoke: $(STAMP)
	@set -e; for b in $(BENCHMARKS); do echo "--- $$b --smoke"; $(BIN)/python bench/$$b.py --smoke; done

# Matching precision/recall per stage on simulated traffic with ground truth (docs/matching.md).
eval-matching: $(STAMP)
	$(BIN)/python -m trackai_cli.eval_matching --docs

docs-serve: $(STAMP)
	$(BIN)/trackai dbt docs --serve --port 8081

clean-db: $(STAMP)
	$(BIN)/trackai db stop
	rm -rf .trackai/pgdata

# --- Containers (issue 20; docs/deploy.md). podman; with no registry the base is built locally (mmdebstrap).
image:
	deploy/build-image.sh

# The image runs migration, ingest, the Graph API fake, the exporter, Dagster's code server and the console
# against the machine's Postgres; a small demo's traffic goes through them and must reach the fake.
smoke-containers: $(STAMP)
	SMOKE_IMAGE=$$(deploy/build-image.sh | tail -n1) \
	TRACKAI_TEST_DATABASE_URL=$${TRACKAI_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres} \
	$(BIN)/python -m pytest -q -s -p no:cacheprovider tests/deploy/test_container_smoke.py

stack-up:
	deploy/stack.sh up

stack-down:
	deploy/stack.sh down
