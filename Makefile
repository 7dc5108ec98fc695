# Two commands for a fresh machine:
#   make demo   - set up a virtualenv and run the main job (python -m hsproto demo)
#   make test   - set up a virtualenv and run lint and the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml plugins/hsproto-contrib/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]" -e ./plugins/hsproto-contrib
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m hsproto demo

lint: $(STAMP)
	$(BIN)/ruff check hsproto tests benchmarks plugins

test: $(STAMP) lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/prototypes.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
