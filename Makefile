# Mercato developer tasks.
#   make demo   create .venv if needed, install the package, run the demo
#   make test   install dev tools and anvil, then lint, format check, types, every test tier
# Stamp files live inside the folder they describe (.venv, node_modules): a second run skips
# what is installed, and deleting the folder forces a clean reinstall.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check

.PHONY: demo test lint typecheck pytest clean

demo: $(VENV)/.stamp-install
	$(BIN)/mercato demo

test: lint typecheck pytest

lint: $(VENV)/.stamp-install-dev
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(VENV)/.stamp-install-dev
	$(BIN)/mypy

pytest: $(VENV)/.stamp-install-dev node_modules/.stamp
	$(BIN)/pytest

$(VENV)/pyvenv.cfg:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.stamp-install: pyproject.toml $(VENV)/pyvenv.cfg
	$(PIP) install -e .
	touch $@

$(VENV)/.stamp-install-dev: pyproject.toml $(VENV)/pyvenv.cfg
	$(PIP) install -e '.[dev]'
	touch $@ $(VENV)/.stamp-install

# anvil (npm @foundry-rs/anvil) for the rpc tier. Without npm the rpc tests skip locally;
# in CI (CI set) a missing npm is an error.
# No lock file: package.json pins anvil's exact version, and a lock written on one platform
# lists the other platforms' optional binaries that `npm ci` then refuses to miss.
node_modules/.stamp: package.json
	@if ! command -v npm >/dev/null 2>&1; then \
		if [ -n "$${CI:-}" ]; then echo "npm is required in CI (it installs anvil)" >&2; exit 1; fi; \
		echo "warning: npm not found: the rpc tests will be skipped" >&2; \
	else \
		npm install --no-audit --no-fund --no-package-lock --loglevel=error; \
		touch $@; \
	fi

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis
