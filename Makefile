# Development shortcuts; run inside an environment set up as in README.md.
PYTHON ?= python
# e.g. make bench BENCH_ARGS="--device cuda"
BENCH_ARGS ?=

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
	for f in benchmarks/bench_*.py; do $(PYTHON) $$f $(BENCH_ARGS) || exit 1; done

clean:
	rm -rf docs/_build docs/generated docs/auto_examples docs/sg_execution_times.rst
