# The two commands a newcomer needs: `make run` and `make test`. Both set everything up first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Every install is the lock's exact versions (hash-checked); `make lock` regenerates it.
LOCK := requirements.lock
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(wildcard $(LOCK)) | cksum | cut -d' ' -f1)
# uv resolves the lock (seconds, where pip-compile takes minutes); pip installs it, so a fresh
# machine needs only Python and pip for `make run` and `make test`.
UV_SPEC := uv>=0.13,<1
# The platform itself needs no system library: chromium is the browser the page test drives,
# libvips the benchmark's baseline.
TEST_DEB := chromium
BENCH_DEB := libvips42

.PHONY: run run-aws-local test lint typecheck pytest bench loadtest clean venv lock floors

venv: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "imagepipe needs Python 3.11 or newer as $(PYTHON)"; exit 1; }
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $@

# Regenerate the lock from pyproject.toml after adding, removing or re-bounding a dependency:
# versions already locked are kept where they still fit. `make lock UPGRADE=1` moves every
# package to its newest allowed version. The lock is universal: Python 3.11+, any platform.
# The container image's lock (AWS mode, no dev tools) takes its versions from the first.
LOCK_ARGS := --universal --python-version 3.11 --generate-hashes --custom-compile-command "make lock"
lock:
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	@[ -x $(BIN)/uv ] || $(BIN)/python -m pip install -q '$(UV_SPEC)'
	$(BIN)/uv pip compile pyproject.toml --extra dev $(LOCK_ARGS) --quiet \
	  $(if $(UPGRADE),--upgrade) -o $(LOCK)
	$(BIN)/uv pip compile pyproject.toml --extra aws $(LOCK_ARGS) --quiet \
	  -c $(LOCK) -o docker/requirements.lock

# The suite against the lowest version pyproject.toml allows of each direct dependency, in a
# venv of its own: a floor is a version the code was seen to work with.
floors:
	@[ -x $(VENV)-floors/bin/python ] || $(PYTHON) -m venv $(VENV)-floors
	$(VENV)-floors/bin/python -m pip install -q '$(UV_SPEC)'
	$(VENV)-floors/bin/uv pip install --python $(VENV)-floors/bin/python --quiet \
	  --resolution lowest-direct -e '.[dev]'
	$(VENV)-floors/bin/python -m pytest $(or $(ARGS),-x -q)

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
	rm -rf $(VENV) $(VENV)-floors var .pytest_cache .mypy_cache .ruff_cache
