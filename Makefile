# Two commands do all set-up on a fresh machine with Python 3.11+:
#   make run    create .venv on first use, then open the app on the bundled demo dataset
#   make test   create .venv on first use, then run the whole test suite
# and one checks a change as CI does: make ci (lint, format, types, tests, wheel; see .ci/run).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck ci demo clean

# The test and dev extras: pytest and its plugins; ruff, mypy and build for the checks.
$(STAMP): pyproject.toml
	$(PYTHON) scripts/check_python.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m balance_gui resources/demo

# RuntimeWarnings are errors (pyproject.toml's pytest settings), so a bare pytest runs the same.
test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy balance_gui

ci: $(STAMP)
	bash .ci/run

demo: $(STAMP)
	$(PY) scripts/make_demo_dataset.py resources/demo

clean:
	rm -rf $(VENV) build dist *.egg-info
