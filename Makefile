# Two commands do all the set-up on a fresh machine with only Python:
#   make demo   - create .venv, install the bridge alone, run it against the built-in
#                 simulated cloud
#   make test   - create .venv, install with the test extras, ruff check, run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# One stamp per install: the demo needs the bridge's own dependencies only (a Raspberry Pi
# should not fetch aiohomekit, bleak and ruff to try it); the tests need the extras too.
RUN_STAMP  := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test lint bench clean constraints

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e .
	touch $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(TEST_STAMP)

demo: $(RUN_STAMP)
	$(BIN)/hapbridge -U $(or $(STORAGE),.demo-storage) run --demo

lint: $(TEST_STAMP)
	$(BIN)/ruff check .

test: $(TEST_STAMP) lint
	$(BIN)/python -m pytest -q

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/bench_bridge.py
	$(BIN)/python benchmarks/bench_bridges.py
	$(BIN)/python benchmarks/bench_push.py
	$(BIN)/python benchmarks/bench_push_state.py

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
