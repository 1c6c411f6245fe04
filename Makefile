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

.PHONY: run run-aws-local test lint typecheck pytest bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "imagepipe needs Python 3.11 or newer as $(PYTHON)"; exit 1; }
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	@set -a; [ ! -f .env ] || . ./.env; set +a; \
	  $(BIN)/imagepipe check-config >/dev/null && \
	  echo "Starting imagepipe (web, worker, beat, flower). Ctrl-C stops everything." && \
	  $(BIN)/imagepipe urls && \
	  PATH="$(CURDIR)/$(BIN):$$PATH" exec $(BIN)/honcho start -f Procfile web worker beat flower

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

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
