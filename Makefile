# The two commands of the README:
#   make run    install into .venv, then run the whole pipeline on the embedded default
#   make test   install into .venv, then run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
CORES ?= 2
export PATH := $(BIN):$(PATH)

.PHONY: install run test test-quick lint bench rehearse clean

# The runtime packages at the versions envs/pipeline.yaml pins (the conda env and .venv
# agree; tests/test_conda_env.py checks it), so a fresh install is the tested one.
# The installer is uv (from PyPI, pinned): the same packages as pip in a few seconds instead
# of 1.5-2 min on 2 cores. It reads a local wheel folder that pip is configured with
# (PIP_FIND_LINKS or pip's global.find-links), as pip does. Where uv cannot be installed,
# pip installs the same pins.
#
# Bytecode (.pyc): Python writes a module's bytecode the first time a process imports it,
# and every later process loads it. Machines that set PYTHONDONTWRITEBYTECODE (CI machines,
# many Docker images) turn that off, and then each of the pipeline's processes compiled
# torch, pandas and the rest from source again, about 2 s of every job. The make targets
# below unset it for their commands (a user's own shell keeps it): the first job that
# imports a module writes its bytecode, about 3,400 of the environment's 13,000 modules in
# `make run`. Compiling all of them at install (uv's --compile-bytecode) took 15 s of the
# 20-s install instead (docs/performance.md, "make run in 5 minutes").
unexport PYTHONDONTWRITEBYTECODE

UV_VERSION := 0.13.9
FIND_LINKS = $(foreach d,$(wildcard $(PIP_FIND_LINKS) $(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null)),--find-links $(d))
$(VENV)/.installed: pyproject.toml envs/pipeline.yaml
	$(PYTHON) -m venv $(VENV)
	sed -n 's/^ *- \([A-Za-z0-9_.-]*==[^ ]*\)$$/\1/p' envs/pipeline.yaml > $(VENV)/constraints.txt
	if $(BIN)/python -m pip install --quiet uv==$(UV_VERSION); then \
		$(BIN)/uv pip install --quiet --python $(BIN)/python $(FIND_LINKS) -c $(VENV)/constraints.txt -e ".[dev]"; \
	else \
		$(BIN)/python -m pip install --quiet -c $(VENV)/constraints.txt -e ".[dev]"; \
	fi
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/snakemake --cores $(CORES)
	@echo
	@cat results/tables/synthetic.md

test: install
	$(BIN)/python -m pytest

# The development loop: every test that does not run Snakemake (marker `integration`);
# `make test`, which CI runs, is still the whole suite.
test-quick: install
	$(BIN)/python -m pytest -m "not integration and not rehearsal_ablations"

# The ablation presets' rehearsals (the dataset presets' run in make test): tests/test_rehearsals.py
rehearse: install
	$(BIN)/python -m pytest -m rehearsal_ablations tests/test_rehearsals.py

lint: install
	$(BIN)/ruff check highlight_pipeline tests benchmarks
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint

bench: install
	$(BIN)/python benchmarks/recurrence.py
	$(BIN)/python benchmarks/pseudo_categories.py
	$(BIN)/python benchmarks/extract.py
	$(BIN)/python benchmarks/train.py
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/dag.py --videos 10000 30000 --repeat 1

clean:
	rm -rf results/*/ results/tables .snakemake
