# The whole set-up is these two targets:  make demo   and   make test
# Each creates .venv if it is missing and installs what it needs (torch first, see scripts/install-torch.sh).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: | $(BIN)/python
	bash scripts/install-torch.sh $(VENV)
	@touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $@

$(VENV)/.bench: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	@touch $@

demo: $(VENV)/.installed
	$(BIN)/vidlens demo

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(VENV)/.installed
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Every benchmark in its quick mode (smallest sizes, seconds each), one after another: a smoke run whose
# numbers mean little. A measurement is each script's own command (benchmarks/RESULTS.md).
bench: $(VENV)/.bench
	$(BIN)/python benchmarks/decode.py --quick
	$(BIN)/python benchmarks/extract.py --quick
	$(BIN)/python benchmarks/train.py --quick
	$(BIN)/python benchmarks/interpret.py --quick
	$(BIN)/python benchmarks/actmax.py --quick
	$(BIN)/python benchmarks/actmax_directions.py --quick
	$(BIN)/python benchmarks/pointing_game.py --quick
	$(BIN)/python benchmarks/diagnose_training.py --quick

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
