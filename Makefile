# The two commands the README opens with: `make demo` and `make test` (each runs set-up first).
PY := .venv/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup demo test lint test-slow test-all clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m tfseqrec.cli demo --output-dir demo_output

test: setup
	$(PY) -m pytest -q

# ruff: pycodestyle, pyflakes, complexity (pyproject.toml) and the formatting; `ruff format .` fixes the latter.
lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Only the tests marked slow (full ML-1M and Amazon Beauty from ../shared/data; skipped where absent).
test-slow: setup
	$(PY) -m pytest -q -m slow

# Everything: the default suite and the slow tests.
test-all: setup
	$(PY) -m pytest -q -m "slow or not slow"

clean:
	rm -rf demo_output .pytest_cache build *.egg-info
