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

# The quick loop (docs/testing.md): the core, the Python clients, the docs checks and the stream
# contract end to end on SQLite, in four workers, with the plugins only other tests use left out.
# ARGS naming tests runs those instead, e.g. `make test-fast ARGS=tests/e2e/test_cancel.py` runs
# that file on the SQLite store only. Either way nothing that needs Node, Redis, Chromium or a
# tool venv runs (markers in pyproject.toml).
FAST_TESTS := tests/core tests/client/test_python_client.py tests/client/test_async_client.py \
	tests/docs/test_links.py tests/docs/test_code_blocks.py \
	tests/e2e/test_run_stream.py tests/e2e/test_error_messages.py tests/e2e/test_query_parameters.py
FAST_OPTIONS := -n 4 --dist loadfile -p no:schemathesis -p no:hypothesispytest -p no:ag_ui_validate
NEEDS_NOTHING := -m "not (node or redis or chromium or tools)"

test-fast: $(STAMP)
	$(BIN)/python -m pytest $(NEEDS_NOTHING) $(if $(filter tests/%,$(ARGS)),$(ARGS),$(FAST_OPTIONS) $(FAST_TESTS) $(ARGS))

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
	$(BIN)/lint-imports --no-logo
	$(BIN)/mypy
	# A standalone script, outside the packages above.
	$(BIN)/mypy --strict scripts/smoke.py

lint: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf .devhost .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
