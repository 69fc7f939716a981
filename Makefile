# Two commands do all the set-up on a fresh machine with only Python:
#   make demo   - create .venv, install, run the bridge against the built-in simulated cloud
#   make test   - create .venv, install with test extras, ruff check, run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hapbridge -U $(or $(STORAGE),.demo-storage) run --demo

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_bridge.py

clean:
	rm -rf $(VENV) .demo-storage .pytest_cache
