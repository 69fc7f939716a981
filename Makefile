# Two commands do all the set-up on a fresh machine with only Python:
#   make demo   - create .venv, install, run the bridge against the built-in simulated cloud
#   make test   - create .venv, install with test extras, ruff check, run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean constraints

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hapbridge -U $(or $(STORAGE),.demo-storage) run --demo

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_bridge.py

# Newest releases within pyproject's ranges, in a scratch venv; rewrite constraints.txt only
# when the suite passes on them.
constraints:
	rm -rf .venv-new && $(PYTHON) -m venv .venv-new
	.venv-new/bin/python -m pip install --quiet --upgrade pip
	.venv-new/bin/python -m pip install --quiet -e '.[test]'
	.venv-new/bin/ruff check . && .venv-new/bin/python -m pytest -q
	{ sed -n '1,3p' constraints.txt; .venv-new/bin/python -m pip freeze --exclude-editable \
	  | grep -vi '^hapbridge'; } > constraints.new && mv constraints.new constraints.txt
	rm -rf .venv-new

clean:
	rm -rf $(VENV) .demo-storage .pytest_cache
