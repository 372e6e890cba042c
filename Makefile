# The README's verbs. `make run` and `make test` each set everything up first (idempotent).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-done
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup run notebooks bench test lint typecheck pytest synth lock clean

$(STAMP): pyproject.toml requirements/constraints.txt package.json package-lock.json
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=python3.x)")'
	@node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' || (echo "Node.js 20+ is required" && exit 1)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[dev]'
	npm ci --no-audit --no-fund --loglevel=error
	$(BIN)/python -m ipykernel install --sys-prefix --name reintento --display-name "Python (reintento)"
	touch $(STAMP)

## setup: create .venv, install pinned dependencies and the CDK CLI, register the kernel
setup: $(STAMP)

## run: the main job: the four notebooks against the local target, executed copies in runs/<time>/
run: setup
	$(BIN)/python -m ops run-notebooks $(ARGS)

## notebooks: re-execute the committed notebooks in place (fresh private local target)
notebooks: setup
	$(BIN)/python -m ops run-notebooks --in-place

## test: lint, type-check and the whole test suite
test: setup lint typecheck pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy ops lambda infra

pytest: setup
	$(BIN)/pytest

## bench: every benchmark, ratios against baselines measured in the same run (benchmarks/results/)
bench: setup
	$(BIN)/python -m benchmarks.run

## synth: `cdk synth` of infra/ with the pinned CDK CLI (no Docker, no AWS account needed)
synth: setup
	cd infra && PATH="$(CURDIR)/$(BIN):$$PATH" npx --no-install cdk synth -q

## lock: re-pin the whole dependency tree after changing pyproject.toml
lock: setup
	{ echo "# The whole dependency tree, pinned (pip -c). Regenerate with: make lock"; \
	  $(BIN)/pip freeze --exclude-editable | grep -v '^reintento-deploy'; } > requirements/constraints.txt

clean:
	rm -rf $(VENV) node_modules infra/cdk.out .mypy_cache .pytest_cache .ruff_cache
