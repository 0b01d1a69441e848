# Development shortcuts; run inside an environment set up as in README.md.
PYTHON ?= python

.PHONY: test lint format docs bench clean

test:
	$(PYTHON) -m pytest -q

lint:
	ruff check .
	ruff format --check .

format:
	ruff check --fix .
	ruff format .

docs:
	$(PYTHON) -m sphinx -W --keep-going -b html docs docs/_build/html

bench:
	$(PYTHON) benchmarks/bench_view.py

clean:
	rm -rf docs/_build docs/generated docs/auto_examples docs/sg_execution_times.rst
