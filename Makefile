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
# The installer is uv (from PyPI, pinned): the same packages as pip in about 20 s instead
# of 1.5-2 min on 2 cores. It reads a local wheel folder that pip is configured with
# (PIP_FIND_LINKS or pip's global.find-links), as pip does. Where uv cannot be installed,
# pip installs the same pins. Both write the packages' bytecode (.pyc) at install, as pip
# always did: where PYTHONDONTWRITEBYTECODE is set (CI machines) no job would write it, and
# each of the pipeline's processes compiled torch and pandas from source again, about 2 s of
# every job (docs/performance.md). The package's own modules are compiled here too.
UV_VERSION := 0.13.9
FIND_LINKS = $(foreach d,$(wildcard $(PIP_FIND_LINKS) $(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null)),--find-links $(d))
$(VENV)/.installed: pyproject.toml envs/pipeline.yaml
	$(PYTHON) -m venv $(VENV)
	sed -n 's/^ *- \([A-Za-z0-9_.-]*==[^ ]*\)$$/\1/p' envs/pipeline.yaml > $(VENV)/constraints.txt
	if $(BIN)/python -m pip install --quiet uv==$(UV_VERSION); then \
		$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python $(FIND_LINKS) -c $(VENV)/constraints.txt -e ".[dev]"; \
	else \
		$(BIN)/python -m pip install --quiet -c $(VENV)/constraints.txt -e ".[dev]"; \
	fi
	$(BIN)/python -m compileall -q highlight_pipeline > /dev/null
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
