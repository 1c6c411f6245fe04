# The two commands a newcomer needs: `make run` and `make test`. Both set everything up first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# The platform itself needs no system library: chromium is the browser the page test drives,
# libvips the benchmark's baseline.
TEST_DEB := chromium
BENCH_DEB := libvips42

.PHONY: run run-aws-local test lint typecheck pytest bench loadtest clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "imagepipe needs Python 3.11 or newer as $(PYTHON)"; exit 1; }
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

# The Procfile's processes under supervisord (app/ops/supervise.py): a process that dies is
# restarted, the others keep running. (`honcho start` still runs the same Procfile, without that.)
run: $(STAMP)
	@set -a; [ ! -f .env ] || . ./.env; set +a; \
	  $(BIN)/imagepipe check-config >/dev/null && \
	  echo "Starting imagepipe (web, worker, beat, flower). Ctrl-C stops everything." && \
	  $(BIN)/imagepipe urls && \
	  exec $(BIN)/python -m app.ops.supervise web worker beat flower

# The AWS path (S3, SQS, SNS, DynamoDB) on a local moto server: no account needed.
run-aws-local: $(STAMP)
	@scripts/run-aws-local.sh

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	scripts/system-deps.sh $(TEST_DEB)
	$(BIN)/python -m pytest

bench: $(STAMP)
	scripts/system-deps.sh $(BENCH_DEB)
	$(BIN)/python -m bench

# Uploads and metadata reads at fixed rates against a fresh embedded platform on 127.0.0.1;
# e.g. `make loadtest ARGS="--upload-rate 2 --duration 30"`. Results: docs/benchmarks.md.
loadtest: $(STAMP)
	$(BIN)/python -m bench.loadtest $(ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
