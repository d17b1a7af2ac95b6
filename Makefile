# Corral developer tasks. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
export UV_PYTHON_DOWNLOADS := never
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
RUN := $(VENV)/bin

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv==0.13.8"

# Bytecode is compiled at install: machines that set PYTHONDONTWRITEBYTECODE would otherwise
# compile every module on every start (seconds for the in-sandbox runtime's imports).
$(VENV)/.synced: uv.lock pyproject.toml sdk/pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@touch $@

.PHONY: install
install: $(VENV)/.synced sandbox-tool ## Create .venv from the hash-pinned lock file

# Hosted runs are sandboxed with bubblewrap; installed here when missing and we may (root with
# apt-get), else Corral falls back to the unisolated process sandbox and says so loudly.
.PHONY: sandbox-tool
sandbox-tool:
	@command -v bwrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; \
	  else echo "warning: bubblewrap (bwrap) is not installed: hosted runs will not be isolated" >&2; fi; }

.PHONY: run
run: install ## Start Corral on the embedded default (SQLite under ./data) with the dev seed
	CORRAL_SEED_DEV=$${CORRAL_SEED_DEV:-true} $(RUN)/corral serve

.PHONY: lint
lint: install ## Ruff lint and format check, import contracts
	$(RUN)/ruff check .
	$(RUN)/ruff format --check .
	$(RUN)/lint-imports

.PHONY: typecheck
typecheck: install ## mypy --strict over src, sdk, tests and bench
	$(RUN)/mypy

.PHONY: unit
unit: install ## Tests only (xdist over the cores)
	$(RUN)/pytest -n auto -q

.PHONY: test
test: lint typecheck unit ## The whole suite: lint, types, tests

.PHONY: check
check: test ## Alias of test: what CI runs

.PHONY: fmt
fmt: install ## Format and autofix
	$(RUN)/ruff format .
	$(RUN)/ruff check --fix .

.PHONY: example
example: install ## Run examples/blocked_tool against the Corral of `make run`
	$(RUN)/python -m examples.blocked_tool.agent

.PHONY: bench
bench: install ## Run the benchmarks under bench/
	$(RUN)/python bench/api_read_throughput.py
