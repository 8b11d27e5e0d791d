# Two entry points for a fresh machine (see README): `make demo` and `make test`.
# Both create .venv with the pinned dependencies first.
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)

.PHONY: setup demo demo-deps smoke lint test system-deps

setup: $(VENV)/.installed

# torch and torchvision first, from the exact pins (other pairs do not import together here).
$(VENV)/.installed: pyproject.toml requirements.lock
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -c requirements.lock -e '.[test]'
	touch $@

# Debian packages the tests use: headless Chromium (report rendering), a one-node Slurm, and the
# photo packages the embedded models train on (the smoke preset trains its quick backbone).
system-deps:
	bash scripts/install-system-deps.sh

# the demo scores Butteraugli through libjxl's library (Debian's libjxl0.7)
demo-deps:
	bash scripts/install-system-deps.sh --demo

demo: setup demo-deps
	snakemake --cores all

smoke: setup system-deps
	snakemake --cores all --config preset=smoke

# ruff (the rules in pyproject.toml's [tool.ruff]), then the workflow's lint for the default preset
# and the smoke one: any finding fails (exit status 1).
lint: setup
	ruff check src tests benchmarks
	snakemake --lint
	snakemake --lint --config preset=smoke

test: setup system-deps lint
	python -m pytest
