PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed

.PHONY: install run test test-fast system-packages check lint clean bench openapi

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	# The library and the client distribution, editable: the tests and devhost use them as installed.
	$(BIN)/pip install --quiet -e . -e clients/python
	# The worker's indexing code targets Python 3.13; its logic runs on 3.11 and the tests use it.
	$(BIN)/pip install --quiet --no-deps --ignore-requires-python azure-functions-runtime==1.3.0
	touch $(STAMP)

# Node tools for the tests only (Azurite, the AG-UI client): `make run` does not need them.
$(NODE_STAMP): package.json package-lock.json | system-packages
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# checkov for the infra tests, in its own venv.
$(TOOLS_STAMP): requirements-tools.txt
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --quiet --upgrade pip
	$(TOOLS_VENV)/bin/pip install --quiet -r requirements-tools.txt
	touch $(TOOLS_STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m devhost $(ARGS)

# Every test. Sets up what they need first: system packages, Node packages, the tool venvs.
test: system-packages $(STAMP) $(NODE_STAMP) $(TOOLS_STAMP)
	$(BIN)/python -m pytest $(ARGS)

# The tests that need no Node, Redis, Chromium or tool venv (markers in pyproject.toml), e.g.
# `make test-fast ARGS=tests/e2e/test_run_stream.py` runs that file on the SQLite store only.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not (node or redis or chromium or tools)" $(ARGS)

system-packages:
	@scripts/system-packages

# Performance against the design's targets; ARGS=--quick for a short run.
bench: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m bench $(ARGS)

# The OpenAPI document the app serves at /api/openapi.json, checked in (a test keeps the two equal).
openapi: $(STAMP)
	$(BIN)/python -m agentstream.http.openapi > docs/openapi.json

check: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	# A standalone script, outside the packages above.
	$(BIN)/mypy --strict scripts/smoke.py

lint: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf .devhost .pytest_cache .mypy_cache .ruff_cache
