# The README's verbs. `make run` and `make test` each set everything up first (idempotent).
SHELL := /bin/bash
# The project's Python is the Lambda image's (lambda/Dockerfile: python:3.12), so a model saved
# here is loaded by the same Python minor in the function. With pyenv, its 3.12 is picked.
PYTHON ?= python3.12
ifeq ($(origin PYENV_VERSION),undefined)
PYENV_312 := $(shell pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.[0-9]+)?$$' | tail -1)
ifneq ($(PYENV_312),)
export PYENV_VERSION := $(PYENV_312)
endif
endif
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-done-py3.12
# The CDK runs on Node 22 LTS from package.json's pins (npm ci puts it in node_modules/.bin);
# the system's Node (any with npm) only runs npm ci.
NODE_BIN := $(CURDIR)/node_modules/.bin
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup run notebooks bench test fast lint typecheck pytest synth cdk docs lock clean mutate

CHECKOV := $(VENV)/tools/checkov/bin/checkov

$(STAMP): pyproject.toml local_target/pyproject.toml requirements/constraints.txt requirements/project.txt requirements/tools.txt requirements/checkov.txt package.json package-lock.json
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null \
	  || (echo "Python 3.12 is required (the Lambda image's, lambda/Dockerfile) and $(PYTHON) is not it: install it or set PYTHON=path/to/python3.12" && exit 1)
	@command -v npm >/dev/null || (echo "Node.js with npm is required (any version that runs npm: setup installs Node 22 for the CDK)" && exit 1)
	@# a working environment is cleared only once the new pins are known to resolve
	@if [ -x $(BIN)/uv ]; then $(BIN)/uv pip compile pyproject.toml --extra dev \
	  -c requirements/constraints.txt --python-version 3.12 --quiet -o /dev/null \
	  || { echo "setup stopped before touching $(VENV): pyproject.toml and requirements/constraints.txt do not resolve together (above); make their pins agree (the version pyproject.toml asks for, in requirements/constraints.txt too), then run make setup again"; exit 1; }; fi
	$(PYTHON) -m venv --clear $(VENV)
	@# every wheel checked against its hash (pip --require-hashes): pip itself and the build
	@# tools first, then the whole locked tree, then the two local projects without dependencies
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/tools.txt
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/project.txt \
	  || { echo "pip could not install the hashed lock requirements/project.txt (above); run make lock after changing pyproject.toml"; exit 1; }
	@# (setuptools warns that an editable install's folders may shadow same-named ones: known here)
	PYTHONWARNINGS="ignore:Editable installation" \
	  $(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e ./local_target -e '.[dev]'
	$(BIN)/python -m pip check >/dev/null \
	  || { $(BIN)/python -m pip check; echo "requirements/project.txt lacks what pyproject.toml asks for (above): run make lock, then make setup (twice for a new dependency: the second lock pins it in requirements/constraints.txt too)"; exit 1; }
	$(BIN)/python -m venv $(VENV)/tools/checkov
	$(VENV)/tools/checkov/bin/python -m pip install --quiet --require-hashes -r requirements/checkov.txt
	npm ci --no-audit --no-fund --loglevel=error
	@PATH="$(NODE_BIN):$$PATH" node -e 'process.exit(+process.versions.node.split(".")[0] >= 22 ? 0 : 1)' \
	  || (echo "the CDK needs Node.js 22: npm installs it from package.json on Linux (x64, arm64) and Intel macOS; elsewhere install Node 22 yourself" && exit 1)
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
	$(BIN)/lint-imports --no-cache

typecheck: setup
	$(BIN)/mypy ops lambda/reintento_function local_target/reintento_local infra

# two workers, each with its own local targets (free ports, private state folders); a file's tests
# stay on one worker, in order, and so do the four notebooks (tests/conftest.py's scheduler)
TEST_WORKERS ?= 2
pytest: setup
	$(BIN)/pytest -n $(TEST_WORKERS)

## fast: the fast layers only (unit, the function's core, the verbs in process), no local target
## and no network for the verbs, under a minute; scale tests aside (make test runs them)
fast: setup
	$(BIN)/pytest -m "not slow" tests/unit tests/lambda_handler tests/functional

## bench: every benchmark, ratios against baselines measured in the same run (benchmarks/results/)
bench: setup
	$(BIN)/python -m benchmarks.run

## mutate: mutation testing of the function's core against the fast tests (a seeded sample of 60
## mutants of inference_core.py, about 15 minutes; FILE=contract.py SAMPLE=40 for others)
mutate: setup
	$(BIN)/python -m tests.mutate --file $(or $(FILE),inference_core.py) --sample $(or $(SAMPLE),60)

## docs: the reference site (MkDocs, Material theme, API pages from docstrings) into site/, offline
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

## synth: `cdk synth` of infra/ with the pinned CDK CLI (no Docker, no AWS account needed)
synth: setup
	cd infra && PATH="$(NODE_BIN):$(CURDIR)/$(BIN):$$PATH" npx --no-install cdk synth -q

## cdk: the pinned CDK CLI on the pinned Node, e.g. make cdk ARGS="bootstrap aws://ACCOUNT/REGION"
cdk: setup
	PATH="$(NODE_BIN):$(CURDIR)/$(BIN):$$PATH" $(NODE_BIN)/cdk $(ARGS)

## lock: re-pin the whole dependency tree after changing pyproject.toml or lambda/requirements.txt
## (the image's lock: every wheel's hash, Python 3.12, x86_64 and arm64, same versions as training)
# (not after setup: a lock made stale by a change of pyproject.toml fails setup's pip check; a
# working environment's uv is all lock needs)
lock:
	@test -x $(BIN)/uv || $(MAKE) setup
	@# each file is written beside its target (the current one seeds the resolver: versions are
	@# kept where they still fit) and moved into place only when all three resolved: a failure
	@# leaves every lock as it was
	@set -e; new=.lock-new; rm -rf $$new; mkdir $$new; trap 'rm -rf "$$new"' EXIT; \
	{ echo "# The whole dependency tree, pinned (pip -c). Regenerate with: make lock"; \
	  $(BIN)/pip freeze --exclude-editable | grep -v -E '^(reintento-(deploy|local)|(setuptools|wheel|pip)==)'; } > $$new/constraints.txt; \
	cp lambda/requirements.lock $$new/function.txt; cp requirements/checkov.txt $$new/checkov.in.txt; \
	cp requirements/project.txt $$new/project.in.txt; cp requirements/tools.txt $$new/tools.in.txt; \
	$(BIN)/uv pip compile pyproject.toml local_target/pyproject.toml --extra dev -c $$new/constraints.txt \
	    --universal --python-version 3.12 --generate-hashes --no-header --quiet -o $$new/project.in.txt; \
	$(BIN)/uv pip compile requirements/tools.in -c $$new/constraints.txt --universal --python-version 3.12 \
	    --generate-hashes --no-header --quiet -o $$new/tools.in.txt; \
	$(BIN)/uv pip compile lambda/requirements.txt -c $$new/constraints.txt --universal \
	    --python-version 3.12 --generate-hashes --no-header --quiet -o $$new/function.txt \
	  || { echo "make lock: lambda/requirements.txt does not resolve with the project's environment (nothing was changed); for a model saved with another scikit-learn, use python -m ops pin-function instead" >&2; exit 1; }; \
	$(BIN)/uv pip compile requirements/checkov.in --universal --python-version 3.12 \
	    --generate-hashes --no-header --quiet -o $$new/checkov.in.txt; \
	{ echo "# The function image's whole dependency tree with every wheel's hash (pip --require-hashes),"; \
	  echo "# for Python 3.12 on x86_64 and arm64, at the training environment's versions."; \
	  echo "# Generated from requirements.txt and ../requirements/constraints.txt by: make lock"; \
	  sed "s#$$new/constraints.txt#requirements/constraints.txt#" $$new/function.txt; } > $$new/requirements.lock; \
	{ echo "# checkov's own environment, every wheel hashed (pip --require-hashes). Regenerate with: make lock"; \
	  cat $$new/checkov.in.txt; } > $$new/checkov.txt; \
	{ echo "# The project environment's whole tree (pyproject.toml and local_target's, with dev), every"; \
	  echo "# wheel hashed (pip --require-hashes), at requirements/constraints.txt's versions. By: make lock"; \
	  sed "s#$$new/constraints.txt#requirements/constraints.txt#" $$new/project.in.txt; } > $$new/project.txt; \
	{ echo "# pip and the build tools of the project environment, hashed. Regenerate with: make lock"; \
	  sed "s#$$new/constraints.txt#requirements/constraints.txt#" $$new/tools.in.txt; } > $$new/tools.txt; \
	mv $$new/constraints.txt requirements/constraints.txt; \
	mv $$new/project.txt requirements/project.txt; mv $$new/tools.txt requirements/tools.txt; \
	mv $$new/requirements.lock lambda/requirements.lock; \
	mv $$new/checkov.txt requirements/checkov.txt

clean:
	rm -rf $(VENV) node_modules infra/cdk.out .mypy_cache .pytest_cache .ruff_cache
