# Two commands for a fresh machine:
#   make demo   - set up a virtualenv and run the main job (python -m hsproto demo)
#   make test   - set up a virtualenv and run lint and the test suite
#   make docs   - build the documentation site into docs/_build/html (warnings are errors)
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
DOCS_STAMP = $(VENV)/.installed-docs

.PHONY: demo test test-fast lint bench docs clean

$(STAMP): pyproject.toml plugins/hsproto-contrib/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]" -e ./plugins/hsproto-contrib
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m hsproto demo

lint: $(STAMP)
	$(BIN)/ruff check hsproto tests benchmarks plugins docs notebooks/make_notebooks.py

test: $(STAMP) lint
	$(BIN)/python -m pytest

# the development loop: everything but the tests marked slow (notebooks, README and docs
# blocks, benchmark smoke runs) and scikit-learn's estimator check suite, without lint
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not checks" -q

bench: $(STAMP)
	$(BIN)/python benchmarks/prototypes.py

$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info docs/_build docs/generated docs/notebooks docs/jupyter_execute
